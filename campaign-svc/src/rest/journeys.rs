//! `/api/marketing/journeys` handlers.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::extract::{JsonBody, QueryParams, query_int, query_typed};
use super::{Located, Pagination, RestState, Tagged, if_match, location, tagged};
use crate::auth::Caller;
use crate::domain::journey::{Journey, JourneyFields};
use crate::domain::{PageRequest, parse_uuid};
use crate::error::{Error, Result};
use crate::service::journeys::{
    Enrolled, JourneyCustomer, JourneyStats, MAX_JOURNEY_PAGE, parse_status_filter,
};

/// A journey's definition as sent: `name` plus the fields given (on create: `entry`, `start` and
/// `steps` are required). Read by [`JourneyFields::from_json`], which names the field at fault.
#[derive(ToSchema)]
#[schema(as = JourneyBody, example = json!({
    "name": "新客欢迎",
    "entry": {"kind": "event", "event": "signup"},
    "start": "welcome",
    "steps": {
        "welcome": {"type": "send", "channel": "email", "content": "{{ name }}，欢迎加入！", "next": "wait"},
        "wait": {"type": "wait", "duration_seconds": 86400, "next": "opened"},
        "opened": {"type": "branch", "rule": {"engagement": "opened", "step": "welcome"}, "then": "done", "else": "remind"},
        "remind": {"type": "send", "channel": "sms", "content": "{{ name }}，新人礼包还没领"},
        "done": {"type": "exit"}},
    "re_entry": "never",
    "goal": {"event": "order_paid"}
}))]
#[allow(dead_code)] // documents the body; the handler reads it as JSON
pub struct JourneyBody {
    /// 1–200 characters; required on create.
    #[schema(min_length = 1, max_length = 200)]
    name: Option<String>,
    /// `{"kind": "event", "event", "where"?}`, `{"kind": "segment", "segment_id"}` or
    /// `{"kind": "manual"}`.
    #[schema(value_type = Option<Object>)]
    entry: Option<serde_json::Value>,
    /// The id of the first step.
    start: Option<String>,
    /// Steps by id: `send`, `wait`, `wait_for_event`, `branch`, `split`, `exit` (see the
    /// README's "Journeys").
    #[schema(value_type = Option<Object>)]
    steps: Option<serde_json::Value>,
    /// `"never"` (the default) or `{"cooldown_hours": N}`.
    re_entry: Option<serde_json::Value>,
    /// `{"event", "where"?}`: such an event ends the customer's walk as converted.
    #[schema(value_type = Option<Object>)]
    goal: Option<serde_json::Value>,
}

/// A journey as read: its state and its current version's definition.
#[derive(ToSchema)]
#[schema(as = Journey)]
#[allow(dead_code)] // documents [`Journey`], whose definition is a flattened map
pub struct JourneyDoc {
    id: Uuid,
    name: String,
    #[schema(value_type = JourneyStatusDoc)]
    status: String,
    /// The current version (a new one when an active or paused journey is edited).
    version: i32,
    #[schema(value_type = Object)]
    entry: serde_json::Value,
    start: String,
    #[schema(value_type = Object)]
    steps: serde_json::Value,
    re_entry: Option<serde_json::Value>,
    #[schema(value_type = Option<Object>)]
    goal: Option<serde_json::Value>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    activated_at: Option<DateTime<Utc>>,
    archived_at: Option<DateTime<Utc>>,
}

const JOURNEY_ID: &str = "The journey's id";

/// A journey's state.
#[derive(ToSchema)]
#[schema(as = JourneyStatus)]
#[allow(dead_code)] // documents the states [`parse_status_filter`] reads
#[allow(non_camel_case_types)]
pub enum JourneyStatusDoc {
    draft,
    active,
    paused,
    archived,
}

