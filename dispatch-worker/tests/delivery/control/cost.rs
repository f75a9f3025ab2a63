//! Message cost and spend caps through real worker processes against HTTP vendor stand-ins:
//! three workers racing stop at exactly a campaign's spend cap, and after a failover each record
//! is charged the price of the provider that sent it, in the records and in the statistics
//! (REST and gRPC).

use std::time::{Duration, Instant};

use crm_proto::v1 as pb;
use crm_proto::v1::campaign_service_client::CampaignServiceClient;
use marketing_core::cost::{Amount, MessageCosts};
use serde_json::{Value, json};
use testkit::vendor::{HttpVendor, VendorMode};
use testkit::{TestApp, TestDb, TestQueues, authed, campaign_body, spawn_app_with, wait_until};

use super::{spread, workers};
use crate::common::{Process, customers, wait_final};

/// campaign-svc with `costs` and the workers' SMS provider, `http`.
async fn app_with_costs(costs: &'static str) -> TestApp {
    spawn_app_with(TestDb::new(), TestQueues::new(), |c| {
        c.cost.message_costs = MessageCosts::parse(costs).expect("prices parse");
        c.primaries.sms_provider = "http".into();
    })
    .await
}

/// Creates an SMS campaign to every `bulk` customer with `spend_cap`; returns its id.
async fn capped_campaign(app: &TestApp, spend_cap: &str) -> String {
    let mut body = campaign_body("capped");
    body["type"] = json!("sms");
    body["target_tags"] = json!(["bulk"]);
    body["content"] = json!("[客户姓名]，双11好礼");
    body["spend_cap"] = json!(spend_cap);
    let c = app.create_campaign(body).await;
    c["id"].as_str().expect("an id").to_owned()
}

async fn trigger(app: &TestApp, campaign: &str) {
    let (status, t) = app
        .post(
            &format!("/api/marketing/campaigns/{campaign}/trigger"),
            json!({}),
        )
        .await;
    assert_eq!(status, 202, "{t}");
    crate::common::wait_frozen(app, &t).await;
}

async fn stats(app: &TestApp, campaign: &str) -> Value {
    let (status, s) = app
        .get(&format!("/api/marketing/campaigns/{campaign}/stats"))
        .await;
    assert_eq!(status, 200, "{s}");
    s
}

fn micros(v: &Value) -> i64 {
    Amount::parse(v.as_str().expect("an amount is decimal text"))
        .expect("a decimal")
        .micros()
}

const CAPPED_RECIPIENTS: usize = 300;

#[tokio::test(flavor = "multi_thread")]
async fn three_workers_stop_at_exactly_the_spend_cap() {
    let app = app_with_costs("sms:http=0.05").await;
    let vendor = HttpVendor::start(VendorMode::Ok).await;
    customers(&app, CAPPED_RECIPIENTS).await;
    // 4.02 pays for 80 messages at 0.05, with 0.02 left that pays for none.
    let campaign = capped_campaign(&app, "4.02").await;

    let dry = app.simulate(&campaign).await;
    assert_eq!(
        dry["cost_estimate"],
        json!({"currency": "CNY", "provider": "http", "price": "0.05", "messages": 300,
               "cost": "15", "spend_cap": "4.02", "spend_cap_left": "4.02",
               "messages_within_cap": 80}),
        "{dry}"
    );

    let mut extra: Vec<String> = [
        "--sms-provider=http".to_owned(),
        format!("--sms-http-url={}", vendor.url()),
        format!("--sms-http-token={}", vendor.token),
        "--message-costs=sms:http=0.05".to_owned(),
    ]
    .into();
    extra.extend(spread());
    let _workers: Vec<Process> = workers(&app, &extra, 3);
    let started = Instant::now();
    trigger(&app, &campaign).await;
    wait_until(
        Duration::from_secs(60),
        "the campaign completed",
        || async {
            let (_, c) = app
                .get(&format!("/api/marketing/campaigns/{campaign}"))
                .await;
            c["status"] == "completed"
        },
    )
    .await;
    let took = started.elapsed();

    let sent = app.records_with_status(&campaign, "sent").await;
    let failed = app.records_with_status(&campaign, "failed").await;
    let capped = app
        .count(&format!(
            "SELECT count(*) AS n FROM marketing_record WHERE campaign_id = '{campaign}' \
             AND status = 'failed' AND error_message LIKE '%spend_cap_reached%'"
        ))
        .await;
    eprintln!(
        "spend cap: {sent} sent, {failed} failed ({capped} for the cap), {} at the vendor, \
         {} repeated keys, completed {} ms after the trigger",
        vendor.delivered_count(),
        vendor.duplicates(),
        took.as_millis()
    );
    assert!(sent * 50_000 <= 4_020_000, "{sent} × 0.05 within 4.02");
    assert_eq!(sent, 80, "exactly what the cap pays for");
    assert_eq!(vendor.delivered_count(), 80, "the vendor got exactly those");
    assert_eq!(failed, (CAPPED_RECIPIENTS - 80) as i64);
    assert_eq!(capped, failed, "every other record failed for the cap");

    let s = stats(&app, &campaign).await;
    assert_eq!(s["totals"]["sent"], 80, "{s}");
    assert_eq!(s["totals"]["failed"], CAPPED_RECIPIENTS - 80, "{s}");
    assert_eq!(s["totals"]["cost"], "4", "{s}");
    assert_eq!(s["by_execution"][0]["cost"], "4", "{s}");
    assert_eq!(s["currency"], "CNY", "{s}");
    assert_eq!(s["spend_cap"], "4.02", "{s}");
    assert_eq!(s["spend_cap_left"], "0.02", "{s}");

    let again = app.simulate(&campaign).await;
    assert_eq!(again["cost_estimate"]["spend_cap_left"], "0.02", "{again}");
    assert_eq!(again["cost_estimate"]["messages_within_cap"], 0, "{again}");
}

