//! Delivery records of a campaign or of a customer, read side.

use std::collections::HashMap;

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use marketing_core::models::RecordRow;
use marketing_core::schema::marketing_campaign::dsl as cs;
use marketing_core::schema::marketing_record::dsl as mr;
use marketing_core::vocabulary::{Channel, RecordStatus};
use serde::Serialize;
use uuid::Uuid;

use super::MarketingService;
use super::campaigns::find;
use crate::domain::PageRequest;
use crate::domain::trigger::CampaignTrigger;
use crate::error::{Error, Result};

/// Largest page of records.
pub const MAX_RECORD_PAGE: u32 = 500;

/// Filters of a record listing: a campaign's records, or a customer's (in every campaign), or
/// both; one of the two is required.
#[derive(Debug, Clone)]
pub struct RecordFilter {
    pub campaign_id: Option<Uuid>,
    pub customer_id: Option<Uuid>,
    pub status: Option<RecordStatus>,
    pub channel: Option<Channel>,
}

/// A record as both APIs return it (the seed's shape plus delivery details).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Record {
    pub id: Uuid,
    pub campaign_id: Uuid,
    pub execution_id: Uuid,
    pub customer_id: Uuid,
    pub channel: Channel,
    pub status: RecordStatus,
    pub error_message: Option<String>,
    pub response: Option<serde_json::Value>,
    pub sent_at: Option<chrono::DateTime<chrono::Utc>>,
    pub delivered_at: Option<chrono::DateTime<chrono::Utc>>,
    pub opened_at: Option<chrono::DateTime<chrono::Utc>>,
    pub clicked_at: Option<chrono::DateTime<chrono::Utc>>,
    /// The A/B variant the customer got, when the campaign has variants.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// A waiting message (local send time, quiet hours, an event's delay) leaves at this
    /// instant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_before: Option<chrono::DateTime<chrono::Utc>>,
    /// The customer event that made this record (event-triggered campaigns).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    /// The provider that took (or refused) the message (`aliyun`, `http`, `http-secondary`, …):
    /// with a secondary provider, a channel's records may be split between two.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// A journey's message: the journey and its send step (`event_id` then names the walk).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub journey_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub journey_step: Option<String>,
    /// What sending it cost: the price of the provider that sent it, in `COST_CURRENCY`
    /// (decimal text); absent while not sent and for messages never sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost: Option<marketing_core::cost::Amount>,
}

impl From<RecordRow> for Record {
    fn from(r: RecordRow) -> Self {
        Record {
            id: r.id,
            campaign_id: r.campaign_id,
            execution_id: r.execution_id,
            customer_id: r.customer_id,
            channel: r.channel,
            status: r.status,
            error_message: r.error_message,
            response: r.response,
            sent_at: r.sent_at,
            delivered_at: r.delivered_at,
            opened_at: r.opened_at,
            clicked_at: r.clicked_at,
            variant: r.variant,
            not_before: r.not_before,
            event_id: r.event_id,
            provider: r.provider,
            journey_id: None,
            journey_step: None,
            cost: r.cost_micros.map(marketing_core::cost::Amount::from_micros),
        }
    }
}

/// Where a listing of records starts.
#[derive(Debug, Clone, Copy)]
pub enum RecordPaging {
    /// A numbered page, counted (`total`).
    Numbered(PageRequest),
    /// The records after a cursor (the `next` of the page before; none: the first page), not
    /// counted: the way through a large campaign while its records change.
    After { after: Option<Uuid>, limit: u32 },
}

/// A page of records and where the next one starts.
#[derive(Debug, Clone)]
pub struct RecordSlice {
    pub records: Vec<Record>,
    /// Numbered pages only: the matching records and the page.
    pub counted: Option<(u64, PageRequest)>,
    /// The cursor of the following page (its records come after this id); none on the last.
    pub next: Option<Uuid>,
}

impl MarketingService {
    /// Records in creation order (ids are time-ordered UUIDv7), so paging is stable: by number,
    /// or after a cursor, which never repeats or skips a record while others are written or
    /// change status (a status filter follows the status, though).
    pub async fn list_records(
        &self,
        filter: RecordFilter,
        paging: RecordPaging,
    ) -> Result<RecordSlice> {
        if filter.campaign_id.is_none() && filter.customer_id.is_none() {
            return Err(Error::invalid(
                "campaign_id",
                "is required (or customer_id, for one customer's records in every campaign)",
            ));
        }
        let mut conn = self.pool.get().await?;
        if let Some(id) = filter.campaign_id {
            // An unknown campaign is 404, not an empty page.
            find(&mut conn, id).await?;
        }
        let query = || {
            let mut q = mr::marketing_record.into_boxed();
            if let Some(c) = filter.campaign_id {
                q = q.filter(mr::campaign_id.eq(c));
            }
            if let Some(c) = filter.customer_id {
                q = q.filter(mr::customer_id.eq(c));
            }
            if let Some(s) = filter.status {
                q = q.filter(mr::status.eq(s));
            }
            if let Some(ch) = filter.channel {
                q = q.filter(mr::channel.eq(ch));
            }
            q
        };
        let (rows, counted, more) = match paging {
            RecordPaging::Numbered(page) => {
                let total: i64 = query().count().get_result(&mut conn).await?;
                let rows: Vec<RecordRow> = query()
                    .order(mr::id.asc())
                    .limit(page.limit())
                    .offset(page.offset())
                    .select(RecordRow::as_select())
                    .load(&mut conn)
                    .await?;
                let more = page.offset() + (rows.len() as i64) < total;
                (rows, Some((total.max(0) as u64, page)), more)
            }
            RecordPaging::After { after, limit } => {
                let mut q = query();
                if let Some(after) = after {
                    q = q.filter(mr::id.gt(after));
                }
                let mut rows: Vec<RecordRow> = q
                    .order(mr::id.asc())
                    .limit(i64::from(limit) + 1)
                    .select(RecordRow::as_select())
                    .load(&mut conn)
                    .await?;
                let more = rows.len() > limit as usize;
                rows.truncate(limit as usize);
                (rows, None, more)
            }
        };
        // A journey's messages name the journey and step their campaign was made for.
        let mut campaign_ids: Vec<Uuid> = rows.iter().map(|r| r.campaign_id).collect();
        campaign_ids.sort_unstable();
        campaign_ids.dedup();
        let triggers: Vec<(Uuid, serde_json::Value)> = cs::marketing_campaign
            .filter(cs::id.eq_any(&campaign_ids))
            .select((cs::id, cs::trigger))
            .load(&mut conn)
            .await?;
        let mut journeys = HashMap::new();
        for (id, trigger) in triggers {
            if let CampaignTrigger::Journey(j) = CampaignTrigger::stored(&trigger)? {
                journeys.insert(id, j);
            }
        }
        let next = if more {
            rows.last().map(|r| r.id)
        } else {
            None
        };
        Ok(RecordSlice {
            records: rows
                .into_iter()
                .map(|r| {
                    let mut r = Record::from(r);
                    if let Some(j) = journeys.get(&r.campaign_id) {
                        r.journey_id = Some(j.journey_id);
                        r.journey_step = Some(j.step.clone());
                    }
                    r
                })
                .collect(),
            counted,
            next,
        })
    }
}
