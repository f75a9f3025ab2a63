//! Freezing a triggered campaign's audience into `pending` records, chunk by chunk.
//!
//! A chunk is the next customers of the audience in customer id order (set-based: one
//! `INSERT … SELECT` per chunk), written in one transaction that also adds to the execution's
//! counts and moves its cursor (`materialized_upto`); the last chunk sets `materialize_done`.
//! The relay publishes each chunk as soon as it commits, so the broker works while the next
//! chunk is written. Each chunk holds an advisory lock on the execution (so concurrent freezers
//! take turns and never write a customer twice) and renews a lease; when a replica dies half-way, the relay of another one resumes from the cursor once the lease ran out.
//!
//! The audience is the customers matching the campaign's targeting when their chunk is written,
//! among those that existed at the trigger (`created_at` up to the execution's): a customer
//! re-tagged, opting out or erased during the seconds the freeze takes follows the change.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Integer, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};
use marketing_core::models::CampaignRow;
use marketing_core::schema::campaign_executions::dsl as ce;
use marketing_core::segment;
use marketing_core::tracking::FrequencyCap;
use marketing_core::vocabulary::{CampaignStatus, ExecutionType};
use uuid::Uuid;

use super::Fanout;
use super::audience::{
    Audience, Counts, FREQUENCY_CAP_LOCK, audience_cte, base_binds, variant_sql,
};
use crate::domain::execution::{Skipped, TriggerOutcome};
use crate::domain::timing::Timing;
use crate::domain::variant::{buckets, stored};
use crate::error::{Error, Result};

/// Seed of the advisory lock key a freezer holds on an execution (arbitrary but fixed: "FRZE").
const FREEZE_LOCK: i64 = 0x4652_5a45;

/// One chunk: `$5` execution, `$6` cursor (last customer of the previous chunk; compared
/// without `IS NULL OR` so that the scan starts at it whatever the plan), `$7` chunk size, `$8`
/// the trigger's time, `$9` and `$10` the record ids' prefix and first counter (see
/// [`RecordIds`]), `$11`–`$14` the send times of a timed execution (zones, their instants, the
/// campaign's zone and its instant; see [`Timing::table`]); the audience binds from `$15`.
/// Counts what it wrote (by variant) and skipped (a customer under the first reason that
/// applies: opted out, no address, capped), how many customers it considered and the last of
/// them. A record of a timed execution whose send time is after the trigger waits (`not_before`,
/// published by the timed publisher); an untimed execution pays nothing for it.
fn chunk_sql(audience: &Audience, has_variants: bool, timed: bool) -> String {
    let (not_before, send_times) = if timed {
        (
            "CASE WHEN COALESCE(st.at, $14) > $8 THEN COALESCE(st.at, $14) END",
            "LEFT JOIN unnest($11::text[], $12::timestamptz[]) AS st(zone, at)
                ON st.zone = COALESCE(a.time_zone, $13)",
        )
    } else {
        ("NULL::timestamptz", "")
    };
    format!(
        "{}, created AS (
            INSERT INTO marketing_record (id, campaign_id, execution_id, customer_id, channel, status, variant, not_before, due_at)
            SELECT ($9 || lpad(to_hex($10 + row_number() OVER (ORDER BY a.id)), 12, '0'))::uuid,
                   $2, $5, a.id, $1, 'pending', {}, {not_before}, {not_before}
            FROM audience a {send_times}
            WHERE a.reachable AND NOT a.opted_out AND NOT a.capped
            ORDER BY a.id
            RETURNING variant
        ), per_variant AS (
            SELECT COALESCE(variant, '') AS variant, count(*) AS n FROM created GROUP BY 1
        )
        SELECT (SELECT count(*) FROM created) AS planned,
               count(*) FILTER (WHERE a.opted_out) AS opted_out,
               count(*) FILTER (WHERE NOT a.opted_out AND NOT a.reachable) AS no_address,
               count(*) FILTER (WHERE NOT a.opted_out AND a.reachable AND a.capped) AS frequency_capped,
               count(*) AS considered,
               (SELECT l.id FROM audience l ORDER BY l.id DESC LIMIT 1) AS last,
               ARRAY(SELECT variant FROM per_variant ORDER BY variant) AS variants,
               ARRAY(SELECT n FROM per_variant ORDER BY variant) AS variant_planned
        FROM audience a",
        audience_cte(
            audience,
            "AND c.created_at <= $8 AND c.id > COALESCE($6, '00000000-0000-0000-0000-000000000000'::uuid)
             ORDER BY c.id LIMIT $7"
        ),
        variant_sql(has_variants)
    )
}

/// Time-ordered ids for one chunk's records, made of one fresh UUIDv7: its first 80 bits (time
/// and randomness) as a fixed text prefix, then a 48-bit counter starting at a random point
/// below 2^47 and counting the chunk's records in customer order (RFC 9562's "fixed-length
/// dedicated counter" method). Records land in id order in the B-trees, like the `uuid_v7()`
/// SQL function made them, at a fifth of its cost (it built each id from 16 random bytes
/// through hex text: 18% of a chunk's time).
struct RecordIds {
    prefix: String,
    first: i64,
}

