//! `POST /webhooks/{provider}`: delivery receipts from the SMS and push vendors and e-mail
//! bounces. Outside the bearer auth: a webhook proves itself by its `X-Signature`, checked over
//! the raw body before anything is parsed.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use marketing_core::vocabulary::Channel;

use super::RestState;
use super::extract::parse_json;
use crate::domain::webhook::{SIGNATURE_HEADER, WebhookBody};
use crate::error::{Error, Result};
use crate::service::webhooks::WebhookOutcome;

pub async fn receive(
    State(state): State<RestState>,
    Path(provider): Path<String>,
    headers: HeaderMap,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Result<Json<WebhookOutcome>> {
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Error::PayloadTooLarge
        } else {
            Error::MalformedJson(rejection.body_text())
        }
    })?;
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
    let events = parse_json::<WebhookBody>(&body)?.parse()?;
    Ok(Json(state.service.apply_webhook(provider, events).await?))
}
