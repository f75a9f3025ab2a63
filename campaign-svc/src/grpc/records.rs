//! crm.marketing.v1.RecordService.

use crm_proto::v1 as pb;
use crm_proto::v1::record_service_server::RecordService;
use tonic::{Request, Response, Status};

use super::GrpcApi;
use super::convert::{json_to_value, next_page_token, opt_timestamp, page_request, page_token};
use crate::domain::{parse_uuid, parse_word};
use crate::error::Error;
use crate::service::records::{MAX_RECORD_PAGE, Record, RecordFilter, RecordPaging};

fn to_pb(r: Record) -> pb::Record {
    pb::Record {
        id: r.id.to_string(),
        campaign_id: r.campaign_id.to_string(),
        customer_id: r.customer_id.to_string(),
        channel: r.channel.as_str().to_owned(),
        status: r.status.as_str().to_owned(),
        error_message: r.error_message,
        response: r.response.map(json_to_value),
        sent_at: opt_timestamp(r.sent_at),
        delivered_at: opt_timestamp(r.delivered_at),
        opened_at: opt_timestamp(r.opened_at),
        clicked_at: opt_timestamp(r.clicked_at),
        execution_id: r.execution_id.to_string(),
        variant: r.variant,
        not_before: opt_timestamp(r.not_before),
        event_id: r.event_id,
        provider: r.provider,
        journey_id: r.journey_id.map(|j| j.to_string()),
        journey_step: r.journey_step,
        cost: r.cost.map(|c| c.to_string()),
    }
}

#[tonic::async_trait]
impl RecordService for GrpcApi {
    async fn list_records(
        &self,
        req: Request<pb::ListRecordsRequest>,
    ) -> Result<Response<pb::ListRecordsResponse>, Status> {
        let r = req.into_inner();
        let non_empty = |s: Option<String>| s.filter(|s| !s.is_empty());
        let filter = RecordFilter {
            campaign_id: non_empty(Some(r.campaign_id))
                .map(|s| parse_uuid("campaign_id", &s))
                .transpose()?,
            customer_id: non_empty(r.customer_id)
                .map(|s| parse_uuid("customer_id", &s))
                .transpose()?,
            status: non_empty(r.status)
                .map(|s| parse_word("status", &s))
                .transpose()?,
            channel: non_empty(r.channel)
                .map(|s| parse_word("channel", &s))
                .transpose()?,
        };
        let page = page_request(r.page, r.page_size, MAX_RECORD_PAGE)?;
        let paging = match r.page_token {
            None => RecordPaging::Numbered(page),
            Some(_) if r.page != 0 => {
                return Err(Error::invalid(
                    "page_token",
                    "pages by token: it cannot be combined with `page`",
                )
                .into());
            }
            Some(token) => RecordPaging::After {
                after: page_token(&token)?,
                limit: page.page_size,
            },
        };
        let slice = self.service.list_records(filter, paging).await?;
        Ok(Response::new(pb::ListRecordsResponse {
            pagination: slice.counted.map(|(total, page)| pb::Pagination {
                total,
                page: page.page,
                page_size: page.page_size,
            }),
            records: slice.records.into_iter().map(to_pb).collect(),
            next_page_token: next_page_token(slice.next),
        }))
    }
}
