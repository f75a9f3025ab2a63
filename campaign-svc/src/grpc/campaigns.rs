//! crm.marketing.v1.CampaignService.

use crm_proto::v1 as pb;
use crm_proto::v1::campaign_service_server::CampaignService;
use tonic::{Request, Response, Status};

use super::campaign_fields::{
    opt_time, opt_uuid, quiet_json, sample_to_pb, to_pb, trigger_json, update_fields,
    variant_fields,
};
use super::convert::{page_request, pagination, timestamp};
use super::{GrpcApi, caller};
use crate::domain::IfMatch;
use crate::domain::campaign::{CampaignFields, CampaignFilter, CampaignPatch, NewCampaign};
use crate::domain::{parse_uuid, parse_word};
use crate::error::Result;
use crate::service::campaigns::MAX_CAMPAIGN_PAGE;
use crate::service::preview::PreviewTarget;
use crate::service::stats::Figures;
use marketing_core::vocabulary::ExecutionType;

/// The stream `WatchExecution` answers with.
pub type ProgressStream = std::pin::Pin<
    Box<dyn futures::Stream<Item = std::result::Result<pb::ExecutionProgress, Status>> + Send>,
>;

#[tonic::async_trait]
impl CampaignService for GrpcApi {
    type WatchExecutionStream = ProgressStream;

    async fn watch_execution(
        &self,
        req: Request<pb::GetExecutionRequest>,
    ) -> Result<Response<Self::WatchExecutionStream>, Status> {
        use futures::StreamExt as _;
        let id = parse_uuid("id", &req.into_inner().id)?;
        let stream = self.service.watch_execution(id).await?.map(|p| {
            p.map(super::executions::progress_to_pb)
                .map_err(Status::from)
        });
        Ok(Response::new(Box::pin(stream)))
    }

