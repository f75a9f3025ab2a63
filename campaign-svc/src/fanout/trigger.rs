//! The real trigger: check the campaign, record the execution with its content frozen and make
//! the campaign active (one transaction, the campaign row locked, so a campaign is triggered once
//! whoever gets there first: the API or the scheduler of any replica), then write its audience
//! ([`super::freeze`]) in the background while the relay publishes each chunk as it commits;
//! the trigger answers once the execution is committed.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};
use marketing_core::models::CampaignRow;
use marketing_core::schema::{campaign_executions::dsl as ce, marketing_campaign::dsl as mc};
use marketing_core::vocabulary::{CampaignStatus, ExecutionStatus, ExecutionType};
use uuid::Uuid;

use super::audience::Audience;
use super::plan::Plan;
use super::{Fanout, FanoutSettings};
use crate::domain::execution::{Skipped, TriggerOutcome};
use crate::domain::timing::{QuietHours, Timing, parse_clock, parse_zone};
use crate::domain::trigger::CampaignTrigger;
use crate::error::{Error, Result};

impl Fanout {
    /// Triggers campaign `id` for real and returns as soon as the execution is committed,
    /// whatever the audience's size: nothing here reads the audience (no count, no segment
    /// evaluation), so the answer takes the same time for 100 recipients as for 10 million.
    ///
    /// The records are then written ([`Fanout::freeze`]) by a task of its own while the relay
    /// publishes each chunk as it commits. A client that hangs up does not stop it; a replica
    /// that dies half-way leaves the execution's lease to run out, and the relay of any replica
    /// resumes the freeze from its cursor (exactly once: freezers take turns on an advisory
    /// lock and never write a customer twice). `GET /executions/:id` shows `planned`, `skipped`
    /// and `frozen` as the freeze goes on.
    pub async fn trigger(&self, caller: Option<Uuid>, id: Uuid) -> Result<TriggerOutcome> {
        let mut conn = self.pool().get().await?;
        let settings = self.settings();
        let execution = conn
            .transaction::<_, Error, _>(async |conn| {
                let campaign = CampaignRow::lock(conn, id)
                    .await?
                    .ok_or_else(|| Error::not_found("campaign", id))?;
                trigger_locked(conn, &campaign, caller, settings, Run::Once).await
            })
            .await?;
        drop(conn);
        self.freeze_in_background(execution);
        self.wake();
        Ok(TriggerOutcome {
            execution_id: execution,
            kind: ExecutionType::Actual,
            planned: 0,
            skipped: Skipped::default(),
            frozen: false,
        })
    }
}

/// Refuses campaigns past their end.
pub(crate) fn check_not_ended(campaign: &CampaignRow) -> Result<()> {
    if let Some(end) = campaign.end_time.filter(|e| *e <= Utc::now()) {
        return Err(Error::Conflict(format!("the campaign ended at {end}")));
    }
    Ok(())
}

/// Which run of a campaign a trigger starts.
#[derive(Debug, Clone, Copy)]
pub(super) enum Run {
    /// A one-shot campaign's only execution (the API's trigger or its `start_time`).
    Once,
    /// A recurring campaign's occurrence due at this time (the scheduler's).
    Occurrence(DateTime<Utc>),
    /// An event-triggered campaign's listening execution, from this time: it collects the
    /// records its events make until the campaign is paused, edited or ends.
    Listening(DateTime<Utc>),
}

