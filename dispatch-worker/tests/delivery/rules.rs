//! Send-time rules: opt-outs re-checked, retries, dead-lettering, permanent refusals, duplicates.

use std::time::Duration;

use marketing_core::jobs::SendJob;
use serde_json::json;
use testkit::vendor::{HttpVendor, VendorMode};
use testkit::{amqp_url, queue_depth, spawn_app, wait_until};

use crate::common::{customers, send_campaign, start_worker, wait_final};

fn sms_args(vendor: &HttpVendor) -> Vec<String> {
    vec![
        "--sms-provider".into(),
        "http".into(),
        "--sms-http-url".into(),
        vendor.url(),
        "--sms-http-token".into(),
        vendor.token.clone(),
    ]
}

fn refs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn opt_outs_after_the_trigger_are_honoured_at_send_time() {
    let app = spawn_app().await;
    let vendor = HttpVendor::start(VendorMode::Ok).await;
    let ids = customers(&app, 4).await;
    let campaign = send_campaign(&app, "sms", "hello").await;
    // Queued, not sent yet: two customers opt out now.
    app.post(
        &format!("/api/marketing/customers/{}/opt-outs", ids[0]),
        json!({"channel": "sms"}),
    )
    .await;
    app.post(
        &format!("/api/marketing/customers/{}/opt-outs", ids[1]),
        json!({"channel": "all"}),
    )
    .await;
    let args = sms_args(&vendor);
    let _w = start_worker(&app, &refs(&args));
    wait_final(&app, &campaign, Duration::from_secs(30)).await;
    assert_eq!(vendor.delivered_count(), 2);
    let (_, failed) = app
        .get(&format!(
            "/api/marketing/records?campaign_id={campaign}&status=failed"
        ))
        .await;
    assert_eq!(failed["pagination"]["total"], 2);
    for r in failed["records"].as_array().unwrap() {
        assert!(
            r["error_message"].as_str().unwrap().contains("opted out"),
            "{r}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn transient_failures_are_retried_until_they_succeed() {
    let app = spawn_app().await;
    let vendor = HttpVendor::start(VendorMode::FailFirst(2)).await;
    customers(&app, 10).await;
    let args = sms_args(&vendor);
    let _w = start_worker(&app, &refs(&args));
    let campaign = send_campaign(&app, "sms", "hello").await;
    wait_final(&app, &campaign, Duration::from_secs(30)).await;
    assert_eq!(app.records_with_status(&campaign, "sent").await, 10);
    assert_eq!(vendor.delivered_count(), 10);
    assert_eq!(vendor.requests(), 30, "two refusals and one success each");
    assert_eq!(
        queue_depth(&app.queues.topology().dead_letter_queue).await,
        0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn jobs_that_keep_failing_are_dead_lettered_and_their_records_failed() {
    let app = spawn_app().await;
    let vendor = HttpVendor::start(VendorMode::AlwaysUnavailable).await;
    customers(&app, 6).await;
    let mut args = sms_args(&vendor);
    args.extend(["--max-attempts".into(), "3".into()]);
    let _w = start_worker(&app, &refs(&args));
    let campaign = send_campaign(&app, "sms", "hello").await;
    wait_final(&app, &campaign, Duration::from_secs(30)).await;
    assert_eq!(vendor.delivered_count(), 0);
    assert_eq!(vendor.requests(), 18);
    let (_, failed) = app
        .get(&format!(
            "/api/marketing/records?campaign_id={campaign}&status=failed"
        ))
        .await;
    assert_eq!(failed["pagination"]["total"], 6);
    let reason = failed["records"][0]["error_message"].as_str().unwrap();
    assert!(
        reason.contains("failed 3 times") && reason.contains("503"),
        "{reason}"
    );
    let dlq = app.queues.topology().dead_letter_queue;
    wait_until(
        Duration::from_secs(10),
        "6 jobs in the dead-letter queue",
        || async { queue_depth(&dlq).await == 6 },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn permanent_refusals_fail_the_record_without_retrying() {
    let app = spawn_app().await;
    let vendor = HttpVendor::start(VendorMode::Reject).await;
    customers(&app, 3).await;
    let args = sms_args(&vendor);
    let _w = start_worker(&app, &refs(&args));
    let campaign = send_campaign(&app, "sms", "hello").await;
    wait_final(&app, &campaign, Duration::from_secs(30)).await;
    assert_eq!(vendor.requests(), 3, "no retries");
    assert_eq!(app.records_with_status(&campaign, "failed").await, 3);
    assert_eq!(
        queue_depth(&app.queues.topology().dead_letter_queue).await,
        0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_duplicated_job_does_not_send_twice() {
    let app = spawn_app().await;
    let vendor = HttpVendor::start(VendorMode::Ok).await;
    customers(&app, 3).await;
    let args = sms_args(&vendor);
    let _w = start_worker(&app, &refs(&args));
    let campaign = send_campaign(&app, "sms", "hello").await;
    wait_final(&app, &campaign, Duration::from_secs(30)).await;
    assert_eq!(vendor.requests(), 3);

    // Publish every job again, as a relay that crashed before moving its cursor would.
    let (_, records) = app
        .get(&format!("/api/marketing/records?campaign_id={campaign}"))
        .await;
    let conn = lapin::Connection::connect(&amqp_url(), Default::default())
        .await
        .unwrap();
    let ch = conn.create_channel().await.unwrap();
    for r in records["records"].as_array().unwrap() {
        let job = SendJob {
            record_id: r["id"].as_str().unwrap().parse().unwrap(),
            campaign_id: r["campaign_id"].as_str().unwrap().parse().unwrap(),
            execution_id: r["execution_id"].as_str().unwrap().parse().unwrap(),
            customer_id: r["customer_id"].as_str().unwrap().parse().unwrap(),
            channel: marketing_core::vocabulary::Channel::Sms,
        };
        ch.basic_publish(
            "".into(),
            app.queues.topology().send_queue.as_str().into(),
            Default::default(),
            &serde_json::to_vec(&job).unwrap(),
            Default::default(),
        )
        .await
        .unwrap();
    }
    let queue = app.queues.topology().send_queue;
    wait_until(Duration::from_secs(10), "duplicates consumed", || async {
        queue_depth(&queue).await == 0
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        vendor.requests(),
        3,
        "the duplicates were acknowledged without sending"
    );
    assert_eq!(app.records_with_status(&campaign, "sent").await, 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn unreadable_jobs_are_dead_lettered_and_the_rest_still_flow() {
    let app = spawn_app().await;
    let vendor = HttpVendor::start(VendorMode::Ok).await;
    customers(&app, 3).await;
    let args = sms_args(&vendor);
    let _w = start_worker(&app, &refs(&args));
    let campaign = send_campaign(&app, "sms", "hello").await;
    wait_final(&app, &campaign, Duration::from_secs(30)).await;
    let conn = lapin::Connection::connect(&amqp_url(), Default::default())
        .await
        .unwrap();
    let ch = conn.create_channel().await.unwrap();
    ch.basic_publish(
        "".into(),
        app.queues.topology().send_queue.as_str().into(),
        Default::default(),
        b"{not a job",
        Default::default(),
    )
    .await
    .unwrap();
    let dlq = app.queues.topology().dead_letter_queue;
    wait_until(
        Duration::from_secs(10),
        "the garbage in the dead-letter queue",
        || async { queue_depth(&dlq).await == 1 },
    )
    .await;
    // The worker keeps going: a second campaign is delivered.
    let second = send_campaign(&app, "sms", "again").await;
    wait_final(&app, &second, Duration::from_secs(30)).await;
    assert_eq!(vendor.delivered_count(), 6);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_provider_rate_limit_holds_sends_back() {
    let app = spawn_app().await;
    let vendor = HttpVendor::start(VendorMode::Ok).await;
    customers(&app, 60).await;
    let mut args = sms_args(&vendor);
    args.extend(["--sms-rate-limit".into(), "20".into()]);
    let _w = start_worker(&app, &refs(&args));
    let started = std::time::Instant::now();
    let campaign = send_campaign(&app, "sms", "hello").await;
    wait_final(&app, &campaign, Duration::from_secs(60)).await;
    // 60 messages at 20 per second, burst 2 (a tenth of a second's worth): nearly three
    // seconds, and at least two whatever the burst.
    assert!(
        started.elapsed() >= Duration::from_millis(1900),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(vendor.delivered_count(), 60);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_frequency_cap_is_checked_again_at_send_time() {
    // campaign-svc runs without a cap, so both campaigns get every customer; the worker caps at
    // 1 sms per customer per 24 h.
    let app = spawn_app().await;
    let vendor = HttpVendor::start(VendorMode::Ok).await;
    let ids = customers(&app, 4).await;
    let earlier = send_campaign(&app, "sms", "earlier").await;
    // Stand in for the earlier campaign's delivery without a worker: customer 0 was sent its
    // sms an hour ago (within the window), customer 1 thirty hours ago (outside it), and the
    // messages to customers 2 and 3 failed (a failure is not a message received). Their jobs
    // find final records and are acked without sending.
    app.sql(&format!(
        "UPDATE marketing_record SET status = 'sent', sent_at = now() - interval '1 hour'
         WHERE campaign_id = '{earlier}' AND customer_id = '{}'",
        ids[0]
    ))
    .await;
    app.sql(&format!(
        "UPDATE marketing_record SET status = 'delivered', sent_at = now() - interval '30 hours'
         WHERE campaign_id = '{earlier}' AND customer_id = '{}'",
        ids[1]
    ))
    .await;
    app.sql(&format!(
        "UPDATE marketing_record SET status = 'failed', error_message = 'set-up'
         WHERE campaign_id = '{earlier}' AND status = 'pending'"
    ))
    .await;
    let campaign = send_campaign(&app, "sms", "now").await;
    let mut args = sms_args(&vendor);
    args.extend(["--frequency-cap".into(), "1".into()]);
    let _w = start_worker(&app, &refs(&args));
    wait_final(&app, &campaign, Duration::from_secs(30)).await;

    assert_eq!(vendor.delivered_count(), 3, "customers 1, 2 and 3");
    assert_eq!(app.records_with_status(&campaign, "sent").await, 3);
    let (_, failed) = app
        .get(&format!(
            "/api/marketing/records?campaign_id={campaign}&status=failed"
        ))
        .await;
    assert_eq!(failed["pagination"]["total"], 1);
    let record = &failed["records"][0];
    assert_eq!(record["customer_id"], ids[0].as_str());
    assert_eq!(
        record["error_message"],
        "not sent: frequency cap reached (1 per 24 h on sms)"
    );
    // Counted as not sent in the campaign's statistics.
    assert_eq!(
        app.count(&format!(
            "SELECT sum(send_failed)::bigint AS n FROM campaign_stats WHERE campaign_id = '{campaign}'"
        ))
        .await,
        1
    );
}
