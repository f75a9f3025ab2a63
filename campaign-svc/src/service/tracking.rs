//! What a recipient's clicks, opens and unsubscribes do. Each is one statement: the record moves
//! forward only (sent → delivered → opened → clicked; never back), and the campaign's counters
//! change only the first time, so repeated clicks or a pixel loaded twice count once.
//!
//! Counters: `delivered` counts records with any sign of delivery (receipt, open or click),
//! `opened` records opened or clicked (a click without a loaded pixel still counts as an open),
//! `clicked` records clicked.

use diesel::QueryableByName;
use diesel::sql_types::{Integer, Nullable, Text, Uuid as SqlUuid};
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use super::MarketingService;
use crate::error::Result;

/// Most click events kept in a record's `response`.
const MAX_RESPONSE_EVENTS: i32 = 100;

/// `$1` record, `$2` link index, `$3` most events kept.
const CLICK_SQL: &str = "
WITH before AS (
    SELECT id, execution_id, COALESCE(variant, '') AS variant, delivered_at, opened_at, clicked_at
    FROM marketing_record
    WHERE id = $1 AND status IN ('sent', 'delivered', 'opened', 'clicked')
    FOR UPDATE
), moved AS (
    UPDATE marketing_record r
    SET clicked_at = COALESCE(r.clicked_at, now()),
        status = 'clicked',
        response = CASE
            WHEN jsonb_typeof(r.response) = 'array' AND jsonb_array_length(r.response) >= $3
                THEN r.response
            ELSE (CASE WHEN jsonb_typeof(r.response) = 'array' THEN r.response ELSE '[]'::jsonb END)
                 || jsonb_build_array(jsonb_build_object('action', 'click', 'link_id', $2,
                                                          'at', now()))
        END,
        updated_at = now()
    FROM before b
    WHERE r.id = b.id
    RETURNING r.id
), counted AS (
    UPDATE campaign_stats s
    SET clicked = s.clicked + 1,
        opened = s.opened + (b.opened_at IS NULL)::int,
        delivered = s.delivered + (b.delivered_at IS NULL AND b.opened_at IS NULL)::int
    FROM before b
    WHERE b.clicked_at IS NULL AND s.execution_id = b.execution_id AND s.variant = b.variant
    RETURNING 1
)
SELECT (SELECT count(*)::int FROM moved) AS n";

/// `$1` record.
const OPEN_SQL: &str = "
WITH before AS (
    SELECT id, execution_id, COALESCE(variant, '') AS variant, delivered_at, opened_at, clicked_at
    FROM marketing_record
    WHERE id = $1 AND status IN ('sent', 'delivered', 'opened', 'clicked') AND opened_at IS NULL
    FOR UPDATE
), moved AS (
    UPDATE marketing_record r
    SET opened_at = now(),
        status = CASE WHEN r.status IN ('sent', 'delivered') THEN 'opened' ELSE r.status END,
        updated_at = now()
    FROM before b
    WHERE r.id = b.id
    RETURNING r.id
), counted AS (
    UPDATE campaign_stats s
    SET opened = s.opened + 1,
        delivered = s.delivered + (b.delivered_at IS NULL)::int
    FROM before b
    WHERE b.clicked_at IS NULL AND s.execution_id = b.execution_id AND s.variant = b.variant
    RETURNING 1
)
SELECT (SELECT count(*)::int FROM moved) AS n";

/// `$1` record. The opt-out covers the record's channel.
const UNSUBSCRIBE_SQL: &str = "
WITH rec AS (
    SELECT id, customer_id, channel, execution_id, COALESCE(variant, '') AS variant,
           unsubscribed_at
    FROM marketing_record
    WHERE id = $1
    FOR UPDATE
), opted AS (
    INSERT INTO customer_opt_outs (customer_id, channel, source)
    SELECT customer_id, channel, 'unsubscribe_link' FROM rec
    ON CONFLICT (customer_id, channel) DO NOTHING
    RETURNING 1
), marked AS (
    UPDATE marketing_record r SET unsubscribed_at = now(), updated_at = now()
    FROM rec WHERE r.id = rec.id AND rec.unsubscribed_at IS NULL
    RETURNING r.id
), counted AS (
    UPDATE campaign_stats s SET unsubscribed = s.unsubscribed + 1
    FROM rec
    WHERE rec.unsubscribed_at IS NULL AND s.execution_id = rec.execution_id
      AND s.variant = rec.variant
    RETURNING 1
)
SELECT (SELECT channel FROM rec) AS channel";

#[derive(QueryableByName)]
struct Moved {
    #[diesel(sql_type = Integer)]
    n: i32,
}

#[derive(QueryableByName)]
struct Unsubscribed {
    #[diesel(sql_type = Nullable<Text>)]
    channel: Option<marketing_core::vocabulary::Channel>,
}

impl MarketingService {
    /// Records a click on link `link` of `record`; `false` when the record is unknown or was
    /// never sent (the redirect still happens: the link was signed by us).
    pub async fn record_click(&self, record: Uuid, link: u16) -> Result<bool> {
        let mut conn = self.pool.get().await?;
        let moved: Moved = diesel::sql_query(CLICK_SQL)
            .bind::<SqlUuid, _>(record)
            .bind::<Integer, _>(i32::from(link))
            .bind::<Integer, _>(MAX_RESPONSE_EVENTS)
            .get_result(&mut conn)
            .await?;
        metrics::counter!("tracking_events_total", "event" => "click").increment(1);
        Ok(moved.n > 0)
    }

    /// Records that the e-mail of `record` was opened (its pixel loaded).
    pub async fn record_open(&self, record: Uuid) -> Result<bool> {
        let mut conn = self.pool.get().await?;
        let moved: Moved = diesel::sql_query(OPEN_SQL)
            .bind::<SqlUuid, _>(record)
            .get_result(&mut conn)
            .await?;
        metrics::counter!("tracking_events_total", "event" => "open").increment(1);
        Ok(moved.n > 0)
    }

    /// Opts the record's customer out of the record's channel; returns the channel, or `None`
    /// when the record does not exist.
    pub async fn unsubscribe(
        &self,
        record: Uuid,
    ) -> Result<Option<marketing_core::vocabulary::Channel>> {
        let mut conn = self.pool.get().await?;
        let done: Unsubscribed = diesel::sql_query(UNSUBSCRIBE_SQL)
            .bind::<SqlUuid, _>(record)
            .get_result(&mut conn)
            .await?;
        if done.channel.is_some() {
            metrics::counter!("tracking_events_total", "event" => "unsubscribe").increment(1);
            tracing::info!(record_id = %record, "customer unsubscribed through a message link");
        }
        Ok(done.channel)
    }

    /// The channel of a record, for the unsubscribe confirmation page.
    pub async fn record_channel(
        &self,
        record: Uuid,
    ) -> Result<Option<marketing_core::vocabulary::Channel>> {
        use diesel::{OptionalExtension as _, QueryDsl as _};
        use marketing_core::schema::marketing_record::dsl as mr;
        let mut conn = self.pool.get().await?;
        Ok(mr::marketing_record
            .find(record)
            .select(mr::channel)
            .first(&mut conn)
            .await
            .optional()?)
    }
}
