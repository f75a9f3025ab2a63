//! `/api/marketing/templates` handlers.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};

use super::extract::{JsonBody, QueryParams, double_option, query_int, query_str};
use super::{Located, Pagination, RestState, Tagged, if_match, location, tagged};
use crate::auth::Caller;
use crate::domain::execution::Sample;
use crate::domain::template::{Template, TemplateFields};
use crate::domain::{PageRequest, parse_uuid, parse_word};
use crate::error::{Error, Result};
use crate::service::templates::{MAX_TEMPLATE_PAGE, TemplateFilter};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateBody {
    name: Option<String>,
    channel: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    subject: Option<Option<String>>,
    body: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
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

#[derive(Serialize)]
pub struct TemplateList {
    templates: Vec<Template>,
    pagination: Pagination,
}

pub async fn list(
    State(state): State<RestState>,
    QueryParams(params): QueryParams,
) -> Result<Json<TemplateList>> {
    let filter = TemplateFilter {
        channel: query_str(&params, "channel")
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

pub async fn get(
    State(state): State<RestState>,
    Path(id): Path<String>,
) -> Result<Tagged<Template>> {
    let id = parse_uuid("id", &id)?;
    Ok(tagged(state.service.get_template(id).await?))
}

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

pub async fn delete(State(state): State<RestState>, Path(id): Path<String>) -> Result<StatusCode> {
    let id = parse_uuid("id", &id)?;
    state.service.delete_template(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreviewBody {
    customer_id: Option<String>,
}

/// Renders the template for one customer; sends nothing.
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
