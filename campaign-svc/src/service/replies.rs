//! Inbound SMS ("回复TD退订"): a reply that is an opt-out keyword opts every customer with the
//! sender's number out of SMS (`customer_opt_outs.source = 'sms_reply'`) and counts as an
//! unsubscribe of the latest SMS sent to that number; any other reply is kept as a response to
//! that SMS (`sms_replies`, listed by `GET /api/marketing/replies`). Each vendor message is
//! acted on once (`sms_replies (source, message_id)` is unique).
//!
//! A call is one transaction with a few statements per message: replies come one at a time
//! from people, not in campaign-sized batches, so set-based statements would buy nothing.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, Integer, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};
use marketing_core::schema::sms_replies::dsl as sr;
use serde::Serialize;
use uuid::Uuid;

use super::MarketingService;
use crate::domain::reply::{InboundBatch, InboundSms};
use crate::domain::webhook::RejectedEvent;
use crate::domain::{Page, PageRequest};
use crate::error::{Error, Result};

/// Largest page of replies.
pub const MAX_REPLY_PAGE: u32 = 500;

/// `$1` phone: the live customers with that number.
const SENDERS_SQL: &str = "
SELECT id FROM customers WHERE phone = $1 AND erased_at IS NULL ORDER BY id";

/// `$1` customers: the SMS most recently sent to any of them.
const LATEST_SQL: &str = "
SELECT id, campaign_id, customer_id FROM marketing_record
WHERE customer_id = ANY($1) AND channel = 'sms' AND sent_at IS NOT NULL
ORDER BY sent_at DESC, id DESC LIMIT 1";

/// `$1..$10` the reply; no row back when the message was seen before.
const STORE_SQL: &str = "
INSERT INTO sms_replies (id, source, message_id, phone, text, kind, customer_id, record_id,
                         campaign_id, received_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
ON CONFLICT (source, message_id) DO NOTHING
RETURNING id";

/// `$1` customers opted out of SMS; `$2` the record replied to (marked unsubscribed and counted
/// once, as its unsubscribe link would have).
const OPT_OUT_SQL: &str = "
WITH opted AS (
    INSERT INTO customer_opt_outs (customer_id, channel, source)
    SELECT c, 'sms', 'sms_reply' FROM unnest($1::uuid[]) AS c
    ON CONFLICT (customer_id, channel) DO NOTHING
    RETURNING 1
), rec AS (
    SELECT id, execution_id, COALESCE(variant, '') AS variant
    FROM marketing_record WHERE id = $2 AND unsubscribed_at IS NULL
    FOR UPDATE
), marked AS (
    UPDATE marketing_record r SET unsubscribed_at = now(), updated_at = now()
    FROM rec WHERE r.id = rec.id
    RETURNING 1
), counted AS (
    UPDATE campaign_stats s SET unsubscribed = s.unsubscribed + 1
    FROM rec WHERE s.execution_id = rec.execution_id AND s.variant = rec.variant
    RETURNING 1
)
SELECT (SELECT count(*) FROM opted)::int AS n";

#[derive(QueryableByName)]
struct Id {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
}

#[derive(QueryableByName)]
struct Latest {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    campaign_id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    customer_id: Uuid,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = Integer)]
    n: i32,
}

/// What became of a call's messages.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ReplyOutcome {
    /// Opt-out keywords: the sender's customers no longer get SMS.
    pub opted_out: u64,
    /// Other replies, kept as responses.
    pub responses: u64,
    /// Seen before (same source and message id): nothing done.
    pub duplicates: u64,
    /// From a number no customer has: not stored.
    pub unknown_sender: u64,
    pub rejected: Vec<RejectedEvent>,
}

/// A stored reply as the API lists it.
#[derive(Debug, Clone, Serialize, Queryable, Selectable, utoipa::ToSchema)]
#[diesel(table_name = marketing_core::schema::sms_replies)]
pub struct Reply {
    pub id: Uuid,
    /// `api` (the generic signed form), `aliyun`, `tencent` or `twilio`.
    pub source: String,
    pub message_id: String,
    pub phone: String,
    pub text: String,
    /// `opt_out` or `response`.
    pub kind: String,
    pub customer_id: Uuid,
    /// The SMS replied to: the latest one sent to that number.
    pub record_id: Option<Uuid>,
    pub campaign_id: Option<Uuid>,
    pub received_at: DateTime<Utc>,
}

/// Filters of a reply listing (all optional).
#[derive(Debug, Clone, Default)]
pub struct ReplyFilter {
    pub campaign_id: Option<Uuid>,
    pub record_id: Option<Uuid>,
    pub customer_id: Option<Uuid>,
    pub kind: Option<String>,
}