impl RecordIds {
    fn new() -> Self {
        let base = Uuid::now_v7();
        let text = base.hyphenated().to_string();
        let low = u64::from_be_bytes(base.as_bytes()[8..].try_into().unwrap_or_default());
        RecordIds {
            // "xxxxxxxx-xxxx-7xxx-Vxxx-": everything but the last 12 hex digits (48 bits).
            prefix: text[..24].to_owned(),
            first: ((low & 0xFFFF_FFFF_FFFF) >> 1) as i64,
        }
    }
}

#[derive(QueryableByName)]
struct ChunkCounts {
    #[diesel(embed)]
    counts: Counts,
    #[diesel(sql_type = BigInt)]
    considered: i64,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    last: Option<Uuid>,
    #[diesel(sql_type = Array<Text>)]
    variants: Vec<String>,
    #[diesel(sql_type = Array<BigInt>)]
    variant_planned: Vec<i64>,
}

/// Adds a chunk's records to the per-variant statistics.
pub(super) const PLANNED_SQL: &str = "INSERT INTO campaign_stats (execution_id, variant, campaign_id, channel, planned)
    SELECT $1, v.variant, $2, $3, v.n FROM unnest($4::text[], $5::bigint[]) AS v(variant, n)
    ON CONFLICT (execution_id, variant) DO UPDATE SET planned = campaign_stats.planned + EXCLUDED.planned";

/// Where the execution's freeze stands (read under the freeze's advisory lock).
#[derive(Queryable)]
struct Progress {
    campaign_id: Uuid,
    upto: Option<Uuid>,
    done: bool,
    planned: i64,
    skipped: serde_json::Value,
    created_at: DateTime<Utc>,
    timing: Option<serde_json::Value>,
}

impl Progress {
    fn outcome(&self, execution: Uuid, skipped: Skipped) -> TriggerOutcome {
        TriggerOutcome {
            execution_id: execution,
            kind: ExecutionType::Actual,
            planned: self.planned.max(0) as u64,
            skipped,
            frozen: true,
        }
    }
}

impl Fanout {
    /// Writes the records of a triggered execution, chunk by chunk, from wherever it stands;
    /// returns the execution's totals once its audience is fully frozen.
    pub(super) async fn freeze(&self, execution: Uuid) -> Result<TriggerOutcome> {
        let mut conn = self.pool().get().await?;
        let settings = self.settings();
        let lease = settings.lease();
        loop {
            let step = conn
                .transaction::<_, Error, _>(async |conn| {
                    freeze_chunk(
                        conn,
                        execution,
                        settings.freeze_chunk,
                        lease,
                        settings.frequency_cap,
                    )
                    .await
                })
                .await?;
            self.wake();
            if let Some(outcome) = step {
                return Ok(outcome);
            }
        }
    }
}

impl Fanout {
    /// [`freeze`](Self::freeze) as a task of its own; a failure is logged, and the relay of
    /// some replica resumes the freeze once its lease ran out.
    pub(super) fn freeze_in_background(&self, execution: Uuid) {
        let fanout = self.clone();
        tokio::spawn(async move {
            if let Err(e) = fanout.freeze(execution).await {
                tracing::warn!(%execution, error = %e, "freezing the audience failed; it resumes after the lease");
            }
        });
    }
}

