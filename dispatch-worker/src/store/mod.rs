//! The worker's SQL: claim a batch of records, write a batch of outcomes (one round trip each),
//! and the providers' shared gates ([`gates`]). The statements are prepared once per connection
//! and reused (see [`Prepared`]): parsing and planning them was a seventh of the database time a
//! delivered message costs.

pub mod gates;
mod prepared;
pub mod spend;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use diesel::QueryableByName;
use diesel::sql_types::{Array, Bool, Jsonb, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use marketing_core::cost::Amount;
use marketing_core::tracking::FrequencyCap;
use marketing_core::vocabulary::Channel;
use uuid::Uuid;

use prepared::{Bind, Prepared};

/// What sending a claimed record needs, selected from the `claimed` CTE (the record's ids) with
/// its campaign and customer.
///
/// `frequency_capped`: with a cap (`$2` messages per `$3` hours; `$2` = 0: none), whether the
/// customer was already sent `$2` other messages on the channel within the window. `EXISTS …
/// OFFSET` stops at the `$2`-th and finds the customer's records on the channel through the
/// `marketing_record (customer_id, channel, created_at)` index.
macro_rules! claimed_details {
    () => {
        "
SELECT cl.id, cl.campaign_id, cl.execution_id, cl.channel, cl.variant, cl.provider,
       c.spend_cap_micros IS NOT NULL AS spend_capped, c.name AS campaign_name, c.start_time, c.end_time, c.status = 'active' AND (c.end_time IS NULL OR c.end_time > now()) AS campaign_open,
       cu.name, cu.email, cu.phone, cu.push_token, cu.wechat_openid, cu.external_id, cu.locale, cu.time_zone, cu.birthday, cu.attributes,
       EXISTS (SELECT 1 FROM customer_opt_outs o
               WHERE o.customer_id = cl.customer_id AND o.channel IN (cl.channel, 'all')) AS opted_out,
       $2 > 0 AND EXISTS (SELECT 1 FROM marketing_record m
                          WHERE m.customer_id = cl.customer_id AND m.channel = cl.channel AND m.id <> cl.id
                            AND m.status IN ('sent', 'delivered', 'opened', 'clicked')
                            AND m.sent_at > now() - make_interval(hours => $3)
                          OFFSET greatest($2 - 1, 0)) AS frequency_capped
FROM claimed cl
JOIN marketing_campaign c ON c.id = cl.campaign_id
JOIN customers cu ON cu.id = cl.customer_id"
    };
}

/// Locks the records `$1` that are in status `$status`, in id order (so two workers never wait
/// on each other in a cycle), with what sending them needs. After waiting for a batch that held
/// a record, PostgreSQL checks the status again on the record as that batch left it.
macro_rules! locking {
    ($status:literal) => {
        concat!(
            "
WITH claimed AS (
    SELECT r.id, r.campaign_id, r.execution_id, r.customer_id, r.channel, r.variant, r.provider
    FROM marketing_record r
    WHERE r.id = ANY($1) AND r.status = '",
            $status,
            "'
    ORDER BY r.id
    FOR NO KEY UPDATE OF r
)",
            claimed_details!()
        )
    };
}

/// Claims the records of first deliveries by locking them (`FOR NO KEY UPDATE`) in the batch's
/// transaction, which stays open while they are sent and commits with their final statuses
/// ([`write`]): one row version per record instead of two (a durable `sending` update per
/// record was a third of the database time a message cost). Only `pending` records are claimed;
/// a duplicate job whose record another worker holds waits for that transaction and then finds
/// the record final (or `pending` again if that worker died, and sends it).
const LOCK_SQL: &str = locking!("pending");

/// at_most_once: the records a batch reserved ([`RESERVE_SQL`], committed) are locked in its
/// transaction too, so the lock tells a live holder from a dead one: a job whose record is
/// `sending` waits here while the worker that reserved it is alive and then finds it final; a
/// record still `sending` once locked was reserved by a worker whose connection is gone (its
/// transaction rolled back), so whether its message went out is unknown.
const HOLD_SQL: &str = locking!("sending");

/// at_most_once: reserves `pending` records durably (`sending`, one more attempt), committed
/// before anything is sent. A record is reserved once, ever: no job sends it after that.
const RESERVE_SQL: &str = "
UPDATE marketing_record r
SET status = 'sending', claimed_at = now(), attempts = r.attempts + 1, updated_at = now()
WHERE r.id = ANY($1) AND r.status = 'pending'
RETURNING r.id";

/// at_most_once: gives reserved records back (`sending` → `pending`, the attempt uncounted) when
/// their batch failed before sending any of them, so a database error is not mistaken for a
/// crash ("outcome unknown") once their jobs come back.
const RELEASE_SQL: &str = "
UPDATE marketing_record r
SET status = 'pending', attempts = greatest(r.attempts - 1, 0), updated_at = now()
WHERE r.id = ANY($1) AND r.status = 'sending'
RETURNING r.id";

/// Claims the records of redelivered jobs durably, committed before sending: moves them
/// (`pending`, or `sending` when a worker died holding them) to `sending` and counts the
/// attempt. A job a worker keeps crashing on is dead-lettered by the broker after repeated
/// deliveries; its record, left `sending`, is then failed by campaign-svc's stale-record sweep.
const CLAIM_SQL: &str = concat!(
    "
WITH claimed AS (
    UPDATE marketing_record r
    SET status = 'sending', claimed_at = now(), attempts = r.attempts + 1, updated_at = now()
    WHERE r.id = ANY($1) AND r.status IN ('pending', 'sending')
    RETURNING r.id, r.campaign_id, r.execution_id, r.customer_id, r.channel, r.variant,
              r.provider
)",
    claimed_details!()
);

/// Writes final statuses of claimed records and adds them to their executions' counters and
/// statistics, in one statement. A record is written only while not final, so a write retried
/// after a lost connection, or racing a duplicate, counts each record once. A record left
/// `sending` ([`Outcome::Unsettled`]) counts nothing yet; its `provider` notes who may have it.
///
/// Cost: a sent record stores what it cost (`$7`, its provider's price), added to its statistics
/// row; a record that reserved `$8` against its campaign's spend cap turns the reservation into
/// that cost (sent) or gives it back (failed): the spend counter moves by cost − reserved, never
/// up. Only records this statement moved do so, like the counters.
const WRITE_SQL: &str = "
WITH v AS (
    SELECT * FROM unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::text[], $5::text[],
                         $6::text[], $7::bigint[], $8::bigint[])
         AS v(id, status, sent_at, provider_message_id, error_message, provider, cost, reserved)
), written AS (
    UPDATE marketing_record r
    SET status = v.status, sent_at = v.sent_at, provider_message_id = v.provider_message_id,
        error_message = v.error_message, provider = COALESCE(v.provider, r.provider),
        cost_micros = v.cost, updated_at = now(),
        attempts = r.attempts + (r.status = 'pending')::int,
        claimed_at = CASE WHEN r.status = 'pending' THEN now() ELSE r.claimed_at END
    FROM v
    WHERE r.id = v.id AND r.status IN ('pending', 'sending')
    RETURNING r.execution_id, r.campaign_id, r.status, r.variant, v.cost, v.reserved
), stats AS (
    UPDATE campaign_stats s
    SET sent = s.sent + t.sent, send_failed = s.send_failed + t.failed,
        cost_micros = s.cost_micros + t.cost
    FROM (SELECT execution_id, COALESCE(variant, '') AS variant,
                 count(*) FILTER (WHERE status = 'sent') AS sent,
                 count(*) FILTER (WHERE status = 'failed') AS failed,
                 COALESCE(sum(cost) FILTER (WHERE status = 'sent'), 0) AS cost
          FROM written GROUP BY 1, 2) t
    WHERE s.execution_id = t.execution_id AND s.variant = t.variant
    RETURNING 1
), tally AS (
    UPDATE campaign_executions e
    SET sent_count = e.sent_count + t.sent, failed_count = e.failed_count + t.failed
    FROM (SELECT execution_id, count(*) FILTER (WHERE status = 'sent') AS sent,
                 count(*) FILTER (WHERE status = 'failed') AS failed
          FROM written GROUP BY execution_id) t
    WHERE e.id = t.execution_id
    RETURNING 1
), spend AS (
    UPDATE campaign_spend p
    SET spent_micros = p.spent_micros + t.delta
    FROM (SELECT campaign_id,
                 sum(CASE WHEN status = 'sent' THEN COALESCE(cost, 0) ELSE 0 END - reserved) AS delta
          FROM written WHERE reserved > 0 AND status IN ('sent', 'failed')
          GROUP BY campaign_id) t
    WHERE p.campaign_id = t.campaign_id
    RETURNING 1
)
SELECT count(*) AS n FROM written";

