//! The outbox relay: publishes the records a trigger wrote (the outbox) to RabbitMQ.
//!
//! A trigger writes an execution's records in chunks, in customer id order (see
//! [`super::freeze`]); the relay publishes each chunk as soon as it is committed, in
//! the same order, and after the broker confirms a page the execution's cursor
//! (`publish_cursor`, a customer id) moves past it. Since a chunk commits whole and the next one
//! only holds larger customer ids, no record ever becomes visible behind the cursor. Confirms
//! stay in flight across pages (the window never drains between them). A lease (`publisher`,
//! `publisher_lease_until`) lets one campaign-svc replica publish an execution at a time; when the
//! owner dies, the lease runs out and another replica resumes from the cursor. A crash between
//! confirm and cursor update publishes at most the pages in flight twice, which workers absorb
//! (a record is claimed before it is sent). Nothing is skipped: the cursor only moves after
//! confirms. The relay also resumes freezes whose replica died (their lease ran out).

use std::time::Duration;

use diesel::prelude::*;
use diesel::sql_types::{Bool, Nullable, Text, Uuid as SqlUuid};
use diesel_async::{AsyncConnection as _, RunQueryDsl};
use marketing_core::db::PgPool;
use marketing_core::jobs::SendJob;
use marketing_core::schema::campaign_executions::dsl as ce;
use tokio::sync::watch;
use tracing::Instrument as _;
use uuid::Uuid;

use super::Fanout;
use super::publisher::{Pipeline, Publisher};

pub(super) struct Relay {
    fanout: Fanout,
    pool: PgPool,
    publisher: Publisher,
    owner: Uuid,
}

/// A page row: a pending record after the cursor (none when the page is empty), and whether
/// the execution's audience was fully frozen, both as of the same snapshot.
#[derive(QueryableByName)]
struct PageRow {
    #[diesel(sql_type = Nullable<SqlUuid>)]
    id: Option<Uuid>,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    customer_id: Option<Uuid>,
    #[diesel(sql_type = Nullable<Text>)]
    channel: Option<marketing_core::vocabulary::Channel>,
    #[diesel(sql_type = Bool)]
    frozen: bool,
}

/// A page of jobs, and whether nothing more can come after it (the freeze was done when read).
struct Page {
    jobs: Vec<SendJob>,
    frozen: bool,
}

/// Records written by triggers but not yet confirmed by the broker.
const UNPUBLISHED_SQL: &str = "SELECT COALESCE(sum(planned - published_count), 0)::bigint AS n
    FROM campaign_executions WHERE execution_type = 'actual' AND NOT publish_done";

#[derive(QueryableByName)]
struct Unpublished {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// Pages through the (execution_id, customer_id) index in customer order (a recurring
/// campaign has an execution per occurrence). Always one row at least: the freeze's state, with the records if any. (The
/// cursor is compared without an `IS NULL OR`, which would keep a generic plan from starting the
/// index scan at the cursor and make every page re-read the campaign from its start.) It runs
/// with sorting disabled, see [`read_page`].
const PAGE_SQL: &str = "SELECT r.id, r.customer_id, r.channel, e.materialize_done AS frozen
    FROM campaign_executions e
    LEFT JOIN LATERAL (
        SELECT id, customer_id, channel FROM marketing_record
        WHERE execution_id = $4 AND customer_id > COALESCE($2, '00000000-0000-0000-0000-000000000000'::uuid)
          AND status = 'pending' AND not_before IS NULL AND event_id IS NULL
          AND campaign_id = $1
        ORDER BY customer_id LIMIT $3) r ON true
    WHERE e.id = $4";

/// Freezes whose replica stopped renewing the lease: taken over here.
const STALE_FREEZES_SQL: &str = "UPDATE campaign_executions
    SET materialize_lease_until = now() + make_interval(secs => $1)
    WHERE execution_type = 'actual' AND NOT materialize_done AND materialize_lease_until < now()
    RETURNING id";

#[derive(QueryableByName)]
struct StaleFreeze {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
}

impl Relay {
    pub(super) fn new(fanout: Fanout, publisher: Publisher) -> Self {
        Relay {
            pool: fanout.pool().clone(),
            fanout,
            publisher,
            owner: Uuid::new_v4(),
        }
    }

