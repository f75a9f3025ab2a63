//! `/api/marketing/campaigns` handlers.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::campaign_body::CampaignBody;
use super::extract::{JsonBody, OptionalJsonBody, QueryParams, query_int, query_str, query_typed};
use super::{Located, Pagination, RestState, Tagged, if_match, location, tagged};
use crate::auth::Caller;
use crate::domain::campaign::{Campaign, CampaignFilter, CampaignPatch, NewCampaign};
use crate::domain::execution::Sample;
use crate::domain::{PageRequest, parse_time, parse_uuid, parse_word};
use crate::error::{Error, ErrorBody, Result};
use crate::service::campaigns::MAX_CAMPAIGN_PAGE;
use crate::service::preview::PreviewTarget;
use marketing_core::vocabulary::{CampaignStatus, Channel, ExecutionType};

/// Creates a campaign (`draft`, or `scheduled` with a `start_time`).
#[utoipa::path(
    post,
    path = "/campaigns",
    tag = "campaigns",
    request_body = CampaignBody,
    responses((status = 201, description = "Created", body = Campaign, headers(
        ("Location" = String, description = "The campaign's address")
    )))
)]
pub async fn create(
    State(state): State<RestState>,
    Extension(caller): Extension<Caller>,
    JsonBody(body): JsonBody<CampaignBody>,
) -> Result<Located<Campaign>> {
    let min_recurrence = state.service.settings().min_recurrence_secs;
    let new = NewCampaign::parse(body.into_fields()?, min_recurrence)?;
    let campaign = state.service.create_campaign(caller, new).await?;
    Ok((
        StatusCode::CREATED,
        location(format_args!("/campaigns/{}", campaign.id)),
        Json(campaign),
    ))
}

#[derive(Serialize, ToSchema)]
pub struct CampaignList {
    campaigns: Vec<Campaign>,
    pagination: Pagination,
}

/// The query of `GET /campaigns` (read by [`QueryParams`]).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // documents the query; the handler reads it by name
pub struct CampaignQuery {
    status: Option<CampaignStatus>,
    #[param(rename = "type")]
    channel: Option<Channel>,
    /// Case-insensitive part of the name.
    name: Option<String>,
    #[param(minimum = 1, maximum = 2147483647)]
    page: Option<i64>,
    #[param(minimum = 1, maximum = 100)]
    page_size: Option<i64>,
}

/// Campaigns, newest first, a page at a time.
#[utoipa::path(
    get,
    path = "/campaigns",
    tag = "campaigns",
    params(CampaignQuery),
    responses((status = 200, description = "A page of campaigns", body = CampaignList))
)]
pub async fn list(
    State(state): State<RestState>,
    QueryParams(params): QueryParams,
) -> Result<Json<CampaignList>> {
    let filter = CampaignFilter {
        status: query_typed(&params, "status")
            .map(|s| parse_word("status", s))
            .transpose()?,
        channel: query_typed(&params, "type")
            .map(|s| parse_word("type", s))
            .transpose()?,
        name: query_str(&params, "name").map(str::to_owned),
    };
    let page = PageRequest::parse(
        query_int(&params, "page")?,
        query_int(&params, "page_size")?,
        MAX_CAMPAIGN_PAGE,
    )?;
    let page = state.service.list_campaigns(filter, page).await?;
    Ok(Json(CampaignList {
        pagination: Pagination::from(&page),
        campaigns: page.items,
    }))
}

/// A campaign, with its `ETag`.
#[utoipa::path(
    get,
    path = "/campaigns/{id}",
    tag = "campaigns",
    params(("id" = uuid::Uuid, Path, description = "The campaign's id")),
    responses((status = 200, description = "The campaign", body = Campaign, headers(
        ("ETag" = String, description = "Its version, for `If-Match`")
    )))
)]
pub async fn get(
    State(state): State<RestState>,
    Path(id): Path<String>,
) -> Result<Tagged<Campaign>> {
    let id = parse_uuid("id", &id)?;
    Ok(tagged(state.service.get_campaign(id).await?))
}

/// Changes the given fields of a draft or scheduled campaign (`null` clears a nullable field).
#[utoipa::path(
    put,
    path = "/campaigns/{id}",
    tag = "campaigns",
    params(
        ("id" = uuid::Uuid, Path, description = "The campaign's id"),
        ("If-Match" = Option<String>, Header, description = "The `ETag` read: 412 when it changed since"),
    ),
    request_body = CampaignBody,
    responses(
        (status = 200, description = "The campaign as changed", body = Campaign, headers(
            ("ETag" = String, description = "Its new version")
        )),
        (status = 409, description = "Not editable any more (started)", body = ErrorBody),
        (status = 412, description = "Changed since the `If-Match` tag", body = ErrorBody),
    )
)]
pub async fn update(
    State(state): State<RestState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    headers: axum::http::HeaderMap,
    JsonBody(body): JsonBody<CampaignBody>,
) -> Result<Tagged<Campaign>> {
    let id = parse_uuid("id", &id)?;
    let min_recurrence = state.service.settings().min_recurrence_secs;
    let patch = CampaignPatch::parse(body.into_fields()?, min_recurrence)?;
    Ok(tagged(
        state
            .service
            .update_campaign(caller, id, patch, &if_match(&headers))
            .await?,
    ))
}

