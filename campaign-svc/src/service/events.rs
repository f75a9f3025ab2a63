//! Customer events: one batch of up to 1,000 checked per item, its customers resolved in one
//! query, and the accepted events written with ONE multi-row `INSERT INTO customer_events`
//! (statement-level triggers on the table see the whole batch in their transition table); and
//! the retention loop.
//!
//! Idempotency is the primary key's: a repeat in the same batch is counted before the insert,
//! a repeat of an earlier batch (or of one running at the same moment) fails the plain INSERT
//! tried first, and the batch is then stored with `ON CONFLICT (event_id) DO NOTHING`.
//! Rows go in in `event_id` order, so two calls inserting overlapping batches take the key
//! locks in the same order and one waits for the other instead of deadlocking.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use diesel::QueryableByName;
use diesel::sql_types::{
    Array, BigInt, Integer, Jsonb, Nullable, Text, Timestamptz, Uuid as SqlUuid,
};
use diesel_async::RunQueryDsl;
use marketing_core::db::PgPool;
use tokio::sync::watch;
use uuid::Uuid;

use super::MarketingService;
use super::customers::is_transient_conflict;
use crate::domain::event::{
    CustomerRef, EventLimits, MAX_BATCH, NewEvent, Rejection, TrackOutcome,
};
use crate::error::{Error, Result};
use crate::supervise::Loop;

const RESOLVE_SQL: &str = "SELECT id, external_id FROM customers \
     WHERE erased_at IS NULL AND (id = ANY($1) OR external_id = ANY($2))";

/// The one statement per batch (see the module comment).
pub const INSERT_SQL: &str = "INSERT INTO customer_events \
         (event_id, customer_id, name, properties, occurred_at) \
     SELECT x.event_id, x.customer_id, x.name, x.properties, x.occurred_at \
     FROM unnest($1::text[], $2::uuid[], $3::text[], $4::jsonb[], $5::timestamptz[]) \
         AS x(event_id, customer_id, name, properties, occurred_at) \
     ORDER BY x.event_id COLLATE \"C\" \
     ON CONFLICT (event_id) DO NOTHING";

/// [`INSERT_SQL`] without its conflict clause: the first try of every batch.
const PLAIN_INSERT_SQL: &str = "INSERT INTO customer_events \
         (event_id, customer_id, name, properties, occurred_at) \
     SELECT x.event_id, x.customer_id, x.name, x.properties, x.occurred_at \
     FROM unnest($1::text[], $2::uuid[], $3::text[], $4::jsonb[], $5::timestamptz[]) \
         AS x(event_id, customer_id, name, properties, occurred_at) \
     ORDER BY x.event_id COLLATE \"C\"";

#[derive(QueryableByName)]
struct Known {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = Nullable<Text>)]
    external_id: Option<String>,
}

/// Tries of an insert that PostgreSQL aborted to resolve a lock conflict.
const INSERT_ATTEMPTS: u64 = 5;

impl MarketingService {
    /// The limits events are checked with at this moment.
    pub fn event_limits(&self) -> EventLimits {
        EventLimits {
            now: chrono::Utc::now(),
            retention_days: self.settings.event_retention_days,
        }
    }

    /// Stores a batch whose items were parsed (an `Err` item is rejected as it is). 1 to
    /// [`MAX_BATCH`] items, else the whole call is refused naming `events`.
    pub async fn track_events(&self, batch: Vec<Result<NewEvent>>) -> Result<TrackOutcome> {
        if batch.is_empty() || batch.len() > MAX_BATCH {
            return Err(Error::invalid(
                "events",
                format!("must hold 1 to {MAX_BATCH} events, got {}", batch.len()),
            ));
        }
        let mut rejected = Vec::new();
        let mut valid = Vec::with_capacity(batch.len());
        for (i, item) in batch.into_iter().enumerate() {
            match item {
                Ok(event) => valid.push((i, event)),
                Err(e) => rejected.push(Rejection::from_error(i, &e)),
            }
        }
        let mut conn = self.pool.get().await?;
        let ids: Vec<Uuid> = valid
            .iter()
            .filter_map(|(_, e)| match &e.customer {
                CustomerRef::Id(id) => Some(*id),
                CustomerRef::External(_) => None,
            })
            .collect();
        let externals: Vec<String> = valid
            .iter()
            .filter_map(|(_, e)| match &e.customer {
                CustomerRef::External(x) => Some(x.clone()),
                CustomerRef::Id(_) => None,
            })
            .collect();
        let known: Vec<Known> = if valid.is_empty() {
            Vec::new()
        } else {
            diesel::sql_query(RESOLVE_SQL)
                .bind::<Array<SqlUuid>, _>(&ids)
                .bind::<Array<Text>, _>(&externals)
                .load(&mut conn)
                .await?
        };
        let live: HashSet<Uuid> = known.iter().map(|k| k.id).collect();
        let by_external: HashMap<&str, Uuid> = known
            .iter()
            .filter_map(|k| k.external_id.as_deref().map(|x| (x, k.id)))
            .collect();

        let mut seen = HashSet::with_capacity(valid.len());
        let mut repeated = 0u64;
        let mut rows = Rows::default();
        for (i, event) in &valid {
            let customer_id = match &event.customer {
                CustomerRef::Id(id) => live.contains(id).then_some(*id),
                CustomerRef::External(x) => by_external.get(x.as_str()).copied(),
            };
            let Some(customer_id) = customer_id else {
                let (field, what) = match &event.customer {
                    CustomerRef::Id(id) => ("customer_id", format!("no customer {id}")),
                    CustomerRef::External(x) => {
                        ("external_id", format!("no customer with external_id `{x}`"))
                    }
                };
                rejected.push(Rejection::new(
                    *i,
                    "unknown_customer",
                    format!("events[{i}].{field}"),
                    &what,
                ));
                continue;
            };
            if !seen.insert(event.event_id.as_str()) {
                repeated += 1;
                continue;
            }
            rows.push(event, customer_id);
        }
        rejected.sort_by_key(|r| r.index);
        let unique = rows.event_ids.len() as u64;
        let accepted = if unique == 0 {
            0
        } else {
            rows.insert(&mut conn).await? as u64
        };
        if accepted > 0 {
            // The campaigns listening to these events were queued with them: dispatch now.
            self.fanout.events_stored();
        }
        Ok(TrackOutcome {
            accepted,
            duplicates: repeated + (unique - accepted),
            rejected,
        })
    }
}

