//! `SMS_RATE_LIMIT` holds in total across workers, while workers join and leave.

use std::time::Duration;

use testkit::vendor::{HttpVendor, VendorMode};
use testkit::wait_until;

use super::{excess, instants, rate, workers};
use crate::common::{customers, send_campaign, sms_vendor, wait_final};

const LIMIT: u32 = 100;
const RECIPIENTS: usize = 500;

#[tokio::test(flavor = "multi_thread")]
async fn the_rate_limit_holds_in_total_across_workers_joining_and_leaving() {
    let app = testkit::spawn_app().await;
    let vendor = HttpVendor::start(VendorMode::Ok).await;
    customers(&app, RECIPIENTS).await;
    let mut extra = sms_vendor(&vendor).to_vec();
    // Two consumers each with batches of 25: messages wait at the gate while a batch is claimed
    // or written, so the limit, not the worker, sets the pace (even on a busy machine).
    extra.extend(["--prefetch", "50", "--batch-size", "25", "--consumers", "2"].map(String::from));
    extra.extend(["--sms-rate-limit".into(), LIMIT.to_string()]);
    let mut running = workers(&app, &extra, 2);
    let campaign = send_campaign(&app, "sms", "hello").await;
    // A third worker joins a quarter of the way, one leaves (SIGKILL) half way: the limit is
    // the total whatever the number of workers (each alone would send 100/s).
    wait_until(Duration::from_secs(30), "a quarter sent", || async {
        vendor.delivered_count() >= RECIPIENTS / 4
    })
    .await;
    running.extend(workers(&app, &extra, 1));
    wait_until(Duration::from_secs(30), "half sent", || async {
        vendor.delivered_count() >= RECIPIENTS / 2
    })
    .await;
    let mut leaving = running.remove(0);
    leaving.0.kill().expect("SIGKILL a worker");
    let _ = leaving.0.wait();
    wait_final(&app, &campaign, Duration::from_secs(60)).await;

    assert_eq!(
        app.records_with_status(&campaign, "sent").await,
        RECIPIENTS as i64
    );
    assert_eq!(vendor.delivered_count(), RECIPIENTS);
    let at = instants(&vendor.arrivals());
    let limit = f64::from(LIMIT);
    let burst = (limit / 10.0).max(1.0);
    let achieved = rate(&at);
    let most = excess(&at, limit);
    eprintln!(
        "rate limit {LIMIT}/s, 2 → 3 → 2 worker processes: {} requests in {:.2} s, achieved \
         {achieved:.1}/s ({:+.1}%); largest excess over limit × interval {most:.1} (burst {burst})",
        at.len(),
        at.last().unwrap().duration_since(at[0]).as_secs_f64(),
        (achieved / limit - 1.0) * 100.0,
    );
    assert!(
        (achieved - limit).abs() <= limit * 0.1,
        "achieved {achieved:.1}/s, limit {limit}/s"
    );
    assert!(
        most <= burst,
        "an interval held {most:.1} requests over the limit (burst {burst})"
    );
}
