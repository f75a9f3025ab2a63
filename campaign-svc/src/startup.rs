//! Builds the application from its [`Config`] and runs both listeners until shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use tokio::net::TcpListener;

use crate::auth::Authenticator;
use crate::config::Config;
use crate::fanout::{Fanout, FanoutSettings, Publisher};
use crate::service::MarketingService;
use crate::supervise::{Health, supervise};
use crate::{grpc, rest};
use marketing_core::jobs::Topology;

/// A built, bound, not yet serving campaign-svc.
pub struct Application {
    fanout: Fanout,
    retention: crate::service::events::EventRetention,
    /// Makes a publisher (its own broker connection) for each loop that publishes.
    publisher: Box<dyn Fn() -> Publisher + Send>,
    health: Health,
    http: TcpListener,
    grpc: TcpListener,
    rest_router: axum::Router,
    grpc_router: axum::Router,
    limits: crate::serve::ConnectionLimits,
}

impl Application {
    /// Prepares the database (create, migrate), binds both ports and builds both transports.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        tracing::info!(config = %config.redacted(), "starting campaign-svc");
        // Install the metrics recorder before anything records.
        marketing_core::telemetry::prometheus();
        let pool = marketing_core::db::prepare(&config.database_url, config.database_pool_size)
            .await
            .context("preparing the database")?;
        let fanout = Fanout::new(pool.clone(), FanoutSettings::from_config(&config));
        let retention = crate::service::events::EventRetention {
            pool: pool.clone(),
            days: config.event_retention_days,
            batch: config.event_retention_batch.max(1),
            interval: Duration::from_secs(config.event_retention_interval_secs.max(1)),
        };
        let health = Health::default();
        let service = MarketingService::new(
            pool,
            crate::service::Settings::from_config(&config)?,
            fanout.clone(),
            health.clone(),
        );
        let publisher = {
            let (url, prefix) = (config.amqp_url.clone(), config.queue_prefix.clone());
            let (window, timeout) = (
                config.publish_window,
                Duration::from_secs(config.publish_timeout_secs.max(1)),
            );
            move || Publisher::new(&url, Topology::new(&prefix), window, timeout)
        };
        let (auth, generated) = Authenticator::from_config(
            config.api_tokens.as_deref(),
            config.admin_tokens.as_deref(),
        );
        if let Some(token) = generated {
            // Logged once, on purpose: without API_TOKENS this is the only way in.
            tracing::warn!(token = %token, "API_TOKENS is unset; generated a bearer token for this run");
        }
        let rest_router = rest::router(
            rest::RestState {
                service: service.clone(),
                auth: auth.clone(),
            },
            config.max_body_bytes,
        )
        .merge(crate::console::router(&config.console.console_dir))
        .layer(axum::middleware::from_fn_with_state(
            config.limits.body_timeout(),
            crate::serve::body_deadline,
        ))
        .layer(tower_http::trace::TraceLayer::new_for_http().make_span_with(request_span));
        let edge = grpc::edge::GrpcEdge::new(config.max_body_bytes)?;
        let grpc_router = grpc::routes(service, auth, config.max_body_bytes)
            .await?
            .into_axum_router()
            .layer(axum::middleware::from_fn_with_state(
                edge.clone(),
                grpc::edge::check,
            ))
            .layer(axum::middleware::from_fn_with_state(
                edge,
                crate::metrics::track_grpc,
            ))
            .layer(
                tower_http::trace::TraceLayer::new_for_grpc()
                    .make_span_with(request_span)
                    .on_failure(log_grpc_failure),
            );
        let http = TcpListener::bind(config.http_addr)
            .await
            .with_context(|| format!("binding HTTP_ADDR {}", config.http_addr))?;
        let grpc = TcpListener::bind(config.grpc_addr)
            .await
            .with_context(|| format!("binding GRPC_ADDR {}", config.grpc_addr))?;
        Ok(Application {
            fanout,
            retention,
            publisher: Box::new(publisher),
            health,
            http,
            grpc,
            rest_router,
            grpc_router,
            limits: config.limits,
        })
    }

    pub fn http_addr(&self) -> SocketAddr {
        self.http
            .local_addr()
            .expect("a bound listener has an address")
    }

    pub fn grpc_addr(&self) -> SocketAddr {
        self.grpc
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Serves until `shutdown` resolves, then lets in-flight requests finish. If a background
    /// loop stops on its own, readiness turns 503, serving stops and this returns the error (the
    /// process exits and is restarted) rather than answering while nothing is published.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        tracing::info!(http = %self.http_addr(), grpc = %self.grpc_addr(), "campaign-svc serving");
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let stop_tx = std::sync::Arc::new(stop_tx);
        let mut loops = self.fanout.start(self.publisher, stop_rx.clone());
        loops.push(self.retention.start(stop_rx.clone()));
        let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|s| *s).await;
        };
        let http = crate::serve::serve(
            self.http,
            self.rest_router,
            &self.limits,
            stopped(stop_rx.clone()),
        );
        let grpc = crate::serve::serve(
            self.grpc,
            self.grpc_router,
            &self.limits,
            stopped(stop_rx.clone()),
        );
        let on_signal = stop_tx.clone();
        tokio::spawn(async move {
            shutdown.await;
            tracing::info!("shutting down: finishing in-flight requests");
            let _ = on_signal.send(true);
        });
        let supervised = async {
            let outcome = supervise(loops, stop_rx, self.health).await;
            if outcome.is_err() {
                // Stop serving: the process exits with the loop's error.
                let _ = stop_tx.send(true);
            }
            outcome
        };
        let (outcome, (), ()) = tokio::join!(supervised, http, grpc);
        outcome
    }
}

/// Resolves on SIGINT or SIGTERM (what Kubernetes sends before killing a pod).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

/// Logs a failed gRPC call: at ERROR only when the failure is the service's own (`INTERNAL`,
/// `UNKNOWN`, `UNAVAILABLE`, …); a caller's mistake (`UNAUTHENTICATED`, `INVALID_ARGUMENT`,
/// `NOT_FOUND`, `FAILED_PRECONDITION`, …) is DEBUG, as REST's 4xx answers are not logged at all,
/// so no client can flood the error log. Metrics count both by code.
fn log_grpc_failure(
    class: tower_http::classify::GrpcFailureClass,
    latency: Duration,
    _span: &tracing::Span,
) {
    use tower_http::classify::{GrpcCode, GrpcFailureClass};
    let latency_ms = latency.as_millis() as u64;
    match class {
        GrpcFailureClass::Status(status) => match status.code() {
            Some(
                GrpcCode::Unknown
                | GrpcCode::Internal
                | GrpcCode::Unavailable
                | GrpcCode::DataLoss
                | GrpcCode::DeadlineExceeded,
            )
            | None => tracing::error!(%status, latency_ms, "gRPC call failed"),
            Some(_) => tracing::debug!(%status, latency_ms, "gRPC call refused"),
        },
        other => tracing::error!(failure = %other, latency_ms, "gRPC call failed"),
    }
}

/// A span per request, joined to the caller's trace when it sent a W3C `traceparent`.
fn request_span<B>(req: &axum::http::Request<B>) -> tracing::Span {
    let span = tracing::info_span!(
        "request",
        method = %req.method(),
        path = %req.uri().path(),
    );
    if let Some(tp) = req
        .headers()
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
    {
        marketing_core::telemetry::set_parent_traceparent(&span, tp);
    }
    span
}
