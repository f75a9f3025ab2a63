//! Crash and outage tests: a worker killed with SIGKILL mid-campaign, and the broker connection
//! dropped mid-fan-out. Every recipient must reach the vendor exactly once.

use std::time::Duration;

use clap::Parser as _;

use testkit::vendor::{HttpVendor, VendorMode};
use testkit::{TcpProxy, TestDb, TestQueues, spawn_app_with, wait_until};

use crate::common::{
    customers, send_campaign, sms_vendor, start_worker_via, wait_final, worker_args, worker_process,
};

const RECIPIENTS: usize = 20_000;

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_killed_mid_campaign_loses_and_doubles_nothing() {
    let app = testkit::spawn_app().await;
    let vendor = HttpVendor::start(VendorMode::Ok).await;
    customers(&app, RECIPIENTS).await;
    let args = worker_args(&app, &testkit::amqp_url(), &sms_vendor(&vendor));
    let spawn = || worker_process(&args, &[]);
    let mut first = spawn();
    let campaign = send_campaign(&app, "sms", "亲爱的[客户姓名]").await;
    wait_until(
        Duration::from_secs(60),
        "the first worker to be mid-campaign",
        || async { vendor.delivered_count() >= 3_000 },
    )
    .await;
    first.0.kill().expect("SIGKILL the worker");
    let _ = first.0.wait();
    let killed_at = vendor.delivered_count();
    assert!(
        killed_at < RECIPIENTS,
        "killed before the end ({killed_at})"
    );
    let _second = spawn();
    wait_final(&app, &campaign, Duration::from_secs(180)).await;

    assert_eq!(
        app.records_with_status(&campaign, "sent").await,
        RECIPIENTS as i64
    );
    assert_eq!(
        vendor.delivered_count(),
        RECIPIENTS,
        "every recipient reached the vendor"
    );
    let delivered = vendor.delivered();
    let (_, records) = app
        .get(&format!(
            "/api/marketing/records?campaign_id={campaign}&page_size=1"
        ))
        .await;
    assert_eq!(records["pagination"]["total"], RECIPIENTS);
    assert!(delivered.contains_key(records["records"][0]["id"].as_str().unwrap()));
    eprintln!(
        "SIGKILL test: killed after {killed_at} deliveries; {} distinct deliveries, {} requests, {} repeated idempotency keys absorbed by the vendor",
        vendor.delivered_count(),
        vendor.requests(),
        vendor.duplicates()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn dropped_broker_connections_heal_without_losing_or_doubling() {
    let upstream: std::net::SocketAddr = "127.0.0.1:5672".parse().unwrap();
    let proxy = TcpProxy::start(upstream).await;
    let proxied = format!("amqp://guest:guest@{}/%2f", proxy.addr);
    let app = spawn_app_with(TestDb::new(), TestQueues::new(), |c| {
        c.amqp_url = proxied.clone();
        c.relay_page_size = 500;
    })
    .await;
    let vendor = HttpVendor::start(VendorMode::Ok).await;
    customers(&app, RECIPIENTS).await;
    let _w = start_worker_via(&app, &proxied, &sms_vendor(&vendor));
    let campaign = send_campaign(&app, "sms", "hello").await;
    let execution = app
        .count(&format!(
            "SELECT count(*) AS n FROM campaign_executions WHERE campaign_id = '{campaign}'"
        ))
        .await;
    assert_eq!(execution, 1);
    // Cut every connection (relay and worker) while the fan-out runs, twice.
    let mut cuts = 0;
    for threshold in [2_000i64, 8_000] {
        wait_until(Duration::from_secs(60), "fan-out progress", || async {
            app.count(&format!(
                "SELECT COALESCE(max(published_count), 0) AS n FROM campaign_executions WHERE campaign_id = '{campaign}'"
            ))
            .await
                >= threshold
        })
        .await;
        cuts += proxy.cut();
    }
    assert!(cuts >= 2, "connections were cut");
    wait_final(&app, &campaign, Duration::from_secs(180)).await;
    assert_eq!(
        app.records_with_status(&campaign, "sent").await,
        RECIPIENTS as i64
    );
    assert_eq!(vendor.delivered_count(), RECIPIENTS);
    eprintln!(
        "connection-drop test: {cuts} connections cut; {} distinct deliveries, {} requests, {} repeated keys absorbed",
        vendor.delivered_count(),
        vendor.requests(),
        vendor.duplicates()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_finishes_the_batch_in_hand_and_leaves_nothing_half_done() {
    let app = testkit::spawn_app().await;
    let vendor = HttpVendor::start(VendorMode::Ok).await;
    customers(&app, 5_000).await;
    let args = worker_args(&app, &testkit::amqp_url(), &sms_vendor(&vendor));
    let spawn = || worker_process(&args, &[]);
    let mut first = spawn();
    let campaign = send_campaign(&app, "sms", "hello").await;
    wait_until(
        Duration::from_secs(60),
        "the worker to be mid-campaign",
        || async { vendor.delivered_count() >= 500 },
    )
    .await;
    let status = std::process::Command::new("kill")
        .args(["-TERM", &first.0.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let exited = tokio::task::spawn_blocking(move || first.0.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(exited.success(), "graceful exit, got {exited}");
    let stopped_at = vendor.delivered_count();
    assert_eq!(
        app.records_with_status(&campaign, "sending").await,
        0,
        "no batch left half done"
    );
    assert!(stopped_at < 5_000, "stopped before the end ({stopped_at})");

    let _second = spawn();
    wait_final(&app, &campaign, Duration::from_secs(120)).await;
    assert_eq!(vendor.delivered_count(), 5_000);
    assert_eq!(
        vendor.duplicates(),
        0,
        "a graceful stop sends nothing twice"
    );
    assert_eq!(app.records_with_status(&campaign, "sent").await, 5_000);
}

#[tokio::test(flavor = "multi_thread")]
async fn dropped_database_connections_mid_batch_lose_and_double_nothing() {
    const N: usize = 5_000;
    let app = testkit::spawn_app().await;
    // The worker reaches PostgreSQL through a proxy that can cut its connections; campaign-svc
    // connects directly.
    let host_port = app
        .db
        .url
        .split_once('@')
        .and_then(|(_, rest)| rest.split_once('/'))
        .map(|(host_port, _)| host_port.to_owned())
        .expect("host:port in the test database URL");
    let upstream = tokio::net::lookup_host(&host_port)
        .await
        .unwrap()
        .next()
        .expect("the database host resolves");
    let proxy = TcpProxy::start(upstream).await;
    let vendor = HttpVendor::start(VendorMode::Ok).await;
    customers(&app, N).await;
    let mut args = worker_args(&app, &testkit::amqp_url(), &sms_vendor(&vendor));
    let url = args.iter().position(|a| a == "--database-url").unwrap() + 1;
    args[url] = args[url].replace(&host_port, &proxy.addr.to_string());
    assert!(args[url].contains(&proxy.addr.to_string()));
    let config = dispatch_worker::config::Config::try_parse_from(&args).unwrap();
    let (_worker, stopped) = testkit::stop_signal();
    tokio::spawn(dispatch_worker::run(config, stopped));

    let campaign = send_campaign(&app, "sms", "hello").await;
    // Cut every database connection of the worker three times while it delivers: batches lose
    // their transaction mid-send, mid-write or mid-claim.
    let mut cuts = 0;
    for delivered in [1_000, 2_500, 4_000] {
        wait_until(Duration::from_secs(60), "deliveries progress", || async {
            vendor.delivered_count() >= delivered
        })
        .await;
        cuts += proxy.cut();
    }
    assert!(cuts >= 3, "connections were cut ({cuts})");
    wait_final(&app, &campaign, Duration::from_secs(120)).await;
    assert_eq!(app.records_with_status(&campaign, "sent").await, N as i64);
    assert_eq!(
        vendor.delivered_count(),
        N,
        "every recipient reached the vendor"
    );
    assert_eq!(
        vendor.duplicates(),
        0,
        "the outcomes of batches already sent were written again, not sent again"
    );
    eprintln!(
        "database-drop test: {cuts} connections cut; {} distinct deliveries, {} requests",
        vendor.delivered_count(),
        vendor.requests()
    );
}
