//! `/api/marketing/segments` handlers.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};

use super::extract::{JsonBody, QueryParams, query_int, query_str};
use super::{Located, Pagination, RestState, Tagged, if_match, location, tagged};
use crate::auth::Caller;
use crate::domain::segment::{Segment, SegmentFields};
use crate::domain::{PageRequest, parse_uuid};
use crate::error::{Error, Result};
use crate::service::segments::MAX_SEGMENT_PAGE;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SegmentBody {
    name: Option<String>,
    description: Option<String>,
    rule: Option<serde_json::Value>,
}

impl From<SegmentBody> for SegmentFields {
    fn from(b: SegmentBody) -> Self {
        SegmentFields {
            name: b.name,
            description: b.description,
            rule: b.rule,
        }
    }
}

pub async fn create(
    State(state): State<RestState>,
    Extension(caller): Extension<Caller>,
    JsonBody(body): JsonBody<SegmentBody>,
) -> Result<Located<Segment>> {
    let s = state.service.create_segment(caller, body.into()).await?;
    Ok((
        StatusCode::CREATED,
        location(format_args!("/segments/{}", s.id)),
        Json(s),
    ))
}

#[derive(Serialize)]
pub struct SegmentList {
    segments: Vec<Segment>,
    pagination: Pagination,
}

pub async fn list(
    State(state): State<RestState>,
    QueryParams(params): QueryParams,
) -> Result<Json<SegmentList>> {
    let page = PageRequest::parse(
        query_int(&params, "page")?,
        query_int(&params, "page_size")?,
        MAX_SEGMENT_PAGE,
    )?;
    let name = query_str(&params, "name").map(str::to_owned);
    let page = state.service.list_segments(name, page).await?;
    Ok(Json(SegmentList {
        pagination: Pagination::from(&page),
        segments: page.items,
    }))
}

pub async fn get(
    State(state): State<RestState>,
    Path(id): Path<String>,
) -> Result<Tagged<Segment>> {
    let id = parse_uuid("id", &id)?;
    Ok(tagged(state.service.get_segment(id).await?))
}

pub async fn update(
    State(state): State<RestState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    headers: axum::http::HeaderMap,
    JsonBody(body): JsonBody<SegmentBody>,
) -> Result<Tagged<Segment>> {
    let id = parse_uuid("id", &id)?;
    Ok(tagged(
        state
            .service
            .update_segment(caller, id, body.into(), &if_match(&headers))
            .await?,
    ))
}

pub async fn delete(State(state): State<RestState>, Path(id): Path<String>) -> Result<StatusCode> {
    let id = parse_uuid("id", &id)?;
    state.service.delete_segment(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize)]
pub struct CountReply {
    count: u64,
}

/// How many customers a saved segment matches now.
pub async fn count(
    State(state): State<RestState>,
    Path(id): Path<String>,
) -> Result<Json<CountReply>> {
    let id = parse_uuid("id", &id)?;
    Ok(Json(CountReply {
        count: state.service.count_segment(id).await?,
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleBody {
    rule: Option<serde_json::Value>,
}

/// How many customers a rule matches, before it is saved.
pub async fn count_rule(
    State(state): State<RestState>,
    JsonBody(body): JsonBody<RuleBody>,
) -> Result<Json<CountReply>> {
    let rule = body
        .rule
        .ok_or_else(|| Error::invalid("rule", "is required"))?;
    Ok(Json(CountReply {
        count: state.service.count_rule(&rule).await?,
    }))
}
