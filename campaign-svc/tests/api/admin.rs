//! The admin REST API (`/api/marketing/admin/dead-letters`): admins only; listing consumes
//! nothing; replay republishes before it removes.

use std::time::Duration;

use serde_json::json;
use testkit::{TOKEN, TestDb, TestQueues, queue_depth, wait_until};

const ADMIN: &str = "admin-secret";

async fn call(
    app: &testkit::TestApp,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let mut req = app.http.request(method, app.url(path)).bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    testkit::read(req.send().await.expect("request sent")).await
}

/// Moves one send job from the send queue to the dead-letter queue the way a worker does:
/// reject without requeue.
async fn dead_letter_one(app: &testkit::TestApp) {
    let t = app.queues.topology();
    let conn = lapin::Connection::connect(&testkit::amqp_url(), Default::default())
        .await
        .expect("broker");
    let ch = conn.create_channel().await.expect("channel");
    let got = ch
        .basic_get(t.send_queue.as_str().into(), Default::default())
        .await
        .expect("basic.get")
        .expect("a job in the send queue");
    ch.basic_reject(
        got.delivery.delivery_tag,
        lapin::options::BasicRejectOptions { requeue: false },
    )
    .await
    .expect("reject");
    let _ = conn.close(200, "done".into()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn dead_letters_are_for_admins_listed_without_loss_and_replayed() {
    let app = testkit::spawn_app_with(TestDb::new(), TestQueues::new(), |c| {
        c.admin_tokens = Some(ADMIN.into());
    })
    .await;
    let list = "/api/marketing/admin/dead-letters";
    let replay = "/api/marketing/admin/dead-letters/replay";

    let (status, body) = call(&app, TOKEN, reqwest::Method::GET, list, None).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "permission_denied");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("ADMIN_TOKENS"),
        "{body}"
    );
    let (status, _) = call(&app, TOKEN, reqwest::Method::POST, replay, Some(json!({}))).await;
    assert_eq!(status, 403);
    let (status, body) = call(&app, ADMIN, reqwest::Method::GET, list, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"dead_letters": [], "total": 0}));

    // One customer, one job; the job is dead-lettered before any worker sees it.
    let (status, body) = app
        .post(
            "/api/marketing/customers",
            json!({"external_id": "a", "phone": "+8613800000001", "tags": ["VIP"]}),
        )
        .await;
    assert!(status == 200 || status == 201, "{status} {body}");
    let campaign = app.create_campaign(testkit::campaign_body("DLQ")).await;
    let id = campaign["id"].as_str().expect("id");
    let (status, _) = app
        .post(&format!("/api/marketing/campaigns/{id}/trigger"), json!({}))
        .await;
    assert_eq!(status, 202);
    let t = app.queues.topology();
    wait_until(Duration::from_secs(10), "the job published", || async {
        queue_depth(&t.send_queue).await == 1
    })
    .await;
    dead_letter_one(&app).await;
    wait_until(Duration::from_secs(10), "the job dead-lettered", || async {
        queue_depth(&t.dead_letter_queue).await == 1
    })
    .await;

    for _ in 0..3 {
        let (status, body) = call(
            &app,
            ADMIN,
            reqwest::Method::GET,
            &format!("{list}?limit=10"),
            None,
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["total"], 1, "{body}");
        let d = &body["dead_letters"][0];
        assert_eq!(d["campaign_id"], id, "{d}");
        assert_eq!(d["reason"], "rejected", "{d}");
        assert_eq!(d["queue"], t.send_queue.as_str(), "{d}");
        assert_eq!(d["record_status"], "pending", "{d}");
        assert_eq!(
            queue_depth(&t.dead_letter_queue).await,
            1,
            "nothing consumed"
        );
    }
    let (status, body) = call(
        &app,
        ADMIN,
        reqwest::Method::GET,
        &format!("{list}?limit=x"),
        None,
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["field"], "limit");

    let (status, body) = call(
        &app,
        ADMIN,
        reqwest::Method::POST,
        replay,
        Some(json!({"record_ids": ["nope"]})),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["field"], "record_ids[0]");

    let (status, body) = call(&app, ADMIN, reqwest::Method::POST, replay, Some(json!({}))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["replayed"], 1, "{body}");
    assert_eq!(body["results"][0]["outcome"], "replayed");
    assert_eq!(queue_depth(&t.dead_letter_queue).await, 0);
    assert_eq!(
        queue_depth(&t.send_queue).await,
        1,
        "back in the send queue"
    );
}
