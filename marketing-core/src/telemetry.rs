//! Logging set-up shared by both binaries: `RUST_LOG`-style filter, plain or JSON lines.

use tracing_subscriber::{EnvFilter, fmt, prelude::*};

/// Installs the global subscriber. `json` switches to one JSON object per line.
pub fn init(default_filter: &str, json: bool) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let registry = tracing_subscriber::registry().with(filter);
    // A second call (tests start several apps in one process) keeps the first subscriber.
    let _ = if json {
        registry.with(fmt::layer().json()).try_init()
    } else {
        registry
            .with(fmt::layer().with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout())))
            .try_init()
    };
}

/// The process's Prometheus recorder, installed on first use (tests start several apps in one
/// process; they share it). Durations (`*_seconds`) are histograms.
pub fn prometheus() -> &'static metrics_exporter_prometheus::PrometheusHandle {
    use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
    static HANDLE: std::sync::OnceLock<metrics_exporter_prometheus::PrometheusHandle> =
        std::sync::OnceLock::new();
    HANDLE.get_or_init(|| {
        const BUCKETS: &[f64] = &[
            0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
        ];
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), BUCKETS)
            .expect("the bucket list is not empty");
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        // Fails only when another recorder is installed already; ours then stays unused.
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
}

/// Renders every metric in the Prometheus text format, after `refresh` updated the gauges that
/// are read at scrape time.
pub fn render_metrics(refresh: impl FnOnce()) -> String {
    let handle = prometheus();
    refresh();
    handle.run_upkeep();
    handle.render()
}

/// Publishes the pool's connection counts (`db_pool_connections{state}`).
pub fn record_pool(pool: &crate::db::PgPool) {
    let status = pool.status();
    let idle = status.available;
    let in_use = status.size.saturating_sub(idle);
    metrics::gauge!("db_pool_connections", "state" => "in_use").set(in_use as f64);
    metrics::gauge!("db_pool_connections", "state" => "idle").set(idle as f64);
}
