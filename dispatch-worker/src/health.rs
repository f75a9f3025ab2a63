//! The worker's HTTP endpoints for Kubernetes and Prometheus: `/healthz` (the process runs),
//! `/readyz` (a consumer is connected to the broker and the database answers) and `/metrics`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use diesel_async::RunQueryDsl as _;
use marketing_core::db::PgPool;

/// Consumers currently connected to the broker.
#[derive(Clone, Default)]
pub struct BrokerLinks(Arc<AtomicUsize>);

impl BrokerLinks {
    /// Counts a connected consumer until the returned guard is dropped.
    pub fn connected(&self) -> LinkGuard {
        self.0.fetch_add(1, Ordering::SeqCst);
        LinkGuard(self.0.clone())
    }

    pub fn count(&self) -> usize {
        AtomicUsize::load(&self.0, Ordering::SeqCst)
    }
}

pub struct LinkGuard(Arc<AtomicUsize>);

impl Drop for LinkGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[derive(Clone)]
struct Probe {
    pool: PgPool,
    links: BrokerLinks,
}

pub fn router(pool: PgPool, links: BrokerLinks) -> Router {
    Router::new()
        .route(
            "/healthz",
            get(|| async { Json(serde_json::json!({"status": "ok"})) }),
        )
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(Probe { pool, links })
}

async fn database_answers(pool: &PgPool) -> bool {
    let check = async {
        let mut conn = pool.get().await.ok()?;
        diesel::sql_query("SELECT 1").execute(&mut conn).await.ok()
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(2), check).await,
        Ok(Some(_))
    )
}

async fn readyz(State(p): State<Probe>) -> (StatusCode, Json<serde_json::Value>) {
    let database = database_answers(&p.pool).await;
    let consumers = p.links.count();
    let ready = database && consumers > 0;
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = serde_json::json!({
        "status": if ready { "ready" } else { "unavailable" },
        "database": if database { "ok" } else { "unreachable" },
        "broker_consumers": consumers,
    });
    (status, Json(body))
}

async fn metrics(State(p): State<Probe>) -> String {
    marketing_core::telemetry::render_metrics(|| marketing_core::telemetry::record_pool(&p.pool))
}
