//! The audience is frozen in chunks the relay publishes as they commit: with chunks and pages
//! much smaller than the audience, every recipient still gets exactly one record and one job,
//! the counts add up across chunks, and a freeze left half-way by a dead replica is resumed.

use std::time::Duration;

use serde_json::json;
use testkit::{TestApp, queue_depth, wait_until};

/// `n` customers tagged VIP with a phone, `opted_out` of them opted out of sms, `no_phone`
/// more VIP without a phone, and `others` without the tag; bulk order is not id order.
async fn customers(app: &TestApp, n: usize, opted_out: usize, no_phone: usize, others: usize) {
    let mut list = Vec::new();
    for i in 0..n {
        list.push(
            json!({"external_id": format!("vip-{i}"), "name": format!("客户{i}"),
                         "phone": format!("+86138{i:08}"), "tags": ["VIP"]}),
        );
    }
    for i in 0..no_phone {
        list.push(json!({"external_id": format!("nophone-{i}"), "email": format!("n{i}@example.com"), "tags": ["VIP"]}));
    }
    for i in 0..others {
        list.push(json!({"external_id": format!("other-{i}"), "phone": format!("+86139{i:08}"), "tags": ["other"]}));
    }
    list.reverse();
    let (status, out) = app
        .post(
            "/api/marketing/customers/bulk",
            json!({ "customers": list }),
        )
        .await;
    assert_eq!(status, 200, "{out}");
    app.sql(&format!(
        "INSERT INTO customer_opt_outs (customer_id, channel)
         SELECT id, 'sms' FROM customers WHERE external_id LIKE 'vip-%' ORDER BY external_id LIMIT {opted_out}",
    ))
    .await;
}

