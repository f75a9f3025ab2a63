//! Executions over gRPC: conversions and the campaign's list (the handlers live with
//! `CampaignService` in `campaigns.rs`).

use crm_proto::v1 as pb;

use crate::service::cost::CostEstimate;

use super::campaign_fields::sample_to_pb;
use super::convert::{opt_timestamp, page_request, pagination, timestamp};
use crate::domain::execution::{Execution, Progress, Sample};
use crate::domain::parse_uuid;
use crate::error::Result;
use crate::service::MarketingService;
use crate::service::trigger::MAX_EXECUTION_PAGE;

pub(super) fn progress_to_pb(p: Progress) -> pb::ExecutionProgress {
    pb::ExecutionProgress {
        execution_id: p.execution_id.to_string(),
        campaign_id: p.campaign_id.to_string(),
        status: p.status.as_str().to_owned(),
        planned: p.planned.max(0) as u64,
        frozen: p.frozen,
        published: p.published.max(0) as u64,
        sent: p.sent.max(0) as u64,
        failed: p.failed.max(0) as u64,
        remaining: p.remaining.max(0) as u64,
        percent: p.percent,
        rate_per_second: p.rate_per_second,
        eta_seconds: p.eta_seconds,
    }
}

pub(super) fn to_pb(e: Execution) -> pb::Execution {
    let p = e.progress(chrono::Utc::now(), None);
    let skipped = match e.skipped {
        serde_json::Value::Object(m) => m
            .into_iter()
            .map(|(k, v)| (k, v.as_u64().unwrap_or(0)))
            .collect(),
        _ => Default::default(),
    };
    let samples: Vec<Sample> = serde_json::from_value(e.samples).unwrap_or_default();
    pb::Execution {
        id: e.id.to_string(),
        campaign_id: e.campaign_id.to_string(),
        execution_type: e.execution_type.as_str().to_owned(),
        status: e.status.as_str().to_owned(),
        planned: e.planned as u64,
        skipped,
        samples: samples.into_iter().map(sample_to_pb).collect(),
        published: e.published_count as u64,
        created_at: Some(timestamp(e.created_at)),
        finished_at: opt_timestamp(e.finished_at),
        occurrence: opt_timestamp(e.occurrence),
        frozen: p.frozen,
        sent: p.sent.max(0) as u64,
        failed: p.failed.max(0) as u64,
        remaining: p.remaining.max(0) as u64,
        percent: p.percent,
        rate_per_second: p.rate_per_second,
        eta_seconds: p.eta_seconds,
        cost_estimate: e
            .cost_estimate
            .and_then(|v| serde_json::from_value::<CostEstimate>(v).ok())
            .map(|c| pb::CostEstimate {
                currency: c.currency,
                provider: c.provider,
                price: c.price,
                messages: c.messages,
                cost: c.cost,
                spend_cap: c.spend_cap,
                spend_cap_left: c.spend_cap_left,
                messages_within_cap: c.messages_within_cap,
            }),
    }
}

pub(super) async fn list(
    service: &MarketingService,
    r: pb::ListExecutionsRequest,
) -> Result<pb::ListExecutionsResponse> {
    let id = parse_uuid("campaign_id", &r.campaign_id)?;
    let page = page_request(r.page, r.page_size, MAX_EXECUTION_PAGE)?;
    let page = service.list_executions(id, page).await?;
    Ok(pb::ListExecutionsResponse {
        pagination: Some(pagination(&page)),
        executions: page.items.into_iter().map(to_pb).collect(),
    })
}