#[derive(QueryableByName)]
struct RecordId {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// A claimed record with its campaign and customer.
#[derive(Debug, Clone, QueryableByName)]
pub struct Claimed {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    pub campaign_id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    pub execution_id: Uuid,
    #[diesel(sql_type = Text)]
    pub channel: Channel,
    #[diesel(sql_type = Nullable<Text>)]
    pub variant: Option<String>,
    /// The provider a worker left the record with, its outcome unknown (see
    /// [`Outcome::Unsettled`]): the only one its message may go to.
    #[diesel(sql_type = Nullable<Text>)]
    pub provider: Option<String>,
    /// Whether its campaign has a spend cap (its message must reserve its price first, see
    /// [`spend`]).
    #[diesel(sql_type = Bool)]
    pub spend_capped: bool,
    #[diesel(sql_type = Text)]
    pub campaign_name: String,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub start_time: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub end_time: Option<DateTime<Utc>>,
    #[diesel(sql_type = Bool)]
    pub campaign_open: bool,
    #[diesel(sql_type = Nullable<Text>)]
    pub name: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub email: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub phone: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub push_token: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub wechat_openid: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub external_id: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub locale: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub time_zone: Option<String>,
    #[diesel(sql_type = Nullable<diesel::sql_types::Date>)]
    pub birthday: Option<chrono::NaiveDate>,
    #[diesel(sql_type = Jsonb)]
    pub attributes: serde_json::Value,
    #[diesel(sql_type = Bool)]
    pub opted_out: bool,
    #[diesel(sql_type = Bool)]
    pub frequency_capped: bool,
}

/// How a claimed record ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Sent {
        at: DateTime<Utc>,
        provider_message_id: Option<String>,
        /// The provider that took it (its label: `aliyun`, `http-secondary`, …).
        provider: Arc<str>,
        /// That provider's price.
        cost: Amount,
    },
    Failed {
        reason: String,
        /// The provider that refused it or kept failing; none when no provider was called.
        provider: Option<Arc<str>>,
    },
    /// Handed to `provider`, which did not answer, while the channel fails over: the record
    /// stays `sending` with the provider noted, so that it goes to no other provider, and its
    /// job is settled once a later try there tells (see `dispatch::attempts`).
    Unsettled { provider: Arc<str> },
}

