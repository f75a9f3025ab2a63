//! The scheduler: triggers `scheduled` campaigns at their `start_time`, runs each due occurrence
//! of recurring campaigns, and completes `active` ones when every record is final (and a
//! recurring one has no occurrence left) or their `end_time` has passed (pending records are then
//! not sent). Row locks with `SKIP LOCKED` make it safe with several campaign-svc replicas: a
//! campaign is triggered once, an occurrence runs once, whichever replica gets there (and the
//! `(campaign_id, occurrence)` unique index would refuse a second execution anyway).

use std::time::Duration;

use diesel::prelude::*;
use diesel_async::{AsyncConnection as _, RunQueryDsl};
use marketing_core::db::PgPool;
use marketing_core::models::CampaignRow;
use marketing_core::schema::marketing_campaign::dsl as mc;
use marketing_core::vocabulary::CampaignStatus;
use tokio::sync::watch;

use super::Fanout;
use super::trigger::{Run, trigger_locked};
use crate::domain::trigger::CampaignTrigger;
use crate::error::Error;

/// Completes finished executions and campaigns in one statement. An execution is done when it is
/// fully published and every record is final (per its counters); a listening one (an event
/// campaign's) only once it stopped listening too. A campaign is done when every execution is
/// and no occurrence is coming (a one-shot campaign never has one; a paused recurring one keeps
/// its next occurrence; an event-triggered one listens until its end), or when its `end_time`
/// passed; what is still pending then is marked as not sent.
const COMPLETE_SQL: &str = "
WITH finished AS (
    UPDATE campaign_executions e
    SET status = 'completed', finished_at = now()
    WHERE e.execution_type = 'actual' AND e.status = 'running' AND e.publish_done
      AND e.sent_count + e.failed_count >= e.planned
      -- A listening execution is done once it stopped listening: its campaign was paused,
      -- edited or resumed since (a new one listens), or ended.
      AND (NOT e.listening OR EXISTS (
          SELECT 1 FROM marketing_campaign c
          WHERE c.id = e.campaign_id
            AND (c.paused_at IS NOT NULL OR c.updated_at > e.created_at
                 OR c.status NOT IN ('scheduled', 'active')
                 OR (c.end_time IS NOT NULL AND c.end_time <= now()))))
    RETURNING e.id
), done AS (
    UPDATE marketing_campaign c
    SET status = 'completed', actual_end_time = now(), updated_at = now(), next_run_at = NULL
    WHERE c.status = 'active'
      AND ((c.end_time IS NOT NULL AND c.end_time <= now())
           OR (c.next_run_at IS NULL AND c.paused_at IS NULL
               -- An event-triggered campaign, or a journey's send step, listens on.
               AND COALESCE(c.trigger->>'kind', '') NOT IN ('event', 'journey')
               AND EXISTS (SELECT 1 FROM campaign_executions e
                           WHERE e.campaign_id = c.id AND e.execution_type = 'actual')
               AND NOT EXISTS (SELECT 1 FROM campaign_executions e
                               WHERE e.campaign_id = c.id AND e.execution_type = 'actual'
                                 AND NOT (e.publish_done AND e.sent_count + e.failed_count >= e.planned))))
    RETURNING c.id
), expired AS (
    UPDATE marketing_record r
    SET status = 'failed', error_message = 'not sent: the campaign ended before this message was sent',
        updated_at = now(), due_at = NULL
    WHERE r.campaign_id IN (SELECT id FROM done) AND r.status = 'pending'
    RETURNING r.execution_id, r.variant
), stats AS (
    UPDATE campaign_stats s SET send_failed = s.send_failed + t.n
    FROM (SELECT execution_id, COALESCE(variant, '') AS variant, count(*) AS n
          FROM expired GROUP BY 1, 2) t
    WHERE s.execution_id = t.execution_id AND s.variant = t.variant
    RETURNING 1
), closed AS (
    UPDATE campaign_executions e
    SET status = 'completed', finished_at = now(),
        failed_count = e.failed_count + (SELECT count(*) FROM expired x WHERE x.execution_id = e.id)
    WHERE e.campaign_id IN (SELECT id FROM done) AND e.execution_type = 'actual' AND e.status = 'running'
      AND e.id NOT IN (SELECT id FROM finished)
    RETURNING 1
)
SELECT (SELECT count(*) FROM done) AS completed, (SELECT count(*) FROM expired) AS expired";

