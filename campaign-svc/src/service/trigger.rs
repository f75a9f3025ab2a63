//! Triggering a campaign: resolve the audience set-based in PostgreSQL, freeze it as one
//! `pending` record per recipient (one statement), and record the execution. The relay then
//! publishes the records; a simulation resolves and renders the same way but writes no records.

use std::sync::Arc;

use chrono::Utc;
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Text, Uuid as SqlUuid};
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};
use marketing_core::models::CampaignRow;
use marketing_core::render::{Content, Recipient};
use marketing_core::schema::{campaign_executions::dsl as ce, marketing_campaign::dsl as mc};
use marketing_core::vocabulary::{CampaignStatus, Channel, ExecutionType};
use uuid::Uuid;

use super::MarketingService;
use super::campaigns::{find_for_update, stored_status};
use crate::domain::execution::{Execution, Sample, Skipped, TriggerOutcome};
use crate::error::{Error, Result};

/// How many rendered messages a simulation keeps.
const SAMPLES: i64 = 5;

/// Customers matching the campaign's tags, with whether they can be reached on the channel and
/// whether they opted out of it. `$1` channel, `$2` tags.
macro_rules! audience_cte {
    () => {
        "WITH audience AS (
            SELECT c.id,
                   NULLIF(btrim(CASE $1 WHEN 'sms' THEN c.phone WHEN 'email' THEN c.email
                                       ELSE c.push_token END), '') IS NOT NULL AS reachable,
                   EXISTS (SELECT 1 FROM customer_opt_outs o
                           WHERE o.customer_id = c.id AND o.channel IN ($1, 'all')) AS opted_out
            FROM customers c
            WHERE c.erased_at IS NULL AND c.tags && $2
        )"
    };
}

/// Freezes the audience: one `pending` record per recipient, counted with the skipped.
/// `$3` campaign, `$4` execution.
const FREEZE_SQL: &str = concat!(
    audience_cte!(),
    ", created AS (
        INSERT INTO marketing_record (id, campaign_id, execution_id, customer_id, channel, status)
        SELECT uuid_v7(), $3, $4, a.id, $1, 'pending'
        FROM audience a WHERE a.reachable AND NOT a.opted_out
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM created) AS planned,
           count(*) FILTER (WHERE a.opted_out) AS opted_out,
           count(*) FILTER (WHERE NOT a.opted_out AND NOT a.reachable) AS no_address
    FROM audience a"
);

/// The same counts without writing anything (simulation).
const COUNT_SQL: &str = concat!(
    audience_cte!(),
    "SELECT count(*) FILTER (WHERE a.reachable AND NOT a.opted_out) AS planned,
            count(*) FILTER (WHERE a.opted_out) AS opted_out,
            count(*) FILTER (WHERE NOT a.opted_out AND NOT a.reachable) AS no_address
     FROM audience a"
);

/// The first recipients, for rendered samples. `$3` limit.
const SAMPLE_SQL: &str = concat!(
    audience_cte!(),
    "SELECT c.id, c.name, c.email, c.phone, c.push_token, c.external_id, c.locale, c.time_zone,
            c.attributes
     FROM audience a JOIN customers c ON c.id = a.id
     WHERE a.reachable AND NOT a.opted_out
     ORDER BY c.id LIMIT $3"
);

#[derive(QueryableByName)]
struct Counts {
    #[diesel(sql_type = BigInt)]
    planned: i64,
    #[diesel(sql_type = BigInt)]
    opted_out: i64,
    #[diesel(sql_type = BigInt)]
    no_address: i64,
}

#[derive(QueryableByName)]
struct SampleRow {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
    name: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
    email: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
    phone: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
    push_token: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
    external_id: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
    locale: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
    time_zone: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Jsonb)]
    attributes: serde_json::Value,
}

/// Wakes the relay when a trigger committed new records.
pub type RelayWaker = Arc<tokio::sync::Notify>;

