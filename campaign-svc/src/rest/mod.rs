//! The REST gateway (axum): thin handlers that parse, delegate to the service layer and shape
//! JSON exactly as the seed describes.

mod admin;
mod callbacks;
mod campaign_body;
mod campaigns;
mod conversions;
mod customers;
mod docs;
mod events;
mod executions;
pub mod extract;
mod idempotency;
mod journeys;
mod openapi;
mod records;
mod replies;
mod segments;
mod templates;
mod tracking;
mod webhooks;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json, Router};
use serde::Serialize;
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{ACTOR_HEADER, Authenticator};
use crate::domain::Page;
use crate::error::Error;
use crate::service::MarketingService;

/// What every handler can reach.
#[derive(Clone)]
pub struct RestState {
    pub service: MarketingService,
    pub auth: Authenticator,
}

/// Every route of the service, each with its OpenAPI operation: the one place listing them.
/// A handler joins with `.routes(routes!(module::handler))` (the handlers of one path in one
/// `routes!`), its `#[utoipa::path]` saying its method, path, parameters and answers; a route
/// added with a plain `.route(…)` is missing from the document and fails the test comparing the
/// two. `layer_api` wraps `/api/marketing/*` (the bearer token and `Idempotency-Key`).
fn all_routes(
    layer_api: impl FnOnce(OpenApiRouter<RestState>) -> OpenApiRouter<RestState>,
) -> OpenApiRouter<RestState> {
    let api = OpenApiRouter::new()
        .routes(routes!(campaigns::create, campaigns::list))
        .routes(routes!(campaigns::get, campaigns::update))
        .routes(routes!(campaigns::archive))
        .routes(routes!(campaigns::pause))
        .routes(routes!(campaigns::resume))
        .routes(routes!(executions::list))
        .routes(routes!(campaigns::trigger))
        .routes(routes!(campaigns::preview))
        .routes(routes!(campaigns::preview_unsaved))
        .routes(routes!(campaigns::stats))
        .routes(routes!(campaigns::hourly_stats))
        .routes(routes!(campaigns::channel_stats))
        .routes(routes!(templates::create, templates::list))
        .routes(routes!(
            templates::get,
            templates::update,
            templates::delete
        ))
        .routes(routes!(templates::preview))
        .routes(routes!(segments::create, segments::list))
        .routes(routes!(segments::count_rule))
        .routes(routes!(segments::get, segments::update, segments::delete))
        .routes(routes!(segments::count))
        .routes(routes!(executions::get))
        .routes(routes!(executions::events))
        .routes(routes!(records::list))
        .routes(routes!(replies::list))
        .routes(routes!(customers::upsert, customers::list))
        .routes(routes!(customers::bulk_upsert))
        .routes(routes!(customers::get, customers::erase))
        .routes(routes!(customers::add_opt_out))
        .routes(routes!(conversions::report))
        .routes(routes!(events::track))
        .routes(routes!(journeys::create, journeys::list))
        .routes(routes!(journeys::get, journeys::update))
        .routes(routes!(journeys::activate))
        .routes(routes!(journeys::pause))
        .routes(routes!(journeys::archive))
        .routes(routes!(journeys::enroll))
        .routes(routes!(journeys::stats))
        .routes(routes!(journeys::customer))
        .routes(routes!(admin::list))
        .routes(routes!(admin::replay));
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .nest("/api/marketing", layer_api(openapi::behind_bearer(api)))
        // The document and its interactive reference: open.
        .routes(routes!(docs::openapi_json))
        .routes(routes!(docs::page))
        .routes(routes!(docs::asset))
        // Links in messages: the signed token in the path is the authority.
        .routes(routes!(tracking::click))
        .routes(routes!(tracking::open))
        .routes(routes!(tracking::unsubscribe_page, tracking::unsubscribe))
        // Signed by the provider instead of bearer auth.
        .routes(routes!(webhooks::receive))
        // Vendors' own formats, each authenticated as its vendor does (see `callbacks`).
        .routes(routes!(callbacks::generic_replies))
        .routes(routes!(callbacks::aliyun_receipts))
        .routes(routes!(callbacks::aliyun_replies))
        .routes(routes!(callbacks::tencent_receipts))
        .routes(routes!(callbacks::tencent_replies))
        .routes(routes!(callbacks::twilio_receipts))
        .routes(routes!(callbacks::twilio_replies))
        .routes(routes!(callbacks::ses))
        .routes(routes!(callbacks::wechat_handshake, callbacks::wechat_push))
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
}

/// The OpenAPI document of [`router`], and the router it was generated with (without its
/// layers), for comparing the two.
pub fn openapi() -> (Router<RestState>, utoipa::openapi::OpenApi) {
    let (router, mut doc) = all_routes(|api| api).split_for_parts();
    openapi::finish(&mut doc);
    (router, doc)
}

