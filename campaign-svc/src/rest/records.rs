//! `GET /api/marketing/records`.

use axum::Json;
use axum::extract::State;
use serde::Serialize;

use super::extract::{QueryParams, query_int, query_str};
use super::{Pagination, RestState};
use crate::domain::{PageRequest, parse_uuid, parse_word};
use crate::error::{Error, Result};
use crate::service::records::{MAX_RECORD_PAGE, Record, RecordFilter};

#[derive(Serialize)]
pub struct RecordList {
    records: Vec<Record>,
    pagination: Pagination,
}

pub async fn list(
    State(state): State<RestState>,
    QueryParams(params): QueryParams,
) -> Result<Json<RecordList>> {
    let campaign_id = query_str(&params, "campaign_id")
        .ok_or_else(|| Error::invalid("campaign_id", "is required"))?;
    let filter = RecordFilter {
        campaign_id: parse_uuid("campaign_id", campaign_id)?,
        customer_id: query_str(&params, "customer_id")
            .map(|s| parse_uuid("customer_id", s))
            .transpose()?,
        status: query_str(&params, "status")
            .map(|s| parse_word("status", s))
            .transpose()?,
        channel: query_str(&params, "channel")
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
