//! Triggering a campaign: check it, record the execution and make the campaign active (one
//! transaction), then freeze the audience set-based in PostgreSQL as one `pending` record per
//! recipient, in chunks the relay publishes as they commit (see [`super::freeze`]). A simulation
//! resolves and renders the same way but writes no records. Who is reached, and with what
//! content, is [`super::audience`].

use std::sync::Arc;

use chrono::Utc;
use diesel::prelude::*;

use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};
use marketing_core::models::CampaignRow;
use marketing_core::schema::{campaign_executions::dsl as ce, marketing_campaign::dsl as mc};
use marketing_core::segment::{self};
use marketing_core::tracking::{FrequencyCap, Signer};
use marketing_core::vocabulary::{CampaignStatus, ExecutionStatus, ExecutionType};
use uuid::Uuid;

use super::MarketingService;
use super::audience::{Audience, Counts, count_sql};
use super::campaigns::find_for_update;
use super::plan::{Plan, audience_samples, base_query};
use crate::domain::execution::{Execution, Skipped, TriggerOutcome};
use crate::error::{Error, Result};

/// How many rendered messages a simulation keeps.
const SAMPLES: i64 = 5;

/// Wakes the relay when a trigger committed new records.
pub type RelayWaker = Arc<tokio::sync::Notify>;

impl MarketingService {
    /// Triggers a campaign for real (`actual`) or as a dry run (`simulation`). A real trigger
    /// returns once every record is written (the relay publishes them as they are written).
    ///
    /// Once the execution is committed the campaign is triggered, whatever happens next: a
    /// failure while writing the records (a dropped database link, say) does not make the
    /// trigger an error, which a client would retry into a 409. The freeze then goes on in the
    /// background (here at once, else through the relay of any replica once its lease ran out)
    /// and the answer says so, with the execution to follow.
    pub async fn trigger_campaign(
        &self,
        caller: Option<Uuid>,
        id: Uuid,
        kind: ExecutionType,
    ) -> Result<TriggerOutcome> {
        let mut conn = self.pool.get().await?;
        let cap = self.settings().frequency_cap;
        match kind {
            ExecutionType::Actual => {
                let execution = conn
                    .transaction::<_, Error, _>(async |conn| {
                        let campaign = find_for_update(conn, id).await?;
                        trigger_locked(conn, &campaign, caller, cap, self.settings.lease).await
                    })
                    .await?;
                drop(conn);
                self.relay_waker.notify_one();
                // Its own task: a client that hangs up does not stop the freeze half-way (a
                // replica would resume it after the lease, but later).
                let service = self.clone();
                let frozen = tokio::spawn(async move { service.freeze(execution).await })
                    .await
                    .map_err(|e| Error::Internal(anyhow::anyhow!("freezing the audience: {e}")))
                    .and_then(|frozen| frozen);
                match frozen {
                    Ok(outcome) => Ok(outcome),
                    Err(e) => {
                        tracing::warn!(%execution, error = ?e,
                            "writing the recipients failed after the trigger committed; continuing in the background");
                        self.freeze_in_background(execution);
                        Ok(self.partial_outcome(execution).await)
                    }
                }
            }
            ExecutionType::Simulation => {
                simulate(&mut conn, id, caller, cap, &self.settings.signer).await
            }
        }
    }

