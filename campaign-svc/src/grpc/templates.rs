//! crm.marketing.v1.TemplateService.

use crm_proto::v1 as pb;
use crm_proto::v1::template_service_server::TemplateService;
use tonic::{Request, Response, Status};

use super::campaign_fields::sample_to_pb;
use super::convert::{UpdateMask, page_request, pagination, timestamp};
use super::{GrpcApi, caller};
use crate::domain::IfMatch;
use crate::domain::template::{Template, TemplateFields};
use crate::domain::{parse_uuid, parse_word};
use crate::error::Result;
use crate::service::templates::{MAX_TEMPLATE_PAGE, TemplateFilter};

fn to_pb(t: Template) -> pb::Template {
    pb::Template {
        id: t.id.to_string(),
        name: t.name,
        channel: t.channel.as_str().to_owned(),
        subject: t.subject,
        body: t.body,
        html_body: t.html_body,
        variables: t.variables,
        created_by: t.created_by.to_string(),
        updated_by: t.updated_by.to_string(),
        created_at: Some(timestamp(t.created_at)),
        updated_at: Some(timestamp(t.updated_at)),
    }
}

const UPDATABLE: &[&str] = &["name", "channel", "subject", "body", "html_body"];

/// AIP-134, as for campaigns: with a mask exactly the listed paths change (absent = cleared).
fn update_fields(mut r: pb::UpdateTemplateRequest) -> Result<TemplateFields> {
    let mask = UpdateMask::parse(r.update_mask.take(), UPDATABLE)?;
    let wants = |path: &str, present: bool| mask.wants(path, present);
    let mut f = TemplateFields::default();
    if wants("name", r.name.is_some()) {
        f.name = Some(r.name.unwrap_or_default());
    }
    if wants("channel", r.channel.is_some()) {
        f.channel = Some(r.channel.unwrap_or_default());
    }
    if wants("subject", r.subject.is_some()) {
        f.subject = Some(r.subject);
    }
    if wants("body", r.body.is_some()) {
        f.body = Some(r.body.unwrap_or_default());
    }
    if wants("html_body", r.html_body.is_some()) {
        f.html_body = Some(r.html_body);
    }
    Ok(f)
}

#[tonic::async_trait]
impl TemplateService for GrpcApi {
    async fn create_template(
        &self,
        req: Request<pb::CreateTemplateRequest>,
    ) -> Result<Response<pb::Template>, Status> {
        let caller = caller(&req)?;
        let r = req.into_inner();
        let fields = TemplateFields {
            name: Some(r.name),
            channel: Some(r.channel),
            subject: Some(r.subject),
            body: Some(r.body),
            html_body: Some(r.html_body),
        };
        let t = self.service.create_template(caller, fields).await?;
        Ok(Response::new(to_pb(t)))
    }

    async fn list_templates(
        &self,
        req: Request<pb::ListTemplatesRequest>,
    ) -> Result<Response<pb::ListTemplatesResponse>, Status> {
        let r = req.into_inner();
        let non_empty = |s: Option<String>| s.filter(|s| !s.is_empty());
        let filter = TemplateFilter {
            channel: non_empty(r.channel)
                .map(|s| parse_word("channel", &s))
                .transpose()?,
            name: non_empty(r.name),
        };
        let page = page_request(r.page, r.page_size, MAX_TEMPLATE_PAGE)?;
        let page = self.service.list_templates(filter, page).await?;
        Ok(Response::new(pb::ListTemplatesResponse {
            pagination: Some(pagination(&page)),
            templates: page.items.into_iter().map(to_pb).collect(),
        }))
    }

    async fn get_template(
        &self,
        req: Request<pb::GetTemplateRequest>,
    ) -> Result<Response<pb::Template>, Status> {
        let id = parse_uuid("id", &req.into_inner().id)?;
        Ok(Response::new(to_pb(self.service.get_template(id).await?)))
    }

    async fn update_template(
        &self,
        req: Request<pb::UpdateTemplateRequest>,
    ) -> Result<Response<pb::Template>, Status> {
        let caller = caller(&req)?;
        let r = req.into_inner();
        let id = parse_uuid("id", &r.id)?;
        let fields = update_fields(r)?;
        Ok(Response::new(to_pb(
            self.service
                .update_template(caller, id, fields, &IfMatch::none())
                .await?,
        )))
    }

    async fn delete_template(
        &self,
        req: Request<pb::DeleteTemplateRequest>,
    ) -> Result<Response<pb::DeleteTemplateResponse>, Status> {
        let id = parse_uuid("id", &req.into_inner().id)?;
        self.service.delete_template(id).await?;
        Ok(Response::new(pb::DeleteTemplateResponse {
            id: id.to_string(),
        }))
    }

    async fn preview_template(
        &self,
        req: Request<pb::PreviewTemplateRequest>,
    ) -> Result<Response<pb::RenderedSample>, Status> {
        let r = req.into_inner();
        let id = parse_uuid("id", &r.id)?;
        let customer = parse_uuid("customer_id", &r.customer_id)?;
        let sample = self.service.preview_template(id, customer).await?;
        Ok(Response::new(sample_to_pb(sample)))
    }
}
