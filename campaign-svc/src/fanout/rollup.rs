//! Rolls up `campaign_stats_hourly`: the delta rows appended for each change of a campaign's
//! counters (see migration `000034_hourly_stats`) become one row per campaign and hour, so
//! reading a campaign's hours stays a few rows per hour however many messages it sent.
//!
//! One statement per pass deletes the rows of up to [`GROUPS`] (campaign, hour) pairs that have
//! unrolled rows and inserts their sums: replicas rolling up at once, and writers appending
//! meanwhile, neither lose nor double a count (a row is summed by the statement that deleted it;
//! a row appended after the statement's snapshot waits for the next pass).

use std::time::Duration;

use diesel::QueryableByName;
use diesel::sql_types::BigInt;
use diesel_async::RunQueryDsl;
use tokio::sync::watch;

use super::Fanout;
use crate::error::Result;

/// (campaign, hour) pairs one pass rolls up.
const GROUPS: i64 = 1000;

const ROLLUP_SQL: &str = "
WITH groups AS (
    SELECT DISTINCT campaign_id, hour FROM campaign_stats_hourly WHERE NOT rolled LIMIT $1
), gone AS (
    DELETE FROM campaign_stats_hourly h USING groups g
    WHERE h.campaign_id = g.campaign_id AND h.hour = g.hour
    RETURNING h.*
), rolled AS (
    INSERT INTO campaign_stats_hourly (campaign_id, hour, sent, send_failed, delivered,
                                       delivery_failed, opened, clicked, converted, unsubscribed,
                                       rolled)
    SELECT campaign_id, hour, sum(sent), sum(send_failed), sum(delivered), sum(delivery_failed),
           sum(opened), sum(clicked), sum(converted), sum(unsubscribed), true
    FROM gone GROUP BY campaign_id, hour
    RETURNING 1
)
SELECT (SELECT count(*) FROM groups) AS n";

#[derive(QueryableByName)]
struct Groups {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

impl Fanout {
    /// The rollup loop: a pass every `interval`, at once again while passes are full.
    pub(super) async fn run_rollup(self, interval: Duration, stop: watch::Receiver<bool>) {
        super::repeat(
            "hourly statistics rollup",
            interval,
            || self.roll_up(),
            std::future::pending,
            stop,
        )
        .await;
    }

    /// One pass; whether more may be waiting.
    async fn roll_up(&self) -> Result<bool> {
        let mut conn = self.inner.pool.get().await?;
        let groups: Groups = diesel::sql_query(ROLLUP_SQL)
            .bind::<BigInt, _>(GROUPS)
            .get_result(&mut conn)
            .await?;
        Ok(groups.n >= GROUPS)
    }
}
