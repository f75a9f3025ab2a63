//! dispatch-worker: consumes send jobs, delivers them through channel providers and writes each
//! record's status. Stateless; run as many replicas as the queue needs.

pub mod config;
pub mod consumer;
pub mod control;
pub mod dispatch;
pub mod health;
pub mod providers;
pub mod store;

use std::sync::Arc;

use anyhow::Context as _;
use std::time::Duration;

use config::Config;
use consumer::ConsumerSettings;
use control::Control;
use dispatch::{Dispatcher, Retry};
use marketing_core::jobs::Topology;
use providers::Providers;

/// Database connections of the providers' gates (a few statements a second each).
const GATE_CONNECTIONS: usize = 2;

/// Runs the worker until `shutdown` resolves, then drains and exits.
pub async fn run(
    config: Config,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    // Install the metrics recorder before anything records.
    marketing_core::telemetry::prometheus();
    tracing::info!(config = %config.redacted(), "starting dispatch-worker");
    config.check()?;
    let pool = marketing_core::db::pool(&config.database_url, config.database_pool_size)?;
    let links = health::BrokerLinks::default();
    let listener = tokio::net::TcpListener::bind(config.metrics_addr)
        .await
        .with_context(|| format!("binding METRICS_ADDR {}", config.metrics_addr))?;
    let providers = Providers::from_config(&config)?;
    // The gates' own connections: batches hold pooled connections while their messages wait at
    // a gate, so a gate drawing from the same pool could wait for itself.
    let gate_pool = marketing_core::db::pool(&config.database_url, GATE_CONNECTIONS)?;
    let control = Control::new(
        providers,
        &gate_pool,
        &config.control,
        &config.cost.message_costs,
    );
    let dispatcher = Arc::new(Dispatcher::new(
        pool.clone(),
        control,
        Retry {
            max_attempts: config.max_attempts.max(1),
            base: Duration::from_millis(config.retry_base_ms),
        },
        config.send_concurrency,
        config.tracking.frequency_cap(),
        config.tracking.signer(),
        config.delivery_modes(),
    ));
    let settings = ConsumerSettings {
        amqp_url: config.amqp_url.clone(),
        topology: Topology::new(&config.queue_prefix),
        prefetch: config.prefetch.max(1),
        batch_size: config.batch_size.max(1),
        batch_wait: Duration::from_millis(config.batch_wait_ms),
    };
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let probes = health::router(pool, links.clone());
    let mut probe_stop = stop_rx.clone();
    let probes = tokio::spawn(async move {
        let stopped = async move {
            let _ = probe_stop.wait_for(|s| *s).await;
        };
        axum::serve(listener, probes)
            .with_graceful_shutdown(stopped)
            .await
    });
    let consumers: Vec<_> = (0..config.consumers.max(1))
        .map(|i| {
            let name = format!("dispatch-worker {} #{i}", std::process::id());
            tokio::spawn(consumer::run(
                links.clone(),
                dispatcher.clone(),
                settings.clone(),
                stop_rx.clone(),
                name,
            ))
        })
        .collect();
    shutdown.await;
    tracing::info!("shutting down: finishing batches in hand");
    let _ = stop_tx.send(true);
    for c in consumers {
        let _ = c.await;
    }
    let _ = probes.await;
    tracing::info!("dispatch-worker stopped");
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
