//! Delivery receipts in a vendor's own format (Aliyun, Tencent Cloud, Twilio, SES over SNS):
//! the vendor's message id is resolved to a record through `provider_message_id`, then the
//! receipt is applied exactly as a generic webhook event (claimed once in `webhook_events`
//! under the vendor's name, records and counters moved in the same transaction).
//!
//! The worker writes the vendor's id after the vendor took the message, so a receipt can
//! overtake that write. When the vendor echoes the record id (Aliyun `out_id`, the SES
//! `record_id` tag) the record is found by it instead; otherwise the receipt is counted as
//! ignored and *not* claimed, so the vendor's next delivery of it can still apply. A receipt
//! whose record is found but not yet recorded as sent is not claimed either, and the call
//! answers 503 so that the vendor sends it again.

use std::collections::HashMap;

use diesel::QueryableByName;
use diesel::sql_types::{Array, Text, Uuid as SqlUuid};
use diesel_async::{AsyncConnection as _, RunQueryDsl};
use uuid::Uuid;

use super::MarketingService;
use super::webhooks::{WebhookOutcome, claim_and_apply, report};
use crate::domain::vendor::{ReceiptBatch, Vendor, VendorReceipt};
use crate::domain::webhook::DeliveryEvent;
use crate::error::{Error, Result};

/// `$1` provider message ids, `$2` channel: the records they name.
const RESOLVE_SQL: &str = "
SELECT provider_message_id, id FROM marketing_record
WHERE provider_message_id = ANY($1) AND channel = $2";

/// `$1` records whose recipient complained (SES): opted out of e-mail.
const COMPLAINT_SQL: &str = "
INSERT INTO customer_opt_outs (customer_id, channel, source)
SELECT DISTINCT customer_id, 'email', 'complaint' FROM marketing_record WHERE id = ANY($1)
ON CONFLICT (customer_id, channel) DO NOTHING";

/// `$1` record ids, `$2` channel: those that exist.
const HINTED_SQL: &str = "SELECT id FROM marketing_record WHERE id = ANY($1) AND channel = $2";

#[derive(QueryableByName)]
struct Known {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
}

#[derive(QueryableByName)]
struct Resolved {
    #[diesel(sql_type = Text)]
    provider_message_id: String,
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
}

impl MarketingService {
    /// Applies a vendor's verified receipts, each at most once.
    pub async fn apply_vendor_receipts(
        &self,
        vendor: Vendor,
        batch: ReceiptBatch,
    ) -> Result<WebhookOutcome> {
        let ReceiptBatch {
            receipts,
            skipped,
            rejected,
        } = batch;
        let mut outcome = if receipts.is_empty() {
            WebhookOutcome::default()
        } else {
            let mut conn = self.pool.get().await?;
            conn.transaction::<_, Error, _>(async |conn| apply(conn, vendor, receipts).await)
                .await?
        };
        outcome.ignored += skipped;
        outcome.rejected = rejected;
        report(vendor.as_str(), &outcome);
        outcome.or_retry()
    }
}

async fn apply(
    conn: &mut diesel_async::AsyncPgConnection,
    vendor: Vendor,
    receipts: Vec<VendorReceipt>,
) -> Result<WebhookOutcome> {
    let channel = vendor.channel();
    let ids: Vec<&str> = receipts
        .iter()
        .map(|r| r.provider_message_id.as_str())
        .collect();
    let records: HashMap<String, Uuid> = diesel::sql_query(RESOLVE_SQL)
        .bind::<Array<Text>, _>(&ids)
        .bind::<Text, _>(channel)
        .load::<Resolved>(conn)
        .await?
        .into_iter()
        .map(|r| (r.provider_message_id, r.id))
        .collect();
    let hints: Vec<Uuid> = receipts
        .iter()
        .filter(|r| !records.contains_key(&r.provider_message_id))
        .filter_map(|r| r.record_id)
        .collect();
    let hinted: std::collections::HashSet<Uuid> = if hints.is_empty() {
        Default::default()
    } else {
        diesel::sql_query(HINTED_SQL)
            .bind::<Array<SqlUuid>, _>(&hints)
            .bind::<Text, _>(channel)
            .load::<Known>(conn)
            .await?
            .into_iter()
            .map(|k| k.id)
            .collect()
    };
    let mut unknown = 0u64;
    let mut complaints = Vec::new();
    let mut events = Vec::with_capacity(receipts.len());
    for r in receipts {
        let found = records
            .get(&r.provider_message_id)
            .copied()
            .or(r.record_id.filter(|id| hinted.contains(id)));
        let Some(record_id) = found else {
            tracing::info!(
                provider = vendor.as_str(),
                event_id = r.event_id,
                provider_message_id = r.provider_message_id,
                "vendor receipt ignored: no record has this provider message id (yet)"
            );
            unknown += 1;
            continue;
        };
        if r.complaint {
            complaints.push(record_id);
        }
        events.push(DeliveryEvent {
            event_id: r.event_id,
            record_id,
            outcome: r.outcome,
            reason: r.reason,
            occurred_at: r.occurred_at,
        });
    }
    let mut out = if events.is_empty() {
        WebhookOutcome::default()
    } else {
        claim_and_apply(conn, vendor.as_str(), channel, events).await?
    };
    out.ignored += unknown;
    if !complaints.is_empty() {
        let opted = diesel::sql_query(COMPLAINT_SQL)
            .bind::<Array<SqlUuid>, _>(&complaints)
            .execute(conn)
            .await?;
        tracing::info!(
            provider = vendor.as_str(),
            opted_out = opted,
            "recipients who complained were opted out of e-mail"
        );
    }
    Ok(out)
}
