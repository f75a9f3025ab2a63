//! Campaign statistics: counts and the seed's rates, in total, per execution and per A/B
//! variant.
//!
//! Read from `campaign_stats`: counters kept per execution and variant by every statement that
//! moves a record (trigger, worker, tracking, webhooks, conversions), so answering is a sum over
//! a few rows however many records the campaign has. A later stage implies the earlier ones: a
//! click counts as opened (and delivered), an open as delivered.

use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Text, Uuid as SqlUuid};
use diesel_async::RunQueryDsl;
use marketing_core::cost::Amount;
use marketing_core::vocabulary::Channel;
use serde::Serialize;
use uuid::Uuid;

use super::MarketingService;
use crate::error::Result;

const STATS_SQL: &str = "
SELECT execution_id, variant, planned, sent, send_failed, delivered, delivery_failed, opened,
       clicked, converted, unsubscribed, cost_micros
FROM campaign_stats
WHERE campaign_id = $1
ORDER BY execution_id, variant";

/// The counter columns both statistics queries select.
#[derive(QueryableByName)]
struct CounterColumns {
    #[diesel(sql_type = BigInt)]
    planned: i64,
    #[diesel(sql_type = BigInt)]
    sent: i64,
    #[diesel(sql_type = BigInt)]
    send_failed: i64,
    #[diesel(sql_type = BigInt)]
    delivered: i64,
    #[diesel(sql_type = BigInt)]
    delivery_failed: i64,
    #[diesel(sql_type = BigInt)]
    opened: i64,
    #[diesel(sql_type = BigInt)]
    clicked: i64,
    #[diesel(sql_type = BigInt)]
    converted: i64,
    #[diesel(sql_type = BigInt)]
    unsubscribed: i64,
    #[diesel(sql_type = BigInt)]
    cost_micros: i64,
}

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = SqlUuid)]
    execution_id: Uuid,
    #[diesel(sql_type = Text)]
    variant: String,
    #[diesel(embed)]
    counts: CounterColumns,
}

/// Raw counters, summable.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub planned: u64,
    pub sent: u64,
    pub send_failed: u64,
    pub delivered: u64,
    pub delivery_failed: u64,
    pub opened: u64,
    pub clicked: u64,
    pub converted: u64,
    pub unsubscribed: u64,
    /// What the messages sent cost, in micro-units.
    pub cost_micros: i64,
}

impl std::ops::AddAssign for Counts {
    fn add_assign(&mut self, o: Counts) {
        self.planned += o.planned;
        self.sent += o.sent;
        self.send_failed += o.send_failed;
        self.delivered += o.delivered;
        self.delivery_failed += o.delivery_failed;
        self.opened += o.opened;
        self.clicked += o.clicked;
        self.converted += o.converted;
        self.unsubscribed += o.unsubscribed;
        self.cost_micros = self.cost_micros.saturating_add(o.cost_micros);
    }
}

impl From<&CounterColumns> for Counts {
    fn from(r: &CounterColumns) -> Self {
        let n = |v: i64| v.max(0) as u64;
        Counts {
            planned: n(r.planned),
            sent: n(r.sent),
            send_failed: n(r.send_failed),
            delivered: n(r.delivered),
            delivery_failed: n(r.delivery_failed),
            opened: n(r.opened),
            clicked: n(r.clicked),
            converted: n(r.converted),
            unsubscribed: n(r.unsubscribed),
            cost_micros: r.cost_micros.max(0),
        }
    }
}

/// Counts and rates of a campaign, an execution or a variant.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Figures {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel: Option<Channel>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub execution_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// Recipients the trigger froze.
    pub planned: u64,
    /// Sent or failed at send time: what the worker dealt with.
    pub attempted: u64,
    /// Accepted by the provider.
    pub sent: u64,
    /// Not sent (refused, failed, skipped at send time) or reported undeliverable afterwards.
    pub failed: u64,
    pub delivered: u64,
    pub opened: u64,
    pub clicked: u64,
    pub converted: u64,
    pub unsubscribed: u64,
    /// What the messages sent cost (each its provider's price), in `COST_CURRENCY`.
    pub cost: Amount,
    pub rates: Rates,
}