    /// A committed execution's counts so far, as far as the database answers in a second (the
    /// trigger must answer even when it does not).
    async fn partial_outcome(&self, execution: Uuid) -> TriggerOutcome {
        let read = tokio::time::timeout(
            std::time::Duration::from_secs(1),
            self.get_execution(execution),
        )
        .await;
        let (planned, skipped) = match read {
            Ok(Ok(e)) => (
                e.planned.max(0) as u64,
                serde_json::from_value(e.skipped).unwrap_or_default(),
            ),
            _ => (0, Skipped::default()),
        };
        TriggerOutcome {
            execution_id: execution,
            kind: ExecutionType::Actual,
            planned,
            skipped,
            frozen: false,
        }
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

/// Refuses campaigns past their end.
fn check_not_ended(campaign: &CampaignRow) -> Result<()> {
    if let Some(end) = campaign.end_time.filter(|e| *e <= Utc::now()) {
        return Err(Error::Conflict(format!("the campaign ended at {end}")));
    }
    Ok(())
}

/// The real trigger, inside the caller's transaction with the campaign row locked: used by the
/// API and by the scheduler, so a campaign is triggered once whoever gets there first. Checks
/// that the campaign can be sent, records the execution (with its content frozen) and makes the
/// campaign `active`; the caller then writes the records with
/// [`MarketingService::freeze`](super::MarketingService::freeze) once this transaction commits.
pub(crate) async fn trigger_locked(
    conn: &mut AsyncPgConnection,
    campaign: &CampaignRow,
    caller: Option<Uuid>,
    cap: Option<FrequencyCap>,
    lease: chrono::Duration,
) -> Result<Uuid> {
    let status = campaign.status;
    if !matches!(status, CampaignStatus::Draft | CampaignStatus::Scheduled) {
        return Err(Error::Conflict(format!(
            "campaign {} is {status}; only draft or scheduled campaigns can be triggered",
            campaign.id
        )));
    }
    check_not_ended(campaign)?;
    let plan = Plan::resolve(conn, campaign).await?;
    // Refuses an audience that cannot be built (none set, segment gone) before anything is written.
    Audience::of(conn, campaign, 11, cap).await?;
    let execution_id = Uuid::now_v7();
    let now = Utc::now();
    diesel::insert_into(ce::campaign_executions)
        .values((
            ce::id.eq(execution_id),
            ce::campaign_id.eq(campaign.id),
            ce::execution_type.eq(ExecutionType::Actual),
            ce::status.eq(ExecutionStatus::Running),
            ce::triggered_by.eq(caller),
            ce::created_at.eq(now),
            ce::trace_context.eq(marketing_core::telemetry::current_traceparent()),
            ce::contents.eq(to_json(&plan.contents)?),
            ce::skipped.eq(to_json(Skipped::default())?),
            ce::materialize_done.eq(false),
            ce::materialize_lease_until.eq(Some(now + lease)),
        ))
        .execute(conn)
        .await?;
    diesel::update(mc::marketing_campaign.find(campaign.id))
        .set((
            mc::status.eq(CampaignStatus::Active),
            mc::actual_start_time.eq(Some(now)),
            mc::updated_at.eq(now),
        ))
        .execute(conn)
        .await?;
    tracing::info!(campaign_id = %campaign.id, %execution_id, "campaign triggered");
    Ok(execution_id)
}

/// A dry run: same resolution and rendering, nothing sent, no status change, no records (so
/// it counts toward no frequency cap, though it counts who the cap leaves out).
async fn simulate(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    caller: Option<Uuid>,
    cap: Option<FrequencyCap>,
    signer: &Signer,
) -> Result<TriggerOutcome> {
    let campaign = super::campaigns::find(conn, id).await?;
    if campaign.status == CampaignStatus::Archived {
        return Err(Error::Conflict(format!("campaign {id} is archived")));
    }
    check_not_ended(&campaign)?;
    let plan = Plan::resolve(conn, &campaign).await?;
    let audience = Audience::of(conn, &campaign, 5, cap).await?;
    let query = base_query(count_sql(&audience), &campaign, &plan);
    let counts: Counts = segment::bind_all(query, &audience.binds)
        .get_result(conn)
        .await?;
    let samples = audience_samples(conn, &campaign, &plan, signer, SAMPLES, cap).await?;
    let skipped = counts.skipped();
    let execution_id = Uuid::now_v7();
    let now = Utc::now();
    diesel::insert_into(ce::campaign_executions)
        .values((
            ce::id.eq(execution_id),
            ce::campaign_id.eq(id),
            ce::execution_type.eq(ExecutionType::Simulation),
            ce::status.eq(ExecutionStatus::Completed),
            ce::planned.eq(counts.planned),
            ce::skipped.eq(to_json(skipped)?),
            ce::samples.eq(to_json(&samples)?),
            ce::contents.eq(to_json(&plan.contents)?),
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
        frozen: true,
    })
}

fn to_json(v: impl serde::Serialize) -> Result<serde_json::Value> {
    serde_json::to_value(v).map_err(|e| Error::Internal(e.into()))
}
