//! `GET /api/marketing/replies`: inbound SMS kept as responses or opt-outs.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::{IntoParams, ToSchema};

use super::extract::{QueryParams, query_int, query_typed};
use super::{Pagination, RestState};
use crate::domain::{PageRequest, parse_uuid};
use crate::error::{Error, Result};
use crate::service::replies::{MAX_REPLY_PAGE, Reply, ReplyFilter};

#[derive(Serialize, ToSchema)]
pub struct ReplyList {
    replies: Vec<Reply>,
    pagination: Pagination,
}

/// The query of `GET /replies` (read by [`QueryParams`]).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // documents the query; the handler reads it by name
pub struct ReplyQuery {
    campaign_id: Option<uuid::Uuid>,
    record_id: Option<uuid::Uuid>,
    customer_id: Option<uuid::Uuid>,
    /// `opt_out` or `response`.
    #[param(pattern = "^(opt_out|response)$")]
    kind: Option<String>,
    #[param(minimum = 1, maximum = 2147483647)]
    page: Option<i64>,
    #[param(minimum = 1, maximum = 500)]
    page_size: Option<i64>,
}

/// Inbound SMS kept as responses or opt-outs, newest first.
#[utoipa::path(
    get,
    path = "/replies",
    tag = "replies",
    params(ReplyQuery),
    responses((status = 200, description = "A page of replies", body = ReplyList))
)]
pub async fn list(
    State(state): State<RestState>,
    QueryParams(params): QueryParams,
) -> Result<Json<ReplyList>> {
    let uuid = |name: &str| {
        query_typed(&params, name)
            .map(|s| parse_uuid(name, s))
            .transpose()
    };
    let kind = match query_typed(&params, "kind") {
        None => None,
        Some(k @ ("opt_out" | "response")) => Some(k.to_owned()),
        Some(other) => {
            return Err(Error::invalid(
                "kind",
                format!("`{other}` is not one of: opt_out response"),
            ));
        }
    };
    let filter = ReplyFilter {
        campaign_id: uuid("campaign_id")?,
        record_id: uuid("record_id")?,
        customer_id: uuid("customer_id")?,
        kind,
    };
    let page = PageRequest::parse(
        query_int(&params, "page")?,
        query_int(&params, "page_size")?,
        MAX_REPLY_PAGE,
    )?;
    let page = state.service.list_replies(filter, page).await?;
    Ok(Json(ReplyList {
        pagination: Pagination::from(&page),
        replies: page.items,
    }))
}
