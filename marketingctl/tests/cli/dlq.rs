//! `dlq list` and `dlq replay` with jobs really dead-lettered by a worker whose vendor kept
//! failing: listing consumes nothing, replay delivers each message once, admins only.

use std::time::Duration;

use serde_json::json;
use testkit::vendor::{HttpVendor, VendorMode};
use testkit::{TOKEN, queue_depth, wait_until};

use crate::{ADMIN_TOKEN, ctl, customers, spawn_app, start_worker};

fn sms_args(vendor: &HttpVendor) -> Vec<String> {
    vec![
        "--sms-provider".into(),
        "http".into(),
        "--sms-http-url".into(),
        vendor.url(),
        "--sms-http-token".into(),
        vendor.token.clone(),
        "--max-attempts".into(),
        "2".into(),
    ]
}

/// Publishes `payload` straight into the dead-letter queue (a job dead-lettered twice).
async fn publish_to_dlq(queue: &str, payload: &[u8]) {
    let conn = lapin::Connection::connect(&testkit::amqp_url(), Default::default())
        .await
        .expect("broker");
    let ch = conn.create_channel().await.expect("channel");
    ch.confirm_select(Default::default())
        .await
        .expect("confirms");
    ch.basic_publish(
        "".into(),
        queue.into(),
        Default::default(),
        payload,
        lapin::BasicProperties::default().with_delivery_mode(2),
    )
    .await
    .expect("publish")
    .await
    .expect("confirm");
    let _ = conn.close(200, "done".into()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn dead_lettered_jobs_are_listed_without_loss_and_replayed_once() {
    let app = spawn_app().await;
    let vendor = HttpVendor::start(VendorMode::AlwaysUnavailable).await;
    customers(&app, "dl", 2).await;
    let _worker = start_worker(&app, &sms_args(&vendor));
    let mut body = testkit::campaign_body("Dead letters");
    body["target_tags"] = json!(["dl"]);
    body["content"] = json!("hello");
    let campaign = app.create_campaign(body).await;
    let campaign = campaign["id"].as_str().expect("id").to_owned();
    let (status, t) = app
        .post(
            &format!("/api/marketing/campaigns/{campaign}/trigger"),
            json!({}),
        )
        .await;
    assert_eq!(status, 202, "{t}");
    let dlq = app.queues.topology().dead_letter_queue;
    wait_until(Duration::from_secs(30), "2 dead-lettered jobs", || async {
        queue_depth(&dlq).await == 2
    })
    .await;
    assert_eq!(app.records_with_status(&campaign, "failed").await, 2);

    // Not an admin: refused, and nothing moves.
    let refused = ctl(&app, TOKEN, &["dlq", "list"]).await;
    assert_eq!(refused.code, 2, "{refused:?}");
    assert!(refused.stderr.contains("admin"), "{refused:?}");
    let refused = ctl(&app, TOKEN, &["dlq", "replay", "--all"]).await;
    assert_eq!(refused.code, 2, "{refused:?}");

    let listed = ctl(&app, ADMIN_TOKEN, &["dlq", "list", "-o", "json"]).await;
    assert_eq!(listed.code, 0, "{listed:?}");
    let first = listed.json();
    assert_eq!(first["total"], 2, "{first}");
    let letters = first["dead_letters"].as_array().expect("dead letters");
    assert_eq!(letters.len(), 2);
    for d in letters {
        assert_eq!(d["campaign_id"], campaign.as_str(), "{d}");
        assert_eq!(d["channel"], "sms");
        assert_eq!(d["reason"], "rejected", "{d}");
        assert_eq!(d["record_status"], "failed", "{d}");
        assert!(d["dead_lettered_at"].is_string(), "{d}");
        assert!(
            d["error_message"]
                .as_str()
                .unwrap_or_default()
                .contains("failed 2 times"),
            "{d}"
        );
    }
    // Listing consumed nothing and kept the order.
    assert_eq!(queue_depth(&dlq).await, 2);
    let again = ctl(&app, ADMIN_TOKEN, &["dlq", "list", "-o", "json"]).await;
    let ids = |v: &serde_json::Value| -> Vec<String> {
        v["dead_letters"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|d| d["record_id"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(ids(&again.json()), ids(&first));
    let table = ctl(&app, ADMIN_TOKEN, &["dlq", "list"]).await;
    assert!(
        table.stdout.contains("2 of 2 dead-lettered jobs shown"),
        "{table:?}"
    );

    // The vendor is back: replay one record.
    vendor.set_mode(VendorMode::Ok);
    let one = ids(&first)[0].clone();
    let replay = ctl(
        &app,
        ADMIN_TOKEN,
        &["dlq", "replay", "--record-id", &one, "-o", "json"],
    )
    .await;
    assert_eq!(replay.code, 0, "{replay:?}");
    assert_eq!(replay.json()["replayed"], 1, "{replay:?}");
    wait_until(
        Duration::from_secs(30),
        "the replayed message sent",
        || async { vendor.delivered_count() == 1 },
    )
    .await;
    assert!(
        vendor.delivered().contains_key(&one),
        "{:?}",
        vendor.delivered()
    );
    assert_eq!(queue_depth(&dlq).await, 1);
    wait_until(Duration::from_secs(10), "the record sent", || async {
        app.count(&format!(
            "SELECT count(*) AS n FROM marketing_record WHERE id = '{one}' AND status = 'sent'"
        ))
        .await
            == 1
    })
    .await;

    // A second copy of the job already delivered is not sent again.
    let job = json!({
        "record_id": one,
        "campaign_id": campaign,
        "execution_id": t["execution_id"],
        "customer_id": first["dead_letters"][0]["customer_id"],
        "channel": "sms",
    });
    publish_to_dlq(&dlq, job.to_string().as_bytes()).await;
    let replay = ctl(&app, ADMIN_TOKEN, &["dlq", "replay", "--all", "-o", "json"]).await;
    assert_eq!(replay.code, 0, "{replay:?}");
    let out = replay.json();
    assert_eq!(out["replayed"], 1, "{out}");
    assert_eq!(out["already_sent"], 1, "{out}");
    wait_until(Duration::from_secs(30), "both messages sent", || async {
        vendor.delivered_count() == 2
    })
    .await;
    assert_eq!(queue_depth(&dlq).await, 0);
    wait_until(
        Duration::from_secs(10),
        "the campaign completed",
        || async {
            app.records_with_status(&campaign, "sent").await == 2
                && app
                    .count(&format!(
                        "SELECT count(*) AS n FROM marketing_campaign \
                     WHERE id = '{campaign}' AND status = 'completed'"
                    ))
                    .await
                    == 1
        },
    )
    .await;
    // Nothing twice: one delivery per record, and the counters agree.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(vendor.delivered_count(), 2);
    assert_eq!(vendor.duplicates(), 0);
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM campaign_executions \
             WHERE campaign_id = '{campaign}' AND sent_count = 2 AND failed_count = 0"
        ))
        .await,
        1
    );
}
