//! Provider delivery receipts: `sent → delivered`, or `failed` on a bounce or a failed delivery,
//! with the campaign's counters, applied once per provider event id.
//!
//! A request is one transaction. Event ids are claimed in one statement (`webhook_events`, `ON
//! CONFLICT DO NOTHING`: a replayed or concurrently delivered event is a duplicate). The fresh
//! events are then applied set-based, in rounds: round k holds the k-th event of each record in
//! request order, so one statement never has to move the same record twice, and a `delivered`
//! followed by a bounce for the same message in one call ends `failed`, as it happened. Nearly
//! every call needs one round.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use diesel::QueryableByName;
use diesel::sql_types::{Array, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncConnection as _, RunQueryDsl};
use marketing_core::vocabulary::Channel;
use serde::Serialize;
use uuid::Uuid;

use super::MarketingService;
use crate::domain::webhook::{DeliveryEvent, RejectedEvent, WebhookBatch, verify_signature};
use crate::error::{Error, Result};

/// `$1` provider, `$2` event ids: the ids not seen before.
const CLAIM_SQL: &str = "
INSERT INTO webhook_events (provider, event_id)
SELECT $1, e FROM unnest($2::text[]) AS e
ON CONFLICT DO NOTHING
RETURNING event_id";

/// Applies one round (at most one event per record). `$1` channel; `$2..$5` record ids,
/// outcomes, reasons, times. Never moves a record backwards: `delivered` sets `delivered_at`
/// once and the status only from `sent`; a failure applies only to `sent`/`delivered`.
const APPLY_SQL: &str = "
WITH ev AS (
    SELECT * FROM unnest($2::uuid[], $3::text[], $4::text[], $5::timestamptz[])
             AS v(record_id, outcome, reason, occurred_at)
), delivered AS (
    UPDATE marketing_record r
    SET delivered_at = COALESCE(ev.occurred_at, now()),
        status = CASE WHEN r.status = 'sent' THEN 'delivered' ELSE r.status END,
        updated_at = now()
    FROM ev
    WHERE ev.outcome = 'delivered' AND r.id = ev.record_id AND r.channel = $1
      AND r.delivered_at IS NULL AND r.status IN ('sent', 'delivered', 'opened', 'clicked')
    -- An open or click already counted the record as delivered.
    RETURNING r.id, r.execution_id, r.variant,
              (r.opened_at IS NULL AND r.clicked_at IS NULL) AS first_sign
), failed AS (
    UPDATE marketing_record r
    SET status = 'failed', updated_at = now(),
        error_message = CASE ev.outcome WHEN 'bounced' THEN 'bounced: ' ELSE 'not delivered: ' END
                        || COALESCE(ev.reason, 'no reason given')
    FROM ev
    WHERE ev.outcome IN ('failed', 'bounced') AND r.id = ev.record_id AND r.channel = $1
      AND r.status IN ('sent', 'delivered')
    RETURNING r.id, r.execution_id, r.variant
), moved AS (
    SELECT execution_id, COALESCE(variant, '') AS variant, first_sign::int AS d, 0 AS f
    FROM delivered
    UNION ALL
    SELECT execution_id, COALESCE(variant, ''), 0, 1 FROM failed
), stats AS (
    UPDATE campaign_stats s
    SET delivered = s.delivered + t.d, delivery_failed = s.delivery_failed + t.f
    FROM (SELECT execution_id, variant, sum(d) AS d, sum(f) AS f FROM moved GROUP BY 1, 2) t
    WHERE s.execution_id = t.execution_id AND s.variant = t.variant
    RETURNING 1
)
SELECT id FROM delivered UNION ALL SELECT id FROM failed";

/// `$1` record ids: those still waiting for their send's outcome.
const UNSETTLED_SQL: &str =
    "SELECT id FROM marketing_record WHERE id = ANY($1) AND status IN ('pending', 'sending')";

/// Why events were not applied, for the log: `$1` record ids.
const STATE_SQL: &str = "SELECT id, channel, status FROM marketing_record WHERE id = ANY($1)";

#[derive(QueryableByName)]
struct Claimed {
    #[diesel(sql_type = Text)]
    event_id: String,
}

#[derive(QueryableByName)]
struct Applied {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
}

#[derive(QueryableByName)]
struct RecordState {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = Text)]
    channel: String,
    #[diesel(sql_type = Text)]
    status: String,
}