    /// Publishes until `stop` turns true; errors (broker or database down) are logged and retried.
    pub(super) async fn run(mut self, mut stop: watch::Receiver<bool>) {
        let mut backoff = Duration::from_millis(200);
        loop {
            let wait = match self.pass().await {
                Ok(true) => {
                    backoff = Duration::from_millis(200);
                    continue;
                }
                Ok(false) => self.fanout.settings().poll,
                Err(e) => {
                    tracing::warn!(error = %format!("{e:#}"), "relay pass failed; retrying");
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    backoff
                }
            };
            tokio::select! {
                _ = self.fanout.woken() => {}
                _ = tokio::time::sleep(wait) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
        }
    }

    /// One look for unpublished executions; `true` when it published something.
    async fn pass(&mut self) -> anyhow::Result<bool> {
        self.resume_freezes().await?;
        let executions: Vec<Uuid> = {
            let mut conn = self.pool.get().await?;
            ce::campaign_executions
                .filter(
                    ce::execution_type
                        .eq(marketing_core::vocabulary::ExecutionType::Actual)
                        .and(ce::publish_done.eq(false)),
                )
                .order(ce::created_at)
                .select(ce::id)
                .limit(20)
                .load(&mut conn)
                .await?
        };
        let unpublished: Unpublished = {
            let mut conn = self.pool.get().await?;
            diesel::sql_query(UNPUBLISHED_SQL)
                .get_result(&mut conn)
                .await?
        };
        metrics::gauge!("relay_unpublished_records").set(unpublished.n as f64);
        let mut published = false;
        for execution in executions {
            published |= self.publish_execution(execution).await?;
        }
        Ok(published)
    }

    /// Takes (or renews) the lease on an execution; returns its campaign and cursor.
    async fn claim(
        &self,
        execution: Uuid,
    ) -> anyhow::Result<Option<(Uuid, Option<Uuid>, Option<String>)>> {
        let mut conn = self.pool.get().await?;
        let lease = self.fanout.settings().lease();
        let now = chrono::Utc::now();
        let cursor = diesel::update(
            ce::campaign_executions
                .find(execution)
                .filter(ce::publish_done.eq(false))
                .filter(
                    ce::publisher
                        .is_null()
                        .or(ce::publisher.eq(self.owner))
                        .or(ce::publisher_lease_until.lt(now)),
                ),
        )
        .set((
            ce::publisher.eq(self.owner),
            ce::publisher_lease_until.eq(now + lease),
        ))
        .returning((ce::campaign_id, ce::publish_cursor, ce::trace_context))
        .get_result::<(Uuid, Option<Uuid>, Option<String>)>(&mut conn)
        .await
        .optional()?;
        Ok(cursor)
    }

    /// Moves the cursor and renews the lease; `false` when the lease was lost.
    async fn advance(
        &self,
        execution: Uuid,
        upto: Option<Uuid>,
        count: i64,
        done: bool,
    ) -> anyhow::Result<bool> {
        let mut conn = self.pool.get().await?;
        let now = chrono::Utc::now();
        let lease = self.fanout.settings().lease();
        let owner = if done { None } else { Some(self.owner) };
        let updated = diesel::update(
            ce::campaign_executions
                .find(execution)
                .filter(ce::publisher.eq(self.owner)),
        )
        .set((
            ce::publish_cursor.eq(upto),
            ce::published_count.eq(ce::published_count + count),
            ce::publish_done.eq(done),
            ce::publisher.eq(owner),
            ce::publisher_lease_until.eq(now + lease),
        ))
        .execute(&mut conn)
        .await?;
        Ok(updated == 1)
    }

    /// Resumes, in the background, the freezes a dead replica left half-way.
    async fn resume_freezes(&self) -> anyhow::Result<()> {
        let stale: Vec<StaleFreeze> = {
            let mut conn = self.pool.get().await?;
            diesel::sql_query(STALE_FREEZES_SQL)
                .bind::<diesel::sql_types::Double, _>(self.fanout.settings().lease.as_secs_f64())
                .load(&mut conn)
                .await?
        };
        for StaleFreeze { id } in stale {
            tracing::warn!(execution = %id, "resuming a freeze left half-way");
            self.fanout.freeze_in_background(id);
        }
        Ok(())
    }

    /// Publishes one execution from its cursor to the end of its audience (waiting for chunks
    /// still being frozen), reading the next page while the current one is published. `true`
    /// when it published anything.
    async fn publish_execution(&mut self, execution: Uuid) -> anyhow::Result<bool> {
        let Some((campaign, cursor, trace)) = self.claim(execution).await? else {
            tracing::debug!(%execution, "execution leased by another replica");
            return Ok(false);
        };
        tracing::debug!(%execution, ?cursor, "publishing execution");
        let result = match self.publisher.pipeline().await {
            Ok(pipe) => {
                self.publish_from(pipe, execution, campaign, cursor, trace)
                    .await
            }
            Err(e) => Err(e),
        };
        if result.is_err() {
            self.publisher.reset().await;
        }
        result
    }

    async fn publish_from(
        &self,
        mut pipe: Pipeline<(Uuid, i64)>,
        execution: Uuid,
        campaign: Uuid,
        mut cursor: Option<Uuid>,
        trace: Option<String>,
    ) -> anyhow::Result<bool> {
        let size = self.fanout.settings().page_size;
        let read = |after: Option<Uuid>| {
            let pool = self.pool.clone();
            tokio::spawn(async move { page(&pool, size, campaign, execution, after).await })
        };
        let mut next = read(cursor);
        let mut published = false;
        let mut marks = Vec::new();
        loop {
            let Page { jobs, frozen } = next.await??;
            let Some(last) = jobs.last().map(|j| j.customer_id) else {
                pipe.drain(&mut marks).await?;
                if !self
                    .advance_marks(execution, &mut marks, &mut cursor)
                    .await?
                {
                    return Ok(published);
                }
                if frozen {
                    // Nothing after the cursor and nothing more to come: fully published.
                    self.advance(execution, cursor, 0, true).await?;
                    tracing::info!(%execution, "execution fully published");
                    return Ok(published);
                }
                // The freeze is still writing: wait for its next chunk, keeping the lease. If
                // its replica died, the freeze is resumed here (after its lease), or this wait
                // would never end.
                if !self.advance(execution, cursor, 0, false).await? {
                    return Ok(published);
                }
                self.resume_freezes().await?;
                let _ = tokio::time::timeout(Duration::from_millis(200), self.fanout.woken()).await;
                next = read(cursor);
                continue;
            };
            next = read(Some(last));
            // One span per page, in the trace of the request that triggered the execution; its
            // context travels to the workers in each message's headers.
            let span = tracing::info_span!("relay.publish", %execution, records = jobs.len());
            if let Some(tp) = &trace {
                marketing_core::telemetry::set_parent_traceparent(&span, tp);
            }
            let headers = span.in_scope(marketing_core::telemetry::amqp_trace_headers);
            let count = jobs.len() as i64;
            pipe.publish_page(&jobs, &headers, Some((last, count)), &mut marks)
                .instrument(span)
                .await?;
            published = true;
            if !self
                .advance_marks(execution, &mut marks, &mut cursor)
                .await?
            {
                return Ok(published);
            }
        }
    }

    /// Moves the cursor past every page whose confirms all arrived; `false` when the lease was
    /// lost (another replica continues).
    async fn advance_marks(
        &self,
        execution: Uuid,
        marks: &mut Vec<(Uuid, i64)>,
        cursor: &mut Option<Uuid>,
    ) -> anyhow::Result<bool> {
        let Some(&(upto, _)) = marks.last() else {
            return Ok(true);
        };
        let count: i64 = marks.drain(..).map(|(_, n)| n).sum();
        metrics::counter!("relay_jobs_published_total").increment(count as u64);
        *cursor = Some(upto);
        tracing::debug!(%execution, records = count, "pages confirmed");
        let kept = self.advance(execution, Some(upto), count, false).await?;
        if !kept {
            tracing::warn!(%execution, "relay lease lost; another replica continues");
        }
        Ok(kept)
    }
}

/// Up to `size` pending records of `execution` after customer `after`, in customer order, as
/// send jobs.
async fn page(
    pool: &PgPool,
    size: i64,
    campaign: Uuid,
    execution: Uuid,
    after: Option<Uuid>,
) -> anyhow::Result<Page> {
    let mut conn = pool.get().await?;
    let rows: Vec<PageRow> =
        read_page(&mut conn, PAGE_SQL, campaign, execution, after, size).await?;
    let frozen = <[PageRow]>::first(&rows).is_some_and(|r| r.frozen);
    let jobs = rows
        .into_iter()
        .filter_map(|r| {
            Some(SendJob {
                record_id: r.id?,
                campaign_id: campaign,
                execution_id: execution,
                customer_id: r.customer_id?,
                channel: r.channel?,
            })
        })
        .collect();
    Ok(Page { jobs, frozen })
}

/// Runs `sql` (the page query, or `EXPLAIN` of it) with the page's binds as the relay does.
///
/// Right after a freeze the table's statistics still describe it without the new records, and
/// PostgreSQL then reads every record after the cursor and sorts them for the page (330 ms a
/// page at 1,000,000 records, most of the relay's time). With sorting off for the statement it
/// can only walk the `(execution_id, customer_id)` index from the cursor: 3.7 ms a page.
async fn read_page<R>(
    conn: &mut diesel_async::AsyncPgConnection,
    sql: &str,
    campaign: Uuid,
    execution: Uuid,
    after: Option<Uuid>,
    size: i64,
) -> QueryResult<Vec<R>>
where
    R: QueryableByName<diesel::pg::Pg> + Send + 'static,
{
    conn.transaction(async |conn| {
        diesel::sql_query("SET LOCAL enable_sort = off")
            .execute(conn)
            .await?;
        diesel::sql_query(sql)
            .bind::<SqlUuid, _>(campaign)
            .bind::<Nullable<SqlUuid>, _>(after)
            .bind::<diesel::sql_types::BigInt, _>(size)
            .bind::<SqlUuid, _>(execution)
            .load(conn)
            .await
    })
    .await
}

#[cfg(test)]
mod tests;
