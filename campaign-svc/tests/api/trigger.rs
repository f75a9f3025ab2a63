//! Triggering: audience resolution, execution counts, status rules, simulation, relay to the
//! broker, and the scheduler (also with two replicas).

use std::time::Duration;

use crm_proto::v1 as pb;
use crm_proto::v1::campaign_service_client::CampaignServiceClient;
use serde_json::json;
use testkit::{TestApp, authed, campaign_body, queue_depth, spawn_app, wait_until};

/// Six customers: 3 reachable VIPs, one opted out of sms, one opted out of everything, one
/// without a phone, one with another tag, one erased.
async fn audience(app: &TestApp) {
    let customers = json!({"customers": [
        {"external_id": "a", "name": "张三", "phone": "+8613800000001", "tags": ["VIP"]},
        {"external_id": "b", "name": "李四", "phone": "+8613800000002", "tags": ["VIP", "x"]},
        {"external_id": "c", "phone": "+8613800000003", "tags": ["新用户"], "locale": "en-US"},
        {"external_id": "d", "phone": "+8613800000004", "tags": ["VIP"]},
        {"external_id": "e", "phone": "+8613800000005", "tags": ["VIP"]},
        {"external_id": "f", "email": "f@example.com", "tags": ["VIP"]},
        {"external_id": "g", "phone": "+8613800000007", "tags": ["other"]},
        {"external_id": "h", "phone": "+8613800000008", "tags": ["VIP"]}
    ]});
    let (_, out) = app.post("/api/marketing/customers/bulk", customers).await;
    let id = |i: usize| out["ids"][i].as_str().unwrap().to_owned();
    app.post(
        &format!("/api/marketing/customers/{}/opt-outs", id(3)),
        json!({"channel": "sms"}),
    )
    .await;
    app.post(
        &format!("/api/marketing/customers/{}/opt-outs", id(4)),
        json!({"channel": "all"}),
    )
    .await;
    app.post(
        &format!("/api/marketing/customers/{}/opt-outs", id(0)),
        json!({"channel": "email"}),
    )
    .await;
    app.call(
        reqwest::Method::DELETE,
        &format!("/api/marketing/customers/{}", id(7)),
        None,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn actual_trigger_freezes_the_audience_and_publishes_one_job_per_record() {
    let app = spawn_app().await;
    audience(&app).await;
    let c = app.create_campaign(campaign_body("trigger me")).await;
    let id = c["id"].as_str().unwrap();
    let (status, t) = app
        .post(&format!("/api/marketing/campaigns/{id}/trigger"), json!({}))
        .await;
    assert_eq!(status, 202, "{t}");
    assert_eq!(t["status"], "triggered");
    let execution = t["execution_id"].as_str().unwrap().to_owned();
    assert!(
        t["message"]
            .as_str()
            .unwrap()
            .contains("its recipients are being written"),
        "{t}"
    );
    crate::frozen(&app, &execution).await;

    assert_eq!(
        app.records_with_status(id, "pending").await,
        3,
        "a, b and c (any of the tags)"
    );
    let (_, campaign) = app.get(&format!("/api/marketing/campaigns/{id}")).await;
    assert_eq!(campaign["status"], "active");
    assert!(campaign["actual_start_time"].is_string());

    let (status, e) = app
        .get(&format!("/api/marketing/executions/{execution}"))
        .await;
    assert_eq!(status, 200, "{e}");
    assert_eq!(e["planned"], 3);
    assert_eq!(
        e["skipped"],
        json!({"opted_out": 2, "no_address": 1, "frequency_capped": 0})
    );
    assert_eq!(e["execution_type"], "actual");

    // The relay publishes every record once the broker confirms (no worker runs here).
    let queue = app.queues.topology().send_queue;
    wait_until(Duration::from_secs(15), "3 jobs in the queue", || async {
        queue_depth(&queue).await == 3
    })
    .await;
    wait_until(Duration::from_secs(5), "execution published", || async {
        app.get(&format!("/api/marketing/executions/{execution}"))
            .await
            .1["published"]
            == 3
    })
    .await;

    let (status, again) = app
        .post(&format!("/api/marketing/campaigns/{id}/trigger"), json!({}))
        .await;
    assert_eq!(status, 409, "{again}");
    assert_eq!(
        app.put(
            &format!("/api/marketing/campaigns/{id}"),
            json!({"name": "late"})
        )
        .await
        .0,
        409
    );
    assert_eq!(
        app.post(&format!("/api/marketing/campaigns/{id}/archive"), json!({}))
            .await
            .0,
        409
    );
    assert_eq!(
        app.count("SELECT count(*) AS n FROM marketing_record")
            .await,
        3,
        "nothing doubled"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn simulation_renders_samples_and_changes_nothing() {
    let app = spawn_app().await;
    audience(&app).await;
    let mut body = campaign_body("dry run");
    body["content"] = json!("亲爱的[客户姓名]，{{ attributes.level | default('普通') }}会员专享");
    let c = app.create_campaign(body).await;
    let id = c["id"].as_str().unwrap();
    let e = app.simulate(id).await;
    assert_eq!(e["execution_type"], "simulation");
    assert_eq!(e["planned"], 3);
    assert_eq!(
        e["skipped"],
        json!({"opted_out": 2, "no_address": 1, "frequency_capped": 0})
    );
    let samples = e["samples"].as_array().unwrap();
    assert_eq!(samples.len(), 3);
    let bodies: Vec<&str> = samples
        .iter()
        .map(|s| s["body"].as_str().unwrap())
        .collect();
    // As they will be sent, with the unsubscribe link in the customer's language.
    let unsubscribe = crate::previews::preview_unsubscribe();
    let zh = format!("亲爱的张三，普通会员专享\n\n退订：{unsubscribe}");
    let en = format!("亲爱的Customer，普通会员专享\n\nUnsubscribe: {unsubscribe}");
    assert!(bodies.contains(&zh.as_str()), "{bodies:?}");
    assert!(bodies.contains(&en.as_str()), "{bodies:?}");
    assert!(
        samples
            .iter()
            .all(|s| s["to"].as_str().unwrap().starts_with("+86"))
    );

    let (_, campaign) = app.get(&format!("/api/marketing/campaigns/{id}")).await;
    assert_eq!(
        campaign["status"], "draft",
        "a simulation changes no status"
    );
    assert_eq!(
        app.count("SELECT count(*) AS n FROM marketing_record")
            .await,
        0
    );
    // A real trigger is still possible afterwards.
    assert_eq!(
        app.post(&format!("/api/marketing/campaigns/{id}/trigger"), json!({}))
            .await
            .0,
        202
    );

    // The same over gRPC.
    let other = app.create_campaign(campaign_body("grpc dry run")).await;
    let mut client = CampaignServiceClient::new(app.channel().await);
    let t = client
        .trigger_campaign(authed(pb::TriggerCampaignRequest {
            id: other["id"].as_str().unwrap().into(),
            execution_type: "simulation".into(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(t.status, "simulation_started");
    let e = client
        .get_execution(authed(pb::GetExecutionRequest { id: t.execution_id }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(e.planned, 3);
    assert_eq!(e.skipped.get("opted_out"), Some(&2));
    assert_eq!(e.samples.len(), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn trigger_refuses_what_cannot_be_sent() {
    let app = spawn_app().await;
    let c = app.create_campaign(campaign_body("x")).await;
    let id = c["id"].as_str().unwrap();
    let (status, err) = app
        .post(
            &format!("/api/marketing/campaigns/{id}/trigger"),
            json!({"execution_type": "later"}),
        )
        .await;
    assert_eq!(
        (status, err["error"]["field"].clone()),
        (400, json!("execution_type"))
    );
    let (status, err) = app
        .post(
            &format!("/api/marketing/campaigns/{id}/trigger"),
            json!({"execution": "actual"}),
        )
        .await;
    assert_eq!(
        (status, err["error"]["field"].clone()),
        (400, json!("execution"))
    );
    assert_eq!(
        app.post("/api/marketing/campaigns/nope/trigger", json!({}))
            .await
            .0,
        400
    );
    assert_eq!(
        app.post(
            &format!("/api/marketing/campaigns/{}/trigger", uuid::Uuid::now_v7()),
            json!({})
        )
        .await
        .0,
        404
    );

    let mut no_tags = campaign_body("no audience");
    no_tags["target_tags"] = json!([]);
    let c = app.create_campaign(no_tags).await;
    let (status, err) = app
        .post(
            &format!(
                "/api/marketing/campaigns/{}/trigger",
                c["id"].as_str().unwrap()
            ),
            json!({}),
        )
        .await;
    assert_eq!(status, 409, "{err}");
    let mut no_content = campaign_body("no content");
    no_content["content"] = json!("");
    let c = app.create_campaign(no_content).await;
    assert_eq!(
        app.post(
            &format!(
                "/api/marketing/campaigns/{}/trigger",
                c["id"].as_str().unwrap()
            ),
            json!({})
        )
        .await
        .0,
        409
    );
    // Broken content is refused when the campaign is saved, naming the field and the line.
    let mut broken = campaign_body("broken template");
    broken["content"] = json!("Hello\n{{ name ");
    let (status, err) = app.post("/api/marketing/campaigns", broken).await;
    assert_eq!(
        (status, err["error"]["field"].clone()),
        (400, json!("content")),
        "{err}"
    );
    assert!(
        err["error"]["message"].as_str().unwrap().contains("line 2"),
        "{err}"
    );
    assert_eq!(
        app.count("SELECT count(*) AS n FROM campaign_executions")
            .await,
        0,
        "nothing half-written"
    );
    assert_eq!(
        app.count("SELECT count(*) AS n FROM marketing_campaign WHERE status <> 'draft'")
            .await,
        0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn scheduler_triggers_once_with_two_replicas_and_completes() {
    let app = spawn_app().await;
    let _replica = app.replica().await;
    audience(&app).await;
    let start = chrono::Utc::now() + chrono::Duration::milliseconds(1500);
    let mut ids = Vec::new();
    for i in 0..5 {
        let mut body = campaign_body(&format!("scheduled {i}"));
        body["start_time"] = json!(start.to_rfc3339());
        let c = app.create_campaign(body).await;
        assert_eq!(c["status"], "scheduled");
        ids.push(c["id"].as_str().unwrap().to_owned());
    }
    wait_until(
        Duration::from_secs(20),
        "every scheduled campaign triggered",
        || async {
            app.count("SELECT count(*) AS n FROM marketing_campaign WHERE status = 'active'")
                .await
                == 5
        },
    )
    .await;
    for id in &ids {
        let executions = app
            .count(&format!(
                "SELECT count(*) AS n FROM campaign_executions WHERE campaign_id = '{id}'"
            ))
            .await;
        assert_eq!(executions, 1, "triggered exactly once");
        assert_eq!(app.records_with_status(id, "pending").await, 3);
    }
    // Nothing sends here (no worker); when every record is final the scheduler completes it.
    let id = &ids[0];
    app.sql(&format!(
        "UPDATE marketing_record SET status = 'sent', sent_at = now() WHERE campaign_id = '{id}'"
    ))
    .await;
    // (standing in for a worker, which also counts what it finalised)
    app.sql(&format!(
        "UPDATE campaign_executions SET sent_count = 3 WHERE campaign_id = '{id}'"
    ))
    .await;
    wait_until(Duration::from_secs(10), "completion", || async {
        app.get(&format!("/api/marketing/campaigns/{id}")).await.1["status"] == "completed"
    })
    .await;
    let (_, c) = app.get(&format!("/api/marketing/campaigns/{id}")).await;
    assert!(c["actual_end_time"].is_string());
}

#[tokio::test(flavor = "multi_thread")]
async fn campaigns_past_their_end_time_complete_and_do_not_send_the_rest() {
    let app = spawn_app().await;
    audience(&app).await;
    let mut body = campaign_body("short");
    body["end_time"] = json!((chrono::Utc::now() + chrono::Duration::seconds(2)).to_rfc3339());
    let c = app.create_campaign(body).await;
    let id = c["id"].as_str().unwrap();
    assert_eq!(
        app.post(&format!("/api/marketing/campaigns/{id}/trigger"), json!({}))
            .await
            .0,
        202
    );
    wait_until(
        Duration::from_secs(15),
        "completion after end_time",
        || async {
            app.get(&format!("/api/marketing/campaigns/{id}")).await.1["status"] == "completed"
        },
    )
    .await;
    let (_, records) = app
        .get(&format!(
            "/api/marketing/records?campaign_id={id}&status=failed"
        ))
        .await;
    assert_eq!(records["pagination"]["total"], 3);
    assert!(
        records["records"][0]["error_message"]
            .as_str()
            .unwrap()
            .contains("campaign ended")
    );

    // A campaign with nobody to reach completes at once.
    let mut nobody = campaign_body("nobody");
    nobody["target_tags"] = json!(["no-such-tag"]);
    let c = app.create_campaign(nobody).await;
    let id = c["id"].as_str().unwrap();
    app.post(&format!("/api/marketing/campaigns/{id}/trigger"), json!({}))
        .await;
    wait_until(
        Duration::from_secs(10),
        "empty campaign completes",
        || async {
            app.get(&format!("/api/marketing/campaigns/{id}")).await.1["status"] == "completed"
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn records_whose_worker_never_reported_back_are_failed_after_the_grace_period() {
    let app = testkit::spawn_app_with(testkit::TestDb::new(), testkit::TestQueues::new(), |c| {
        c.stale_sending_secs = 60;
    })
    .await;
    audience(&app).await;
    let c = app.create_campaign(campaign_body("lost")).await;
    let id = c["id"].as_str().unwrap();
    let (_, t) = app
        .post(&format!("/api/marketing/campaigns/{id}/trigger"), json!({}))
        .await;
    crate::frozen(&app, t["execution_id"].as_str().unwrap()).await;
    // One record claimed long ago, one claimed just now: only the old one is given up.
    app.sql(&format!(
        "UPDATE marketing_record SET status = 'sending', claimed_at = now() - interval '2 minutes'
         WHERE id = (SELECT id FROM marketing_record WHERE campaign_id = '{id}' ORDER BY id LIMIT 1)"
    ))
    .await;
    app.sql(&format!(
        "UPDATE marketing_record SET status = 'sending', claimed_at = now()
         WHERE id = (SELECT id FROM marketing_record WHERE campaign_id = '{id}' ORDER BY id DESC LIMIT 1)"
    ))
    .await;
    // The scheduler looks for stale records every tenth of the grace period (6 s here).
    wait_until(
        Duration::from_secs(20),
        "the stale record to fail",
        || async { app.records_with_status(id, "failed").await == 1 },
    )
    .await;
    let (_, failed) = app
        .get(&format!(
            "/api/marketing/records?campaign_id={id}&status=failed"
        ))
        .await;
    assert!(
        failed["records"][0]["error_message"]
            .as_str()
            .unwrap()
            .contains("dead-letter")
    );
    assert_eq!(app.records_with_status(id, "sending").await, 1);
}
