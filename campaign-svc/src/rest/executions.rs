//! Executions: each trigger of a campaign (or occurrence of a recurring one), real or simulated.

use axum::Json;
use axum::extract::{Path, State};
use serde::Serialize;

use super::extract::{QueryParams, query_int};
use super::{Pagination, RestState};
use crate::domain::execution::Execution;
use crate::domain::{PageRequest, parse_uuid};
use crate::error::Result;
use crate::service::trigger::MAX_EXECUTION_PAGE;

/// An execution with its audience counts and (simulations) rendered samples.
pub async fn get(
    State(state): State<RestState>,
    Path(id): Path<String>,
) -> Result<Json<Execution>> {
    let id = parse_uuid("id", &id)?;
    Ok(Json(state.service.get_execution(id).await?))
}

#[derive(Serialize)]
pub struct ExecutionList {
    executions: Vec<Execution>,
    pagination: Pagination,
}

/// A campaign's executions, newest first (`page`, `page_size` up to 100).
pub async fn list(
    State(state): State<RestState>,
    Path(id): Path<String>,
    QueryParams(params): QueryParams,
) -> Result<Json<ExecutionList>> {
    let id = parse_uuid("id", &id)?;
    let page = PageRequest::parse(
        query_int(&params, "page")?,
        query_int(&params, "page_size")?,
        MAX_EXECUTION_PAGE,
    )?;
    let page = state.service.list_executions(id, page).await?;
    Ok(Json(ExecutionList {
        pagination: Pagination::from(&page),
        executions: page.items,
    }))
}