const FAILOVER_RECIPIENTS: usize = 300;

#[tokio::test(flavor = "multi_thread")]
async fn each_record_is_charged_the_price_of_the_provider_that_sent_it() {
    let prices = "sms:http=0.05,sms:http-secondary=0.03";
    let app = app_with_costs(prices).await;
    let primary = HttpVendor::start(VendorMode::Ok).await;
    let secondary = HttpVendor::start(VendorMode::Ok).await;
    customers(&app, FAILOVER_RECIPIENTS).await;
    // A cap far above the cost: every message reserves the dearer price (0.05) and is charged
    // its provider's, so what is left must be exactly the cap less the real cost.
    let campaign = capped_campaign(&app, "1000").await;
    let mut extra: Vec<String> = [
        "--sms-provider=http".to_owned(),
        format!("--sms-http-url={}", primary.url()),
        format!("--sms-http-token={}", primary.token),
        "--sms-secondary-provider=http".to_owned(),
        format!("--sms-secondary-http-url={}", secondary.url()),
        format!("--sms-secondary-http-token={}", secondary.token),
        "--sms-rate-limit=100".to_owned(),
        "--sms-secondary-rate-limit=100".to_owned(),
        "--breaker-threshold=3".to_owned(),
        "--breaker-cooldown-ms=500".to_owned(),
        format!("--message-costs={prices}"),
    ]
    .into();
    extra.extend(spread());
    let _workers = workers(&app, &extra, 2);
    trigger(&app, &campaign).await;
    wait_until(Duration::from_secs(30), "the primary sending", || async {
        primary.delivered_count() >= FAILOVER_RECIPIENTS / 5
    })
    .await;
    primary.set_mode(VendorMode::AlwaysUnavailable);
    wait_until(Duration::from_secs(30), "the secondary sending", || async {
        secondary.delivered_count() >= FAILOVER_RECIPIENTS / 5
    })
    .await;
    primary.set_mode(VendorMode::Ok);
    wait_final(&app, &campaign, Duration::from_secs(60)).await;

    let via_primary = primary.delivered();
    let via_secondary = secondary.delivered();
    assert_eq!(
        app.records_with_status(&campaign, "sent").await,
        FAILOVER_RECIPIENTS as i64
    );
    let mut records = Vec::new();
    for page in 1..=2 {
        let (status, list) = app
            .get(&format!(
                "/api/marketing/records?campaign_id={campaign}&page_size=200&page={page}"
            ))
            .await;
        assert_eq!(status, 200, "{list}");
        records.extend(list["records"].as_array().expect("records").clone());
    }
    assert_eq!(records.len(), FAILOVER_RECIPIENTS);
    for r in &records {
        let id = r["id"].as_str().expect("an id");
        let (provider, price) = if via_primary.contains_key(id) {
            ("http", "0.05")
        } else {
            assert!(via_secondary.contains_key(id), "{r}");
            ("http-secondary", "0.03")
        };
        assert_eq!(r["provider"], provider, "{r}");
        assert_eq!(r["cost"], price, "{r}");
    }
    let expected = Amount::from_micros(
        via_primary.len() as i64 * 50_000 + via_secondary.len() as i64 * 30_000,
    );
    eprintln!(
        "cost after failover: {} via the primary at 0.05, {} via the secondary at 0.03, {expected} in all",
        via_primary.len(),
        via_secondary.len()
    );
    assert!(!via_secondary.is_empty() && via_primary.len() > FAILOVER_RECIPIENTS / 5);

    let s = stats(&app, &campaign).await;
    assert_eq!(s["totals"]["cost"], expected.to_string(), "{s}");
    assert_eq!(s["by_execution"][0]["cost"], expected.to_string(), "{s}");
    assert_eq!(
        micros(&s["spend_cap_left"]),
        1_000_000_000 - expected.micros(),
        "every reservation settled at its provider's price: {s}"
    );
    let (status, by_channel) = app.get("/api/marketing/stats").await;
    assert_eq!(status, 200, "{by_channel}");
    let sms = by_channel["by_channel"]
        .as_array()
        .expect("by_channel")
        .iter()
        .find(|f| f["channel"] == "sms")
        .expect("an sms row")
        .clone();
    assert_eq!(sms["cost"], expected.to_string(), "{by_channel}");
    assert_eq!(by_channel["currency"], "CNY");

    let mut client = CampaignServiceClient::new(app.channel().await);
    let s = client
        .get_campaign_stats(authed(pb::GetCampaignStatsRequest {
            id: campaign.clone(),
        }))
        .await
        .expect("stats over gRPC")
        .into_inner();
    assert_eq!(s.totals.expect("totals").cost, expected.to_string(), "gRPC");
    assert_eq!(s.currency, "CNY");
    let channels = client
        .get_channel_stats(authed(pb::GetChannelStatsRequest { since: None }))
        .await
        .expect("channel stats over gRPC")
        .into_inner();
    let sms = channels
        .by_channel
        .iter()
        .find(|f| f.channel == "sms")
        .expect("an sms row");
    assert_eq!(sms.cost, expected.to_string());
}

