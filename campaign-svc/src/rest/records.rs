//! `GET /api/marketing/records`.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::{IntoParams, ToSchema};

use super::extract::{QueryParams, query_cursor, query_int, query_str, query_typed};
use super::{Pagination, RestState};
use crate::domain::{PageRequest, parse_uuid, parse_word};
use crate::error::{Error, Result};
use crate::service::records::{MAX_RECORD_PAGE, Record, RecordFilter, RecordPaging};
use marketing_core::vocabulary::{Channel, RecordStatus};

#[derive(Serialize, ToSchema)]
pub struct RecordList {
    records: Vec<Record>,
    /// Numbered pages (`page`) only: the matching records and the page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pagination: Option<Pagination>,
    /// The cursor of the following page (`?cursor=`), `null` on the last page.
    next: Option<String>,
}

/// The query of `GET /records` (read by [`QueryParams`]).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // documents the query; the handler reads it by name
pub struct RecordQuery {
    /// The campaign whose records to list; required unless `customer_id` is given.
    campaign_id: Option<uuid::Uuid>,
    /// One customer's records (with `campaign_id`: in that campaign; alone: in every campaign).
    customer_id: Option<uuid::Uuid>,
    status: Option<RecordStatus>,
    channel: Option<Channel>,
    #[param(minimum = 1, maximum = 2147483647)]
    page: Option<i64>,
    #[param(minimum = 1, maximum = 500)]
    page_size: Option<i64>,
    /// Paging by cursor instead of `page`: `next` of the previous page, empty for the first.
    /// Not counted, and never repeats or skips a record while others are written or change.
    #[param(value_type = Option<String>, pattern = "^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})?$")]
    cursor: Option<String>,
}

/// A campaign's records (one message to one customer each), or a customer's in every campaign,
/// a page at a time: by number (`page`, counted) or by cursor (`cursor`, following `next`).
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
    let filter = RecordFilter {
        campaign_id: query_str(&params, "campaign_id")
            .map(|s| parse_uuid("campaign_id", s))
            .transpose()?,
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
    let paging = match query_cursor(&params)? {
        None => RecordPaging::Numbered(page),
        Some(_) if params.contains_key("page") => {
            return Err(Error::invalid(
                "cursor",
                "pages by cursor: it cannot be combined with `page`",
            ));
        }
        Some(after) => RecordPaging::After {
            after,
            limit: page.page_size,
        },
    };
    let slice = state.service.list_records(filter, paging).await?;
    Ok(Json(RecordList {
        pagination: slice.counted.map(|(total, page)| Pagination {
            total,
            page: page.page,
            page_size: page.page_size,
        }),
        records: slice.records,
        next: slice.next.map(|id| id.to_string()),
    }))
}