    async fn create_campaign(
        &self,
        req: Request<pb::CreateCampaignRequest>,
    ) -> Result<Response<pb::Campaign>, Status> {
        let caller = caller(&req)?;
        let r = req.into_inner();
        let new = NewCampaign::parse(
            CampaignFields {
                name: Some(r.name),
                channel: Some(r.r#type),
                target_tags: Some(r.target_tags),
                target_segment_id: Some(opt_uuid("target_segment_id", r.target_segment_id)?),
                content_template_id: Some(opt_uuid("content_template_id", r.content_template_id)?),
                content: Some(r.content),
                variants: Some(variant_fields(r.variants)?),
                start_time: Some(opt_time("start_time", r.start_time)?),
                end_time: Some(opt_time("end_time", r.end_time)?),
                trigger: r.trigger.map(trigger_json),
                send_at_local: Some(r.send_at_local),
                time_zone: Some(r.time_zone),
                quiet_hours: Some(r.quiet_hours.map(quiet_json)),
                spend_cap: Some(r.spend_cap.filter(|s| !s.is_empty())),
            },
            self.service.settings().min_recurrence_secs,
        )?;
        let c = self.service.create_campaign(caller, new).await?;
        Ok(Response::new(to_pb(c)))
    }

    async fn list_campaigns(
        &self,
        req: Request<pb::ListCampaignsRequest>,
    ) -> Result<Response<pb::ListCampaignsResponse>, Status> {
        let r = req.into_inner();
        let non_empty = |s: Option<String>| s.filter(|s| !s.is_empty());
        let filter = CampaignFilter {
            status: non_empty(r.status)
                .map(|s| parse_word("status", &s))
                .transpose()?,
            channel: non_empty(r.r#type)
                .map(|s| parse_word("type", &s))
                .transpose()?,
            name: non_empty(r.name),
        };
        let page = page_request(r.page, r.page_size, MAX_CAMPAIGN_PAGE)?;
        let page = self.service.list_campaigns(filter, page).await?;
        Ok(Response::new(pb::ListCampaignsResponse {
            pagination: Some(pagination(&page)),
            campaigns: page.items.into_iter().map(to_pb).collect(),
        }))
    }

    async fn get_campaign(
        &self,
        req: Request<pb::GetCampaignRequest>,
    ) -> Result<Response<pb::Campaign>, Status> {
        let id = parse_uuid("id", &req.into_inner().id)?;
        Ok(Response::new(to_pb(self.service.get_campaign(id).await?)))
    }

    async fn update_campaign(
        &self,
        req: Request<pb::UpdateCampaignRequest>,
    ) -> Result<Response<pb::Campaign>, Status> {
        let caller = caller(&req)?;
        let r = req.into_inner();
        let id = parse_uuid("id", &r.id)?;
        let min_recurrence = self.service.settings().min_recurrence_secs;
        let patch = CampaignPatch::parse(update_fields(r)?, min_recurrence)?;
        Ok(Response::new(to_pb(
            self.service
                .update_campaign(caller, id, patch, &IfMatch::none())
                .await?,
        )))
    }

    async fn trigger_campaign(
        &self,
        req: Request<pb::TriggerCampaignRequest>,
    ) -> Result<Response<pb::TriggerCampaignResponse>, Status> {
        let caller = caller(&req)?;
        let r = req.into_inner();
        let id = parse_uuid("id", &r.id)?;
        let kind = match r.execution_type.as_str() {
            "" => ExecutionType::Actual,
            t => parse_word("execution_type", t)?,
        };
        let outcome = self
            .service
            .trigger_campaign(Some(caller.id), id, kind)
            .await?;
        Ok(Response::new(pb::TriggerCampaignResponse {
            status: outcome.status().to_owned(),
            message: outcome.message(),
            execution_id: outcome.execution_id.to_string(),
        }))
    }

    async fn get_execution(
        &self,
        req: Request<pb::GetExecutionRequest>,
    ) -> Result<Response<pb::Execution>, Status> {
        let id = parse_uuid("id", &req.into_inner().id)?;
        let e = self.service.get_execution(id).await?;
        Ok(Response::new(super::executions::to_pb(e)))
    }

    async fn list_executions(
        &self,
        req: Request<pb::ListExecutionsRequest>,
    ) -> Result<Response<pb::ListExecutionsResponse>, Status> {
        Ok(Response::new(
            super::executions::list(&self.service, req.into_inner()).await?,
        ))
    }

    async fn pause_campaign(
        &self,
        req: Request<pb::PauseCampaignRequest>,
    ) -> Result<Response<pb::Campaign>, Status> {
        let caller = caller(&req)?;
        let id = parse_uuid("id", &req.into_inner().id)?;
        Ok(Response::new(to_pb(
            self.service.pause_campaign(caller, id).await?,
        )))
    }

    async fn resume_campaign(
        &self,
        req: Request<pb::ResumeCampaignRequest>,
    ) -> Result<Response<pb::Campaign>, Status> {
        let caller = caller(&req)?;
        let id = parse_uuid("id", &req.into_inner().id)?;
        Ok(Response::new(to_pb(
            self.service.resume_campaign(caller, id).await?,
        )))
    }

    async fn preview_campaign(
        &self,
        req: Request<pb::PreviewCampaignRequest>,
    ) -> Result<Response<pb::PreviewCampaignResponse>, Status> {
        let r = req.into_inner();
        let id = parse_uuid("id", &r.id)?;
        let customer = opt_uuid("customer_id", r.customer_id)?;
        let limit = (r.limit != 0 && customer.is_none()).then_some(i64::from(r.limit));
        let target = PreviewTarget::parse(customer, limit)?;
        let previews = self.service.preview_campaign(id, target).await?;
        Ok(Response::new(pb::PreviewCampaignResponse {
            previews: previews.into_iter().map(sample_to_pb).collect(),
        }))
    }

    async fn get_campaign_stats(
        &self,
        req: Request<pb::GetCampaignStatsRequest>,
    ) -> Result<Response<pb::CampaignStats>, Status> {
        let id = parse_uuid("id", &req.into_inner().id)?;
        let s = self.service.campaign_stats(id).await?;
        Ok(Response::new(pb::CampaignStats {
            campaign_id: s.campaign_id.to_string(),
            channel: s.channel.as_str().to_owned(),
            currency: s.currency,
            spend_cap: s.spend_cap.map(|a| a.to_string()),
            spend_cap_left: s.spend_cap_left.map(|a| a.to_string()),
            totals: Some(figures_to_pb(s.totals)),
            by_variant: s.by_variant.into_iter().map(figures_to_pb).collect(),
            by_execution: s.by_execution.into_iter().map(figures_to_pb).collect(),
        }))
    }

    async fn get_campaign_hourly_stats(
        &self,
        req: Request<pb::GetCampaignHourlyStatsRequest>,
    ) -> Result<Response<pb::CampaignHourlyStats>, Status> {
        let r = req.into_inner();
        let id = parse_uuid("id", &r.id)?;
        let since = opt_time("since", r.since)?;
        let until = opt_time("until", r.until)?;
        let s = self.service.campaign_hourly_stats(id, since, until).await?;
        Ok(Response::new(pb::CampaignHourlyStats {
            campaign_id: s.campaign_id.to_string(),
            since: Some(timestamp(s.since)),
            until: Some(timestamp(s.until)),
            hours: s
                .hours
                .into_iter()
                .map(|h| pb::HourFigures {
                    hour: Some(timestamp(h.hour)),
                    sent: h.sent,
                    send_failed: h.send_failed,
                    delivered: h.delivered,
                    delivery_failed: h.delivery_failed,
                    opened: h.opened,
                    clicked: h.clicked,
                    converted: h.converted,
                    unsubscribed: h.unsubscribed,
                })
                .collect(),
        }))
    }

    async fn get_channel_stats(
        &self,
        req: Request<pb::GetChannelStatsRequest>,
    ) -> Result<Response<pb::ChannelStats>, Status> {
        let since = opt_time("since", req.into_inner().since)?;
        let by_channel = self.service.channel_stats(since).await?;
        Ok(Response::new(pb::ChannelStats {
            by_channel: by_channel.into_iter().map(figures_to_pb).collect(),
            currency: self.service.settings().pricing.currency.to_string(),
        }))
    }

    async fn archive_campaign(
        &self,
        req: Request<pb::ArchiveCampaignRequest>,
    ) -> Result<Response<pb::Campaign>, Status> {
        let caller = caller(&req)?;
        let id = parse_uuid("id", &req.into_inner().id)?;
        Ok(Response::new(to_pb(
            self.service.archive_campaign(caller, id).await?,
        )))
    }
}

fn figures_to_pb(f: Figures) -> pb::StatsFigures {
    pb::StatsFigures {
        variant: f.variant.unwrap_or_default(),
        channel: f.channel.map(|c| c.as_str().to_owned()).unwrap_or_default(),
        execution_id: f.execution_id.map(|e| e.to_string()).unwrap_or_default(),
        converted: f.converted,
        unsubscribed: f.unsubscribed,
        planned: f.planned,
        attempted: f.attempted,
        sent: f.sent,
        failed: f.failed,
        delivered: f.delivered,
        opened: f.opened,
        clicked: f.clicked,
        cost: f.cost.to_string(),
        rates: Some(pb::Rates {
            send_success: f.rates.send_success,
            delivery: f.rates.delivery,
            open: f.rates.open,
            click: f.rates.click,
            click_to_open: f.rates.click_to_open,
            conversion: f.rates.conversion,
        }),
    }
}