/// The accepted events as one array per column: five bind parameters whatever the batch size.
#[derive(Default)]
struct Rows {
    event_ids: Vec<String>,
    customer_ids: Vec<Uuid>,
    names: Vec<String>,
    properties: Vec<serde_json::Value>,
    occurred_at: Vec<chrono::DateTime<chrono::Utc>>,
    /// The plain INSERT met an event stored before: store with `ON CONFLICT DO NOTHING`.
    duplicate_seen: bool,
}

impl Rows {
    fn push(&mut self, e: &NewEvent, customer_id: Uuid) {
        self.event_ids.push(e.event_id.clone());
        self.customer_ids.push(customer_id);
        self.names.push(e.name.clone());
        self.properties.push(e.properties.clone());
        self.occurred_at.push(e.occurred_at);
    }

    /// Inserts the rows; how many were new.
    async fn insert(&mut self, conn: &mut diesel_async::AsyncPgConnection) -> Result<usize> {
        let mut attempt = 1;
        loop {
            // Most batches hold no event stored before: a plain INSERT costs PostgreSQL about a
            // fifth less than `ON CONFLICT DO NOTHING` (its speculative insertion). A batch with
            // an event stored before fails it on the primary key, with no effect, and is stored
            // again with `ON CONFLICT DO NOTHING`, which counts the duplicates.
            let plain = !self.duplicate_seen;
            let outcome = diesel::sql_query(if plain { PLAIN_INSERT_SQL } else { INSERT_SQL })
                .bind::<Array<Text>, _>(&self.event_ids)
                .bind::<Array<SqlUuid>, _>(&self.customer_ids)
                .bind::<Array<Text>, _>(&self.names)
                .bind::<Array<Jsonb>, _>(&self.properties)
                .bind::<Array<Timestamptz>, _>(&self.occurred_at)
                .execute(conn)
                .await;
            match outcome {
                Err(diesel::result::Error::DatabaseError(
                    diesel::result::DatabaseErrorKind::UniqueViolation,
                    _,
                )) if plain => self.duplicate_seen = true,
                // The statement is atomic and idempotent: running it again is safe.
                Err(e) if attempt < INSERT_ATTEMPTS && is_transient_conflict(&e) => {
                    tracing::warn!(error = %e, attempt, "event insert lost a lock conflict; retrying");
                    tokio::time::sleep(Duration::from_millis(20 * attempt)).await;
                    attempt += 1;
                }
                other => return Ok(other?),
            }
        }
    }
}

/// The retention of `customer_events`: rows whose `occurred_at` is more than `days` × 24 hours
/// old are deleted, oldest first, `batch` rows per statement (short transactions, bounded WAL
/// and lock footprint), every `interval`. With several replicas each takes rows the others have
/// not locked (`SKIP LOCKED`).
#[derive(Clone)]
pub struct EventRetention {
    pub pool: PgPool,
    /// 0: events are kept forever (the loop only waits for shutdown).
    pub days: u32,
    pub batch: i64,
    pub interval: Duration,
}

const EXPIRE_SQL: &str = "DELETE FROM customer_events WHERE event_id IN (\
     SELECT event_id FROM customer_events \
     WHERE occurred_at < now() - make_interval(hours => 24 * $1) \
     ORDER BY occurred_at LIMIT $2 FOR UPDATE SKIP LOCKED)";

impl EventRetention {
    /// The supervised loop.
    pub fn start(self, stop: watch::Receiver<bool>) -> Loop {
        Loop::spawn("event retention", self.run(stop))
    }

    async fn run(self, mut stop: watch::Receiver<bool>) {
        if self.days == 0 {
            let _ = stop.wait_for(|s| *s).await;
            return;
        }
        loop {
            match self.expire().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(deleted = n, days = self.days, "expired customer events"),
                Err(e) => {
                    tracing::warn!(error = ?e, "customer event retention failed; retrying later")
                }
            }
            tokio::select! {
                _ = stop.wait_for(|s| *s) => return,
                () = tokio::time::sleep(self.interval) => {}
            }
            if *stop.borrow() {
                return;
            }
        }
    }

    /// Deletes every expired event, batch by batch; how many.
    pub async fn expire(&self) -> Result<u64> {
        let mut conn = self.pool.get().await?;
        let mut total = 0u64;
        loop {
            let n = diesel::sql_query(EXPIRE_SQL)
                .bind::<Integer, _>(i32::try_from(self.days).unwrap_or(i32::MAX))
                .bind::<BigInt, _>(self.batch)
                .execute(&mut conn)
                .await?;
            total += n as u64;
            if (n as i64) < self.batch {
                return Ok(total);
            }
            // Leave room for the service's own queries between batches.
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}
