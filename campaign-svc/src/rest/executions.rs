//! Executions: each trigger of a campaign (or occurrence of a recurring one), real or simulated.

use axum::Json;
use axum::extract::{Path, State};
use serde::Serialize;
use utoipa::ToSchema;

use super::extract::{QueryParams, query_int};
use super::{Pagination, RestState};
use crate::domain::execution::Execution;
use crate::domain::{PageRequest, parse_uuid};
use crate::error::Result;
use crate::service::trigger::MAX_EXECUTION_PAGE;

/// An execution with its audience counts and (simulations) rendered samples.
#[utoipa::path(
    get,
    path = "/executions/{id}",
    tag = "executions",
    params(("id" = uuid::Uuid, Path, description = "The execution's id")),
    responses((status = 200, description = "The execution", body = Execution))
)]
pub async fn get(
    State(state): State<RestState>,
    Path(id): Path<String>,
) -> Result<Json<Execution>> {
    let id = parse_uuid("id", &id)?;
    Ok(Json(state.service.get_execution(id).await?))
}

#[derive(Serialize, ToSchema)]
pub struct ExecutionList {
    executions: Vec<Execution>,
    pagination: Pagination,
}

/// A campaign's executions, newest first (`page`, `page_size` up to 100).
#[utoipa::path(
    get,
    path = "/campaigns/{id}/executions",
    tag = "executions",
    params(
        ("id" = uuid::Uuid, Path, description = "The campaign's id"),
        ("page" = Option<i64>, Query, minimum = 1, maximum = 2147483647),
        ("page_size" = Option<i64>, Query, minimum = 1, maximum = 100),
    ),
    responses((status = 200, description = "A page of executions", body = ExecutionList))
)]
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