/// The seed's rates; `null` while the denominator is 0.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Rates {
    /// sent / attempted
    pub send_success: Option<f64>,
    /// delivered / sent
    pub delivery: Option<f64>,
    /// opened / delivered
    pub open: Option<f64>,
    /// clicked / delivered
    pub click: Option<f64>,
    /// clicked / opened
    pub click_to_open: Option<f64>,
    /// converted / delivered
    pub conversion: Option<f64>,
}

fn ratio(n: u64, d: u64) -> Option<f64> {
    (d > 0).then(|| n as f64 / d as f64)
}

impl Figures {
    fn new(execution_id: Option<Uuid>, variant: Option<String>, c: Counts) -> Self {
        // The counters already count an open or click as delivery (and a click as an open);
        // the max keeps the funnel monotone for figures counted before they did.
        let delivered = c.delivered.max(c.opened).max(c.clicked);
        let opened = c.opened.max(c.clicked);
        let attempted = c.sent + c.send_failed;
        Figures {
            channel: None,
            execution_id,
            variant,
            planned: c.planned,
            attempted,
            sent: c.sent,
            failed: c.send_failed + c.delivery_failed,
            delivered,
            opened,
            clicked: c.clicked,
            converted: c.converted,
            unsubscribed: c.unsubscribed,
            cost: Amount::from_micros(c.cost_micros),
            rates: Rates {
                send_success: ratio(c.sent, attempted),
                delivery: ratio(delivered, c.sent),
                open: ratio(opened, delivered),
                click: ratio(c.clicked, delivered),
                click_to_open: ratio(c.clicked, opened),
                conversion: ratio(c.converted, delivered),
            },
        }
    }
}

/// A campaign's statistics: totals, per execution and, for A/B tests, per variant.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CampaignStats {
    pub campaign_id: Uuid,
    pub channel: Channel,
    /// The currency of every cost.
    pub currency: String,
    /// The campaign's spend cap, and what is left of it (the cost of the messages sent and
    /// being sent deducted); `null` without a cap.
    pub spend_cap: Option<Amount>,
    pub spend_cap_left: Option<Amount>,
    pub totals: Figures,
    pub by_execution: Vec<Figures>,
    pub by_variant: Vec<Figures>,
}

/// Every campaign's counters by channel; `$1` only executions triggered since then (or all).
const CHANNEL_STATS_SQL: &str = "
SELECT s.channel, sum(s.planned)::bigint AS planned, sum(s.sent)::bigint AS sent,
       sum(s.send_failed)::bigint AS send_failed, sum(s.delivered)::bigint AS delivered,
       sum(s.delivery_failed)::bigint AS delivery_failed, sum(s.opened)::bigint AS opened,
       sum(s.clicked)::bigint AS clicked, sum(s.converted)::bigint AS converted,
       sum(s.unsubscribed)::bigint AS unsubscribed, sum(s.cost_micros)::bigint AS cost_micros
FROM campaign_stats s
JOIN campaign_executions e ON e.id = s.execution_id
WHERE $1::timestamptz IS NULL OR e.created_at >= $1
GROUP BY s.channel
ORDER BY s.channel";

#[derive(QueryableByName)]
struct ChannelRow {
    #[diesel(sql_type = Text)]
    channel: Channel,
    #[diesel(embed)]
    counts: CounterColumns,
}

