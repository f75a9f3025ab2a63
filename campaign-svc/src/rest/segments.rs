//! `/api/marketing/segments` handlers.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::extract::{JsonBody, QueryParams, query_int, query_str};
use super::{Located, Pagination, RestState, Tagged, if_match, location, tagged};
use crate::auth::Caller;
use crate::domain::segment::{Segment, SegmentFields};
use crate::domain::{PageRequest, parse_uuid};
use crate::error::{Error, ErrorBody, Result};
use crate::service::segments::MAX_SEGMENT_PAGE;

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "name": "上海高积分或六月生日", "rule": {"or": [
        {"and": [{"attribute": "city", "op": "=", "value": "上海"},
                 {"attribute": "points", "op": ">=", "value": 1000}]},
        {"field": "birthday_month", "op": "=", "value": 6}]}
}))]
pub struct SegmentBody {
    /// Required on create.
    #[schema(min_length = 1, max_length = 200)]
    name: Option<String>,
    description: Option<String>,
    /// Required on create: `{"and": […]}`, `{"or": […]}`, `{"not": …}` or a condition
    /// (`{"field", "op", "value"}`, `{"attribute", "op", "value"}`, `{"event", …}`,
    /// `{"engagement", …}`; see the README's "Segments").
    #[schema(value_type = Option<Object>)]
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

/// Saves a segment.
#[utoipa::path(
    post,
    path = "/segments",
    tag = "segments",
    request_body = SegmentBody,
    responses((status = 201, description = "Created", body = Segment, headers(
        ("Location" = String, description = "The segment's address")
    )))
)]
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

#[derive(Serialize, ToSchema)]
pub struct SegmentList {
    segments: Vec<Segment>,
    pagination: Pagination,
}

/// The query of `GET /segments` (read by [`QueryParams`]).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // documents the query; the handler reads it by name
pub struct SegmentQuery {
    /// Case-insensitive part of the name.
    name: Option<String>,
    #[param(minimum = 1, maximum = 2147483647)]
    page: Option<i64>,
    #[param(minimum = 1, maximum = 100)]
    page_size: Option<i64>,
}

/// Segments, a page at a time.
#[utoipa::path(
    get,
    path = "/segments",
    tag = "segments",
    params(SegmentQuery),
    responses((status = 200, description = "A page of segments", body = SegmentList))
)]
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

/// A segment, with its `ETag`.
#[utoipa::path(
    get,
    path = "/segments/{id}",
    tag = "segments",
    params(("id" = uuid::Uuid, Path, description = "The segment's id")),
    responses((status = 200, description = "The segment", body = Segment, headers(
        ("ETag" = String, description = "Its version, for `If-Match`")
    )))
)]
pub async fn get(
    State(state): State<RestState>,
    Path(id): Path<String>,
) -> Result<Tagged<Segment>> {
    let id = parse_uuid("id", &id)?;
    Ok(tagged(state.service.get_segment(id).await?))
}

/// Changes the given fields of a segment.
#[utoipa::path(
    put,
    path = "/segments/{id}",
    tag = "segments",
    params(
        ("id" = uuid::Uuid, Path, description = "The segment's id"),
        ("If-Match" = Option<String>, Header, description = "The `ETag` read: 412 when it changed since"),
    ),
    request_body = SegmentBody,
    responses(
        (status = 200, description = "The segment as changed", body = Segment, headers(
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

/// Deletes a segment no campaign uses.
#[utoipa::path(
    delete,
    path = "/segments/{id}",
    tag = "segments",
    params(("id" = uuid::Uuid, Path, description = "The segment's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 409, description = "A campaign uses it", body = ErrorBody),
    )
)]
pub async fn delete(State(state): State<RestState>, Path(id): Path<String>) -> Result<StatusCode> {
    let id = parse_uuid("id", &id)?;
    state.service.delete_segment(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct CountReply {
    count: u64,
}

/// How many customers a saved segment matches now.
#[utoipa::path(
    get,
    path = "/segments/{id}/count",
    tag = "segments",
    params(("id" = uuid::Uuid, Path, description = "The segment's id")),
    responses((status = 200, description = "The count", body = CountReply))
)]
pub async fn count(
    State(state): State<RestState>,
    Path(id): Path<String>,
) -> Result<Json<CountReply>> {
    let id = parse_uuid("id", &id)?;
    Ok(Json(CountReply {
        count: state.service.count_segment(id).await?,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleBody {
    /// Required: a rule as a segment's.
    #[schema(value_type = Object)]
    rule: Option<serde_json::Value>,
}

/// How many customers a rule matches, before it is saved.
#[utoipa::path(
    post,
    path = "/segments/count",
    tag = "segments",
    request_body = RuleBody,
    responses((status = 200, description = "The count", body = CountReply))
)]
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
