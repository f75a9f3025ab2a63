//! Request metrics for both transports (`http_requests_total`, `http_request_duration_seconds`,
//! `grpc_requests_total`, `grpc_request_duration_seconds`); `GET /metrics` serves them (`rest`).
//!
//! Labels only take values from closed sets (the router's route templates, the standard HTTP
//! methods, the served gRPC methods and status codes), whatever a client sends: anyone can reach
//! these endpoints before authenticating, and a label per invented path or method would grow the
//! registry, `/metrics` and the process's memory without bound.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;

/// Counts and times a REST request under its route template (`/api/marketing/campaigns/{id}`).
pub async fn track_http(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = method_label(req.method());
    let start = Instant::now();
    let response = next.run(req).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("http_requests_total", "route" => route.clone(), "method" => method, "status" => status)
        .increment(1);
    metrics::histogram!("http_request_duration_seconds", "route" => route, "method" => method)
        .record(start.elapsed().as_secs_f64());
    response
}

/// The standard methods by name; anything else (`FOO /api/…`) is `unknown`.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "unknown",
    }
}

/// Counts and times a gRPC call by method and status code. A failed unary call carries its
/// `grpc-status` in the headers (trailers-only response); a successful one has none there.
/// Paths that are not served methods count as one `unknown` method.
pub async fn track_grpc(
    State(edge): State<crate::grpc::edge::GrpcEdge>,
    req: Request,
    next: Next,
) -> Response {
    let method = edge.method_label(req.uri().path()).to_string();
    let start = Instant::now();
    let response = next.run(req).await;
    let code = response
        .headers()
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i32>().ok())
        .map(|c| format!("{:?}", tonic::Code::from_i32(c)))
        .unwrap_or_else(|| "Ok".to_owned());
    metrics::counter!("grpc_requests_total", "method" => method.clone(), "code" => code)
        .increment(1);
    metrics::histogram!("grpc_request_duration_seconds", "method" => method)
        .record(start.elapsed().as_secs_f64());
    response
}
