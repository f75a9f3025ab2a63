//! `POST /api/marketing/events`: a batch of customer events, 202 with what was accepted.
//!
//! Unlike the other bodies, a batch is not refused whole for one bad item: the body is read as
//! JSON, `events` must be an array of 1 to 1,000, and each item is read on its own (a wrong
//! type, an unknown key or a NUL rejects that item only, naming its field).

use axum::Json;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;

use super::RestState;
use super::extract::{from_value, read_body};
use crate::domain::event::{EventFields, EventLimits, MAX_BATCH, NewEvent, TrackOutcome};
use crate::domain::text::{NUL_MESSAGE, nul_in_json};
use crate::error::{Error, Result};

/// One event of a batch.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventBody {
    /// Required: the caller's key, 1–200 characters; a repeat is a duplicate.
    #[schema(value_type = String, min_length = 1, max_length = 200)]
    event_id: Option<String>,
    /// The customer: `customer_id` or `external_id`, not both.
    #[schema(value_type = Option<uuid::Uuid>)]
    customer_id: Option<String>,
    external_id: Option<String>,
    /// Required: 1–100 characters.
    #[schema(value_type = String, min_length = 1, max_length = 100)]
    name: Option<String>,
    /// A JSON object of at most 16 KiB.
    #[schema(value_type = Option<Object>)]
    properties: Option<serde_json::Value>,
    /// Default now.
    #[schema(value_type = Option<chrono::DateTime<chrono::Utc>>)]
    occurred_at: Option<String>,
}

/// The body of `POST /events`. Read item by item (see the module's comment): an item that is not
/// an [`EventBody`] is listed in `rejected` and the rest are stored, so the items may be anything.
#[derive(ToSchema)]
#[schema(example = json!({"events": [
    {"event_id": "shop-8812", "customer_id": "0196f3a8-1c2d-7e4f-8a9b-0c1d2e3f4a5b", "name": "order_paid",
     "properties": {"amount": 129, "items": ["茶叶"]}, "occurred_at": "2026-11-30T20:15:00+08:00"},
    {"event_id": "app-77", "external_id": "nobody", "name": "app_open"}
]}))]
#[allow(dead_code)] // documents the body; the handler reads it item by item
pub struct EventBatch {
    /// 1 to 1,000 events, each an `EventBody`.
    #[schema(min_items = 1, max_items = 1000)]
    events: Vec<serde_json::Value>,
}

/// Item `index` of the batch, read and checked; errors name `events[index].…`.
fn parse_item(item: serde_json::Value, index: usize, limits: EventLimits) -> Result<NewEvent> {
    let prefix = format!("events[{index}]");
    if !item.is_object() {
        return Err(Error::invalid(prefix, "expected an event object"));
    }
    if let Some(field) = nul_in_json(&item, &prefix) {
        return Err(Error::invalid(field, NUL_MESSAGE));
    }
    let body: EventBody = from_value(item).map_err(|e| match e {
        Error::InvalidArgument { field, message } => {
            Error::invalid(format!("{prefix}.{field}"), message)
        }
        other => other,
    })?;
    let fields = EventFields {
        event_id: body.event_id,
        customer_id: body.customer_id,
        external_id: body.external_id,
        name: body.name,
        properties: body.properties,
        occurred_at: body.occurred_at,
    };
    NewEvent::parse(fields, index, limits)
}

/// Stores a batch of events; a bad item is rejected alone (in `rejected`), the rest stored.
#[utoipa::path(
    post,
    path = "/events",
    tag = "events",
    request_body = EventBatch,
    responses((status = 202, description = "What was stored", body = TrackOutcome))
)]
pub async fn track(
    State(state): State<RestState>,
    request: Request,
) -> Result<(StatusCode, Json<TrackOutcome>)> {
    let bytes = read_body(request, &state).await?;
    let body: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| Error::MalformedJson(e.to_string()))?;
    let serde_json::Value::Object(mut body) = body else {
        return Err(Error::invalid("body", "expected {\"events\": [ … ]}"));
    };
    if let Some(other) = body.keys().find(|k| k.as_str() != "events") {
        return Err(Error::invalid(
            other.clone(),
            "unknown field; expected `events`",
        ));
    }
    let Some(serde_json::Value::Array(items)) = body.remove("events") else {
        return Err(Error::invalid(
            "events",
            format!("is required: an array of 1 to {MAX_BATCH} events"),
        ));
    };
    if items.is_empty() || items.len() > MAX_BATCH {
        return Err(Error::invalid(
            "events",
            format!("must hold 1 to {MAX_BATCH} events, got {}", items.len()),
        ));
    }
    let limits = state.service.event_limits();
    let batch = items
        .into_iter()
        .enumerate()
        .map(|(i, item)| parse_item(item, i, limits))
        .collect();
    let outcome = state.service.track_events(batch).await?;
    Ok((StatusCode::ACCEPTED, Json(outcome)))
}