impl MarketingService {
    /// Figures of every campaign by channel, for executions triggered since `since` (or all).
    pub async fn channel_stats(
        &self,
        since: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<Vec<Figures>> {
        let mut conn = self.pool.get().await?;
        let rows: Vec<ChannelRow> = diesel::sql_query(CHANNEL_STATS_SQL)
            .bind::<diesel::sql_types::Nullable<diesel::sql_types::Timestamptz>, _>(since)
            .load(&mut conn)
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let counts = Counts::from(&r.counts);
                Figures {
                    channel: Some(r.channel),
                    ..Figures::new(None, None, counts)
                }
            })
            .collect())
    }

    pub async fn campaign_stats(&self, id: Uuid) -> Result<CampaignStats> {
        let mut conn = self.pool.get().await?;
        let campaign = super::campaigns::find(&mut conn, id).await?;
        let rows: Vec<Row> = diesel::sql_query(STATS_SQL)
            .bind::<SqlUuid, _>(id)
            .load(&mut conn)
            .await?;
        let mut total = Counts::default();
        let mut executions: Vec<(Uuid, Counts)> = Vec::new();
        let mut variants: Vec<(String, Counts)> = Vec::new();
        for r in &rows {
            let c = Counts::from(&r.counts);
            total += c;
            match executions.iter_mut().find(|(e, _)| *e == r.execution_id) {
                Some((_, sum)) => *sum += c,
                None => executions.push((r.execution_id, c)),
            }
            if !r.variant.is_empty() {
                match variants.iter_mut().find(|(v, _)| *v == r.variant) {
                    Some((_, sum)) => *sum += c,
                    None => variants.push((r.variant.clone(), c)),
                }
            }
        }
        variants.sort_by(|a, b| a.0.cmp(&b.0));
        let spend_cap = campaign.spend_cap_micros.map(Amount::from_micros);
        let spend_cap_left = match spend_cap {
            Some(cap) => {
                let spent = super::cost::spent(&mut conn, id).await?;
                Some(Amount::from_micros(cap.micros() - spent.micros()))
            }
            None => None,
        };
        Ok(CampaignStats {
            campaign_id: id,
            channel: campaign.type_,
            currency: self.settings.pricing.currency.to_string(),
            spend_cap,
            spend_cap_left,
            totals: Figures::new(None, None, total),
            by_execution: executions
                .into_iter()
                .map(|(e, c)| Figures::new(Some(e), None, c))
                .collect(),
            by_variant: variants
                .into_iter()
                .map(|(v, c)| Figures::new(None, Some(v), c))
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_follow_the_seed() {
        let f = Figures::new(
            None,
            None,
            Counts {
                planned: 100,
                sent: 80,
                send_failed: 20,
                delivered: 60,
                delivery_failed: 5,
                opened: 30,
                clicked: 15,
                converted: 6,
                unsubscribed: 1,
                cost_micros: 4_500_000,
            },
        );
        assert_eq!(f.attempted, 100);
        assert_eq!(f.failed, 25);
        assert_eq!(f.rates.send_success, Some(0.8));
        assert_eq!(f.rates.delivery, Some(0.75));
        assert_eq!(f.rates.open, Some(0.5));
        assert_eq!(f.rates.click, Some(0.25));
        assert_eq!(f.rates.click_to_open, Some(0.5));
        assert_eq!(f.rates.conversion, Some(0.1));
        assert_eq!(f.cost.to_string(), "4.5");
        let empty = Figures::new(
            None,
            None,
            Counts {
                planned: 10,
                ..Default::default()
            },
        );
        assert_eq!(empty.rates, Rates::default());
    }

    #[test]
    fn clicks_imply_opens_and_deliveries() {
        let f = Figures::new(
            None,
            None,
            Counts {
                sent: 10,
                clicked: 2,
                ..Default::default()
            },
        );
        assert_eq!((f.delivered, f.opened, f.clicked), (2, 2, 2));
        assert_eq!(f.rates.click_to_open, Some(1.0));
    }
}

/// A campaign's figures hour by hour (`$2` ≤ hour < `$3`): the rows of each hour summed, rolled
/// up or not.
const HOURLY_SQL: &str = "
SELECT hour, sum(sent)::bigint AS sent, sum(send_failed)::bigint AS send_failed,
       sum(delivered)::bigint AS delivered, sum(delivery_failed)::bigint AS delivery_failed,
       sum(opened)::bigint AS opened, sum(clicked)::bigint AS clicked,
       sum(converted)::bigint AS converted, sum(unsubscribed)::bigint AS unsubscribed
FROM campaign_stats_hourly
WHERE campaign_id = $1 AND hour >= $2 AND hour < $3
GROUP BY hour
ORDER BY hour";

/// The longest span one hourly read covers.
pub const MAX_HOURLY_SPAN_DAYS: i64 = 366;

/// What happened in one hour (UTC, the hour's start): messages sent and not sent, delivered and
/// bounced, opened, clicked, converted and unsubscribed then. Counted as the totals count (a
/// click of an unopened message also counts as opened), each in the hour it happened: a
/// campaign's hours add up to its totals.
#[derive(Debug, Clone, Serialize, QueryableByName, utoipa::ToSchema)]
pub struct Hour {
    #[diesel(sql_type = diesel::sql_types::Timestamptz)]
    pub hour: chrono::DateTime<chrono::Utc>,
    #[diesel(sql_type = BigInt)]
    pub sent: i64,
    #[diesel(sql_type = BigInt)]
    pub send_failed: i64,
    #[diesel(sql_type = BigInt)]
    pub delivered: i64,
    #[diesel(sql_type = BigInt)]
    pub delivery_failed: i64,
    #[diesel(sql_type = BigInt)]
    pub opened: i64,
    #[diesel(sql_type = BigInt)]
    pub clicked: i64,
    #[diesel(sql_type = BigInt)]
    pub converted: i64,
    #[diesel(sql_type = BigInt)]
    pub unsubscribed: i64,
}

/// A campaign's hours with figures, oldest first (hours where nothing happened are left out).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct HourlyStats {
    pub campaign_id: Uuid,
    pub since: chrono::DateTime<chrono::Utc>,
    pub until: chrono::DateTime<chrono::Utc>,
    pub hours: Vec<Hour>,
}

impl MarketingService {
    /// The campaign's figures per hour from `since` (default: its creation, at most
    /// [`MAX_HOURLY_SPAN_DAYS`] before `until`) to `until` (default: now), read from the hourly
    /// counters, never from records.
    pub async fn campaign_hourly_stats(
        &self,
        id: Uuid,
        since: Option<chrono::DateTime<chrono::Utc>>,
        until: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<HourlyStats> {
        use chrono::{DurationRound as _, TimeDelta};
        let mut conn = self.pool.get().await?;
        let campaign = super::campaigns::find(&mut conn, id).await?;
        let hour = TimeDelta::hours(1);
        let span = TimeDelta::days(MAX_HOURLY_SPAN_DAYS);
        let until = until.unwrap_or_else(chrono::Utc::now);
        let since = since.unwrap_or_else(|| campaign.created_at.max(until - span));
        if since >= until {
            return Err(crate::error::Error::invalid(
                "since",
                "must be before `until`",
            ));
        }
        if until - since > span {
            return Err(crate::error::Error::invalid(
                "since",
                format!("is more than {MAX_HOURLY_SPAN_DAYS} days before `until`"),
            ));
        }
        // Whole hours: the one `since` falls in, up to the one `until` falls in.
        let since = since.duration_trunc(hour).unwrap_or(since);
        let end = until.duration_trunc(hour).map_or(until, |h| h + hour);
        let hours: Vec<Hour> = diesel::sql_query(HOURLY_SQL)
            .bind::<SqlUuid, _>(id)
            .bind::<diesel::sql_types::Timestamptz, _>(since)
            .bind::<diesel::sql_types::Timestamptz, _>(end)
            .load(&mut conn)
            .await?;
        Ok(HourlyStats {
            campaign_id: id,
            since,
            until: end,
            hours,
        })
    }
}