/// The real trigger, inside the caller's transaction with the campaign row locked: checks that
/// the campaign can be sent, records the execution (with its content frozen) and makes the
/// campaign `active`; for a one-shot or recurring run the caller then writes the records with
/// [`Fanout::freeze`] once this transaction commits.
pub(super) async fn trigger_locked(
    conn: &mut AsyncPgConnection,
    campaign: &CampaignRow,
    caller: Option<Uuid>,
    settings: &FanoutSettings,
    run: Run,
) -> Result<Uuid> {
    let (cap, lease) = (settings.frequency_cap, settings.lease());
    let status = campaign.status;
    let trigger = CampaignTrigger::stored(&campaign.trigger)?;
    match (run, &trigger) {
        (Run::Once, CampaignTrigger::Recurring(_)) => {
            return Err(Error::Conflict(format!(
                "campaign {} is recurring: it runs on its schedule (next at {}); pause or resume it instead",
                campaign.id,
                campaign
                    .next_run_at
                    .map_or_else(|| "none".to_owned(), |t| t.to_rfc3339())
            )));
        }
        (Run::Once, CampaignTrigger::Journey(_)) => trigger.check_not_journey(campaign.id)?,
        (Run::Once, CampaignTrigger::Event(e)) => {
            return Err(Error::Conflict(format!(
                "campaign {} is sent by `{}` events, to each customer whose event it is; pause or resume it instead",
                campaign.id, e.event
            )));
        }
        (Run::Once, _) if !matches!(status, CampaignStatus::Draft | CampaignStatus::Scheduled) => {
            return Err(Error::Conflict(format!(
                "campaign {} is {status}; only draft or scheduled campaigns can be triggered",
                campaign.id
            )));
        }
        (Run::Occurrence(_) | Run::Listening(_), _)
            if !matches!(status, CampaignStatus::Scheduled | CampaignStatus::Active) =>
        {
            return Err(Error::Conflict(format!(
                "campaign {} is {status}; its occurrences have stopped",
                campaign.id
            )));
        }
        _ => {}
    }
    let (occurrence, listening) = match run {
        Run::Once => (None, false),
        Run::Occurrence(t) => (Some(t), false),
        Run::Listening(t) => (Some(t), true),
    };
    check_not_ended(campaign)?;
    let timing = timing(campaign, settings.default_quiet_hours)?;
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
            ce::materialize_done.eq(listening),
            ce::materialize_lease_until.eq(Some(now + lease)),
            ce::occurrence.eq(occurrence),
            ce::timing.eq(timing.map(to_json).transpose()?),
            ce::listening.eq(listening),
            // A listening execution's records are published by the timed publisher as they
            // fall due, never by the relay.
            ce::publish_done.eq(listening),
        ))
        .execute(conn)
        .await?;
    diesel::update(mc::marketing_campaign.find(campaign.id))
        .set((
            mc::status.eq(CampaignStatus::Active),
            mc::actual_start_time.eq(campaign.actual_start_time.or(Some(now))),
            mc::updated_at.eq(now),
        ))
        .execute(conn)
        .await?;
    tracing::info!(campaign_id = %campaign.id, %execution_id, ?occurrence, listening, "campaign triggered");
    Ok(execution_id)
}

/// The timing rules an execution of `campaign` sends by: its own, with the service-wide quiet
/// hours when it has none; `None` when nothing makes a message wait.
pub(super) fn timing(
    campaign: &CampaignRow,
    default_quiet: Option<QuietHours>,
) -> Result<Option<Timing>> {
    let stored = |e: Error| Error::Internal(anyhow::anyhow!("campaign {}: {e}", campaign.id));
    let send_at_local = campaign
        .send_at_local
        .as_deref()
        .map(|t| parse_clock("send_at_local", t))
        .transpose()
        .map_err(stored)?;
    let quiet_hours = match &campaign.quiet_hours {
        Some(q) => Some(QuietHours::parse(q).map_err(stored)?),
        None => default_quiet,
    };
    let time_zone = match campaign.time_zone.as_deref() {
        Some(z) => parse_zone("time_zone", z).map_err(stored)?,
        None => chrono_tz::UTC,
    };
    Ok(
        (send_at_local.is_some() || quiet_hours.is_some()).then_some(Timing {
            send_at_local,
            quiet_hours,
            time_zone,
        }),
    )
}

pub(crate) fn to_json(v: impl serde::Serialize) -> Result<serde_json::Value> {
    serde_json::to_value(v).map_err(|e| Error::Internal(e.into()))
}