#[tokio::test(flavor = "multi_thread")]
async fn messages_not_sent_give_their_reservation_back() {
    let app = app_with_costs("sms:http=0.05").await;
    let vendor = HttpVendor::start(VendorMode::Reject).await;
    customers(&app, 50).await;
    // Room for 20 messages: had the 50 refused ones kept their reservations, the last 30 would
    // have failed for the cap instead of reaching the vendor.
    let campaign = capped_campaign(&app, "1").await;
    let extra: Vec<String> = vec![
        "--sms-provider=http".to_owned(),
        format!("--sms-http-url={}", vendor.url()),
        format!("--sms-http-token={}", vendor.token),
        "--message-costs=sms:http=0.05".to_owned(),
        "--batch-size=10".to_owned(),
    ];
    let _workers = workers(&app, &extra, 1);
    trigger(&app, &campaign).await;
    wait_final(&app, &campaign, Duration::from_secs(30)).await;
    assert_eq!(vendor.requests(), 50, "every message reached the vendor");
    let capped = app
        .count(&format!(
            "SELECT count(*) AS n FROM marketing_record WHERE campaign_id = '{campaign}' \
             AND error_message LIKE '%spend_cap_reached%'"
        ))
        .await;
    assert_eq!(capped, 0);
    let s = stats(&app, &campaign).await;
    assert_eq!(s["totals"]["failed"], 50, "{s}");
    assert_eq!(s["totals"]["cost"], "0", "{s}");
    assert_eq!(s["spend_cap_left"], "1", "all given back: {s}");
}

#[test]
fn a_worker_refuses_prices_for_providers_it_cannot_have() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dispatch-worker"))
        .env_clear()
        .env("MESSAGE_COSTS", "sms:aliyn=0.045")
        .env("METRICS_ADDR", "127.0.0.1:0")
        .output()
        .expect("the worker runs");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("MESSAGE_COSTS entry `sms:aliyn`"), "{err}");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dispatch-worker"))
        .env_clear()
        .env("MESSAGE_COSTS", "sms:aliyun=0,05")
        .output()
        .expect("the worker runs");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("MESSAGE_COSTS"), "{err}");
}