/// Saves a journey (a `draft`), its definition checked as a graph.
#[utoipa::path(
    post,
    path = "/journeys",
    tag = "journeys",
    request_body = JourneyBody,
    responses((status = 201, description = "Created", body = JourneyDoc, headers(
        ("Location" = String, description = "The journey's address")
    )))
)]
pub async fn create(
    State(state): State<RestState>,
    Extension(caller): Extension<Caller>,
    JsonBody(body): JsonBody<serde_json::Value>,
) -> Result<Located<Journey>> {
    let j = state
        .service
        .create_journey(caller, JourneyFields::from_json(body)?)
        .await?;
    Ok((
        StatusCode::CREATED,
        location(format_args!("/journeys/{}", j.id)),
        Json(j),
    ))
}

#[derive(Serialize, ToSchema)]
pub struct JourneyList {
    #[schema(value_type = Vec<JourneyDoc>)]
    journeys: Vec<Journey>,
    pagination: Pagination,
}

/// The query of `GET /journeys` (read by [`QueryParams`]).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // documents the query; the handler reads it by name
pub struct JourneyQuery {
    status: Option<JourneyStatusDoc>,
    #[param(minimum = 1, maximum = 2147483647)]
    page: Option<i64>,
    #[param(minimum = 1, maximum = 100)]
    page_size: Option<i64>,
}

/// Journeys, newest first, a page at a time.
#[utoipa::path(
    get,
    path = "/journeys",
    tag = "journeys",
    params(JourneyQuery),
    responses((status = 200, description = "A page of journeys", body = JourneyList))
)]
pub async fn list(
    State(state): State<RestState>,
    QueryParams(params): QueryParams,
) -> Result<Json<JourneyList>> {
    let page = PageRequest::parse(
        query_int(&params, "page")?,
        query_int(&params, "page_size")?,
        MAX_JOURNEY_PAGE,
    )?;
    // A typed value: given, it must be a state (`?status=` is a 400, as on the other lists).
    let status = match query_typed(&params, "status") {
        Some("") => {
            return Err(Error::invalid(
                "status",
                "must be one of: draft active paused archived",
            ));
        }
        other => parse_status_filter(other)?,
    };
    let page = state.service.list_journeys(status, page).await?;
    Ok(Json(JourneyList {
        pagination: Pagination::from(&page),
        journeys: page.items,
    }))
}

/// A journey, with its `ETag`.
#[utoipa::path(
    get,
    path = "/journeys/{id}",
    tag = "journeys",
    params(("id" = uuid::Uuid, Path, description = JOURNEY_ID)),
    responses((status = 200, description = "The journey", body = JourneyDoc, headers(
        ("ETag" = String, description = "Its version, for `If-Match`")
    )))
)]
pub async fn get(
    State(state): State<RestState>,
    Path(id): Path<String>,
) -> Result<Tagged<Journey>> {
    let id = parse_uuid("id", &id)?;
    Ok(tagged(state.service.get_journey(id).await?))
}

/// Changes the given fields: a draft in place; an active or paused journey gets a new version.
#[utoipa::path(
    put,
    path = "/journeys/{id}",
    tag = "journeys",
    params(("id" = uuid::Uuid, Path, description = JOURNEY_ID),
        ("If-Match" = Option<String>, Header, description = "The `ETag` read: 412 when it changed since"),),
    request_body = JourneyBody,
    responses((status = 200, description = "The journey", body = JourneyDoc, headers(
        ("ETag" = String, description = "Its new version")
    )))
)]
pub async fn update(
    State(state): State<RestState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    headers: axum::http::HeaderMap,
    JsonBody(body): JsonBody<serde_json::Value>,
) -> Result<Tagged<Journey>> {
    let id = parse_uuid("id", &id)?;
    Ok(tagged(
        state
            .service
            .update_journey(
                caller,
                id,
                JourneyFields::from_json(body)?,
                &if_match(&headers),
            )
            .await?,
    ))
}

