//! A channel's primary provider dies mid-campaign (answers 503, or takes messages and never
//! answers) and comes back: the breaker sends through the secondary meanwhile and back through
//! the primary after a probe. Nothing is lost, nothing goes out through both providers, and each
//! record names the provider that sent it.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use serde_json::Value;
use testkit::vendor::{HttpVendor, VendorMode};
use testkit::{TestApp, wait_until};

use super::{first_after, spread, workers};
use crate::common::{customers, send_campaign, wait_final};

const RECIPIENTS: usize = 900;

/// Every record of `campaign` as the REST API lists it.
async fn records(app: &TestApp, campaign: &str) -> Vec<Value> {
    let mut all = Vec::new();
    for page in 1.. {
        let (status, list) = app
            .get(&format!(
                "/api/marketing/records?campaign_id={campaign}&page_size=500&page={page}"
            ))
            .await;
        assert_eq!(status, 200, "{list}");
        let items = list["records"].as_array().expect("records").clone();
        if items.is_empty() {
            break;
        }
        all.extend(items);
    }
    all
}

async fn fails_over_and_back(outage: VendorMode, what: &str) {
    let app = testkit::spawn_app().await;
    let primary = HttpVendor::start(VendorMode::Ok).await;
    let secondary = HttpVendor::start(VendorMode::Ok).await;
    customers(&app, RECIPIENTS).await;
    let mut extra: Vec<String> = [
        "--sms-provider=http".to_owned(),
        format!("--sms-http-url={}", primary.url()),
        format!("--sms-http-token={}", primary.token),
        "--sms-secondary-provider=http".to_owned(),
        format!("--sms-secondary-http-url={}", secondary.url()),
        format!("--sms-secondary-http-token={}", secondary.token),
        // Slow enough for the outage to fall mid-campaign.
        "--sms-rate-limit=150".to_owned(),
        "--sms-secondary-rate-limit=150".to_owned(),
        "--breaker-threshold=3".to_owned(),
        "--breaker-cooldown-ms=500".to_owned(),
        "--provider-timeout-ms=300".to_owned(),
        // Messages the silent primary took wait for it: enough attempts to outlast the outage.
        "--max-attempts=12".to_owned(),
    ]
    .into();
    extra.extend(spread());
    let _workers = workers(&app, &extra, 2);
    let campaign = send_campaign(&app, "sms", "hello").await;
    wait_until(
        Duration::from_secs(30),
        "the primary mid-campaign",
        || async { primary.delivered_count() >= RECIPIENTS / 5 },
    )
    .await;
    let down = Instant::now();
    primary.set_mode(outage);
    let before_outage = primary.delivered_count();
    wait_until(Duration::from_secs(30), "the secondary sending", || async {
        secondary.delivered_count() >= RECIPIENTS / 5
    })
    .await;
    let up = Instant::now();
    primary.set_mode(VendorMode::Ok);
    wait_final(&app, &campaign, Duration::from_secs(60)).await;

    let failover = first_after(&secondary, down, 200).expect("the secondary took messages");
    let recovery = first_after(&primary, up, 200).expect("the primary took messages again");
    let via_primary: HashSet<String> = primary.delivered().into_keys().collect();
    let via_secondary: HashSet<String> = secondary.delivered().into_keys().collect();
    eprintln!(
        "failover ({what}): first message through the secondary {} ms after the primary went \
         down, back through the primary {} ms after it came back; {} via the primary ({} before \
         the outage), {} via the secondary; {} requests to the primary, {} repeated keys",
        failover.as_millis(),
        recovery.as_millis(),
        via_primary.len(),
        before_outage,
        via_secondary.len(),
        primary.requests(),
        primary.duplicates(),
    );
    assert_eq!(
        app.records_with_status(&campaign, "sent").await,
        RECIPIENTS as i64,
        "nothing lost"
    );
    let both: Vec<_> = via_primary.intersection(&via_secondary).collect();
    assert!(both.is_empty(), "sent through both providers: {both:?}");
    assert_eq!(via_primary.len() + via_secondary.len(), RECIPIENTS);
    assert_eq!(secondary.duplicates(), 0);
    assert!(
        via_primary.len() > before_outage,
        "the primary took messages again after the outage"
    );
    let records = records(&app, &campaign).await;
    assert_eq!(records.len(), RECIPIENTS);
    for r in &records {
        let id = r["id"].as_str().expect("an id");
        let expected = if via_primary.contains(id) {
            "http"
        } else {
            "http-secondary"
        };
        assert_eq!(r["provider"], expected, "{r}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_primary_answering_503_fails_over_to_the_secondary_and_back() {
    fails_over_and_back(VendorMode::AlwaysUnavailable, "503").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_silent_primary_fails_over_and_the_messages_it_took_stay_with_it() {
    fails_over_and_back(VendorMode::Hang, "silent").await;
}
