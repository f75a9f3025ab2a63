//! Campaign spend caps, shared by every worker through one counter row per capped campaign
//! (`campaign_spend`): a message reserves its price there before it is sent, with one
//! conditional statement that never lets the counter pass the cap, so no number of workers
//! racing can spend more than the cap. The outcome write ([`super::write`]) then turns each
//! reservation into what the message cost, or gives it back.

use diesel::QueryableByName;
use diesel::sql_types::{Integer, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::prepared::{Bind, Prepared};

/// How the record of a message a spend cap stopped, and the campaign's other unsent records,
/// end (`failed`); `spend_cap_reached` is the reason's code.
pub const SPEND_CAP_REACHED: &str =
    "not sent: spend_cap_reached (the campaign's spend cap is used up)";

/// Reserves, for each campaign `$1[i]`, as many of `$2[i]` messages at `$3[i]` micro-units each
/// as its cap (`marketing_campaign.spend_cap_micros`) still allows, and answers how many each
/// got (`granted`, written by the same statement from the row as it was: a concurrent
/// reservation is waited for and its result read, so two workers never both take the last
/// room). A campaign whose cap was removed gets everything. Campaigns without a counter row yet
/// are not answered (see [`CREATE_SQL`]).
const RESERVE_SQL: &str = "
UPDATE campaign_spend s
SET granted = CASE WHEN c.spend_cap_micros IS NULL THEN w.n
                   ELSE least(w.n, greatest(0, (c.spend_cap_micros - s.spent_micros) / w.price)) END,
    spent_micros = s.spent_micros + w.price * CASE WHEN c.spend_cap_micros IS NULL THEN w.n
                   ELSE least(w.n, greatest(0, (c.spend_cap_micros - s.spent_micros) / w.price)) END
FROM unnest($1::uuid[], $2::int[], $3::bigint[]) AS w(campaign_id, n, price)
JOIN marketing_campaign c ON c.id = w.campaign_id
WHERE s.campaign_id = w.campaign_id
RETURNING s.campaign_id, s.granted";

/// Creates the counter rows of capped campaigns that have none yet (their first send).
const CREATE_SQL: &str = "
INSERT INTO campaign_spend (campaign_id)
SELECT unnest($1::uuid[])
ON CONFLICT (campaign_id) DO NOTHING";

/// The campaigns `$1` reached their cap: their records still `pending` and not held by a batch
/// are failed at once, set-based, instead of each being claimed, refused and written by a
/// worker (those a batch holds are refused by that batch). Counted like every outcome: the
/// statistics rows, then the executions'.
const FAIL_PENDING_SQL: &str = "
WITH doomed AS (
    SELECT r.id FROM marketing_record r
    WHERE r.campaign_id = ANY($1) AND r.status = 'pending'
    FOR NO KEY UPDATE SKIP LOCKED
), failed AS (
    UPDATE marketing_record r
    SET status = 'failed', error_message = $2, updated_at = now(), due_at = NULL
    FROM doomed
    WHERE r.id = doomed.id
    RETURNING r.execution_id, r.variant
), stats AS (
    UPDATE campaign_stats s SET send_failed = s.send_failed + t.n
    FROM (SELECT execution_id, COALESCE(variant, '') AS variant, count(*) AS n
          FROM failed GROUP BY 1, 2) t
    WHERE s.execution_id = t.execution_id AND s.variant = t.variant
    RETURNING 1
), tally AS (
    UPDATE campaign_executions e SET failed_count = e.failed_count + t.n
    FROM (SELECT execution_id, count(*) AS n FROM failed GROUP BY execution_id) t
    WHERE e.id = t.execution_id
    RETURNING 1
)
SELECT count(*) AS n FROM failed";

#[derive(QueryableByName)]
struct Granted {
    #[diesel(sql_type = SqlUuid)]
    campaign_id: Uuid,
    #[diesel(sql_type = Integer)]
    granted: i32,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// What one campaign's messages of a batch ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ask {
    pub campaign_id: Uuid,
    pub messages: i32,
    /// Micro-units per message (more than 0).
    pub price: i64,
}

/// Reserves what `asks` ask for as far as each campaign's cap allows; answers how many messages
/// of each campaign were granted (in `asks` order). Each statement commits on its own
/// (`conn` must not be in a transaction): a reservation held by an open transaction would make
/// every other worker sending the campaign wait for it.
pub async fn reserve(conn: &mut AsyncPgConnection, asks: &[Ask]) -> diesel::QueryResult<Vec<i32>> {
    let mut granted = reserve_once(conn, asks).await?;
    let missing: Vec<Uuid> = asks
        .iter()
        .filter(|a| !granted.iter().any(|(c, _)| *c == a.campaign_id))
        .map(|a| a.campaign_id)
        .collect();
    if !missing.is_empty() {
        Prepared {
            sql: CREATE_SQL,
            binds: vec![Bind::Uuids(&missing)],
        }
        .execute(conn)
        .await?;
        let again: Vec<Ask> = asks
            .iter()
            .filter(|a| missing.contains(&a.campaign_id))
            .copied()
            .collect();
        granted.extend(reserve_once(conn, &again).await?);
    }
    Ok(asks
        .iter()
        .map(|a| {
            granted
                .iter()
                .find(|(c, _)| *c == a.campaign_id)
                .map_or(0, |(_, n)| *n)
        })
        .collect())
}

async fn reserve_once(
    conn: &mut AsyncPgConnection,
    asks: &[Ask],
) -> diesel::QueryResult<Vec<(Uuid, i32)>> {
    if asks.is_empty() {
        return Ok(Vec::new());
    }
    let campaigns: Vec<Uuid> = asks.iter().map(|a| a.campaign_id).collect();
    let messages: Vec<i32> = asks.iter().map(|a| a.messages).collect();
    let prices: Vec<i64> = asks.iter().map(|a| a.price).collect();
    let rows: Vec<Granted> = Prepared {
        sql: RESERVE_SQL,
        binds: vec![
            Bind::Uuids(&campaigns),
            Bind::Ints(&messages),
            Bind::BigInts(&prices),
        ],
    }
    .load(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|g| (g.campaign_id, g.granted))
        .collect())
}

/// Fails the unsent records of `campaigns`, whose caps are reached ([`FAIL_PENDING_SQL`]);
/// answers how many.
pub async fn fail_pending(
    conn: &mut AsyncPgConnection,
    campaigns: &[Uuid],
) -> diesel::QueryResult<u64> {
    if campaigns.is_empty() {
        return Ok(0);
    }
    let failed: Count = Prepared {
        sql: FAIL_PENDING_SQL,
        binds: vec![Bind::Uuids(campaigns), Bind::Text(SPEND_CAP_REACHED)],
    }
    .get_result(conn)
    .await?;
    Ok(failed.n.max(0) as u64)
}