/// What became of a webhook call's events.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct WebhookOutcome {
    /// Moved a record (and its counters).
    pub applied: u64,
    /// Seen before (same provider and event id): nothing done.
    pub duplicates: u64,
    /// Unknown record, a record of another channel, or one the event cannot move.
    pub ignored: u64,
    /// Events that could not be read (each with its index, field and reason); not applied.
    pub rejected: Vec<RejectedEvent>,
    /// Events of records whose send is not recorded yet (a receipt that overtook the worker's
    /// outcome write): neither claimed nor applied, so the same event sent again applies.
    #[serde(skip)]
    pub deferred: u64,
}

impl WebhookOutcome {
    /// The outcome, or, when events were deferred, a 503 asking the sender to send the batch
    /// again (what was applied stays applied; it counts as duplicates then).
    pub fn or_retry(self) -> Result<Self> {
        if self.deferred > 0 {
            return Err(Error::Unavailable(format!(
                "{} event(s) arrived before their message was recorded as sent; the rest is \
                 applied: send the same events again shortly",
                self.deferred
            )));
        }
        Ok(self)
    }
}

impl MarketingService {
    /// Refuses a webhook whose signature is missing, wrong or stale, or any webhook when no
    /// secret is configured. `body` is the raw request body.
    pub fn verify_webhook(&self, signature: Option<&str>, body: &[u8]) -> Result<()> {
        let secret = self
            .settings
            .webhook_secret
            .as_deref()
            .ok_or(Error::BadSignature("webhooks are not configured"))?;
        verify_signature(secret.as_bytes(), signature, body, Utc::now())
    }

    /// Applies the readable events of a verified batch from `provider`, each at most once; the
    /// unreadable ones come back in [`WebhookOutcome::rejected`].
    pub async fn apply_webhook(
        &self,
        provider: Channel,
        batch: WebhookBatch,
    ) -> Result<WebhookOutcome> {
        let WebhookBatch { events, rejected } = batch;
        let mut outcome = if events.is_empty() {
            WebhookOutcome::default()
        } else {
            let mut conn = self.pool.get().await?;
            conn.transaction::<_, Error, _>(async |conn| {
                claim_and_apply(conn, provider.as_str(), provider, events).await
            })
            .await?
        };
        outcome.rejected = rejected;
        report(provider.as_str(), &outcome);
        outcome.or_retry()
    }
}

/// Logs and counts what became of a call's events (`provider`: a channel or a vendor).
pub(super) fn report(provider: &str, outcome: &WebhookOutcome) {
    for r in &outcome.rejected {
        tracing::warn!(provider, index = r.index, field = %r.field, message = %r.message,
            "webhook event rejected");
    }
    let count = |kind: &'static str, n: u64| {
        metrics::counter!("webhook_events_total", "provider" => provider.to_owned(), "outcome" => kind)
            .increment(n);
    };
    count("applied", outcome.applied);
    count("duplicate", outcome.duplicates);
    count("ignored", outcome.ignored);
    count("rejected", outcome.rejected.len() as u64);
    tracing::info!(
        provider,
        applied = outcome.applied,
        duplicates = outcome.duplicates,
        ignored = outcome.ignored,
        rejected = outcome.rejected.len(),
        "webhook applied"
    );
}