impl MarketingService {
    /// Acts on verified inbound messages from `source`, each at most once.
    pub async fn apply_replies(
        &self,
        source: &'static str,
        batch: InboundBatch,
    ) -> Result<ReplyOutcome> {
        let InboundBatch { messages, rejected } = batch;
        let mut out = ReplyOutcome::default();
        if !messages.is_empty() {
            let keywords = &self.settings.callbacks.opt_out_keywords;
            let mut conn = self.pool.get().await?;
            out = conn
                .transaction::<_, Error, _>(async |conn| {
                    let mut out = ReplyOutcome::default();
                    for m in messages {
                        let opt_out = keywords.matches(&m.text);
                        apply_one(conn, source, m, opt_out, &mut out).await?;
                    }
                    Ok(out)
                })
                .await?;
        }
        for r in &rejected {
            tracing::warn!(source, index = r.index, field = %r.field, message = %r.message,
                "inbound SMS rejected");
        }
        out.rejected = rejected;
        let count = |kind: &'static str, n: u64| {
            metrics::counter!("sms_replies_total", "source" => source, "outcome" => kind)
                .increment(n);
        };
        count("opted_out", out.opted_out);
        count("response", out.responses);
        count("duplicate", out.duplicates);
        count("unknown_sender", out.unknown_sender);
        count("rejected", out.rejected.len() as u64);
        tracing::info!(
            source,
            opted_out = out.opted_out,
            responses = out.responses,
            duplicates = out.duplicates,
            unknown_sender = out.unknown_sender,
            rejected = out.rejected.len(),
            "inbound SMS applied"
        );
        Ok(out)
    }

    /// Stored replies, newest first.
    pub async fn list_replies(
        &self,
        filter: ReplyFilter,
        page: PageRequest,
    ) -> Result<Page<Reply>> {
        let mut conn = self.pool.get().await?;
        let query = || {
            let mut q = sr::sms_replies.into_boxed();
            if let Some(c) = filter.campaign_id {
                q = q.filter(sr::campaign_id.eq(c));
            }
            if let Some(r) = filter.record_id {
                q = q.filter(sr::record_id.eq(r));
            }
            if let Some(c) = filter.customer_id {
                q = q.filter(sr::customer_id.eq(c));
            }
            if let Some(k) = filter.kind.clone() {
                q = q.filter(sr::kind.eq(k));
            }
            q
        };
        let total: i64 = query().count().get_result(&mut conn).await?;
        let items = query()
            .order(sr::id.desc())
            .limit(page.limit())
            .offset(page.offset())
            .select(Reply::as_select())
            .load(&mut conn)
            .await?;
        Ok(Page {
            items,
            total: total as u64,
            request: page,
        })
    }
}

async fn apply_one(
    conn: &mut AsyncPgConnection,
    source: &'static str,
    m: InboundSms,
    opt_out: bool,
    out: &mut ReplyOutcome,
) -> Result<()> {
    let customers: Vec<Uuid> = diesel::sql_query(SENDERS_SQL)
        .bind::<Text, _>(&m.phone)
        .load::<Id>(conn)
        .await?
        .into_iter()
        .map(|c| c.id)
        .collect();
    // `<[_]>::first`: diesel's `QueryDsl::first` would be picked for a `Vec`.
    let Some(&first) = <[Uuid]>::first(&customers) else {
        tracing::info!(
            source,
            message_id = m.message_id,
            "inbound SMS from a number no customer has"
        );
        out.unknown_sender += 1;
        return Ok(());
    };
    let latest: Option<Latest> = diesel::sql_query(LATEST_SQL)
        .bind::<Array<SqlUuid>, _>(&customers)
        .get_result(conn)
        .await
        .optional()?;
    let stored = diesel::sql_query(STORE_SQL)
        .bind::<SqlUuid, _>(Uuid::now_v7())
        .bind::<Text, _>(source)
        .bind::<Text, _>(&m.message_id)
        .bind::<Text, _>(&m.phone)
        .bind::<Text, _>(&m.text)
        .bind::<Text, _>(if opt_out { "opt_out" } else { "response" })
        .bind::<SqlUuid, _>(latest.as_ref().map_or(first, |l| l.customer_id))
        .bind::<Nullable<SqlUuid>, _>(latest.as_ref().map(|l| l.id))
        .bind::<Nullable<SqlUuid>, _>(latest.as_ref().map(|l| l.campaign_id))
        .bind::<Timestamptz, _>(m.received_at.unwrap_or_else(Utc::now))
        .load::<Id>(conn)
        .await?;
    if stored.is_empty() {
        out.duplicates += 1;
        return Ok(());
    }
    if opt_out {
        let opted: Count = diesel::sql_query(OPT_OUT_SQL)
            .bind::<Array<SqlUuid>, _>(&customers)
            .bind::<Nullable<SqlUuid>, _>(latest.as_ref().map(|l| l.id))
            .get_result(conn)
            .await?;
        tracing::info!(
            source,
            message_id = m.message_id,
            customers = customers.len(),
            newly_opted_out = opted.n,
            "SMS opt-out by reply"
        );
        out.opted_out += 1;
    } else {
        out.responses += 1;
    }
    Ok(())
}
