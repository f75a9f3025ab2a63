//! Recurring campaigns: where a campaign's schedule places it (status and next occurrence) when
//! it is created or edited, and pausing and resuming it. Running each occurrence is the fan-out's
//! scheduler's (`crate::fanout`).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection as _, RunQueryDsl};
use marketing_core::models::CampaignRow;
use marketing_core::schema::marketing_campaign::dsl as mc;
use marketing_core::vocabulary::CampaignStatus;
use uuid::Uuid;

use super::MarketingService;
use super::campaigns::find_for_update;
use crate::auth::Caller;
use crate::domain::campaign::{Campaign, initial_status};
use crate::domain::trigger::{CampaignTrigger, Schedule};
use crate::error::{Error, Result};

/// Sets a campaign's status and next occurrence from its trigger and time window. A one-shot
/// campaign is `scheduled` when it starts in the future, else `draft`. A recurring one is
/// `scheduled` until its first occurrence runs (then `active` between occurrences), at the first
/// occurrence from `start_time` (or now) before `end_time`; a schedule with none is refused. An
/// event-triggered one listens from `start_time` (or now) to `end_time`: `scheduled` until its
/// first event sends it, then `active`.
pub(crate) fn place(row: &mut CampaignRow, now: DateTime<Utc>) -> Result<()> {
    match CampaignTrigger::stored(&row.trigger)? {
        trigger @ CampaignTrigger::Journey(_) => trigger.check_not_journey(row.id)?,
        CampaignTrigger::Once => {
            if row.status == CampaignStatus::Active {
                return Err(Error::Conflict(format!(
                    "campaign {} is active and recurring: it stays recurring",
                    row.id
                )));
            }
            row.status = initial_status(row.start_time, now);
            row.next_run_at = None;
        }
        CampaignTrigger::Recurring(schedule) => {
            row.next_run_at = Some(first_occurrence(&schedule, row, now)?);
            if row.status != CampaignStatus::Active {
                row.status = CampaignStatus::Scheduled;
            }
        }
        CampaignTrigger::Event(_) => {
            if row.end_time.is_some_and(|end| end <= now) {
                return Err(Error::invalid(
                    "end_time",
                    "is past: an event-triggered campaign listens until its end_time",
                ));
            }
            row.next_run_at = None;
            if row.status != CampaignStatus::Active {
                row.status = CampaignStatus::Scheduled;
            }
        }
    }
    Ok(())
}

/// The first occurrence from the campaign's start (or now) before its end.
fn first_occurrence(
    schedule: &Schedule,
    row: &CampaignRow,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>> {
    let from = row.start_time.map_or(now, |s| s.max(now));
    schedule.first_from(from, row.end_time).ok_or_else(|| {
        Error::invalid(
            "trigger.cron",
            format!(
                "`{}` has no occurrence between {from} and the campaign's end_time",
                schedule.cron
            ),
        )
    })
}

/// Whether a campaign may be edited: before it starts, or a recurring one while paused.
pub(crate) fn editable(row: &CampaignRow) -> bool {
    row.status.is_editable() || (row.status == CampaignStatus::Active && row.paused_at.is_some())
}

impl MarketingService {
    /// Pauses a recurring or event-triggered campaign (scheduled or active): no occurrence runs
    /// and no event sends it until it is resumed (events arriving or falling due meanwhile are
    /// not made up for); executions already running go on. Pausing twice is harmless.
    pub async fn pause_campaign(&self, caller: Caller, id: Uuid) -> Result<Campaign> {
        self.set_paused(caller, id, true).await
    }

    /// Resumes a paused campaign: a recurring one at its first occurrence from now (occurrences
    /// that came while it was paused are not made up for), an event-triggered one with the next
    /// event. Resuming a running one is harmless.
    pub async fn resume_campaign(&self, caller: Caller, id: Uuid) -> Result<Campaign> {
        self.set_paused(caller, id, false).await
    }

    async fn set_paused(&self, caller: Caller, id: Uuid, pause: bool) -> Result<Campaign> {
        let mut conn = self.pool.get().await?;
        let row = conn
            .transaction::<_, Error, _>(async |conn| {
                let mut row = find_for_update(conn, id).await?;
                let schedule = match CampaignTrigger::stored(&row.trigger)? {
                    CampaignTrigger::Recurring(schedule) => Some(schedule),
                    CampaignTrigger::Event(_) => None,
                    trigger @ CampaignTrigger::Journey(_) => {
                        trigger.check_not_journey(id)?;
                        None
                    }
                    CampaignTrigger::Once => {
                        return Err(Error::Conflict(format!(
                            "campaign {id} is sent once: only recurring and event-triggered campaigns pause and resume"
                        )));
                    }
                };
                if !matches!(
                    row.status,
                    CampaignStatus::Scheduled | CampaignStatus::Active
                ) {
                    return Err(Error::Conflict(format!(
                        "campaign {id} is {}; only scheduled or active campaigns pause and resume",
                        row.status
                    )));
                }
                if pause == row.paused_at.is_some() {
                    return Ok(row);
                }
                let now = Utc::now();
                if pause {
                    row.paused_at = Some(now);
                } else {
                    row.paused_at = None;
                    if let Some(schedule) = schedule {
                        row.next_run_at = Some(first_occurrence(&schedule, &row, now)?);
                    }
                }
                let row = diesel::update(mc::marketing_campaign.find(id))
                    .set((
                        mc::paused_at.eq(row.paused_at),
                        mc::next_run_at.eq(row.next_run_at),
                        mc::updated_by.eq(caller.id),
                        mc::updated_at.eq(now),
                    ))
                    .returning(CampaignRow::as_returning())
                    .get_result(conn)
                    .await?;
                tracing::info!(campaign_id = %id, paused = pause, next_run_at = ?row.next_run_at,
                    "campaign {}", if pause { "paused" } else { "resumed" });
                Ok(row)
            })
            .await?;
        Ok(row.into())
    }
}
