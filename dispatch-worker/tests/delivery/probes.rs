//! The worker's probes and metrics, on a worker process of its own (its own metrics registry).

use std::time::Duration;

use testkit::vendor::{HttpVendor, VendorMode};
use testkit::{TcpProxy, http_client, read, spawn_app, wait_until};

use crate::common::{
    customers, send_campaign, sms_vendor, wait_final, worker_args, worker_process,
};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread")]
async fn readiness_follows_the_broker_and_metrics_count_deliveries() {
    let app = spawn_app().await;
    let vendor = HttpVendor::start(VendorMode::Ok).await;
    customers(&app, 5).await;
    let proxy = TcpProxy::start("127.0.0.1:5672".parse().unwrap()).await;
    let amqp = format!("amqp://guest:guest@{}/%2f", proxy.addr);
    let port = free_port();
    let mut args = worker_args(&app, &amqp, &sms_vendor(&vendor));
    let addr = format!("127.0.0.1:{port}");
    let at = args.iter().position(|a| a == "--metrics-addr").unwrap();
    args[at + 1] = addr.clone();
    let _worker = worker_process(&args, &[]);
    let http = http_client();
    let get = |path: &'static str| {
        let http = http.clone();
        let addr = addr.clone();
        async move {
            match http.get(format!("http://{addr}{path}")).send().await {
                Ok(r) => read(r).await,
                Err(_) => (0, serde_json::Value::Null),
            }
        }
    };
    wait_until(Duration::from_secs(20), "worker ready", || async {
        get("/readyz").await.0 == 200
    })
    .await;
    assert_eq!(get("/healthz").await.0, 200);

    let campaign = send_campaign(&app, "sms", "hi").await;
    wait_final(&app, &campaign, Duration::from_secs(30)).await;
    let (_, metrics) = get("/metrics").await;
    let text = metrics.as_str().unwrap_or_default().to_owned();
    assert!(
        text.contains(r#"worker_deliveries_total{channel="sms",outcome="sent"} 5"#),
        "{text}"
    );
    assert!(
        text.contains("worker_provider_duration_seconds_bucket"),
        "{text}"
    );
    assert!(text.contains("db_pool_connections"), "{text}");

    // The broker becomes unreachable: the worker stays alive but is not ready.
    drop(proxy);
    wait_until(Duration::from_secs(20), "worker unready", || async {
        get("/readyz").await.0 == 503
    })
    .await;
    assert_eq!(get("/healthz").await.0, 200);
}
