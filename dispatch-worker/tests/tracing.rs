//! One trace from the REST request through the relay's publish and the AMQP headers into the
//! worker's delivery spans, received by a real OTLP/gRPC collector. A test binary of its own:
//! the trace exporter is installed process-wide.

// Shared with the delivery tests; this binary uses only part of it.
#[allow(dead_code)]
#[path = "delivery/common.rs"]
mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{customers, worker_args, worker_process};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use serde_json::json;
use testkit::{campaign_body, spawn_app};

/// (service name, span name, trace id as hex) of every span received.
#[derive(Clone, Default)]
struct Collector(Arc<Mutex<Vec<(String, String, String)>>>);

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut spans = self.0.lock().unwrap();
        for rs in request.into_inner().resource_spans {
            let service = rs
                .resource
                .iter()
                .flat_map(|r| &r.attributes)
                .find(|kv| kv.key == "service.name")
                .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
                    Value::StringValue(s) => Some(s.clone()),
                    _ => None,
                })
                .unwrap_or_default();
            for ss in rs.scope_spans {
                for span in ss.spans {
                    let trace: String = span.trace_id.iter().map(|b| format!("{b:02x}")).collect();
                    spans.push((service.clone(), span.name, trace));
                }
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

#[test]
fn one_trace_spans_request_publish_and_delivery() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    // SAFETY: set before any other thread of this test binary reads the environment.
    unsafe {
        std::env::set_var("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint);
        std::env::set_var("OTEL_BSP_SCHEDULE_DELAY", "100");
    }
    runtime.block_on(async move {
        let collector = Collector::default();
        let server = tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(collector.clone()))
            .serve_with_incoming(tokio_stream_listener(listener));
        tokio::spawn(server);
        let _telemetry = marketing_core::telemetry::init("info", false, "campaign-svc");

        let app = spawn_app().await;
        customers(&app, 3).await;
        let args = worker_args(&app, &testkit::amqp_url(), &[] as &[&str]);
        let _worker = worker_process(
            &args,
            &[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
                ("OTEL_BSP_SCHEDULE_DELAY", "100"),
            ],
        );
        let mut body = campaign_body("traced");
        body["target_tags"] = json!(["bulk"]);
        let c = app.create_campaign(body).await;
        let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
        let resp = app
            .http
            .post(app.url(&format!(
                "/api/marketing/campaigns/{}/trigger",
                c["id"].as_str().unwrap()
            )))
            .bearer_auth(testkit::TOKEN)
            .header("traceparent", format!("00-{trace_id}-00f067aa0ba902b7-01"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 202);

        let in_trace = |service: &str, name: &str| {
            collector
                .0
                .lock()
                .unwrap()
                .iter()
                .filter(|(s, n, t)| s == service && n == name && t == trace_id)
                .count()
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while !(in_trace("campaign-svc", "request") >= 1
            && in_trace("campaign-svc", "relay.publish") >= 1
            && in_trace("dispatch-worker", "deliver") >= 3)
        {
            assert!(
                tokio::time::Instant::now() < deadline,
                "spans of both processes in trace {trace_id} expected; received: {:?}",
                collector.0.lock().unwrap()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let services: HashMap<String, usize> = collector
            .0
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, _, t)| t == trace_id)
            .fold(HashMap::new(), |mut m, (s, _, _)| {
                *m.entry(s.clone()).or_default() += 1;
                m
            });
        assert!(services.len() == 2, "{services:?}");
    });
}

/// The listener as the stream of connections tonic serves.
fn tokio_stream_listener(
    listener: tokio::net::TcpListener,
) -> impl futures::Stream<Item = std::io::Result<tokio::net::TcpStream>> {
    futures::stream::unfold(listener, |l| async move {
        let conn = l.accept().await.map(|(s, _)| s);
        Some((conn, l))
    })
}