impl MarketingService {
    /// Triggers a campaign for real (`actual`) or as a dry run (`simulation`).
    pub async fn trigger_campaign(
        &self,
        caller: Option<Uuid>,
        id: Uuid,
        kind: ExecutionType,
    ) -> Result<TriggerOutcome> {
        let mut conn = self.pool.get().await?;
        let outcome = match kind {
            ExecutionType::Actual => {
                conn.transaction::<_, Error, _>(async |conn| {
                    let campaign = find_for_update(conn, id).await?;
                    trigger_locked(conn, &campaign, caller).await
                })
                .await?
            }
            ExecutionType::Simulation => simulate(&mut conn, id, caller).await?,
        };
        if kind == ExecutionType::Actual {
            self.relay_waker.notify_one();
        }
        Ok(outcome)
    }

    pub async fn get_execution(&self, id: Uuid) -> Result<Execution> {
        let mut conn = self.pool.get().await?;
        ce::campaign_executions
            .find(id)
            .select(Execution::as_select())
            .first(&mut conn)
            .await
            .optional()?
            .ok_or_else(|| Error::not_found("execution", id))
    }
}

/// Checks that a campaign can be sent; returns its channel and compiled content.
fn sendable(campaign: &CampaignRow) -> Result<(Channel, Content)> {
    if campaign.target_segment_id.is_some() {
        return Err(Error::Conflict(
            "campaigns targeting a segment cannot be triggered yet; target tags instead".into(),
        ));
    }
    if campaign.target_tags.is_empty() {
        return Err(Error::Conflict(
            "the campaign has no audience: set target_tags".into(),
        ));
    }
    if campaign.content.trim().is_empty() {
        return Err(Error::Conflict("the campaign has no content".into()));
    }
    if let Some(end) = campaign.end_time.filter(|e| *e <= Utc::now()) {
        return Err(Error::Conflict(format!("the campaign ended at {end}")));
    }
    let channel = campaign.type_.parse::<Channel>().map_err(|e| {
        Error::Internal(anyhow::anyhow!("campaign {}: stored type {e}", campaign.id))
    })?;
    let content =
        Content::compile(&campaign.content).map_err(|e| Error::invalid("content", e.0))?;
    Ok((channel, content))
}

/// The real trigger, inside the caller's transaction with the campaign row locked: used by the
/// API and by the scheduler, so a campaign is triggered once whoever gets there first.
pub(crate) async fn trigger_locked(
    conn: &mut AsyncPgConnection,
    campaign: &CampaignRow,
    caller: Option<Uuid>,
) -> Result<TriggerOutcome> {
    let status = stored_status(campaign)?;
    if !matches!(status, CampaignStatus::Draft | CampaignStatus::Scheduled) {
        return Err(Error::Conflict(format!(
            "campaign {} is {status}; only draft or scheduled campaigns can be triggered",
            campaign.id
        )));
    }
    let (channel, _) = sendable(campaign)?;
    let execution_id = Uuid::now_v7();
    let now = Utc::now();
    diesel::insert_into(ce::campaign_executions)
        .values((
            ce::id.eq(execution_id),
            ce::campaign_id.eq(campaign.id),
            ce::execution_type.eq(ExecutionType::Actual.as_str()),
            ce::status.eq("running"),
            ce::triggered_by.eq(caller),
            ce::created_at.eq(now),
            ce::trace_context.eq(marketing_core::telemetry::current_traceparent()),
        ))
        .execute(conn)
        .await?;
    let counts: Counts = diesel::sql_query(FREEZE_SQL)
        .bind::<Text, _>(channel.as_str())
        .bind::<Array<Text>, _>(&campaign.target_tags)
        .bind::<SqlUuid, _>(campaign.id)
        .bind::<SqlUuid, _>(execution_id)
        .get_result(conn)
        .await?;
    let skipped = Skipped {
        opted_out: counts.opted_out as u64,
        no_address: counts.no_address as u64,
    };
    diesel::update(ce::campaign_executions.find(execution_id))
        .set((
            ce::planned.eq(counts.planned),
            ce::skipped.eq(serde_json::to_value(skipped).map_err(|e| Error::Internal(e.into()))?),
        ))
        .execute(conn)
        .await?;
    diesel::update(mc::marketing_campaign.find(campaign.id))
        .set((
            mc::status.eq(CampaignStatus::Active.as_str()),
            mc::actual_start_time.eq(Some(now)),
            mc::updated_at.eq(now),
        ))
        .execute(conn)
        .await?;
    tracing::info!(campaign_id = %campaign.id, %execution_id, planned = counts.planned,
        opted_out = counts.opted_out, no_address = counts.no_address, "campaign triggered");
    Ok(TriggerOutcome {
        execution_id,
        kind: ExecutionType::Actual,
        planned: counts.planned as u64,
        skipped,
    })
}

