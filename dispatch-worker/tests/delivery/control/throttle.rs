//! A throttling answer (429 with `Retry-After`) to one request pauses the provider for every
//! worker, and the throttled messages are sent afterwards without counting as failed attempts
//! (the workers run with `--max-attempts 1`).

use std::time::Duration;

use testkit::vendor::{HttpVendor, VendorMode};

use super::{spread, workers};
use crate::common::{customers, send_campaign, sms_vendor, wait_final};

const RETRY_AFTER_SECS: u64 = 2;

/// Three workers send `recipients` messages (at `rate_limit` per second in total, when set); the
/// vendor throttles for 100 ms once a fifth are delivered. No request may reach it from any
/// worker between 300 ms after the first 429 (what was in flight and the workers' look at the
/// shared pause) and the end of its `Retry-After`.
async fn every_worker_pauses(recipients: usize, rate_limit: Option<u32>) {
    let app = testkit::spawn_app().await;
    let vendor = HttpVendor::start(VendorMode::ThrottleAfter {
        accepted: recipients / 5,
        for_ms: 100,
        retry_after_secs: RETRY_AFTER_SECS,
    })
    .await;
    customers(&app, recipients).await;
    let mut extra = sms_vendor(&vendor).to_vec();
    extra.extend(spread());
    extra.extend(["--max-attempts".into(), "1".into()]);
    if let Some(limit) = rate_limit {
        extra.extend(["--sms-rate-limit".into(), limit.to_string()]);
    }
    let _workers = workers(&app, &extra, 3);
    let campaign = send_campaign(&app, "sms", "hello").await;
    wait_final(&app, &campaign, Duration::from_secs(60)).await;

    assert_eq!(
        app.records_with_status(&campaign, "sent").await,
        recipients as i64,
        "throttled messages are sent afterwards, not failed (MAX_ATTEMPTS=1)"
    );
    assert_eq!(vendor.delivered_count(), recipients);
    let arrivals = vendor.arrivals();
    let throttled: Vec<_> = arrivals.iter().filter(|a| a.status == 429).collect();
    let first = throttled
        .iter()
        .map(|a| a.at)
        .min()
        .expect("the vendor throttled");
    let quiet_from = first + Duration::from_millis(300);
    let quiet_to = first + Duration::from_secs(RETRY_AFTER_SECS);
    let during: Vec<_> = arrivals
        .iter()
        .filter(|a| a.at > quiet_from && a.at < quiet_to)
        .map(|a| a.at.duration_since(first))
        .collect();
    let last_before = arrivals
        .iter()
        .filter(|a| a.at > first && a.at <= quiet_from)
        .map(|a| a.at.duration_since(first))
        .max()
        .unwrap_or_default();
    let resumed = arrivals
        .iter()
        .filter(|a| a.at >= quiet_to)
        .map(|a| a.at.duration_since(first))
        .min()
        .expect("sending resumed");
    eprintln!(
        "throttle ({}): {} requests answered 429; last request after the first 429 at +{} ms, \
         sending resumed at +{} ms (Retry-After {RETRY_AFTER_SECS} s)",
        rate_limit.map_or("unlimited".to_owned(), |l| format!("{l}/s in total")),
        throttled.len(),
        last_before.as_millis(),
        resumed.as_millis(),
    );
    assert!(
        during.is_empty(),
        "requests reached the vendor during the pause: {during:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_throttling_answer_pauses_every_worker_of_a_rate_limited_provider() {
    every_worker_pauses(600, Some(150)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_throttling_answer_pauses_every_worker_of_an_unlimited_provider() {
    every_worker_pauses(3_000, None).await;
}
