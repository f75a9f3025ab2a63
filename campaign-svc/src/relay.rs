//! The outbox relay: publishes the records a trigger wrote (the outbox) to RabbitMQ.
//!
//! Each execution's records are published in id order; after the broker confirms a page, the
//! execution's cursor (`published_upto`) moves past it. A lease (`relay_owner`,
//! `relay_lease_until`) lets one campaign-svc replica publish an execution at a time; when the
//! owner dies, the lease runs out and another replica resumes from the cursor. A crash between
//! confirm and cursor update publishes at most one page twice, which workers absorb (a record is
//! claimed before it is sent). Nothing is skipped: the cursor only moves after confirms.

use std::time::Duration;

use diesel::prelude::*;
use diesel::sql_types::{Nullable, Uuid as SqlUuid};
use diesel_async::RunQueryDsl;
use marketing_core::db::PgPool;
use marketing_core::jobs::SendJob;
use marketing_core::schema::campaign_executions::dsl as ce;
use tokio::sync::watch;
use tracing::Instrument as _;
use uuid::Uuid;

use crate::publisher::Publisher;
use crate::service::trigger::RelayWaker;

/// Relay settings.
#[derive(Debug, Clone)]
pub struct RelaySettings {
    /// Records read and published per page.
    pub page_size: i64,
    /// How long an owner's claim on an execution lasts without progress.
    pub lease: Duration,
    /// How often to look for work when nobody wakes the relay.
    pub poll: Duration,
}

pub struct Relay {
    pool: PgPool,
    publisher: Publisher,
    settings: RelaySettings,
    owner: Uuid,
    waker: RelayWaker,
}

#[derive(QueryableByName)]
struct PendingJob {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    campaign_id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    customer_id: Uuid,
    #[diesel(sql_type = diesel::sql_types::Text)]
    channel: String,
}

/// Records written by triggers but not yet confirmed by the broker.
const UNPUBLISHED_SQL: &str = "SELECT COALESCE(sum(planned - published_count), 0)::bigint AS n
    FROM campaign_executions WHERE execution_type = 'actual' AND NOT publish_done";

#[derive(QueryableByName)]
struct Unpublished {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// Pages through the (campaign_id, id) index; a campaign has one real execution.
const PAGE_SQL: &str = "SELECT id, campaign_id, customer_id, channel FROM marketing_record
    WHERE campaign_id = $1 AND ($2::uuid IS NULL OR id > $2) AND status = 'pending'
      AND execution_id = $4
    ORDER BY id LIMIT $3";

impl Relay {
    pub fn new(
        pool: PgPool,
        publisher: Publisher,
        settings: RelaySettings,
        waker: RelayWaker,
    ) -> Self {
        Relay {
            pool,
            publisher,
            settings,
            owner: Uuid::new_v4(),
            waker,
        }
    }

    /// Publishes until `stop` turns true; errors (broker or database down) are logged and retried.
    pub async fn run(mut self, mut stop: watch::Receiver<bool>) {
        let mut backoff = Duration::from_millis(200);
        loop {
            let wait = match self.pass().await {
                Ok(true) => {
                    backoff = Duration::from_millis(200);
                    continue;
                }
                Ok(false) => self.settings.poll,
                Err(e) => {
                    tracing::warn!(error = %format!("{e:#}"), "relay pass failed; retrying");
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    backoff
                }
            };
            tokio::select! {
                _ = self.waker.notified() => {}
                _ = tokio::time::sleep(wait) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
        }
    }

    /// One look for unpublished executions; `true` when it published something.
    async fn pass(&mut self) -> anyhow::Result<bool> {
        let executions: Vec<Uuid> = {
            let mut conn = self.pool.get().await?;
            ce::campaign_executions
                .filter(
                    ce::execution_type
                        .eq("actual")
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
        let lease = chrono::Duration::from_std(self.settings.lease)?;
        let now = chrono::Utc::now();
        let cursor = diesel::update(
            ce::campaign_executions
                .find(execution)
                .filter(ce::publish_done.eq(false))
                .filter(
                    ce::relay_owner
                        .is_null()
                        .or(ce::relay_owner.eq(self.owner))
                        .or(ce::relay_lease_until.lt(now)),
                ),
        )
        .set((
            ce::relay_owner.eq(self.owner),
            ce::relay_lease_until.eq(now + lease),
        ))
        .returning((ce::campaign_id, ce::published_upto, ce::trace_context))
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
        let lease = chrono::Duration::from_std(self.settings.lease)?;
        let owner = if done { None } else { Some(self.owner) };
        let updated = diesel::update(
            ce::campaign_executions
                .find(execution)
                .filter(ce::relay_owner.eq(self.owner)),
        )
        .set((
            ce::published_upto.eq(upto),
            ce::published_count.eq(ce::published_count + count),
            ce::publish_done.eq(done),
            ce::relay_owner.eq(owner),
            ce::relay_lease_until.eq(now + lease),
        ))
        .execute(&mut conn)
        .await?;
        Ok(updated == 1)
    }

    /// Publishes one execution from its cursor to the end, reading the next page while the
    /// current one is being confirmed. `true` when it published anything.
    async fn publish_execution(&mut self, execution: Uuid) -> anyhow::Result<bool> {
        let Some((campaign, mut cursor, trace)) = self.claim(execution).await? else {
            tracing::debug!(%execution, "execution leased by another replica");
            return Ok(false);
        };
        tracing::debug!(%execution, ?cursor, "publishing execution");
        let size = self.settings.page_size;
        let mut jobs = page(&self.pool, size, campaign, execution, cursor).await?;
        let mut published = false;
        loop {
            let Some(last) = jobs.last().map(|j| j.record_id) else {
                // Nothing after the cursor: the execution is fully published.
                self.advance(execution, cursor, 0, true).await?;
                tracing::info!(%execution, "execution fully published");
                return Ok(published);
            };
            let pool = self.pool.clone();
            // One span per page, in the trace of the request that triggered the execution; its
            // context travels to the workers in each message's headers.
            let span = tracing::info_span!("relay.publish", %execution, records = jobs.len());
            if let Some(tp) = &trace {
                marketing_core::telemetry::set_parent_traceparent(&span, tp);
            }
            let headers = span.in_scope(marketing_core::telemetry::amqp_trace_headers);
            let (sent, next) = tokio::join!(
                self.publisher.publish(&jobs, headers).instrument(span),
                page(&pool, size, campaign, execution, Some(last))
            );
            sent?;
            tracing::debug!(%execution, records = jobs.len(), "page published");
            published = true;
            if !self
                .advance(execution, Some(last), jobs.len() as i64, false)
                .await?
            {
                tracing::warn!(%execution, "relay lease lost; another replica continues");
                return Ok(published);
            }
            cursor = Some(last);
            jobs = next?;
        }
    }
}

/// Up to `size` pending records of `execution` after the cursor, in id order, as send jobs.
async fn page(
    pool: &PgPool,
    size: i64,
    campaign: Uuid,
    execution: Uuid,
    after: Option<Uuid>,
) -> anyhow::Result<Vec<SendJob>> {
    let mut conn = pool.get().await?;
    let rows: Vec<PendingJob> = diesel::sql_query(PAGE_SQL)
        .bind::<SqlUuid, _>(campaign)
        .bind::<Nullable<SqlUuid>, _>(after)
        .bind::<diesel::sql_types::BigInt, _>(size)
        .bind::<SqlUuid, _>(execution)
        .load(&mut conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| SendJob {
            record_id: r.id,
            campaign_id: r.campaign_id,
            execution_id: execution,
            customer_id: r.customer_id,
            channel: r.channel,
        })
        .collect())
}
