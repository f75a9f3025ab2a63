//! Telemetry shared by both binaries: logs (plain or JSON lines), OpenTelemetry traces exported
//! over OTLP when `OTEL_EXPORTER_OTLP_ENDPOINT` is set, W3C trace context helpers for carrying
//! a trace across RabbitMQ, and the Prometheus metrics recorder.

use std::collections::HashMap;

use lapin::types::{AMQPValue, FieldTable, ShortString};
use opentelemetry::propagation::{Extractor, Injector};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::{EnvFilter, Layer, fmt, prelude::*};

/// What is exported as trace spans: our spans, not the libraries' internals.
const TRACE_FILTER: &str =
    "info,h2=warn,hyper=warn,hyper_util=warn,tower=warn,tonic=warn,lapin=warn";

/// Keeps the trace exporter alive; [`Telemetry::shutdown`] flushes what is buffered.
#[must_use = "dropping it early stops trace export"]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Flushes and stops the trace exporter (blocking work runs off the async threads).
    pub async fn shutdown(self) {
        if let Some(p) = self.provider {
            let _ = tokio::task::spawn_blocking(move || p.shutdown()).await;
        }
    }
}

/// Installs the global subscriber: `RUST_LOG`-style filter (default `default_filter`), plain or
/// JSON log lines, and, when `OTEL_EXPORTER_OTLP_ENDPOINT` is set, OTLP trace export under
/// `service_name`. Call inside the Tokio runtime. A second call keeps the first subscriber.
pub fn init(default_filter: &str, json: bool, service_name: &'static str) -> Telemetry {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let logs = if json {
        fmt::layer().json().with_filter(filter).boxed()
    } else {
        fmt::layer()
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
            .with_filter(filter)
            .boxed()
    };
    let provider = otlp_provider(service_name);
    // Traces have their own filter, so quieter logs (RUST_LOG=warn) keep the spans.
    let traces = provider.as_ref().map(|p| {
        tracing_opentelemetry::layer()
            .with_tracer(p.tracer(service_name))
            .with_filter(EnvFilter::new(TRACE_FILTER))
            .boxed()
    });
    let installed = tracing_subscriber::registry()
        .with(logs)
        .with(traces)
        .try_init()
        .is_ok();
    if installed {
        opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
        if provider.is_some() {
            tracing::info!(service = service_name, "exporting traces over OTLP");
        }
    }
    Telemetry {
        provider: provider.filter(|_| installed),
    }
}

fn otlp_provider(service_name: &'static str) -> Option<SdkTracerProvider> {
    let endpoint = std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT")
        .ok()
        .filter(|e| !e.trim().is_empty())?;
    let exporter = match opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .build()
    {
        Ok(e) => e,
        Err(e) => {
            eprintln!(
                "OTEL_EXPORTER_OTLP_ENDPOINT={endpoint}: cannot build the exporter ({e}); traces off"
            );
            return None;
        }
    };
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name(service_name)
        .build();
    Some(
        SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(resource)
            .build(),
    )
}

struct MapCarrier<'a>(&'a mut HashMap<String, String>);

impl Injector for MapCarrier<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(key.to_owned(), value);
    }
}

impl Extractor for MapCarrier<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(String::as_str).collect()
    }
}

/// The W3C `traceparent` of the current span, when traces are exported.
pub fn current_traceparent() -> Option<String> {
    let cx = tracing::Span::current().context();
    let mut map = HashMap::new();
    opentelemetry::global::get_text_map_propagator(|p| {
        p.inject_context(&cx, &mut MapCarrier(&mut map))
    });
    map.remove("traceparent")
}

/// Makes `span` a child of the trace named by a W3C `traceparent`.
pub fn set_parent_traceparent(span: &tracing::Span, traceparent: &str) {
    let mut map = HashMap::from([("traceparent".to_owned(), traceparent.to_owned())]);
    let cx = opentelemetry::global::get_text_map_propagator(|p| p.extract(&MapCarrier(&mut map)));
    let _ = span.set_parent(cx);
}

/// AMQP headers carrying the current span's trace context.
pub fn amqp_trace_headers() -> FieldTable {
    let mut table = FieldTable::default();
    if let Some(tp) = current_traceparent() {
        table.insert(
            ShortString::from("traceparent"),
            AMQPValue::LongString(tp.into()),
        );
    }
    table
}

/// The `traceparent` carried in AMQP headers, if any.
pub fn amqp_traceparent(headers: Option<&FieldTable>) -> Option<String> {
    match headers?.inner().get("traceparent")? {
        AMQPValue::LongString(s) => Some(s.to_string()),
        AMQPValue::ShortString(s) => Some(s.to_string()),
        _ => None,
    }
}
/// How often histogram samples are folded into their buckets when no scrape does it.
const UPKEEP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);

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
        // A histogram keeps every sample recorded until an upkeep folds them into its buckets.
        // Scrapes run one, but a process nobody scrapes would grow with every message sent
        // (8 bytes and more a sample: ~80 MiB per worker over 10M messages), so upkeep runs
        // every few seconds whatever the scrapes.
        let upkeep = handle.clone();
        let _ = std::thread::Builder::new()
            .name("metrics-upkeep".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(UPKEEP_INTERVAL);
                    upkeep.run_upkeep();
                }
            });
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

/// Replaces the password of `scheme://user:password@host` with `***`, for the settings both
/// binaries log at start-up.
pub fn mask_url_password(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let rest = &url[scheme_end + 3..];
    let Some(at) = rest.find('@') else {
        return url.to_owned();
    };
    match rest[..at].split_once(':') {
        Some((user, _)) => format!("{}://{user}:***{}", &url[..scheme_end], &rest[at..]),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_passwords_only() {
        assert_eq!(
            mask_url_password("amqp://guest:guest@127.0.0.1:5672/%2f"),
            "amqp://guest:***@127.0.0.1:5672/%2f"
        );
        assert_eq!(
            mask_url_password("postgres://postgres@127.0.0.1/m"),
            "postgres://postgres@127.0.0.1/m"
        );
    }
}
