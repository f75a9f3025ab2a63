//! `POST /api/marketing/conversions`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::RestState;
use super::extract::JsonBody;
use crate::domain::conversion::{ConversionFields, NewConversion};
use crate::error::Result;
use crate::service::conversions::Conversion;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConversionBody {
    customer_id: Option<String>,
    record_id: Option<String>,
    external_id: Option<String>,
    kind: Option<String>,
    value_cents: Option<i64>,
    occurred_at: Option<String>,
}

#[derive(Serialize)]
pub struct ConversionView {
    #[serde(flatten)]
    conversion: Conversion,
    attributed: bool,
}

/// 201 with a new conversion; 200 with the first one when `external_id` was reported before.
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
