//! `POST /webhooks/{provider}`: delivery receipts from the SMS and push vendors and e-mail
//! bounces. Outside the bearer auth: a webhook proves itself by its `X-Signature`, checked over
//! the raw body before anything is parsed.

use axum::Json;
use axum::extract::{Path, Request, State};
use axum::http::HeaderMap;
use marketing_core::vocabulary::Channel;

use super::RestState;
use super::extract::read_body;
use crate::domain::webhook::{SIGNATURE_HEADER, WebhookBatch};
use crate::error::{Error, Result};
use crate::service::webhooks::WebhookOutcome;

/// Delivery receipts of one channel's provider, signed with `WEBHOOK_SECRET` over the raw body.
#[utoipa::path(
    post,
    path = "/webhooks/{provider}",
    tag = "webhooks",
    params(
        ("provider" = Channel, Path, description = "The channel whose provider reports"),
        ("X-Signature" = String, Header, description = "`t=<unix seconds>,v1=<hex HMAC-SHA256 of \"<t>.<body>\">`"),
    ),
    request_body(content = Object, description = "`{\"events\": [{\"event_id\", \"record_id\", \"status\", …}]}`",
        example = json!({"events": [{"event_id": "evt-1", "record_id": "0196f3a8-1c2d-7e4f-8a9b-0c1d2e3f4a5b", "status": "delivered"}]})),
    responses((status = 200, description = "What the events did", body = WebhookOutcome))
)]
pub async fn receive(
    State(state): State<RestState>,
    Path(provider): Path<String>,
    headers: HeaderMap,
    request: Request,
) -> Result<Json<WebhookOutcome>> {
    let body = read_body(request, &state).await?;
    let provider: Channel = provider
        .parse()
        .map_err(|_| Error::not_found("webhook provider", &provider))?;
    let signature = headers
        .get(SIGNATURE_HEADER)
        .map(|v| {
            v.to_str()
                .map_err(|_| Error::BadSignature("X-Signature is not ASCII"))
        })
        .transpose()?;
    state.service.verify_webhook(signature, &body)?;
    let body: serde_json::Value =
        serde_json::from_slice(&body).map_err(|e| Error::MalformedJson(e.to_string()))?;
    let batch = WebhookBatch::parse(body)?;
    Ok(Json(state.service.apply_webhook(provider, batch).await?))
}