/// Archives a campaign: it sends nothing more.
#[utoipa::path(
    post,
    path = "/campaigns/{id}/archive",
    tag = "campaigns",
    params(("id" = uuid::Uuid, Path, description = "The campaign's id")),
    responses((status = 200, description = "The archived campaign", body = Campaign))
)]
pub async fn archive(
    State(state): State<RestState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<Campaign>> {
    let id = parse_uuid("id", &id)?;
    Ok(Json(state.service.archive_campaign(caller, id).await?))
}

/// Pauses a recurring campaign: no occurrence runs until it is resumed.
#[utoipa::path(
    post,
    path = "/campaigns/{id}/pause",
    tag = "campaigns",
    params(("id" = uuid::Uuid, Path, description = "The campaign's id")),
    responses(
        (status = 200, description = "The paused campaign", body = Campaign),
        (status = 409, description = "Not a recurring campaign that runs", body = ErrorBody),
    )
)]
pub async fn pause(
    State(state): State<RestState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<Campaign>> {
    let id = parse_uuid("id", &id)?;
    Ok(Json(state.service.pause_campaign(caller, id).await?))
}

/// Resumes a paused recurring campaign at its next occurrence from now.
#[utoipa::path(
    post,
    path = "/campaigns/{id}/resume",
    tag = "campaigns",
    params(("id" = uuid::Uuid, Path, description = "The campaign's id")),
    responses(
        (status = 200, description = "The resumed campaign", body = Campaign),
        (status = 409, description = "Not a paused recurring campaign", body = ErrorBody),
    )
)]
pub async fn resume(
    State(state): State<RestState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<Campaign>> {
    let id = parse_uuid("id", &id)?;
    Ok(Json(state.service.resume_campaign(caller, id).await?))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"execution_type": "simulation"}))]
pub struct TriggerBody {
    /// `actual` (the default) or `simulation`.
    #[schema(value_type = Option<ExecutionType>)]
    execution_type: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct TriggerReply {
    /// `triggered` or `simulation_started`.
    #[schema(value_type = String, example = "triggered")]
    status: &'static str,
    message: String,
    execution_id: uuid::Uuid,
}

/// Sends now (`actual`, the default) or dry-runs (`simulation`); the body is optional.
#[utoipa::path(
    post,
    path = "/campaigns/{id}/trigger",
    tag = "campaigns",
    params(("id" = uuid::Uuid, Path, description = "The campaign's id")),
    request_body(content = Option<TriggerBody>, description = "Optional"),
    responses(
        (status = 202, description = "The execution started", body = TriggerReply, headers(
            ("Location" = String, description = "The execution's address")
        )),
        (status = 409, description = "The campaign cannot be triggered now", body = ErrorBody),
    )
)]
pub async fn trigger(
    State(state): State<RestState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    OptionalJsonBody(body): OptionalJsonBody<TriggerBody>,
) -> Result<Located<TriggerReply>> {
    let id = parse_uuid("id", &id)?;
    let kind = match body.execution_type.as_deref() {
        None | Some("") => ExecutionType::Actual,
        Some(t) => parse_word("execution_type", t)?,
    };
    let outcome = state
        .service
        .trigger_campaign(Some(caller.id), id, kind)
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        location(format_args!("/executions/{}", outcome.execution_id)),
        Json(TriggerReply {
            status: outcome.status(),
            message: outcome.message(),
            execution_id: outcome.execution_id,
        }),
    ))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = CampaignPreviewBody)]
