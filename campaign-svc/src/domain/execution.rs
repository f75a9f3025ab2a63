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
    /// Whether the audience is fully written (`false`: the trigger committed, but writing the
    /// records hit a failure and goes on in the background; the counts are those so far).
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
                "Campaign triggered: its recipients are still being written ({} so far) and \
                 are sent as they are; GET /api/marketing/executions/{} shows the progress.",
                self.planned, self.execution_id
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
}
