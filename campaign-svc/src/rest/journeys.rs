//! `/api/marketing/journeys` handlers.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};

use super::extract::{JsonBody, QueryParams, query_int, query_str};
use super::{Located, Pagination, RestState, Tagged, if_match, location, tagged};
use crate::auth::Caller;
use crate::domain::journey::{Journey, JourneyFields};
use crate::domain::{PageRequest, parse_uuid};
use crate::error::{Error, Result};
use crate::service::journeys::{
    Enrolled, JourneyCustomer, JourneyStats, MAX_JOURNEY_PAGE, parse_status_filter,
};

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

#[derive(Serialize)]
pub struct JourneyList {
    journeys: Vec<Journey>,
    pagination: Pagination,
}

pub async fn list(
    State(state): State<RestState>,
    QueryParams(params): QueryParams,
) -> Result<Json<JourneyList>> {
    let page = PageRequest::parse(
        query_int(&params, "page")?,
        query_int(&params, "page_size")?,
        MAX_JOURNEY_PAGE,
    )?;
    let status = parse_status_filter(query_str(&params, "status"))?;
    let page = state.service.list_journeys(status, page).await?;
    Ok(Json(JourneyList {
        pagination: Pagination::from(&page),
        journeys: page.items,
    }))
}

pub async fn get(
    State(state): State<RestState>,
    Path(id): Path<String>,
) -> Result<Tagged<Journey>> {
    let id = parse_uuid("id", &id)?;
    Ok(tagged(state.service.get_journey(id).await?))
}

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

pub async fn activate(
    State(state): State<RestState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<Journey>> {
    let id = parse_uuid("id", &id)?;
    Ok(Json(state.service.activate_journey(caller, id).await?))
}

pub async fn pause(
    State(state): State<RestState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<Journey>> {
    let id = parse_uuid("id", &id)?;
    Ok(Json(state.service.pause_journey(caller, id).await?))
}

pub async fn archive(
    State(state): State<RestState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<Journey>> {
    let id = parse_uuid("id", &id)?;
    Ok(Json(state.service.archive_journey(caller, id).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrollBody {
    customer_ids: Option<Vec<String>>,
}

/// Enters customers by hand (any entry kind): 200 with how many entered and who did not.
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

pub async fn stats(
    State(state): State<RestState>,
    Path(id): Path<String>,
) -> Result<Json<JourneyStats>> {
    let id = parse_uuid("id", &id)?;
    Ok(Json(state.service.journey_stats(id).await?))
}

pub async fn customer(
    State(state): State<RestState>,
    Path((id, customer)): Path<(String, String)>,
) -> Result<Json<JourneyCustomer>> {
    let id = parse_uuid("id", &id)?;
    let customer = parse_uuid("customer_id", &customer)?;
    Ok(Json(state.service.journey_customer(id, customer).await?))
}