/// Records claimed by a worker that never reported back (its job was dead-lettered after
/// repeated worker crashes) would keep a campaign active forever; after a long grace period they
/// are failed with a reason pointing at the dead-letter queue.
const STALE_SENDING_SQL: &str = "
WITH stale AS (
    UPDATE marketing_record r
    SET status = 'failed', updated_at = now(),
        error_message = 'delivery not confirmed: the worker handling it was lost; see the dead-letter queue'
    WHERE r.status = 'sending' AND r.claimed_at < now() - make_interval(secs => $1)
      AND r.campaign_id IN (SELECT id FROM marketing_campaign WHERE status = 'active')
    RETURNING r.execution_id, r.variant
), stats AS (
    UPDATE campaign_stats s SET send_failed = s.send_failed + t.n
    FROM (SELECT execution_id, COALESCE(variant, '') AS variant, count(*) AS n
          FROM stale GROUP BY 1, 2) t
    WHERE s.execution_id = t.execution_id AND s.variant = t.variant
    RETURNING 1
), tally AS (
    UPDATE campaign_executions e SET failed_count = e.failed_count + t.n
    FROM (SELECT execution_id, count(*) AS n FROM stale GROUP BY execution_id) t
    WHERE e.id = t.execution_id
    RETURNING 1
)
SELECT count(*) AS n FROM stale";

#[derive(QueryableByName)]
struct Stale {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct Completed {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    completed: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    expired: i64,
}

pub(super) struct Scheduler {
    pool: PgPool,
    interval: Duration,
    stale_sending: Duration,
    /// Triggers as the API does (same frequency cap, same freeze).
    fanout: Fanout,
    /// When stale `sending` records were last looked for: that scan reads every record of the
    /// active campaigns, so it runs every tenth of the grace period (at most once a minute),
    /// not every tick.
    stale_checked: std::sync::Mutex<Option<std::time::Instant>>,
}

impl Scheduler {
    pub(super) fn new(fanout: Fanout) -> Self {
        Scheduler {
            pool: fanout.pool().clone(),
            interval: fanout.settings().scheduler_interval,
            stale_sending: fanout.settings().stale_sending,
            fanout,
            stale_checked: std::sync::Mutex::new(None),
        }
    }

