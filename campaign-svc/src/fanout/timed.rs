//! The timed publisher: publishes records that wait (`not_before`: a local send time, quiet
//! hours) once they fall due. The relay publishes an execution's records that may leave at once,
//! in customer order behind its cursor; the ones that wait are left out of its pages and come
//! here, in the order they fall due, through the `marketing_record_due` partial index on
//! `due_at` (set only while a record waits, so this costs nothing for campaigns without timing;
//! the index names no column that the hot writes change, so those stay HOT updates).
//!
//! A page of due records is locked (`FOR UPDATE SKIP LOCKED`: replicas share the work), published
//! with confirms, and marked `published_at` in the same transaction, which commits only after
//! the broker confirmed every job. A replica dying half-way rolls the marks back: those records
//! are published again by whoever comes next (workers claim a record before sending, so a job
//! published twice is sent once).

use std::time::Duration;

use diesel::QueryableByName;
use diesel::sql_types::{Array, BigInt, Text, Uuid as SqlUuid};
use diesel_async::{AsyncConnection as _, RunQueryDsl};
use marketing_core::jobs::SendJob;
use marketing_core::vocabulary::Channel;
use tokio::sync::watch;
use uuid::Uuid;

use super::Fanout;
use super::publisher::Publisher;

/// Due records, oldest due first, locked for this transaction. `$1` page size.
const DUE_SQL: &str = "
SELECT r.id, r.campaign_id, r.execution_id, r.customer_id, r.channel
FROM marketing_record r
WHERE r.due_at IS NOT NULL AND r.due_at <= now()
  AND r.status = 'pending' AND r.published_at IS NULL
ORDER BY r.due_at
LIMIT $1
FOR UPDATE SKIP LOCKED";

/// Marks `$1` records published and counts them on their executions (`$2`, `$3`: executions and
/// how many of each).
const PUBLISHED_SQL: &str = "
WITH marked AS (
    UPDATE marketing_record SET published_at = now(), due_at = NULL WHERE id = ANY($1) RETURNING 1
)
UPDATE campaign_executions e SET published_count = e.published_count + t.n
FROM unnest($2::uuid[], $3::bigint[]) AS t(id, n)
WHERE e.id = t.id";

#[derive(QueryableByName)]
struct Due {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    campaign_id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    execution_id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    customer_id: Uuid,
    #[diesel(sql_type = Text)]
    channel: Channel,
}

pub(super) struct TimedPublisher {
    fanout: Fanout,
    publisher: Publisher,
}

impl TimedPublisher {
    pub(super) fn new(fanout: Fanout, publisher: Publisher) -> Self {
        TimedPublisher { fanout, publisher }
    }

    /// Publishes due records until `stop` turns true; looks every `EVENT_POLL_MS` (a message
    /// leaves at most that long after its time) and when woken, at once again after a full
    /// page.
    pub(super) async fn run(mut self, mut stop: watch::Receiver<bool>) {
        let mut backoff = Duration::from_millis(200);
        loop {
            let wait = match self.pass().await {
                Ok(true) => continue,
                Ok(false) => {
                    backoff = Duration::from_millis(200);
                    self.fanout.settings().event_poll
                }
                Err(e) => {
                    tracing::warn!(error = %format!("{e:#}"), "timed publisher pass failed; retrying");
                    self.publisher.reset().await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    backoff
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.fanout.inner.timed.notified() => {}
                _ = stop.wait_for(|s| *s) => return,
            }
        }
    }

    /// Publishes one page of due records; `true` when the page was full (more may be due).
    async fn pass(&mut self) -> anyhow::Result<bool> {
        let page = self.fanout.settings().page_size;
        let mut conn = self.fanout.pool().get().await?;
        let publisher = &mut self.publisher;
        conn.transaction::<_, anyhow::Error, _>(async |conn| {
            let due: Vec<Due> = diesel::sql_query(DUE_SQL)
                .bind::<BigInt, _>(page)
                .load(conn)
                .await?;
            if due.is_empty() {
                return Ok(false);
            }
            let jobs: Vec<SendJob> = due
                .iter()
                .map(|d| SendJob {
                    record_id: d.id,
                    campaign_id: d.campaign_id,
                    execution_id: d.execution_id,
                    customer_id: d.customer_id,
                    channel: d.channel,
                })
                .collect();
            let mut pipe = publisher.pipeline::<()>().await?;
            let mut confirmed = Vec::new();
            pipe.publish_page(&jobs, &Default::default(), None, &mut confirmed)
                .await?;
            pipe.drain(&mut confirmed).await?;
            let mut per_execution: Vec<(Uuid, i64)> = Vec::new();
            for d in &due {
                match per_execution.iter_mut().find(|(e, _)| *e == d.execution_id) {
                    Some((_, n)) => *n += 1,
                    None => per_execution.push((d.execution_id, 1)),
                }
            }
            let (executions, counts): (Vec<Uuid>, Vec<i64>) = per_execution.into_iter().unzip();
            diesel::sql_query(PUBLISHED_SQL)
                .bind::<Array<SqlUuid>, _>(due.iter().map(|d| d.id).collect::<Vec<_>>())
                .bind::<Array<SqlUuid>, _>(executions)
                .bind::<Array<BigInt>, _>(counts)
                .execute(conn)
                .await?;
            metrics::counter!("relay_jobs_published_total").increment(due.len() as u64);
            tracing::debug!(records = due.len(), "published due records");
            Ok(due.len() as i64 >= page)
        })
        .await
    }
}
