//! The admin API over REST (admin tokens only; others get 403):
//! `GET /api/marketing/admin/dead-letters?limit=N` and
//! `POST /api/marketing/admin/dead-letters/replay` with `{"record_ids"?: [...], "limit"?: N}`.

use axum::Json;
use axum::extract::{Extension, State};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::RestState;
use super::extract::{OptionalJsonBody, QueryParams};
use crate::auth::Caller;
use crate::error::{Error, ErrorBody, Result};
use crate::service::admin::{DeadLetter, ReplayOutcome, ReplaySelection};

/// One dead-lettered job.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeadLetterView {
    pub message_id: String,
    /// Absent when the payload is not a readable send job (also the job's other ids).
    pub record_id: Option<String>,
    pub campaign_id: Option<String>,
    pub execution_id: Option<String>,
    pub customer_id: Option<String>,
    pub channel: Option<String>,
    /// Why the broker dead-lettered it: rejected | delivery_limit | expired | maxlen.
    pub reason: String,
    pub queue: String,
    pub death_count: u64,
    pub dead_lettered_at: Option<DateTime<Utc>>,
    pub record_status: Option<String>,
    pub error_message: Option<String>,
}

impl From<DeadLetter> for DeadLetterView {
    fn from(d: DeadLetter) -> Self {
        let job = d.job.as_ref();
        DeadLetterView {
            message_id: d.message_id,
            record_id: job.map(|j| j.record_id.to_string()),
            campaign_id: job.map(|j| j.campaign_id.to_string()),
            execution_id: job.map(|j| j.execution_id.to_string()),
            customer_id: job.map(|j| j.customer_id.to_string()),
            channel: job.map(|j| j.channel.as_str().to_owned()),
            reason: d.reason,
            queue: d.queue,
            death_count: d.death_count,
            dead_lettered_at: d.dead_lettered_at,
            record_status: d.record_status,
            error_message: d.error_message,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeadLetterList {
    pub dead_letters: Vec<DeadLetterView>,
    /// Jobs in the dead-letter queue in all.
    pub total: u64,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayBody {
    /// Only the jobs of these records (none: every job).
    #[serde(default)]
    #[schema(value_type = Vec<uuid::Uuid>)]
    pub record_ids: Vec<String>,
    /// 1..10000; absent or 0: every job that matches.
    #[serde(default)]
    #[schema(maximum = 10000)]
    pub limit: u32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReplayedView {
    pub record_id: String,
    /// replayed | already_sent | kept
    #[schema(value_type = String, pattern = "^(replayed|already_sent|kept)$")]
    pub outcome: &'static str,
    pub message: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReplayAnswer {
    pub replayed: u64,
    pub already_sent: u64,
    pub kept: u64,
    pub results: Vec<ReplayedView>,
}

/// The jobs in the dead-letter queue with their records' state, oldest first; reading them
/// consumes nothing (admin tokens only).
#[utoipa::path(
    get,
    path = "/admin/dead-letters",
    tag = "admin",
    params(("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "Most jobs listed")),
    responses(
        (status = 200, description = "The dead-lettered jobs", body = DeadLetterList),
        (status = 403, description = "Not an admin token (`ADMIN_TOKENS`)", body = ErrorBody),
    )
)]
pub async fn list(
    State(state): State<RestState>,
    Extension(caller): Extension<Caller>,
    QueryParams(params): QueryParams,
) -> Result<Json<DeadLetterList>> {
    caller.require_admin()?;
    let limit = match params.get("limit") {
        None => 0,
        Some(v) => v
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| {
                Error::invalid("limit", format!("`{v}` is not a number between 1 and 1000"))
            })?,
    };
    let (listed, total) = state.service.list_dead_letters(&caller, limit).await?;
    Ok(Json(DeadLetterList {
        dead_letters: listed.into_iter().map(DeadLetterView::from).collect(),
        total,
    }))
}

/// Sends dead-lettered jobs again (admin tokens only): each is published and confirmed before
/// its dead-lettered copy is removed; a job whose record was sent meanwhile is removed, not sent.
#[utoipa::path(
    post,
    path = "/admin/dead-letters/replay",
    tag = "admin",
    request_body(content = Option<ReplayBody>, description = "Which jobs (none: all)"),
    responses(
        (status = 200, description = "What happened to each job", body = ReplayAnswer),
        (status = 403, description = "Not an admin token (`ADMIN_TOKENS`)", body = ErrorBody),
    )
)]
pub async fn replay(
    State(state): State<RestState>,
    Extension(caller): Extension<Caller>,
    OptionalJsonBody(body): OptionalJsonBody<ReplayBody>,
) -> Result<Json<ReplayAnswer>> {
    caller.require_admin()?;
    let selection = ReplaySelection::parse(&body.record_ids, body.limit)?;
    let results = state
        .service
        .replay_dead_letters(&caller, selection)
        .await?;
    let count = |o: ReplayOutcome| results.iter().filter(|r| r.outcome == o).count() as u64;
    Ok(Json(ReplayAnswer {
        replayed: count(ReplayOutcome::Replayed),
        already_sent: count(ReplayOutcome::AlreadySent),
        kept: count(ReplayOutcome::Kept),
        results: results
            .into_iter()
            .map(|r| ReplayedView {
                record_id: r.record_id,
                outcome: r.outcome.as_str(),
                message: r.message,
            })
            .collect(),
    }))
}