/// A dry run: same resolution and rendering, nothing sent, no status change, no records.
async fn simulate(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    caller: Option<Uuid>,
) -> Result<TriggerOutcome> {
    let campaign = super::campaigns::find(conn, id).await?;
    if stored_status(&campaign)? == CampaignStatus::Archived {
        return Err(Error::Conflict(format!("campaign {id} is archived")));
    }
    let (channel, content) = sendable(&campaign)?;
    let counts: Counts = diesel::sql_query(COUNT_SQL)
        .bind::<Text, _>(channel.as_str())
        .bind::<Array<Text>, _>(&campaign.target_tags)
        .get_result(conn)
        .await?;
    let rows: Vec<SampleRow> = diesel::sql_query(SAMPLE_SQL)
        .bind::<Text, _>(channel.as_str())
        .bind::<Array<Text>, _>(&campaign.target_tags)
        .bind::<BigInt, _>(SAMPLES)
        .load(conn)
        .await?;
    let mut samples = Vec::with_capacity(rows.len());
    for r in rows {
        let to = match channel {
            Channel::Sms => r.phone.clone(),
            Channel::Email => r.email.clone(),
            Channel::PushNotification => r.push_token.clone(),
        }
        .unwrap_or_default();
        let recipient = Recipient {
            name: r.name,
            email: r.email,
            phone: r.phone,
            external_id: r.external_id,
            locale: r.locale,
            time_zone: r.time_zone,
            attributes: r.attributes,
        };
        let body = content
            .render(&recipient, &campaign.name)
            .map_err(|e| Error::invalid("content", e.0))?;
        let subject = match channel {
            Channel::Email => campaign.name.clone(),
            _ => String::new(),
        };
        samples.push(Sample {
            customer_id: r.id,
            to,
            subject,
            body,
        });
    }
    let skipped = Skipped {
        opted_out: counts.opted_out as u64,
        no_address: counts.no_address as u64,
    };
    let execution_id = Uuid::now_v7();
    let now = Utc::now();
    diesel::insert_into(ce::campaign_executions)
        .values((
            ce::id.eq(execution_id),
            ce::campaign_id.eq(id),
            ce::execution_type.eq(ExecutionType::Simulation.as_str()),
            ce::status.eq("completed"),
            ce::planned.eq(counts.planned),
            ce::skipped.eq(serde_json::to_value(skipped).map_err(|e| Error::Internal(e.into()))?),
            ce::samples.eq(serde_json::to_value(&samples).map_err(|e| Error::Internal(e.into()))?),
            ce::triggered_by.eq(caller),
            ce::created_at.eq(now),
            ce::finished_at.eq(Some(now)),
            ce::publish_done.eq(true),
        ))
        .execute(conn)
        .await?;
    Ok(TriggerOutcome {
        execution_id,
        kind: ExecutionType::Simulation,
        planned: counts.planned as u64,
        skipped,
    })
}
