//! `/api/marketing/campaigns` handlers.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};

use super::extract::{
    JsonBody, OptionalJsonBody, QueryParams, double_option, query_int, query_str,
};
use super::{Located, Pagination, RestState, Tagged, if_match, location, tagged};
use crate::auth::Caller;
use crate::domain::campaign::{
    Campaign, CampaignFields, CampaignFilter, CampaignPatch, NewCampaign,
};
use crate::domain::execution::Sample;
use crate::domain::variant::VariantFields;
use crate::domain::{PageRequest, parse_time, parse_uuid, parse_word};
use crate::error::Result;
use crate::service::campaigns::MAX_CAMPAIGN_PAGE;
use crate::service::preview::PreviewTarget;
use marketing_core::vocabulary::ExecutionType;

/// The create/update body: the seed's fields. Every field optional here so that the domain
/// parser, shared with gRPC, names what is missing.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CampaignBody {
    name: Option<String>,
    #[serde(rename = "type")]
    channel: Option<String>,
    #[serde(default)]
    target_tags: Option<Vec<String>>,
    #[serde(default, deserialize_with = "double_option")]
    target_segment_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    content_template_id: Option<Option<String>>,
    content: Option<String>,
    variants: Option<Vec<VariantBody>>,
    #[serde(default, deserialize_with = "double_option")]
    start_time: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    end_time: Option<Option<String>>,
    /// `{"kind": "once"}` or `{"kind": "recurring", "cron", "time_zone"}`.
    trigger: Option<serde_json::Value>,
    #[serde(default, deserialize_with = "double_option")]
    send_at_local: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    time_zone: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    quiet_hours: Option<Option<serde_json::Value>>,
    /// Decimal text (`"500.00"`) or a JSON number; `null` clears it.
    #[serde(default, deserialize_with = "double_option")]
    spend_cap: Option<Option<serde_json::Value>>,
}

/// One A/B variant: `{"key": "A", "weight": 50, "content": "…"}` or `{"weight": 50,
/// "template_id": "…"}`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariantBody {
    key: Option<String>,
    weight: Option<i64>,
    content: Option<String>,
    template_id: Option<String>,
}

impl CampaignBody {
    fn into_fields(self) -> Result<CampaignFields> {
        let uuid = |field: &str, v: Option<Option<String>>| {
            v.map(|o| o.map(|s| parse_uuid(field, &s)).transpose())
                .transpose()
        };
        let time = |field: &str, v: Option<Option<String>>| {
            v.map(|o| o.map(|s| parse_time(field, &s)).transpose())
                .transpose()
        };
        Ok(CampaignFields {
            name: self.name,
            channel: self.channel,
            target_tags: self.target_tags,
            target_segment_id: uuid("target_segment_id", self.target_segment_id)?,
            content_template_id: uuid("content_template_id", self.content_template_id)?,
            content: self.content,
            variants: self
                .variants
                .map(|vs| {
                    vs.into_iter()
                        .enumerate()
                        .map(|(i, v)| {
                            Ok(VariantFields {
                                key: v.key,
                                weight: v.weight,
                                content: v.content,
                                template_id: v
                                    .template_id
                                    .filter(|t| !t.is_empty())
                                    .map(|t| parse_uuid(&format!("variants[{i}].template_id"), &t))
                                    .transpose()?,
                            })
                        })
                        .collect::<Result<Vec<_>>>()
                })
                .transpose()?,
            start_time: time("start_time", self.start_time)?,
            end_time: time("end_time", self.end_time)?,
            trigger: self.trigger,
            send_at_local: self.send_at_local,
            time_zone: self.time_zone,
            quiet_hours: self.quiet_hours,
            spend_cap: self
                .spend_cap
                .map(|v| v.map(spend_cap_text).transpose())
                .transpose()?,
        })
    }
}

/// A spend cap as sent: decimal text, or a JSON number taken as the decimal it was written as
/// (`12.5`, not a float's binary expansion).
fn spend_cap_text(v: serde_json::Value) -> Result<String> {
    match v {
        serde_json::Value::String(s) => Ok(s),
        serde_json::Value::Number(n) => Ok(n.to_string()),
        _ => Err(crate::error::Error::invalid(
            "spend_cap",
            "must be a decimal amount such as \"500.00\" (or null)",
        )),
    }
}

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

#[derive(Serialize)]
pub struct CampaignList {
    campaigns: Vec<Campaign>,
    pagination: Pagination,
}

pub async fn list(
    State(state): State<RestState>,
    QueryParams(params): QueryParams,
) -> Result<Json<CampaignList>> {
    let filter = CampaignFilter {
        status: query_str(&params, "status")
            .map(|s| parse_word("status", s))
            .transpose()?,
        channel: query_str(&params, "type")
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

pub async fn get(
    State(state): State<RestState>,
    Path(id): Path<String>,
) -> Result<Tagged<Campaign>> {
    let id = parse_uuid("id", &id)?;
    Ok(tagged(state.service.get_campaign(id).await?))
}

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

pub async fn archive(
    State(state): State<RestState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<Campaign>> {
    let id = parse_uuid("id", &id)?;
    Ok(Json(state.service.archive_campaign(caller, id).await?))
}

/// Pauses a recurring campaign: no occurrence runs until it is resumed.
pub async fn pause(
    State(state): State<RestState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<Campaign>> {
    let id = parse_uuid("id", &id)?;
    Ok(Json(state.service.pause_campaign(caller, id).await?))
}

/// Resumes a paused recurring campaign at its next occurrence from now.
pub async fn resume(
    State(state): State<RestState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<Campaign>> {
    let id = parse_uuid("id", &id)?;
    Ok(Json(state.service.resume_campaign(caller, id).await?))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TriggerBody {
    execution_type: Option<String>,
}

#[derive(Serialize)]
pub struct TriggerReply {
    status: &'static str,
    message: String,
    execution_id: uuid::Uuid,
}

/// Sends now (`actual`, the default) or dry-runs (`simulation`); the body is optional.
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

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreviewBody {
    customer_id: Option<String>,
    limit: Option<i64>,
}

#[derive(Serialize)]
pub struct PreviewReply {
    previews: Vec<Sample>,
}

/// Renders the campaign for one customer (`customer_id`) or the first `limit` recipients of its
/// audience (default 5); sends nothing.
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

/// Counts and rates, in total and per A/B variant.
pub async fn stats(
    State(state): State<RestState>,
    Path(id): Path<String>,
) -> Result<Json<crate::service::stats::CampaignStats>> {
    let id = parse_uuid("id", &id)?;
    Ok(Json(state.service.campaign_stats(id).await?))
}

#[derive(Serialize)]
pub struct ChannelStatsReply {
    by_channel: Vec<crate::service::stats::Figures>,
    /// The currency of every cost.
    currency: String,
}

/// Every campaign's figures by channel; `?since=<RFC 3339>` limits them to executions triggered
/// since then.
pub async fn channel_stats(
    State(state): State<RestState>,
    QueryParams(params): QueryParams,
) -> Result<Json<ChannelStatsReply>> {
    let since = query_str(&params, "since")
        .map(|s| parse_time("since", s))
        .transpose()?;
    Ok(Json(ChannelStatsReply {
        by_channel: state.service.channel_stats(since).await?,
        currency: state.service.settings().pricing.currency.to_string(),
    }))
}