/// Builds the REST router: `/api/marketing/*` behind bearer auth, provider webhooks behind their
/// signature, tracking links behind their signed tokens, health endpoints, the OpenAPI document
/// and its reference open.
pub fn router(state: RestState, max_body_bytes: usize) -> Router {
    let layered = state.clone();
    let (router, mut doc) = all_routes(move |api| {
        // Inside authentication: a key belongs to its caller.
        api.route_layer(middleware::from_fn_with_state(
            layered.clone(),
            idempotency::idempotent,
        ))
        .route_layer(middleware::from_fn_with_state(layered, authenticate))
        .route_layer(middleware::from_fn(crate::metrics::track_http))
    })
    .split_for_parts();
    openapi::finish(&mut doc);
    router
        .route_layer(middleware::from_fn(crate::metrics::track_http))
        .layer(Extension(docs::Document::new(&doc)))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(middleware::from_fn(json_errors))
        .with_state(state)
}

/// Gives every 4xx/5xx answer of the API and the webhooks the JSON error body, including those
/// the router writes itself (405 for an unsupported method, a path that does not decode, …).
/// The pages behind links in messages (`/t/…`, `/u/…`) are for people and keep theirs.
async fn json_errors(req: Request, next: Next) -> Response {
    let for_people = req.uri().path().starts_with("/t/") || req.uri().path().starts_with("/u/");
    let response = next.run(req).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if for_people || is_json || !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 4096)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let message = if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_owned()
    } else {
        text
    };
    let code = match status.as_u16() {
        400 => "invalid_argument",
        401 => "unauthenticated",
        403 => "permission_denied",
        422 => "unprocessable",
        404 => "not_found",
        405 => "method_not_allowed",
        408 => "request_timeout",
        409 => "failed_precondition",
        412 => "precondition_failed",
        413 => "payload_too_large",
        415 => "unsupported_media_type",
        429 => "resource_exhausted",
        500..=599 => "internal",
        _ => "client_error",
    };
    parts.headers.remove(CONTENT_LENGTH);
    parts
        .headers
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    let body =
        serde_json::to_vec(&crate::error::ErrorBody::new(code, message, None)).unwrap_or_default();
    Response::from_parts(parts, axum::body::Body::from(body))
}

async fn authenticate(State(state): State<RestState>, mut req: Request, next: Next) -> Response {
    let headers = req.headers();
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let outcome = state
        .auth
        .authenticate(header(AUTHORIZATION.as_str()), header(ACTOR_HEADER));
    match outcome {
        Ok(caller) => {
            req.extensions_mut().insert(caller);
            next.run(req).await
        }
        Err(e) => e.into_response(),
    }
}

/// `GET /metrics` in the Prometheus text format.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "service",
    responses((status = 200, description = "The Prometheus text format", content_type = "text/plain", body = String))
)]
async fn metrics(State(state): State<RestState>) -> String {
    marketing_core::telemetry::render_metrics(|| {
        marketing_core::telemetry::record_pool(state.service.pool());
    })
}

/// Liveness: the process answers.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "service",
    responses((status = 200, description = "`{\"status\": \"ok\"}`", body = Object))
)]
async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "ok"}))
}

/// Readiness: the database answers and every background loop runs.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "service",
    responses(
        (status = 200, description = "`{\"status\": \"ready\"}`", body = Object),
        (status = 503, description = "`{\"status\": \"unavailable\", …}` naming what is not", body = Object),
    )
)]
async fn readyz(State(state): State<RestState>) -> Response {
    if let Some(failure) = state.service.loop_failure() {
        return (
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({"status": "unavailable", "failed": failure})),
        )
            .into_response();
    }
    match state.service.ready().await {
        Ok(()) => Json(serde_json::json!({"status": "ready"})).into_response(),
        Err(e) => {
            tracing::warn!(error = ?e, "not ready");
            (
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                Json(serde_json::json!({"status": "unavailable", "database": "unreachable"})),
            )
                .into_response()
        }
    }
}

/// An answer with the `Location` of what it created (or started).
pub(crate) type Located<T> = (StatusCode, [(axum::http::HeaderName, String); 1], Json<T>);

/// A single resource with its `ETag`.
pub(crate) type Tagged<T> = ([(axum::http::HeaderName, String); 1], Json<T>);

/// Answers `view` with its `ETag` (see [`crate::domain::etag`]).
pub(crate) fn tagged<T: Serialize>(view: T) -> Tagged<T> {
    let tag = crate::domain::etag(&view);
    ([(axum::http::header::ETAG, tag)], Json(view))
}

/// The update's `If-Match` precondition (none without the header; a value that is not text
/// matches nothing).
pub(crate) fn if_match(headers: &axum::http::HeaderMap) -> crate::domain::IfMatch {
    crate::domain::IfMatch::parse(
        headers
            .get(axum::http::header::IF_MATCH)
            .map(|v| v.to_str().unwrap_or("\"unreadable\"")),
    )
}

/// A resource's address under the API, for `Location`.
pub(crate) fn location(path: std::fmt::Arguments<'_>) -> [(axum::http::HeaderName, String); 1] {
    [(
        axum::http::header::LOCATION,
        format!("/api/marketing{path}"),
    )]
}

async fn not_found() -> Error {
    Error::not_found("route", "requested")
}

/// The seed's pagination object.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Pagination {
    pub total: u64,
    pub page: u32,
    pub page_size: u32,
}

impl<T> From<&Page<T>> for Pagination {
    fn from(p: &Page<T>) -> Self {
        Pagination {
            total: p.total,
            page: p.request.page,
            page_size: p.request.page_size,
        }
    }
}