/// Waits until the execution counts `n` jobs published and the queue holds them, then checks
/// that no more arrive (no job published twice; no worker runs in these tests).
async fn published_once(app: &TestApp, execution: &str, n: u64) {
    let queue = app.queues.topology().send_queue;
    wait_until(Duration::from_secs(15), "every job published", || async {
        app.get(&format!("/api/marketing/executions/{execution}"))
            .await
            .1["published"]
            == n
    })
    .await;
    wait_until(Duration::from_secs(5), "every job in the queue", || async {
        u64::from(queue_depth(&queue).await) == n
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(u64::from(queue_depth(&queue).await), n);
}

async fn sms_campaign(app: &TestApp) -> String {
    let c = app
        .create_campaign(
            json!({"name": "chunked", "type": "sms", "target_tags": ["VIP"],
                                "content": "您好 {{ name }}"}),
        )
        .await;
    c["id"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_audience_frozen_in_many_chunks_gets_one_record_and_one_job_per_recipient() {
    let app = testkit::spawn_app_with(testkit::TestDb::new(), testkit::TestQueues::new(), |c| {
        c.freeze_chunk = 4;
        c.relay_page_size = 3;
        // Fewer confirms in flight than a page: publishes go out in batches cut by the window.
        c.publish_window = 2;
    })
    .await;
    // 40 VIPs (5 opted out) + 3 VIPs without a phone + 6 others: 49 customers, 43 considered.
    customers(&app, 40, 5, 3, 6).await;
    let id = sms_campaign(&app).await;
    let (status, t) = app
        .post(&format!("/api/marketing/campaigns/{id}/trigger"), json!({}))
        .await;
    assert_eq!(status, 202, "{t}");
    let execution = t["execution_id"].as_str().unwrap().to_owned();
    let e = crate::frozen(&app, &execution).await;
    assert_eq!(e["planned"], 35, "{e}");
    assert_eq!(
        e["skipped"],
        json!({"opted_out": 5, "no_address": 3, "frequency_capped": 0})
    );
    assert_eq!(
        app.count(&format!(
            "SELECT count(DISTINCT customer_id) AS n FROM marketing_record WHERE campaign_id = '{id}'"
        ))
        .await,
        35
    );
    assert_eq!(app.records_with_status(&id, "pending").await, 35);

    // Exactly one job per record: nothing published twice across chunk and page boundaries.
    published_once(&app, &execution, 35).await;

    let (_, stats) = app
        .get(&format!("/api/marketing/campaigns/{id}/stats"))
        .await;
    assert_eq!(stats["totals"]["planned"], 35, "{stats}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_freeze_left_half_way_by_a_dead_replica_is_resumed_by_another() {
    let app = testkit::spawn_app_with(testkit::TestDb::new(), testkit::TestQueues::new(), |c| {
        c.freeze_chunk = 5;
        c.relay_lease_secs = 1;
    })
    .await;
    customers(&app, 30, 0, 0, 4).await;
    let id = sms_campaign(&app).await;
    // What a replica leaves when it dies after its first chunk of 8 (its own chunk size): the
    // campaign active, the execution with its content, 8 records, the counts and cursor of that
    // chunk, and a lease that runs out in 2 s. By then this replica's relay is already
    // publishing the execution and waiting for more chunks: it must resume the freeze itself.
    let execution = uuid::Uuid::now_v7();
    app.sql(&format!(
        "UPDATE marketing_campaign SET status = 'active', actual_start_time = now() WHERE id = '{id}'"
    ))
    .await;
    app.sql(&format!(
        "INSERT INTO campaign_executions (id, campaign_id, execution_type, status, planned, contents,
                                          materialize_done, materialize_lease_until, materialized_upto)
         VALUES ('{execution}', '{id}', 'actual', 'running', 8,
                 '[{{\"body\": \"您好 {{{{ name }}}}\"}}]',
                 false, now() + interval '2 seconds',
                 (SELECT id FROM customers WHERE 'VIP' = ANY(tags) ORDER BY id OFFSET 7 LIMIT 1))"
    ))
    .await;
    app.sql(&format!(
        "INSERT INTO marketing_record (id, campaign_id, execution_id, customer_id, channel, status)
         SELECT uuid_v7(), '{id}', '{execution}', id, 'sms', 'pending'
         FROM customers WHERE 'VIP' = ANY(tags) ORDER BY id LIMIT 8"
    ))
    .await;
    app.sql(&format!(
        "INSERT INTO campaign_stats (execution_id, variant, campaign_id, channel, planned)
         VALUES ('{execution}', '', '{id}', 'sms', 8)"
    ))
    .await;

    wait_until(Duration::from_secs(20), "the freeze to be resumed", || async {
        app.count(&format!(
            "SELECT count(*) AS n FROM campaign_executions WHERE id = '{execution}' AND materialize_done"
        ))
        .await
            == 1
    })
    .await;
    // Every VIP exactly once: the 8 written before the crash are not written again.
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM marketing_record WHERE campaign_id = '{id}'"
        ))
        .await,
        30
    );
    assert_eq!(
        app.count(&format!(
            "SELECT count(DISTINCT customer_id) AS n FROM marketing_record WHERE campaign_id = '{id}'"
        ))
        .await,
        30
    );
    let (_, e) = app
        .get(&format!("/api/marketing/executions/{execution}"))
        .await;
    assert_eq!(e["planned"], 30, "{e}");
    let (_, stats) = app
        .get(&format!("/api/marketing/campaigns/{id}/stats"))
        .await;
    assert_eq!(stats["totals"]["planned"], 30, "{stats}");

    // And the relay published all of them, once.
    published_once(&app, &execution.to_string(), 30).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_trigger_whose_execution_committed_answers_success_when_the_database_link_drops() {
    let proxy = testkit::TcpProxy::start("127.0.0.1:5432".parse().unwrap()).await;
    let db = testkit::TestDb::new();
    let proxied = db.url.replace("127.0.0.1:5432", &proxy.addr.to_string());
    assert_ne!(proxied, db.url);
    let app = testkit::spawn_app_with(db, testkit::TestQueues::new(), |c| {
        c.database_url = proxied.clone();
        c.freeze_chunk = 100;
        c.relay_lease_secs = 2;
    })
    .await;
    customers(&app, 10_000, 0, 0, 0).await;
    let campaign = sms_campaign(&app).await;
    let trigger = {
        let url = app.url(&format!("/api/marketing/campaigns/{campaign}/trigger"));
        let client = app.http.clone();
        tokio::spawn(async move {
            testkit::read(
                client
                    .post(url)
                    .bearer_auth(testkit::TOKEN)
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        })
    };
    // Cut every database connection of the app once the execution committed and the freeze
    // is under way (read directly, not through the proxy).
    wait_until(Duration::from_secs(30), "the freeze to be under way", || async {
        app.count(&format!(
            "SELECT count(*) AS n FROM campaign_executions
             WHERE campaign_id = '{campaign}' AND materialized_upto IS NOT NULL AND NOT materialize_done"
        ))
        .await
            == 1
    })
    .await;
    assert!(proxy.cut() > 0, "connections were cut");
    let (status, body) = trigger.await.unwrap();
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["status"], "triggered", "{body}");
    let execution = body["execution_id"]
        .as_str()
        .expect("an execution id")
        .to_owned();
    // The rest of the audience is written in the background, each customer once.
    wait_until(Duration::from_secs(60), "every record written", || async {
        app.count(&format!(
            "SELECT count(*) AS n FROM campaign_executions WHERE id = '{execution}' AND materialize_done"
        ))
        .await
            == 1
    })
    .await;
    assert_eq!(
        app.count(&format!(
            "SELECT count(DISTINCT customer_id) AS n FROM marketing_record WHERE execution_id = '{execution}'"
        ))
        .await,
        10_000
    );
    let (_, e) = app
        .get(&format!("/api/marketing/executions/{execution}"))
        .await;
    assert_eq!(e["planned"], 10_000, "{e}");
    // A client retrying the trigger learns it already ran.
    let (status, _) = app
        .post(
            &format!("/api/marketing/campaigns/{campaign}/trigger"),
            json!({}),
        )
        .await;
    assert_eq!(status, 409);
}