pub struct PreviewBody {
    /// One customer, in the audience or not (not with `limit`).
    #[schema(value_type = Option<uuid::Uuid>)]
    customer_id: Option<String>,
    /// The first `limit` recipients of the audience (default 5).
    #[schema(minimum = 1, maximum = 50)]
    limit: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct PreviewReply {
    previews: Vec<Sample>,
}

/// Renders the campaign for one customer (`customer_id`) or the first `limit` recipients of its
/// audience (default 5); sends nothing.
#[utoipa::path(
    post,
    path = "/campaigns/{id}/preview",
    tag = "campaigns",
    params(("id" = uuid::Uuid, Path, description = "The campaign's id")),
    request_body(content = Option<PreviewBody>, description = "Optional"),
    responses((status = 200, description = "The rendered messages", body = PreviewReply))
)]
pub async fn preview(
    State(state): State<RestState>,
    Path(id): Path<String>,
    OptionalJsonBody(body): OptionalJsonBody<PreviewBody>,
) -> Result<Json<PreviewReply>> {
    let id = parse_uuid("id", &id)?;
    let customer = body
        .customer_id
        .map(|c| parse_uuid("customer_id", &c))
        .transpose()?;
    let target = PreviewTarget::parse(customer, body.limit)?;
    Ok(Json(PreviewReply {
        previews: state.service.preview_campaign(id, target).await?,
    }))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UnsavedPreviewBody {
    /// The campaign as `POST /campaigns` would create it; refused with the same errors.
    campaign: CampaignBody,
    /// Required: the customer to render it for, in its audience or not.
    #[schema(value_type = uuid::Uuid)]
    customer_id: Option<String>,
}

/// Renders a campaign that is not saved yet (the create body) for one customer: the console's
/// live preview. Nothing is written or sent; bad input is the 400 a create would answer.
#[utoipa::path(
    post,
    path = "/campaigns/preview",
    tag = "campaigns",
    request_body = UnsavedPreviewBody,
    responses((status = 200, description = "The rendered message", body = PreviewReply))
)]
pub async fn preview_unsaved(
    State(state): State<RestState>,
    Extension(caller): Extension<Caller>,
    JsonBody(body): JsonBody<UnsavedPreviewBody>,
) -> Result<Json<PreviewReply>> {
    let customer = match body.customer_id.as_deref() {
        None | Some("") => return Err(Error::invalid("customer_id", "is required")),
        Some(c) => parse_uuid("customer_id", c)?,
    };
    let min_recurrence = state.service.settings().min_recurrence_secs;
    let new = NewCampaign::parse(body.campaign.into_fields()?, min_recurrence)?;
    let sample = state
        .service
        .preview_new_campaign(caller, new, customer)
        .await?;
    Ok(Json(PreviewReply {
        previews: vec![sample],
    }))
}

/// Counts and rates, in total and per A/B variant.
#[utoipa::path(
    get,
    path = "/campaigns/{id}/stats",
    tag = "campaigns",
    params(("id" = uuid::Uuid, Path, description = "The campaign's id")),
    responses((status = 200, description = "Its figures", body = crate::service::stats::CampaignStats))
)]
pub async fn stats(
    State(state): State<RestState>,
    Path(id): Path<String>,
) -> Result<Json<crate::service::stats::CampaignStats>> {
    let id = parse_uuid("id", &id)?;
    Ok(Json(state.service.campaign_stats(id).await?))
}

/// The campaign's figures hour by hour, for the report's time series: each send, delivery,
/// open, click, conversion and unsubscribe in the hour it happened (hours with nothing left out).
#[utoipa::path(
    get,
    path = "/campaigns/{id}/stats/hourly",
    tag = "campaigns",
    params(
        ("id" = uuid::Uuid, Path, description = "The campaign's id"),
        ("since" = Option<chrono::DateTime<chrono::Utc>>, Query, description = "From the hour of this time (default: the campaign's creation, at most 366 days before `until`)"),
        ("until" = Option<chrono::DateTime<chrono::Utc>>, Query, description = "To the hour of this time, included (default: now)"),
    ),
    responses((status = 200, description = "Its hours", body = crate::service::stats::HourlyStats))
)]
pub async fn hourly_stats(
    State(state): State<RestState>,
    Path(id): Path<String>,
    QueryParams(params): QueryParams,
) -> Result<Json<crate::service::stats::HourlyStats>> {
    let id = parse_uuid("id", &id)?;
    let time = |name: &str| {
        query_typed(&params, name)
            .map(|s| parse_time(name, s))
            .transpose()
    };
    let (since, until) = (time("since")?, time("until")?);
    Ok(Json(
        state
            .service
            .campaign_hourly_stats(id, since, until)
            .await?,
    ))
}

#[derive(Serialize, ToSchema)]
pub struct ChannelStatsReply {
    by_channel: Vec<crate::service::stats::Figures>,
    /// The currency of every cost.
    currency: String,
}

/// Every campaign's figures by channel; `?since=<RFC 3339>` limits them to executions triggered
/// since then.
#[utoipa::path(
    get,
    path = "/stats",
    tag = "campaigns",
    params(("since" = Option<chrono::DateTime<chrono::Utc>>, Query, description = "Only executions triggered since then")),
    responses((status = 200, description = "Figures by channel", body = ChannelStatsReply))
)]
pub async fn channel_stats(
    State(state): State<RestState>,
    QueryParams(params): QueryParams,
) -> Result<Json<ChannelStatsReply>> {
    let since = query_typed(&params, "since")
        .map(|s| parse_time("since", s))
        .transpose()?;
    Ok(Json(ChannelStatsReply {
        by_channel: state.service.channel_stats(since).await?,
        currency: state.service.settings().pricing.currency.to_string(),
    }))
}