    pub(super) async fn run(self, mut stop: watch::Receiver<bool>) {
        loop {
            if let Err(e) = self.tick().await {
                tracing::warn!(error = %format!("{e:#}"), "scheduler tick failed");
            }
            tokio::select! {
                _ = tokio::time::sleep(self.interval) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
        }
    }

    /// One round: trigger every due campaign and run every due occurrence, then complete every
    /// finished one.
    pub async fn tick(&self) -> anyhow::Result<()> {
        while self.trigger_one_due().await? {}
        while self.run_one_due_occurrence().await? {}
        let mut conn = self.pool.get().await?;
        if self.stale_check_due() {
            let stale: Stale = diesel::sql_query(STALE_SENDING_SQL)
                .bind::<diesel::sql_types::Double, _>(self.stale_sending.as_secs_f64())
                .get_result(&mut conn)
                .await?;
            if stale.n > 0 {
                tracing::warn!(
                    records = stale.n,
                    "failed records whose delivery was never confirmed"
                );
            }
        }
        let done: Completed = diesel::sql_query(COMPLETE_SQL)
            .get_result(&mut conn)
            .await?;
        if done.completed > 0 {
            tracing::info!(
                completed = done.completed,
                not_sent = done.expired,
                "campaigns completed"
            );
        }
        Ok(())
    }

    /// Whether to look for stale `sending` records now (and then not before a tenth of the grace
    /// period, capped at a minute, has passed).
    fn stale_check_due(&self) -> bool {
        let every = (self.stale_sending / 10).min(Duration::from_secs(60));
        let now = std::time::Instant::now();
        let mut last = self
            .stale_checked
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if last.is_some_and(|t| now.duration_since(t) < every) {
            return false;
        }
        *last = Some(now);
        true
    }

    /// Triggers the most overdue scheduled campaign, each in its own transaction; `false` when
    /// none is due. A campaign that cannot be sent (no audience, no content, already ended) goes
    /// back to `draft` with a warning instead of being retried forever.
    async fn trigger_one_due(&self) -> anyhow::Result<bool> {
        let mut conn = self.pool.get().await?;
        let outcome = conn
            .transaction::<_, Error, _>(async |conn| {
                // One-shot campaigns only: a recurring one has a next occurrence, an
                // event-triggered one listens.
                let due: Option<CampaignRow> = mc::marketing_campaign
                    .filter(mc::status.eq(CampaignStatus::Scheduled))
                    .filter(mc::next_run_at.is_null())
                    .filter(diesel::dsl::sql::<diesel::sql_types::Bool>(
                        "COALESCE(trigger->>'kind', '') NOT IN ('event', 'journey')",
                    ))
                    .filter(mc::start_time.le(chrono::Utc::now()))
                    .order(mc::start_time)
                    .for_no_key_update()
                    .skip_locked()
                    .select(CampaignRow::as_select())
                    .first(conn)
                    .await
                    .optional()?;
                let Some(campaign) = due else {
                    return Ok(None);
                };
                let settings = self.fanout.settings();
                match trigger_locked(conn, &campaign, None, settings, Run::Once).await {
                    Ok(execution) => Ok(Some(Some(execution))),
                    Err(
                        Error::Conflict(reason)
                        | Error::InvalidArgument {
                            message: reason, ..
                        },
                    ) => {
                        tracing::warn!(campaign_id = %campaign.id, %reason,
                            "scheduled campaign cannot be sent; moved back to draft");
                        diesel::update(mc::marketing_campaign.find(campaign.id))
                            .set((
                                mc::status.eq(CampaignStatus::Draft),
                                mc::updated_at.eq(chrono::Utc::now()),
                            ))
                            .execute(conn)
                            .await?;
                        Ok(Some(None))
                    }
                    Err(e) => Err(e),
                }
            })
            .await
            .map_err(|e| anyhow::anyhow!("triggering a due campaign: {e:?}"))?;
        let Some(triggered) = outcome else {
            return Ok(false);
        };
        if let Some(execution) = triggered {
            // Frozen in the background so that other due campaigns start at once; if this
            // replica dies half-way, another one's relay resumes the freeze after the lease.
            self.fanout.freeze_in_background(execution);
        }
        Ok(true)
    }

    /// Runs the most overdue occurrence of a recurring campaign, in its own transaction; `false`
    /// when none is due. The next occurrence is the first after now: occurrences missed while
    /// no replica ran are made up for once, never one by one. An occurrence that cannot be sent
    /// (no audience left, say) is skipped with a warning; the schedule goes on.
    async fn run_one_due_occurrence(&self) -> anyhow::Result<bool> {
        let mut conn = self.pool.get().await?;
        let settings = self.fanout.settings();
        let outcome = conn
            .transaction::<_, Error, _>(async |conn| {
                let now = chrono::Utc::now();
                let due: Option<CampaignRow> = mc::marketing_campaign
                    .filter(mc::next_run_at.le(now))
                    .filter(mc::paused_at.is_null())
                    .filter(mc::status.eq_any([CampaignStatus::Scheduled, CampaignStatus::Active]))
                    .order(mc::next_run_at)
                    .for_no_key_update()
                    .skip_locked()
                    .select(CampaignRow::as_select())
                    .first(conn)
                    .await
                    .optional()?;
                let Some(campaign) = due else {
                    return Ok(None);
                };
                let Some(occurrence) = campaign.next_run_at else {
                    return Ok(None);
                };
                let next = CampaignTrigger::stored(&campaign.trigger)?
                    .schedule()
                    .and_then(|s| s.next_after(occurrence.max(now), campaign.end_time));
                diesel::update(mc::marketing_campaign.find(campaign.id))
                    .set(mc::next_run_at.eq(next))
                    .execute(conn)
                    .await?;
                match trigger_locked(conn, &campaign, None, settings, Run::Occurrence(occurrence))
                    .await
                {
                    Ok(execution) => Ok(Some(Some(execution))),
                    Err(
                        Error::Conflict(reason)
                        | Error::InvalidArgument {
                            message: reason, ..
                        },
                    ) => {
                        tracing::warn!(campaign_id = %campaign.id, %occurrence, %reason,
                            "occurrence of a recurring campaign skipped");
                        Ok(Some(None))
                    }
                    Err(e) => Err(e),
                }
            })
            .await
            .map_err(|e| anyhow::anyhow!("running a due occurrence: {e:?}"))?;
        let Some(ran) = outcome else {
            return Ok(false);
        };
        if let Some(execution) = ran {
            self.fanout.wake();
            self.fanout.freeze_in_background(execution);
        }
        Ok(true)
    }
}
