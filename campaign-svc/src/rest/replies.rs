//! `GET /api/marketing/replies`: inbound SMS kept as responses or opt-outs.

use axum::Json;
use axum::extract::State;
use serde::Serialize;

use super::extract::{QueryParams, query_int, query_str};
use super::{Pagination, RestState};
use crate::domain::{PageRequest, parse_uuid};
use crate::error::{Error, Result};
use crate::service::replies::{MAX_REPLY_PAGE, Reply, ReplyFilter};

#[derive(Serialize)]
pub struct ReplyList {
    replies: Vec<Reply>,
    pagination: Pagination,
}

pub async fn list(
    State(state): State<RestState>,
    QueryParams(params): QueryParams,
) -> Result<Json<ReplyList>> {
    let uuid = |name: &str| {
        query_str(&params, name)
            .map(|s| parse_uuid(name, s))
            .transpose()
    };
    let kind = match query_str(&params, "kind") {
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
