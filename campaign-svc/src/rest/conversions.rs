//! `POST /api/marketing/conversions`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::RestState;
use super::extract::JsonBody;
use crate::domain::conversion::{ConversionFields, NewConversion};
use crate::error::Result;
use crate::service::conversions::Conversion;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "customer_id": "0196f3a8-1c2d-7e4f-8a9b-0c1d2e3f4a5b", "external_id": "order-1042",
    "kind": "purchase", "value_cents": 12900
}))]
pub struct ConversionBody {
    /// Required.
    #[schema(value_type = uuid::Uuid)]
    customer_id: Option<String>,
    /// The message credited (else the customer's latest one sent within the window).
    #[schema(value_type = Option<uuid::Uuid>)]
    record_id: Option<String>,
    /// The idempotency key (≤ 200 characters): a repeat answers the first conversion.
    #[schema(max_length = 200)]
    external_id: Option<String>,
    /// ≤ 50 characters, default `conversion`.
    #[schema(max_length = 50)]
    kind: Option<String>,
    #[schema(minimum = 0)]
    value_cents: Option<i64>,
    /// Default now; at most 5 minutes in the future.
    #[schema(value_type = Option<chrono::DateTime<chrono::Utc>>)]
    occurred_at: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ConversionView {
    #[serde(flatten)]
    conversion: Conversion,
    attributed: bool,
}

/// 201 with a new conversion; 200 with the first one when `external_id` was reported before.
#[utoipa::path(
    post,
    path = "/conversions",
    tag = "conversions",
    request_body = ConversionBody,
    responses(
        (status = 201, description = "Stored", body = ConversionView),
        (status = 200, description = "Reported before: the first one", body = ConversionView),
        (status = 409, description = "`record_id`'s message was never sent", body = crate::error::ErrorBody),
    )
)]
pub async fn report(
    State(state): State<RestState>,
    JsonBody(b): JsonBody<ConversionBody>,
) -> Result<(StatusCode, Json<ConversionView>)> {
    let new = NewConversion::parse(
        ConversionFields {
            customer_id: b.customer_id,
            record_id: b.record_id,
            external_id: b.external_id,
            kind: b.kind,
            value_cents: b.value_cents,
            occurred_at: b.occurred_at,
        },
        chrono::Utc::now(),
    )?;
    let (conversion, created) = state.service.report_conversion(new).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(ConversionView {
            attributed: conversion.attributed(),
            conversion,
        }),
    ))
}