/// Claims the events' ids under `provider` and applies the fresh ones to records of `channel`,
/// inside the caller's transaction.
pub(super) async fn claim_and_apply(
    conn: &mut diesel_async::AsyncPgConnection,
    provider: &str,
    channel: Channel,
    events: Vec<DeliveryEvent>,
) -> Result<WebhookOutcome> {
    // Records whose send is not recorded yet: their events wait for the sender's next try.
    let record_ids: Vec<Uuid> = events.iter().map(|e| e.record_id).collect();
    let unsettled: HashSet<Uuid> = diesel::sql_query(UNSETTLED_SQL)
        .bind::<Array<SqlUuid>, _>(&record_ids)
        .load::<Applied>(conn)
        .await?
        .into_iter()
        .map(|a| a.id)
        .collect();
    let (events, waiting): (Vec<_>, Vec<_>) = events
        .into_iter()
        .partition(|e| !unsettled.contains(&e.record_id));
    if !waiting.is_empty() {
        tracing::info!(
            provider,
            deferred = waiting.len(),
            "webhook events deferred: their records are not recorded as sent yet"
        );
    }
    // A repeated id within one call is a duplicate too.
    let mut seen = HashSet::new();
    let (events, repeated): (Vec<_>, Vec<_>) = events
        .into_iter()
        .partition(|e| seen.insert(e.event_id.clone()));
    let ids: Vec<&str> = events.iter().map(|e| e.event_id.as_str()).collect();
    let fresh: HashSet<String> = diesel::sql_query(CLAIM_SQL)
        .bind::<Text, _>(provider)
        .bind::<Array<Text>, _>(&ids)
        .load::<Claimed>(conn)
        .await?
        .into_iter()
        .map(|c| c.event_id)
        .collect();
    let mut out = WebhookOutcome {
        duplicates: (repeated.len() + events.len() - fresh.len()) as u64,
        deferred: waiting.len() as u64,
        ..Default::default()
    };
    let fresh: Vec<DeliveryEvent> = events
        .into_iter()
        .filter(|e| fresh.contains(&e.event_id))
        .collect();
    let mut not_applied = Vec::new();
    for round in rounds(fresh) {
        let applied: HashSet<Uuid> = diesel::sql_query(APPLY_SQL)
            .bind::<Text, _>(channel)
            .bind::<Array<SqlUuid>, _>(round.iter().map(|e| e.record_id).collect::<Vec<_>>())
            .bind::<Array<Text>, _>(round.iter().map(|e| e.outcome.as_str()).collect::<Vec<_>>())
            .bind::<Array<Nullable<Text>>, _>(
                round.iter().map(|e| e.reason.clone()).collect::<Vec<_>>(),
            )
            .bind::<Array<Nullable<Timestamptz>>, _>(
                round
                    .iter()
                    .map(|e| e.occurred_at)
                    .collect::<Vec<Option<DateTime<Utc>>>>(),
            )
            .load::<Applied>(conn)
            .await?
            .into_iter()
            .map(|a| a.id)
            .collect();
        out.applied += applied.len() as u64;
        not_applied.extend(
            round
                .into_iter()
                .filter(|e| !applied.contains(&e.record_id)),
        );
    }
    out.ignored = not_applied.len() as u64;
    if !not_applied.is_empty() {
        log_ignored(conn, provider, channel, &not_applied).await?;
    }
    Ok(out)
}

/// Splits events into rounds holding at most one event per record, keeping each record's
/// events in request order.
fn rounds(events: Vec<DeliveryEvent>) -> Vec<Vec<DeliveryEvent>> {
    let mut seen: HashMap<Uuid, usize> = HashMap::new();
    let mut rounds: Vec<Vec<DeliveryEvent>> = Vec::new();
    for e in events {
        let n = seen.entry(e.record_id).or_insert(0);
        if rounds.len() <= *n {
            rounds.push(Vec::new());
        }
        rounds[*n].push(e);
        *n += 1;
    }
    rounds
}

/// Says why each event was not applied: unknown records and records of another channel are
/// worth a warning (a misconfigured provider), a receipt for a record already past it is not.
async fn log_ignored(
    conn: &mut diesel_async::AsyncPgConnection,
    provider: &str,
    channel: Channel,
    events: &[DeliveryEvent],
) -> Result<()> {
    let ids: Vec<Uuid> = events.iter().map(|e| e.record_id).collect();
    let states: HashMap<Uuid, RecordState> = diesel::sql_query(STATE_SQL)
        .bind::<Array<SqlUuid>, _>(&ids)
        .load::<RecordState>(conn)
        .await?
        .into_iter()
        .map(|s| (s.id, s))
        .collect();
    for e in events {
        let (event_id, record_id, outcome) = (&e.event_id, e.record_id, e.outcome.as_str());
        match states.get(&e.record_id) {
            None => tracing::warn!(provider, event_id, %record_id, outcome,
                "webhook event ignored: unknown record"),
            Some(s) if s.channel != channel.as_str() => tracing::warn!(
                provider, event_id, %record_id, outcome, channel = s.channel,
                "webhook event ignored: the record belongs to another channel"),
            Some(s) => tracing::info!(provider, event_id, %record_id, outcome,
                status = s.status, "webhook event ignored: the record is past it or not sent"),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::webhook::Outcome;

    fn event(id: &str, record: Uuid) -> DeliveryEvent {
        DeliveryEvent {
            event_id: id.into(),
            record_id: record,
            outcome: Outcome::Delivered,
            reason: None,
            occurred_at: None,
        }
    }

    #[test]
    fn rounds_hold_one_event_per_record_in_order() {
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let r = rounds(vec![
            event("1", a),
            event("2", b),
            event("3", a),
            event("4", a),
        ]);
        let ids: Vec<Vec<&str>> = r
            .iter()
            .map(|r| r.iter().map(|e| e.event_id.as_str()).collect())
            .collect();
        assert_eq!(ids, vec![vec!["1", "2"], vec!["3"], vec!["4"]]);
    }
}
