//! `/api/marketing/templates` handlers.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::extract::{JsonBody, QueryParams, double_option, query_int, query_str, query_typed};
use super::{Located, Pagination, RestState, Tagged, if_match, location, tagged};
use crate::auth::Caller;
use crate::domain::execution::Sample;
use crate::domain::template::{Template, TemplateFields};
use crate::domain::{PageRequest, parse_uuid, parse_word};
use crate::error::{Error, ErrorBody, Result};
use crate::service::templates::{MAX_TEMPLATE_PAGE, TemplateFilter};
use marketing_core::vocabulary::Channel;

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "name": "双11邮件", "channel": "email", "subject": "{{ name }}，您的双11礼券",
    "body": "{{ name | default(\"会员\") }}，积分 {{ attributes.points | number }}，活动截止 {{ campaign.end_time | datetime }}",
    "html_body": "<h1>{{ name }}</h1><a href=\"https://shop.example.com/11\">去逛逛</a>"
}))]
pub struct TemplateBody {
    /// Required on create.
    #[schema(min_length = 1, max_length = 200)]
    name: Option<String>,
    /// Required on create.
    #[schema(value_type = Option<Channel>)]
    channel: Option<String>,
    /// E-mail only; `null` clears it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    subject: Option<Option<String>>,
    /// Required on create: `{{ name }}`, `{{ attributes.city }}`, …
    body: Option<String>,
    /// E-mail only; `null` clears it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    html_body: Option<Option<String>>,
}

impl From<TemplateBody> for TemplateFields {
    fn from(b: TemplateBody) -> Self {
        TemplateFields {
            name: b.name,
            channel: b.channel,
            subject: b.subject,
            body: b.body,
            html_body: b.html_body,
        }
    }
}

/// Creates a template.
#[utoipa::path(
    post,
    path = "/templates",
    tag = "templates",
    request_body = TemplateBody,
    responses((status = 201, description = "Created", body = Template, headers(
        ("Location" = String, description = "The template's address")
    )))
)]
pub async fn create(
    State(state): State<RestState>,
    Extension(caller): Extension<Caller>,
    JsonBody(body): JsonBody<TemplateBody>,
) -> Result<Located<Template>> {
    let t = state.service.create_template(caller, body.into()).await?;
    Ok((
        StatusCode::CREATED,
        location(format_args!("/templates/{}", t.id)),
        Json(t),
    ))
}

#[derive(Serialize, ToSchema)]
pub struct TemplateList {
    templates: Vec<Template>,
    pagination: Pagination,
}

/// The query of `GET /templates` (read by [`QueryParams`]).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // documents the query; the handler reads it by name
pub struct TemplateQuery {
    channel: Option<Channel>,
    /// Case-insensitive part of the name.
    name: Option<String>,
    #[param(minimum = 1, maximum = 2147483647)]
    page: Option<i64>,
    #[param(minimum = 1, maximum = 100)]
    page_size: Option<i64>,
}

/// Templates, a page at a time.
#[utoipa::path(
    get,
    path = "/templates",
    tag = "templates",
    params(TemplateQuery),
    responses((status = 200, description = "A page of templates", body = TemplateList))
)]
pub async fn list(
    State(state): State<RestState>,
    QueryParams(params): QueryParams,
) -> Result<Json<TemplateList>> {
    let filter = TemplateFilter {
        channel: query_typed(&params, "channel")
            .map(|s| parse_word("channel", s))
            .transpose()?,
        name: query_str(&params, "name").map(str::to_owned),
    };
    let page = PageRequest::parse(
        query_int(&params, "page")?,
        query_int(&params, "page_size")?,
        MAX_TEMPLATE_PAGE,
    )?;
    let page = state.service.list_templates(filter, page).await?;
    Ok(Json(TemplateList {
        pagination: Pagination::from(&page),
        templates: page.items,
    }))
}

/// A template, with its `ETag`.
#[utoipa::path(
    get,
    path = "/templates/{id}",
    tag = "templates",
    params(("id" = uuid::Uuid, Path, description = "The template's id")),
    responses((status = 200, description = "The template", body = Template, headers(
        ("ETag" = String, description = "Its version, for `If-Match`")
    )))
)]
pub async fn get(
    State(state): State<RestState>,
    Path(id): Path<String>,
) -> Result<Tagged<Template>> {
    let id = parse_uuid("id", &id)?;
    Ok(tagged(state.service.get_template(id).await?))
}

/// Changes the given fields of a template.
#[utoipa::path(
    put,
    path = "/templates/{id}",
    tag = "templates",
    params(
        ("id" = uuid::Uuid, Path, description = "The template's id"),
        ("If-Match" = Option<String>, Header, description = "The `ETag` read: 412 when it changed since"),
    ),
    request_body = TemplateBody,
    responses(
        (status = 200, description = "The template as changed", body = Template, headers(
            ("ETag" = String, description = "Its new version")
        )),
        (status = 412, description = "Changed since the `If-Match` tag", body = ErrorBody),
    )
)]
pub async fn update(
    State(state): State<RestState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    headers: axum::http::HeaderMap,
    JsonBody(body): JsonBody<TemplateBody>,
) -> Result<Tagged<Template>> {
    let id = parse_uuid("id", &id)?;
    Ok(tagged(
        state
            .service
            .update_template(caller, id, body.into(), &if_match(&headers))
            .await?,
    ))
}

/// Deletes a template no campaign uses.
#[utoipa::path(
    delete,
    path = "/templates/{id}",
    tag = "templates",
    params(("id" = uuid::Uuid, Path, description = "The template's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 409, description = "A campaign uses it", body = ErrorBody),
    )
)]
pub async fn delete(State(state): State<RestState>, Path(id): Path<String>) -> Result<StatusCode> {
    let id = parse_uuid("id", &id)?;
    state.service.delete_template(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = TemplatePreviewBody)]
pub struct PreviewBody {
    /// Required.
    #[schema(value_type = uuid::Uuid)]
    customer_id: Option<String>,
}

/// Renders the template for one customer; sends nothing.
#[utoipa::path(
    post,
    path = "/templates/{id}/preview",
    tag = "templates",
    params(("id" = uuid::Uuid, Path, description = "The template's id")),
    request_body = PreviewBody,
    responses((status = 200, description = "The rendered message", body = Sample))
)]
pub async fn preview(
    State(state): State<RestState>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<PreviewBody>,
) -> Result<Json<Sample>> {
    let id = parse_uuid("id", &id)?;
    let customer = body
        .customer_id
        .ok_or_else(|| Error::invalid("customer_id", "is required"))?;
    let customer = parse_uuid("customer_id", &customer)?;
    Ok(Json(state.service.preview_template(id, customer).await?))
}
