//! Executions: each trigger of a campaign, real or simulated, and what it found.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use marketing_core::schema::campaign_executions;
use marketing_core::vocabulary::{ExecutionStatus, ExecutionType};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Customers matching the audience but not sent to, by reason; a customer counts under the
/// first reason that applies, in field order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    pub opted_out: u64,
    pub no_address: u64,
    /// Already at the frequency cap on the campaign's channel.
    #[serde(default)]
    pub frequency_capped: u64,
}

/// A message as it would be sent (simulation, preview).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Sample {
    pub customer_id: Uuid,
    /// The A/B variant the customer gets, when the campaign has variants.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    pub to: String,
    pub subject: String,
    pub body: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html_body: Option<String>,
    /// Why the content cannot be rendered for this customer (their data breaks it): their
    /// message would fail at send time, alone. Subject and body are then empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What a trigger did.
#[derive(Debug, Clone)]
pub struct TriggerOutcome {
    pub execution_id: Uuid,
    pub kind: ExecutionType,
    pub planned: u64,
    pub skipped: Skipped,
    /// Whether the audience is fully written (`false` for a real trigger, which answers once the
    /// execution is committed: the records are written in the background and the counts are
    /// those so far; `GET /executions/:id` follows them).
    pub frozen: bool,
}

impl TriggerOutcome {
    /// The seed's `status` word.
    pub fn status(&self) -> &'static str {
        match self.kind {
            ExecutionType::Actual => "triggered",
            ExecutionType::Simulation => "simulation_started",
        }
    }

    pub fn message(&self) -> String {
        if !self.frozen {
            return format!(
                "Campaign triggered: its recipients are being written and are sent as they are; \
                 GET /api/marketing/executions/{} shows how many (planned, skipped) and the \
                 progress.",
                self.execution_id
            );
        }
        let what = match self.kind {
            ExecutionType::Actual => "Campaign triggered",
            ExecutionType::Simulation => "Simulation finished",
        };
        format!(
            "{what}: {} recipients; skipped {} opted out, {} without an address and {} over the frequency cap.",
            self.planned,
            self.skipped.opted_out,
            self.skipped.no_address,
            self.skipped.frequency_capped
        )
    }
}

/// An execution as both APIs return it.
#[derive(Debug, Clone, Serialize, Queryable, Selectable, utoipa::ToSchema)]
#[diesel(table_name = campaign_executions)]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub struct Execution {
    pub id: Uuid,
    pub campaign_id: Uuid,
    pub execution_type: ExecutionType,
    pub status: ExecutionStatus,
    pub planned: i64,
    pub skipped: serde_json::Value,
    pub samples: serde_json::Value,
    #[serde(rename = "published")]
    pub published_count: i64,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// The occurrence of a recurring campaign this execution ran for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub occurrence: Option<DateTime<Utc>>,
    /// A dry run's cost estimate (`crate::service::cost::CostEstimate`); absent on real runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_estimate: Option<serde_json::Value>,
    /// Every recipient's record is written (the audience is frozen); `planned` is final.
    #[diesel(column_name = materialize_done)]
    pub frozen: bool,
    /// Messages the provider accepted so far.
    #[diesel(column_name = sent_count)]
    pub sent: i64,
    /// Messages that failed for good so far.
    #[diesel(column_name = failed_count)]
    pub failed: i64,
}

/// How far an execution is, as `GET /executions/:id`, its event stream and gRPC
/// `WatchExecution` show it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Progress {
    pub execution_id: Uuid,
    pub campaign_id: Uuid,
    pub status: ExecutionStatus,
    pub planned: i64,
    pub frozen: bool,
    pub published: i64,
    pub sent: i64,
    pub failed: i64,
    /// Planned messages neither sent nor failed yet.
    pub remaining: i64,
    /// Sent or failed, of planned (100 when nothing is planned and the audience is frozen).
    pub percent: f64,
    /// Messages finished (sent or failed) per second, over the last few seconds in a stream,
    /// since the execution started otherwise.
    pub rate_per_second: f64,
    /// Seconds until every planned message is finished at that rate (none when unknown).
    pub eta_seconds: Option<f64>,
}

impl Progress {
    /// The same counts and status (rate and ETA aside).
    pub fn same_counts(&self, other: &Progress) -> bool {
        (
            self.status,
            self.planned,
            self.frozen,
            self.published,
            self.sent,
            self.failed,
        ) == (
            other.status,
            other.planned,
            other.frozen,
            other.published,
            other.sent,
            other.failed,
        )
    }
}

impl Execution {
    /// The execution's progress; `rate` per second when the caller measured one, else the
    /// average since it started.
    pub fn progress(&self, now: DateTime<Utc>, rate: Option<f64>) -> Progress {
        let simulated = self.execution_type == ExecutionType::Simulation;
        let done = self.sent + self.failed;
        let remaining = if simulated {
            0
        } else {
            (self.planned - done).max(0)
        };
        let frozen = self.frozen || simulated;
        let percent = if self.planned > 0 && !simulated {
            (done as f64 * 100.0 / self.planned as f64).min(100.0)
        } else if frozen || self.status != ExecutionStatus::Running {
            100.0
        } else {
            0.0
        };
        let rate = rate.unwrap_or_else(|| {
            let secs = (now - self.created_at).num_milliseconds() as f64 / 1000.0;
            if secs > 0.0 { done as f64 / secs } else { 0.0 }
        });
        let eta_seconds = if remaining == 0 {
            Some(0.0)
        } else if rate > 0.0 {
            Some((remaining as f64 / rate * 10.0).round() / 10.0)
        } else {
            None
        };
        Progress {
            execution_id: self.id,
            campaign_id: self.campaign_id,
            status: self.status,
            planned: self.planned,
            frozen,
            published: self.published_count,
            sent: self.sent,
            failed: self.failed,
            remaining,
            percent: (percent * 10.0).round() / 10.0,
            rate_per_second: (rate * 10.0).round() / 10.0,
            eta_seconds,
        }
    }
}

/// An execution with its progress, as the REST API returns it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ExecutionView {
    #[serde(flatten)]
    pub execution: Execution,
    pub remaining: i64,
    pub percent: f64,
    pub rate_per_second: f64,
    pub eta_seconds: Option<f64>,
}

impl From<Execution> for ExecutionView {
    fn from(execution: Execution) -> Self {
        let p = execution.progress(Utc::now(), None);
        ExecutionView {
            execution,
            remaining: p.remaining,
            percent: p.percent,
            rate_per_second: p.rate_per_second,
            eta_seconds: p.eta_seconds,
        }
    }
}