/// Starts (or resumes) the journey: customers enter it.
#[utoipa::path(
    post,
    path = "/journeys/{id}/activate",
    tag = "journeys",
    params(("id" = uuid::Uuid, Path, description = JOURNEY_ID)),
    responses((status = 200, description = "The journey", body = JourneyDoc))
)]
pub async fn activate(
    State(state): State<RestState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<Journey>> {
    let id = parse_uuid("id", &id)?;
    Ok(Json(state.service.activate_journey(caller, id).await?))
}

/// Pauses the journey: no new entries; everyone stays where they are.
#[utoipa::path(
    post,
    path = "/journeys/{id}/pause",
    tag = "journeys",
    params(("id" = uuid::Uuid, Path, description = JOURNEY_ID)),
    responses((status = 200, description = "The journey", body = JourneyDoc))
)]
pub async fn pause(
    State(state): State<RestState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<Journey>> {
    let id = parse_uuid("id", &id)?;
    Ok(Json(state.service.pause_journey(caller, id).await?))
}

/// Ends the journey: everyone inside leaves it.
#[utoipa::path(
    post,
    path = "/journeys/{id}/archive",
    tag = "journeys",
    params(("id" = uuid::Uuid, Path, description = JOURNEY_ID)),
    responses((status = 200, description = "The journey", body = JourneyDoc))
)]
pub async fn archive(
    State(state): State<RestState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<Journey>> {
    let id = parse_uuid("id", &id)?;
    Ok(Json(state.service.archive_journey(caller, id).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnrollBody {
    /// 1–10,000 customer ids.
    #[schema(value_type = Vec<uuid::Uuid>, min_items = 1, max_items = 10000)]
    customer_ids: Option<Vec<String>>,
}

/// Enters customers by hand (any entry kind): how many entered and who did not.
#[utoipa::path(
    post,
    path = "/journeys/{id}/enroll",
    tag = "journeys",
    params(("id" = uuid::Uuid, Path, description = JOURNEY_ID)),
    request_body = EnrollBody,
    responses((status = 200, description = "Who entered", body = Enrolled))
)]
pub async fn enroll(
    State(state): State<RestState>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<EnrollBody>,
) -> Result<Json<Enrolled>> {
    let id = parse_uuid("id", &id)?;
    let ids = body
        .customer_ids
        .ok_or_else(|| Error::invalid("customer_ids", "is required"))?
        .iter()
        .enumerate()
        .map(|(i, s)| parse_uuid(&format!("customer_ids[{i}]"), s))
        .collect::<Result<Vec<_>>>()?;
    Ok(Json(state.service.enroll_in_journey(id, ids).await?))
}

/// Per step: entered, waiting, completed, exited, converted, and a send step's message figures.
#[utoipa::path(
    get,
    path = "/journeys/{id}/stats",
    tag = "journeys",
    params(("id" = uuid::Uuid, Path, description = JOURNEY_ID)),
    responses((status = 200, description = "The journey's counters", body = JourneyStats))
)]
pub async fn stats(
    State(state): State<RestState>,
    Path(id): Path<String>,
) -> Result<Json<JourneyStats>> {
    let id = parse_uuid("id", &id)?;
    Ok(Json(state.service.journey_stats(id).await?))
}

/// Where one customer is in a journey and how they got there.
#[utoipa::path(
    get,
    path = "/journeys/{id}/customers/{customer_id}",
    tag = "journeys",
    params(("id" = uuid::Uuid, Path, description = JOURNEY_ID),
        ("customer_id" = uuid::Uuid, Path, description = "The customer's id"),),
    responses((status = 200, description = "The customer's walks, newest first", body = JourneyCustomer))
)]
pub async fn customer(
    State(state): State<RestState>,
    Path((id, customer)): Path<(String, String)>,
) -> Result<Json<JourneyCustomer>> {
    let id = parse_uuid("id", &id)?;
    let customer = parse_uuid("customer_id", &customer)?;
    Ok(Json(state.service.journey_customer(id, customer).await?))
}
