//! Executions: each trigger of a campaign (or occurrence of a recurring one), real or simulated.

use std::convert::Infallible;

use axum::Json;
use axum::extract::{Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::{Stream, StreamExt as _};
use serde::Serialize;
use utoipa::ToSchema;

use super::extract::{QueryParams, query_int};
use super::{Pagination, RestState};
use crate::domain::execution::ExecutionView;
use crate::domain::{PageRequest, parse_uuid};
use crate::error::Result;
use crate::service::trigger::MAX_EXECUTION_PAGE;

/// An execution with its audience counts and (simulations) rendered samples.
#[utoipa::path(
    get,
    path = "/executions/{id}",
    tag = "executions",
    params(("id" = uuid::Uuid, Path, description = "The execution's id")),
    responses((status = 200, description = "The execution", body = ExecutionView))
)]
pub async fn get(
    State(state): State<RestState>,
    Path(id): Path<String>,
) -> Result<Json<ExecutionView>> {
    let id = parse_uuid("id", &id)?;
    Ok(Json(state.service.get_execution(id).await?.into()))
}

/// The execution's progress as Server-Sent Events: a `progress` event at once and whenever it
/// changes (at least every 10 s), the stream closing after the final one (completed or failed);
/// an `error` event if reading it fails.
#[utoipa::path(
    get,
    path = "/executions/{id}/events",
    tag = "executions",
    params(("id" = uuid::Uuid, Path, description = "The execution's id")),
    responses((
        status = 200,
        description = "`progress` events, each `data` a `Progress` in JSON, until the final one",
        content_type = "text/event-stream",
        body = ProgressEvent
    ))
)]
pub async fn events(
    State(state): State<RestState>,
    Path(id): Path<String>,
) -> Result<Sse<impl Stream<Item = std::result::Result<Event, Infallible>>>> {
    let id = parse_uuid("id", &id)?;
    let progress = state.service.watch_execution(id).await?;
    let events = progress.map(|p| {
        Ok(match p {
            Ok(p) => Event::default()
                .event("progress")
                .json_data(&p)
                .unwrap_or_else(|e| Event::default().event("error").data(e.to_string())),
            Err(e) => Event::default().event("error").data(e.to_string()),
        })
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}

/// One Server-Sent Event of `GET /executions/{id}/events`.
#[derive(ToSchema)]
#[allow(dead_code)] // documents the events the handler writes
pub struct ProgressEvent {
    /// `progress`, or `error` when reading the execution failed (then `data` says why).
    #[schema(pattern = "^(progress|error)$")]
    event: String,
    /// A `Progress` in JSON.
    data: String,
}

#[derive(Serialize, ToSchema)]
pub struct ExecutionList {
    executions: Vec<ExecutionView>,
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
        executions: page.items.into_iter().map(Into::into).collect(),
    }))
}
