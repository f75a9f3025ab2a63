//! `GET /api/marketing/records`.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::{IntoParams, ToSchema};

use super::extract::{QueryParams, query_int, query_str, query_typed};
use super::{Pagination, RestState};
use crate::domain::{PageRequest, parse_uuid, parse_word};
use crate::error::{Error, Result};
use crate::service::records::{MAX_RECORD_PAGE, Record, RecordFilter};
use marketing_core::vocabulary::{Channel, RecordStatus};

#[derive(Serialize, ToSchema)]
pub struct RecordList {
    records: Vec<Record>,
    pagination: Pagination,
}

/// The query of `GET /records` (read by [`QueryParams`]).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // documents the query; the handler reads it by name
pub struct RecordQuery {
    campaign_id: uuid::Uuid,
    customer_id: Option<uuid::Uuid>,
    status: Option<RecordStatus>,
    channel: Option<Channel>,
    #[param(minimum = 1, maximum = 2147483647)]
    page: Option<i64>,
    #[param(minimum = 1, maximum = 500)]
    page_size: Option<i64>,
}

/// A campaign's records (one message to one customer each), a page at a time.
#[utoipa::path(
    get,
    path = "/records",
    tag = "records",
    params(RecordQuery),
    responses((status = 200, description = "A page of records", body = RecordList))
)]
pub async fn list(
    State(state): State<RestState>,
    QueryParams(params): QueryParams,
) -> Result<Json<RecordList>> {
    let campaign_id = query_str(&params, "campaign_id")
        .ok_or_else(|| Error::invalid("campaign_id", "is required"))?;
    let filter = RecordFilter {
        campaign_id: parse_uuid("campaign_id", campaign_id)?,
        customer_id: query_typed(&params, "customer_id")
            .map(|s| parse_uuid("customer_id", s))
            .transpose()?,
        status: query_typed(&params, "status")
            .map(|s| parse_word("status", s))
            .transpose()?,
        channel: query_typed(&params, "channel")
            .map(|s| parse_word("channel", s))
            .transpose()?,
    };
    let page = PageRequest::parse(
        query_int(&params, "page")?,
        query_int(&params, "page_size")?,
        MAX_RECORD_PAGE,
    )?;
    let page = state.service.list_records(filter, page).await?;
    Ok(Json(RecordList {
        pagination: Pagination::from(&page),
        records: page.items,
    }))
}
