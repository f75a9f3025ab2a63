//! crm.marketing.v1.CampaignService.

use crm_proto::v1 as pb;
use crm_proto::v1::campaign_service_server::CampaignService;
use tonic::{Request, Response, Status};

use super::convert::{
    UpdateMask, from_timestamp, opt_timestamp, page_request, pagination, timestamp,
};
use super::{GrpcApi, caller};
use crate::domain::campaign::{
    Campaign, CampaignFields, CampaignFilter, CampaignPatch, NewCampaign,
};
use crate::domain::execution::Sample;
use crate::domain::variant::VariantFields;
use crate::domain::{parse_uuid, parse_word};
use crate::error::Result;
use crate::service::campaigns::MAX_CAMPAIGN_PAGE;
use crate::service::preview::PreviewTarget;
use crate::service::stats::Figures;
use marketing_core::vocabulary::ExecutionType;

fn to_pb(c: Campaign) -> pb::Campaign {
    pb::Campaign {
        id: c.id.to_string(),
        name: c.name,
        r#type: c.channel.as_str().to_owned(),
        status: c.status.as_str().to_owned(),
        target_tags: c.target_tags,
        target_segment_id: c.target_segment_id.map(|u| u.to_string()),
        content_template_id: c.content_template_id.map(|u| u.to_string()),
        content: c.content,
        start_time: opt_timestamp(c.start_time),
        end_time: opt_timestamp(c.end_time),
        actual_start_time: opt_timestamp(c.actual_start_time),
        actual_end_time: opt_timestamp(c.actual_end_time),
        created_by: c.created_by.to_string(),
        updated_by: c.updated_by.to_string(),
        created_at: Some(timestamp(c.created_at)),
        updated_at: Some(timestamp(c.updated_at)),
        trigger: Some(trigger_pb(&c.trigger)),
        next_run_at: opt_timestamp(c.next_run_at),
        paused: c.paused,
        variants: c
            .variants
            .into_iter()
            .map(|v| pb::Variant {
                key: v.key,
                weight: v.weight,
                content: v.content,
                template_id: v.template_id.map(|t| t.to_string()),
            })
            .collect(),
    }
}

fn variant_fields(variants: Vec<pb::Variant>) -> Result<Vec<VariantFields>> {
    variants
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            Ok(VariantFields {
                key: Some(v.key),
                weight: Some(i64::from(v.weight)),
                content: v.content,
                template_id: opt_uuid(&format!("variants[{i}].template_id"), v.template_id)?,
            })
        })
        .collect()
}

/// A rendered message as gRPC returns it.
pub(super) fn sample_to_pb(s: Sample) -> pb::RenderedSample {
    pb::RenderedSample {
        customer_id: s.customer_id.to_string(),
        to: s.to,
        subject: s.subject,
        body: s.body,
        variant: s.variant,
        html_body: s.html_body,
        error: s.error,
    }
}

/// An optional UUID field: absent or empty means none.
pub(super) fn opt_uuid(field: &str, v: Option<String>) -> Result<Option<uuid::Uuid>> {
    v.filter(|s| !s.is_empty())
        .map(|s| parse_uuid(field, &s))
        .transpose()
}

fn opt_time(
    field: &str,
    v: Option<prost_types::Timestamp>,
) -> Result<Option<chrono::DateTime<chrono::Utc>>> {
    v.map(|t| from_timestamp(field, t)).transpose()
}

const UPDATABLE: &[&str] = &[
    "name",
    "type",
    "target_tags",
    "target_segment_id",
    "content_template_id",
    "content",
    "start_time",
    "end_time",
    "variants",
    "trigger",
];

/// Follows AIP-134: with a mask, exactly the listed paths change (absent = cleared); without
/// one, every field present in the message changes.
fn update_fields(mut r: pb::UpdateCampaignRequest) -> Result<CampaignFields> {
    let mask = UpdateMask::parse(r.update_mask.take(), UPDATABLE)?;
    let wants = |path: &str, present: bool| mask.wants(path, present);
    let mut f = CampaignFields::default();
    if wants("name", r.name.is_some()) {
        f.name = Some(r.name.unwrap_or_default());
    }
    if wants("type", r.r#type.is_some()) {
        f.channel = Some(r.r#type.unwrap_or_default());
    }
    if wants("target_tags", !r.target_tags.is_empty()) {
        f.target_tags = Some(r.target_tags);
    }
    if wants("target_segment_id", r.target_segment_id.is_some()) {
        f.target_segment_id = Some(opt_uuid("target_segment_id", r.target_segment_id)?);
    }
    if wants("content_template_id", r.content_template_id.is_some()) {
        f.content_template_id = Some(opt_uuid("content_template_id", r.content_template_id)?);
    }
    if wants("content", r.content.is_some()) {
        f.content = Some(r.content.unwrap_or_default());
    }
    if wants("variants", !r.variants.is_empty()) {
        f.variants = Some(variant_fields(r.variants)?);
    }
    if wants("start_time", r.start_time.is_some()) {
        f.start_time = Some(opt_time("start_time", r.start_time)?);
    }
    if wants("end_time", r.end_time.is_some()) {
        f.end_time = Some(opt_time("end_time", r.end_time)?);
    }
    if wants("trigger", r.trigger.is_some()) {
        // A listed but absent trigger goes back to the default, `once`.
        f.trigger = Some(
            r.trigger
                .map_or_else(|| serde_json::json!({"kind": "once"}), trigger_json),
        );
    }
    Ok(f)
}

/// A trigger message as the JSON the domain parser reads (shared with REST, so both refuse the
/// same triggers with the same words).
fn trigger_json(t: pb::CampaignTrigger) -> serde_json::Value {
    let mut v = serde_json::json!({"kind": t.kind});
    if let Some(cron) = t.cron {
        v["cron"] = cron.into();
    }
    if let Some(zone) = t.time_zone {
        v["time_zone"] = zone.into();
    }
    v
}

fn trigger_pb(v: &serde_json::Value) -> pb::CampaignTrigger {
    let text = |key: &str| v.get(key).and_then(|s| s.as_str()).map(str::to_owned);
    pb::CampaignTrigger {
        kind: text("kind").unwrap_or_else(|| "once".to_owned()),
        cron: text("cron"),
        time_zone: text("time_zone"),
    }
}

#[tonic::async_trait]
impl CampaignService for GrpcApi {
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
            self.service.update_campaign(caller, id, patch).await?,
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
            totals: Some(figures_to_pb(s.totals)),
            by_variant: s.by_variant.into_iter().map(figures_to_pb).collect(),
            by_execution: s.by_execution.into_iter().map(figures_to_pb).collect(),
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
