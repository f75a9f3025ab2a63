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
