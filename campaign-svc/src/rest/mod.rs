//! The REST gateway (axum): thin handlers that parse, delegate to the service layer and shape
//! JSON exactly as the seed describes.

mod admin;
mod callbacks;
mod campaigns;
mod conversions;
mod customers;
mod events;
mod executions;
pub mod extract;
mod idempotency;
mod journeys;
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
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;

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

/// Builds the REST router: `/api/marketing/*` behind bearer auth, provider webhooks behind their
/// signature, tracking links behind their signed tokens, health endpoints open.
pub fn router(state: RestState, max_body_bytes: usize) -> Router {
    let api = Router::new()
        .route("/campaigns", post(campaigns::create).get(campaigns::list))
        .route(
            "/campaigns/{id}",
            get(campaigns::get).put(campaigns::update),
        )
        .route("/campaigns/{id}/archive", post(campaigns::archive))
        .route("/campaigns/{id}/pause", post(campaigns::pause))
        .route("/campaigns/{id}/resume", post(campaigns::resume))
        .route("/campaigns/{id}/executions", get(executions::list))
        .route("/campaigns/{id}/trigger", post(campaigns::trigger))
        .route("/campaigns/{id}/preview", post(campaigns::preview))
        .route("/campaigns/{id}/stats", get(campaigns::stats))
        .route("/stats", get(campaigns::channel_stats))
        .route("/templates", post(templates::create).get(templates::list))
        .route(
            "/templates/{id}",
            get(templates::get)
                .put(templates::update)
                .delete(templates::delete),
        )
        .route("/templates/{id}/preview", post(templates::preview))
        .route("/segments", post(segments::create).get(segments::list))
        .route("/segments/count", post(segments::count_rule))
        .route(
            "/segments/{id}",
            get(segments::get)
                .put(segments::update)
                .delete(segments::delete),
        )
        .route("/segments/{id}/count", get(segments::count))
        .route("/executions/{id}", get(executions::get))
        .route("/executions/{id}/events", get(executions::events))
        .route("/records", get(records::list))
        .route("/replies", get(replies::list))
        .route("/customers", post(customers::upsert).get(customers::list))
        .route("/customers/bulk", post(customers::bulk_upsert))
        .route(
            "/customers/{id}",
            get(customers::get).delete(customers::erase),
        )
        .route("/customers/{id}/opt-outs", post(customers::add_opt_out))
        .route("/conversions", post(conversions::report))
        .route("/events", post(events::track))
        .route("/journeys", post(journeys::create).get(journeys::list))
        .route("/journeys/{id}", get(journeys::get).put(journeys::update))
        .route("/journeys/{id}/activate", post(journeys::activate))
        .route("/journeys/{id}/pause", post(journeys::pause))
        .route("/journeys/{id}/archive", post(journeys::archive))
        .route("/journeys/{id}/enroll", post(journeys::enroll))
        .route("/journeys/{id}/stats", get(journeys::stats))
        .route(
            "/journeys/{id}/customers/{customer_id}",
            get(journeys::customer),
        )
        .route("/admin/dead-letters", get(admin::list))
        .route("/admin/dead-letters/replay", post(admin::replay))
        // Inside authentication: a key belongs to its caller.
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            idempotency::idempotent,
        ))
        .route_layer(middleware::from_fn_with_state(state.clone(), authenticate))
        .route_layer(middleware::from_fn(crate::metrics::track_http));
    Router::new()
        .nest("/api/marketing", api)
        // Links in messages: the signed token in the path is the authority.
        .route("/t/c/{token}", get(tracking::click))
        .route("/t/o/{token}", get(tracking::open))
        .route(
            "/u/{token}",
            get(tracking::unsubscribe_page).post(tracking::unsubscribe),
        )
        // Signed by the provider instead of bearer auth.
        .route("/webhooks/{provider}", post(webhooks::receive))
        // Vendors' own formats, each authenticated as its vendor does (see `callbacks`).
        .route("/webhooks/sms/replies", post(callbacks::generic_replies))
        .route("/webhooks/sms/aliyun", post(callbacks::aliyun_receipts))
        .route(
            "/webhooks/sms/aliyun/replies",
            post(callbacks::aliyun_replies),
        )
        .route("/webhooks/sms/tencent", post(callbacks::tencent_receipts))
        .route(
            "/webhooks/sms/tencent/replies",
            post(callbacks::tencent_replies),
        )
        .route("/webhooks/sms/twilio", post(callbacks::twilio_receipts))
        .route(
            "/webhooks/sms/twilio/replies",
            post(callbacks::twilio_replies),
        )
        .route("/webhooks/email/ses", post(callbacks::ses))
        .route(
            "/webhooks/wechat/official-account",
            get(callbacks::wechat_handshake).post(callbacks::wechat_push),
        )
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route_layer(middleware::from_fn(crate::metrics::track_http))
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
    let body = serde_json::json!({"error": {"code": code, "message": message, "field": null}});
    Response::from_parts(parts, axum::body::Body::from(body.to_string()))
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
async fn metrics(State(state): State<RestState>) -> String {
    marketing_core::telemetry::render_metrics(|| {
        marketing_core::telemetry::record_pool(state.service.pool());
    })
}

async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "ok"}))
}

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
#[derive(Serialize)]
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