/// Writes the next chunk of `execution`; `Some` with the totals once nothing is left.
async fn freeze_chunk(
    conn: &mut AsyncPgConnection,
    execution: Uuid,
    chunk: i64,
    lease: chrono::Duration,
    cap: Option<FrequencyCap>,
) -> Result<Option<TriggerOutcome>> {
    // Freezers of one execution take turns through this lock rather than the execution row's:
    // workers and the relay update that row's counters all the time and must not wait for a
    // whole chunk. The progress read after it is the last chunk's, committed.
    diesel::sql_query("SELECT pg_advisory_xact_lock(hashtextextended($1::text, $2))")
        .bind::<SqlUuid, _>(execution)
        .bind::<BigInt, _>(FREEZE_LOCK)
        .execute(conn)
        .await?;
    let progress: Progress = ce::campaign_executions
        .find(execution)
        .select((
            ce::campaign_id,
            ce::materialized_upto,
            ce::materialize_done,
            ce::planned,
            ce::skipped,
            ce::created_at,
            ce::timing,
        ))
        .first(conn)
        .await
        .optional()?
        .ok_or_else(|| Error::not_found("execution", execution))?;
    let skipped: Skipped = serde_json::from_value(progress.skipped.clone()).unwrap_or_default();
    if progress.done {
        return Ok(Some(progress.outcome(execution, skipped)));
    }
    let campaign = CampaignRow::find(conn, progress.campaign_id)
        .await?
        .ok_or_else(|| Error::not_found("campaign", progress.campaign_id))?;
    if matches!(
        campaign.status,
        CampaignStatus::Completed | CampaignStatus::Archived
    ) {
        // Ended (its end_time passed) while being frozen: nothing more to write.
        finish(conn, execution, progress.upto, 0, skipped, true, lease).await?;
        return Ok(Some(progress.outcome(execution, skipped)));
    }
    let channel = campaign.type_;
    let (keys, upto) = buckets(&stored(&campaign.variants)?);
    let has_variants = !keys.is_empty();
    let audience = Audience::of(conn, &campaign, 15, cap).await?;
    let timing: Option<Timing> = progress
        .timing
        .clone()
        .map(serde_json::from_value)
        .transpose()
        .map_err(|e| {
            Error::Internal(anyhow::anyhow!("execution {execution}: stored timing: {e}"))
        })?;
    let (zones, send_ats, zone, fallback) = match &timing {
        Some(t) => {
            let (zones, ats) = t.table(progress.created_at);
            let fallback = t.send_time(progress.created_at, None);
            (zones, ats, t.time_zone.name().to_owned(), fallback)
        }
        None => (Vec::new(), Vec::new(), String::new(), progress.created_at),
    };
    if cap.is_some() {
        // Two campaigns on the same channel frozen at once must not both pass a customer under
        // the cap: each chunk reads the other's records only once they are committed. This
        // transaction-scoped lock serialises chunks of real triggers per channel until commit.
        // It is enough in READ COMMITTED because the chunk statement below takes its snapshot
        // when it starts, after the lock was granted, i.e. after the chunk that held it
        // committed (its records become visible before its locks are released), so the cap
        // lookup sees them. Triggers on other channels, and simulations, do not wait.
        diesel::sql_query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
            .bind::<Integer, _>(FREQUENCY_CAP_LOCK)
            .bind::<Text, _>(channel)
            .execute(conn)
            .await?;
    }
    // A large chunk's cost estimate is high enough for PostgreSQL to JIT-compile it, which costs
    // about a second and gains nothing for one pass of inserts.
    diesel::sql_query("SET LOCAL jit = off")
        .execute(conn)
        .await?;
    let query = base_binds(
        chunk_sql(&audience, has_variants, timing.is_some()),
        channel,
        campaign.id,
        keys,
        upto,
    )
    .bind::<SqlUuid, _>(execution)
    .bind::<Nullable<SqlUuid>, _>(progress.upto)
    .bind::<BigInt, _>(chunk)
    .bind::<Timestamptz, _>(progress.created_at);
    let ids = RecordIds::new();
    let query = query
        .bind::<Text, _>(ids.prefix)
        .bind::<BigInt, _>(ids.first)
        .bind::<Array<Text>, _>(zones)
        .bind::<Array<Timestamptz>, _>(send_ats)
        .bind::<Text, _>(zone)
        .bind::<Timestamptz, _>(fallback);
    let counts: ChunkCounts = segment::bind_all(query, &audience.binds)
        .get_result(conn)
        .await?;
    let more = counts.counts.skipped();
    let skipped = Skipped {
        opted_out: skipped.opted_out + more.opted_out,
        no_address: skipped.no_address + more.no_address,
        frequency_capped: skipped.frequency_capped + more.frequency_capped,
    };
    let done = counts.considered < chunk;
    let cursor = counts.last.or(progress.upto);
    // The execution row before the statistics rows: the order workers, the relay and the
    // scheduler lock them in too, so these counters never deadlock.
    finish(
        conn,
        execution,
        cursor,
        counts.counts.planned,
        skipped,
        done,
        lease,
    )
    .await?;
    diesel::sql_query(PLANNED_SQL)
        .bind::<SqlUuid, _>(execution)
        .bind::<SqlUuid, _>(campaign.id)
        .bind::<Text, _>(channel)
        .bind::<Array<Text>, _>(&counts.variants)
        .bind::<Array<BigInt>, _>(&counts.variant_planned)
        .execute(conn)
        .await?;
    if !done {
        return Ok(None);
    }
    let planned = progress.planned + counts.counts.planned;
    tracing::info!(campaign_id = %campaign.id, %execution, planned,
        opted_out = skipped.opted_out, no_address = skipped.no_address,
        frequency_capped = skipped.frequency_capped, "audience frozen");
    Ok(Some(TriggerOutcome {
        execution_id: execution,
        kind: ExecutionType::Actual,
        planned: planned.max(0) as u64,
        skipped,
        frozen: true,
    }))
}

/// Records a chunk on the execution: counts, cursor, whether the freeze is done; renews the lease.
async fn finish(
    conn: &mut AsyncPgConnection,
    execution: Uuid,
    cursor: Option<Uuid>,
    planned: i64,
    skipped: Skipped,
    done: bool,
    lease: chrono::Duration,
) -> Result<()> {
    let skipped = serde_json::to_value(skipped)
        .map_err(|e| Error::Internal(anyhow::anyhow!("encoding skipped counts: {e}")))?;
    diesel::update(ce::campaign_executions.find(execution))
        .set((
            ce::planned.eq(ce::planned + planned),
            ce::skipped.eq(skipped),
            ce::materialized_upto.eq(cursor),
            ce::materialize_done.eq(done),
            ce::materialize_lease_until.eq(Some(Utc::now() + lease)),
        ))
        .execute(conn)
        .await?;
    Ok(())
}
