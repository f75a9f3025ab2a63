//! Campaign statistics: counts and the seed's rates, in total and per A/B variant.
//!
//! Counted from the campaign's records (one grouped scan of its `(campaign_id, id)` range).
//! Statuses only move forward, and a later stage implies the earlier ones: a click counts as
//! opened and delivered, an open as delivered.

use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Nullable, Text, Uuid as SqlUuid};
use diesel_async::RunQueryDsl;
use serde::Serialize;
use uuid::Uuid;

use super::MarketingService;
use crate::error::Result;

const STATS_SQL: &str = "
SELECT variant,
       count(*) AS planned,
       count(*) FILTER (WHERE status IN ('sent', 'delivered', 'opened', 'clicked')) AS sent,
       count(*) FILTER (WHERE status = 'failed') AS failed,
       count(*) FILTER (WHERE delivered_at IS NOT NULL OR opened_at IS NOT NULL
                          OR clicked_at IS NOT NULL) AS delivered,
       count(*) FILTER (WHERE opened_at IS NOT NULL OR clicked_at IS NOT NULL) AS opened,
       count(*) FILTER (WHERE clicked_at IS NOT NULL) AS clicked
FROM marketing_record
WHERE campaign_id = $1
GROUP BY variant
ORDER BY variant NULLS FIRST";

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = Nullable<Text>)]
    variant: Option<String>,
    #[diesel(sql_type = BigInt)]
    planned: i64,
    #[diesel(sql_type = BigInt)]
    sent: i64,
    #[diesel(sql_type = BigInt)]
    failed: i64,
    #[diesel(sql_type = BigInt)]
    delivered: i64,
    #[diesel(sql_type = BigInt)]
    opened: i64,
    #[diesel(sql_type = BigInt)]
    clicked: i64,
}

/// Counts and rates of a campaign or of one of its variants.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Figures {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    pub planned: u64,
    /// Sent or failed: the provider was asked (or the send was refused at send time).
    pub attempted: u64,
    pub sent: u64,
    pub failed: u64,
    pub delivered: u64,
    pub opened: u64,
    pub clicked: u64,
    pub rates: Rates,
}

/// The seed's rates; `null` while the denominator is 0.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
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
}

fn ratio(n: u64, d: u64) -> Option<f64> {
    (d > 0).then(|| n as f64 / d as f64)
}

impl Figures {
    fn new(
        variant: Option<String>,
        planned: u64,
        sent: u64,
        failed: u64,
        delivered: u64,
        opened: u64,
        clicked: u64,
    ) -> Self {
        let attempted = sent + failed;
        Figures {
            variant,
            planned,
            attempted,
            sent,
            failed,
            delivered,
            opened,
            clicked,
            rates: Rates {
                send_success: ratio(sent, attempted),
                delivery: ratio(delivered, sent),
                open: ratio(opened, delivered),
                click: ratio(clicked, delivered),
                click_to_open: ratio(clicked, opened),
            },
        }
    }
}

/// A campaign's statistics: totals and, for A/B tests, one entry per variant.
#[derive(Debug, Clone, Serialize)]
pub struct CampaignStats {
    pub campaign_id: Uuid,
    pub channel: String,
    pub totals: Figures,
    pub by_variant: Vec<Figures>,
}

impl MarketingService {
    pub async fn campaign_stats(&self, id: Uuid) -> Result<CampaignStats> {
        let mut conn = self.pool.get().await?;
        let campaign = super::campaigns::find(&mut conn, id).await?;
        let rows: Vec<Row> = diesel::sql_query(STATS_SQL)
            .bind::<SqlUuid, _>(id)
            .load(&mut conn)
            .await?;
        let mut sum = [0u64; 6];
        let mut by_variant = Vec::new();
        for r in rows {
            let v = [
                r.planned,
                r.sent,
                r.failed,
                r.delivered,
                r.opened,
                r.clicked,
            ]
            .map(|n| n as u64);
            for (s, n) in sum.iter_mut().zip(v) {
                *s += n;
            }
            if r.variant.is_some() {
                by_variant.push(Figures::new(r.variant, v[0], v[1], v[2], v[3], v[4], v[5]));
            }
        }
        Ok(CampaignStats {
            campaign_id: id,
            channel: campaign.type_,
            totals: Figures::new(None, sum[0], sum[1], sum[2], sum[3], sum[4], sum[5]),
            by_variant,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_follow_the_seed() {
        let f = Figures::new(None, 100, 80, 20, 60, 30, 15);
        assert_eq!(f.attempted, 100);
        assert_eq!(f.rates.send_success, Some(0.8));
        assert_eq!(f.rates.delivery, Some(0.75));
        assert_eq!(f.rates.open, Some(0.5));
        assert_eq!(f.rates.click, Some(0.25));
        assert_eq!(f.rates.click_to_open, Some(0.5));
        let empty = Figures::new(None, 10, 0, 0, 0, 0, 0);
        assert_eq!(empty.rates, Rates::default());
    }
}