/// An execution's frozen content, one entry per variant.
#[derive(QueryableByName)]
pub struct ExecutionContents {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = Jsonb)]
    pub contents: serde_json::Value,
}

pub async fn contents(
    conn: &mut AsyncPgConnection,
    executions: &[Uuid],
) -> diesel::QueryResult<Vec<ExecutionContents>> {
    diesel::sql_query("SELECT id, contents FROM campaign_executions WHERE id = ANY($1)")
        .bind::<Array<SqlUuid>, _>(executions)
        .load(conn)
        .await
}

/// Claims the records `ids`: by locking them for first deliveries ([`LOCK_SQL`]; the locks hold
/// until the caller's transaction ends, so it opens one before and commits it with [`write`]),
/// or durably for `redelivered` jobs ([`CLAIM_SQL`], outside a transaction). With a frequency
/// `cap`, tells which customers already reached it.
pub async fn claim(
    conn: &mut AsyncPgConnection,
    ids: &[Uuid],
    redelivered: bool,
    cap: Option<FrequencyCap>,
) -> diesel::QueryResult<Vec<Claimed>> {
    claimed(
        conn,
        if redelivered { CLAIM_SQL } else { LOCK_SQL },
        ids,
        cap,
    )
    .await
}

async fn claimed(
    conn: &mut AsyncPgConnection,
    sql: &'static str,
    ids: &[Uuid],
    cap: Option<FrequencyCap>,
) -> diesel::QueryResult<Vec<Claimed>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let (max, hours) = cap.map_or((0, 1), |c| (c.max, c.window_hours));
    let max = i32::try_from(max).unwrap_or(i32::MAX);
    let hours = i32::try_from(hours).unwrap_or(i32::MAX);
    Prepared {
        sql,
        binds: vec![Bind::Uuids(ids), Bind::Int(max), Bind::Int(hours)],
    }
    .load(conn)
    .await
}

/// at_most_once, first step: reserves the `pending` records among `ids` durably (committed when
/// this returns, outside any transaction); returns the ids reserved. The caller then locks them
/// with [`hold`] before sending them.
pub async fn reserve(conn: &mut AsyncPgConnection, ids: &[Uuid]) -> diesel::QueryResult<Vec<Uuid>> {
    record_ids(conn, RESERVE_SQL, ids).await
}

/// at_most_once, second step, inside the batch's transaction: locks the records among `ids`
/// still `sending` (waiting for a live batch holding one) and returns them with what sending
/// needs. Those this batch did not [`reserve`] were left by a worker that died.
pub async fn hold(
    conn: &mut AsyncPgConnection,
    ids: &[Uuid],
    cap: Option<FrequencyCap>,
) -> diesel::QueryResult<Vec<Claimed>> {
    claimed(conn, HOLD_SQL, ids, cap).await
}

/// at_most_once: undoes [`reserve`] for records none of whose messages went out.
pub async fn release(conn: &mut AsyncPgConnection, ids: &[Uuid]) -> diesel::QueryResult<Vec<Uuid>> {
    record_ids(conn, RELEASE_SQL, ids).await
}

async fn record_ids(
    conn: &mut AsyncPgConnection,
    sql: &'static str,
    ids: &[Uuid],
) -> diesel::QueryResult<Vec<Uuid>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<RecordId> = Prepared {
        sql,
        binds: vec![Bind::Uuids(ids)],
    }
    .load(conn)
    .await?;
    Ok(rows.into_iter().map(|r| r.id).collect())
}

/// A record's outcome to write, with what it reserved against its campaign's spend cap (0: no
/// reservation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub id: Uuid,
    pub outcome: Outcome,
    pub reserved: Amount,
}

impl From<(Uuid, Outcome)> for Written {
    /// An outcome without a spend reservation.
    fn from((id, outcome): (Uuid, Outcome)) -> Self {
        Written {
            id,
            outcome,
            reserved: Amount::ZERO,
        }
    }
}

pub async fn write(
    conn: &mut AsyncPgConnection,
    outcomes: &[Written],
) -> diesel::QueryResult<usize> {
    if outcomes.is_empty() {
        return Ok(0);
    }
    let mut ids = Vec::with_capacity(outcomes.len());
    let mut statuses = Vec::with_capacity(outcomes.len());
    let mut sent_at: Vec<Option<DateTime<Utc>>> = Vec::with_capacity(outcomes.len());
    let mut provider_ids: Vec<Option<String>> = Vec::with_capacity(outcomes.len());
    let mut errors: Vec<Option<String>> = Vec::with_capacity(outcomes.len());
    let mut providers: Vec<Option<&str>> = Vec::with_capacity(outcomes.len());
    let mut costs: Vec<Option<i64>> = Vec::with_capacity(outcomes.len());
    let mut reserved: Vec<i64> = Vec::with_capacity(outcomes.len());
    for w in outcomes {
        ids.push(w.id);
        // A record left `sending` keeps its reservation until its outcome is known.
        let settled = !matches!(w.outcome, Outcome::Unsettled { .. });
        reserved.push(if settled { w.reserved.micros() } else { 0 });
        costs.push(match &w.outcome {
            Outcome::Sent { cost, .. } => Some(cost.micros()),
            _ => None,
        });
        match &w.outcome {
            Outcome::Sent {
                at,
                provider_message_id,
                provider,
                ..
            } => {
                statuses.push("sent");
                sent_at.push(Some(*at));
                provider_ids.push(provider_message_id.clone());
                errors.push(None);
                providers.push(Some(provider));
            }
            Outcome::Failed { reason, provider } => {
                statuses.push("failed");
                sent_at.push(None);
                provider_ids.push(None);
                errors.push(Some(reason.clone()));
                providers.push(provider.as_deref());
            }
            Outcome::Unsettled { provider } => {
                statuses.push("sending");
                sent_at.push(None);
                provider_ids.push(None);
                errors.push(None);
                providers.push(Some(provider));
            }
        }
    }
    let written: Count = Prepared {
        sql: WRITE_SQL,
        binds: vec![
            Bind::Uuids(&ids),
            Bind::Texts(&statuses),
            Bind::Times(&sent_at),
            Bind::OptionalTexts(&provider_ids),
            Bind::OptionalTexts(&errors),
            Bind::OptionalStrs(&providers),
            Bind::OptionalBigInts(&costs),
            Bind::BigInts(&reserved),
        ],
    }
    .get_result(conn)
    .await?;
    Ok(written.n as usize)
}
