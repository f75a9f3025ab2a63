//! Event-triggered campaigns (`trigger.kind = "event"`): each matching event sends the campaign
//! to that customer after the delay, once per (campaign, event) whatever the duplicates and
//! replicas; the campaign's audience, opt-outs, property rule, `once_per_customer` and
//! `cooldown_hours` apply; pausing stops it; over REST and gRPC.

use std::time::Duration;

use chrono::{DateTime, Utc};
use crm_proto::v1 as pb;
use crm_proto::v1::campaign_service_client::CampaignServiceClient;
use crm_proto::v1::event_service_client::EventServiceClient;
use serde_json::{Value, json};

use testkit::{TestApp, authed, campaign_body, spawn_app, wait_until};

fn json_struct(v: Value) -> prost_types::Struct {
    match v {
        Value::Object(o) => campaign_svc::grpc::convert::json_to_struct(o),
        _ => panic!("an object"),
    }
}

/// Customers `e0`… with phones; the first `vip` of them tagged VIP.
async fn customers(app: &TestApp, n: usize, vip: usize) {
    let customers: Vec<Value> = (0..n)
        .map(|i| {
            let tags: Vec<&str> = if i < vip { vec!["VIP"] } else { vec![] };
            json!({"external_id": format!("e{i}"), "name": format!("客户{i}"),
                   "phone": format!("+861390000{i:04}"), "tags": tags})
        })
        .collect();
    let (status, out) = app
        .post(
            "/api/marketing/customers/bulk",
            json!({"customers": customers}),
        )
        .await;
    assert_eq!(status, 200, "{out}");
}

async fn customer_id(app: &TestApp, external_id: &str) -> String {
    app.rows(&format!(
        "SELECT id::text AS line FROM customers WHERE external_id = '{external_id}'"
    ))
    .await[0]
        .clone()
}

async fn event_campaign(app: &TestApp, trigger: Value, tags: Option<&[&str]>) -> String {
    let mut body = campaign_body("感谢下单");
    body["content"] = json!("[客户姓名]，感谢您的订单！");
    body["trigger"] = trigger;
    match tags {
        Some(tags) => body["target_tags"] = json!(tags),
        None => {
            body.as_object_mut().unwrap().remove("target_tags");
        }
    }
    let c = app.create_campaign(body).await;
    assert_eq!(c["status"], "scheduled", "{c}");
    c["id"].as_str().unwrap().to_owned()
}

async fn post_events(app: &TestApp, events: Value) -> Value {
    let (status, out) = app
        .post("/api/marketing/events", json!({"events": events}))
        .await;
    assert_eq!(status, 202, "{out}");
    out
}

/// (event_id, customer external_id, status, published) of a campaign's records.
async fn records(app: &TestApp, campaign: &str) -> Vec<(String, String, String, bool)> {
    use diesel::sql_types::{Bool, Text};
    use diesel_async::RunQueryDsl as _;
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = Text)]
        event_id: String,
        #[diesel(sql_type = Text)]
        customer: String,
        #[diesel(sql_type = Text)]
        status: String,
        #[diesel(sql_type = Bool)]
        published: bool,
    }
    let mut conn = app.db().await;
    let rows: Vec<Row> = diesel::sql_query(format!(
        "SELECT r.event_id, c.external_id AS customer, r.status, r.published_at IS NOT NULL AS published
         FROM marketing_record r JOIN customers c ON c.id = r.customer_id
         WHERE r.campaign_id = '{campaign}' ORDER BY r.event_id"
    ))
    .load(&mut conn)
    .await
    .expect("records");
    rows.into_iter()
        .map(|r| (r.event_id, r.customer, r.status, r.published))
        .collect()
}

async fn wait_records(app: &TestApp, campaign: &str, n: usize) {
    wait_until(Duration::from_secs(20), "the event sends", || async {
        records(app, campaign).await.len() >= n
    })
    .await;
}

/// Nothing more comes: the dispatcher and the publisher had time to do anything left.
async fn settle(app: &TestApp) {
    wait_until(
        Duration::from_secs(20),
        "the queue of events to drain",
        || async {
            app.count("SELECT count(*) AS n FROM marketing_event_trigger")
                .await
                == 0
        },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(600)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn each_matching_event_sends_once_whatever_the_duplicates_and_replicas() {
    let app = spawn_app().await;
    let replica = app.replica().await;
    customers(&app, 4, 3).await;
    // e3 is not VIP; e2 opted out of SMS.
    let id = customer_id(&app, "e2").await;
    let (status, out) = app
        .post(
            &format!("/api/marketing/customers/{id}/opt-outs"),
            json!({"channel": "sms"}),
        )
        .await;
    assert!(status == 200 || status == 201, "{status} {out}");
    let campaign = event_campaign(
        &app,
        json!({"kind": "event", "event": "order_paid"}),
        Some(&["VIP"]),
    )
    .await;
    let events = json!([
        {"event_id": "o-1", "external_id": "e0", "name": "order_paid", "properties": {"amount": 99}},
        {"event_id": "o-2", "external_id": "e1", "name": "order_paid"},
        // The same customer again: a second order is a second thank-you.
        {"event_id": "o-3", "external_id": "e0", "name": "order_paid"},
        {"event_id": "o-4", "external_id": "e2", "name": "order_paid"},
        {"event_id": "o-5", "external_id": "e3", "name": "order_paid"},
        {"event_id": "v-1", "external_id": "e1", "name": "page_viewed"},
        // The same event twice in one batch.
        {"event_id": "o-1", "external_id": "e0", "name": "order_paid"},
    ]);
    // The same batch posted concurrently, to both replicas, several times.
    let mut posts = Vec::new();
    for i in 0..6 {
        let base = if i % 2 == 0 {
            app.base.clone()
        } else {
            replica.base.clone()
        };
        let events = events.clone();
        posts.push(tokio::spawn(async move {
            let resp = testkit::http_client()
                .post(format!("{base}/api/marketing/events"))
                .bearer_auth(testkit::TOKEN)
                .json(&json!({"events": events}))
                .send()
                .await
                .unwrap();
            testkit::read(resp).await
        }));
    }
    let mut accepted = 0;
    for p in posts {
        let (status, out) = p.await.unwrap();
        assert_eq!(status, 202, "{out}");
        accepted += out["accepted"].as_u64().unwrap();
    }
    assert_eq!(accepted, 6, "each distinct event is stored once");
    wait_records(&app, &campaign, 3).await;
    settle(&app).await;
    let got = records(&app, &campaign).await;
    let sent: Vec<(&str, &str)> = got
        .iter()
        .map(|(e, c, _, _)| (e.as_str(), c.as_str()))
        .collect();
    assert_eq!(
        sent,
        [("o-1", "e0"), ("o-2", "e1"), ("o-3", "e0")],
        "one record per matching event of a reachable VIP who did not opt out"
    );
    wait_until(Duration::from_secs(10), "the sends published", || async {
        records(&app, &campaign)
            .await
            .iter()
            .all(|(_, _, status, published)| status == "pending" && *published)
    })
    .await;
    assert_eq!(
        testkit::queue_depth(&app.queues.topology().send_queue).await,
        3,
        "one job per record"
    );
    let (status, list) = app
        .get(&format!("/api/marketing/records?campaign_id={campaign}"))
        .await;
    assert_eq!(status, 200, "{list}");
    let mut named: Vec<&str> = list["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            assert!(r["not_before"].is_string(), "{r}");
            r["event_id"].as_str().unwrap()
        })
        .collect();
    named.sort();
    assert_eq!(named, ["o-1", "o-2", "o-3"], "each record names its event");
    let (status, c) = app
        .get(&format!("/api/marketing/campaigns/{campaign}"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(c["status"], "active", "{c}");
    let (_, list) = app
        .get(&format!("/api/marketing/campaigns/{campaign}/executions"))
        .await;
    let executions = list["executions"].as_array().unwrap();
    assert_eq!(executions.len(), 1, "one listening execution: {list}");
    assert_eq!(executions[0]["planned"], 3);
    assert_eq!(executions[0]["status"], "running");
    assert_eq!(executions[0]["skipped"]["opted_out"], 1);
    // Posting the same events again later sends nothing more.
    post_events(&app, events).await;
    settle(&app).await;
    assert_eq!(records(&app, &campaign).await.len(), 3);
    // A campaign sent by events is not triggered by hand.
    let (status, out) = app
        .post(
            &format!("/api/marketing/campaigns/{campaign}/trigger"),
            json!({}),
        )
        .await;
    assert_eq!(status, 409, "{out}");
    assert!(
        out["error"]["message"]
            .as_str()
            .unwrap()
            .contains("order_paid"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_delay_holds_the_send_and_once_per_customer_and_cooldown_limit_it() {
    let app = spawn_app().await;
    customers(&app, 2, 2).await;
    let delayed = event_campaign(
        &app,
        json!({"kind": "event", "event": "cart_abandoned", "delay_seconds": 2}),
        Some(&["VIP"]),
    )
    .await;
    let once = event_campaign(
        &app,
        json!({"kind": "event", "event": "signed_up", "once_per_customer": true}),
        None,
    )
    .await;
    let cooled = event_campaign(
        &app,
        json!({"kind": "event", "event": "logged_in", "cooldown_hours": 24}),
        None,
    )
    .await;
    let posted = Utc::now();
    post_events(
        &app,
        json!([
            {"event_id": "c-1", "external_id": "e0", "name": "cart_abandoned"},
            {"event_id": "s-1", "external_id": "e0", "name": "signed_up"},
            {"event_id": "s-2", "external_id": "e0", "name": "signed_up"},
            {"event_id": "s-3", "external_id": "e1", "name": "signed_up"},
            {"event_id": "l-1", "external_id": "e1", "name": "logged_in"},
        ]),
    )
    .await;
    wait_records(&app, &once, 2).await;
    wait_records(&app, &cooled, 1).await;
    // Not before its delay.
    assert!(records(&app, &delayed).await.is_empty());
    wait_records(&app, &delayed, 1).await;
    let created: DateTime<Utc> = app
        .rows(&format!(
            "SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') AS line
             FROM marketing_record WHERE campaign_id = '{delayed}'"
        ))
        .await[0]
        .parse()
        .unwrap();
    assert!(
        created - posted >= chrono::Duration::milliseconds(1900),
        "written {} ms after the event",
        (created - posted).num_milliseconds()
    );
    // A later event of the same customer: still one per customer, and none within the cooldown.
    post_events(
        &app,
        json!([
            {"event_id": "s-4", "external_id": "e1", "name": "signed_up"},
            {"event_id": "l-2", "external_id": "e1", "name": "logged_in"},
            {"event_id": "l-3", "external_id": "e0", "name": "logged_in"},
        ]),
    )
    .await;
    settle(&app).await;
    let once_records = records(&app, &once).await;
    assert_eq!(
        once_records
            .iter()
            .map(|(e, c, _, _)| (e.as_str(), c.as_str()))
            .collect::<Vec<_>>(),
        [("s-1", "e0"), ("s-3", "e1")]
    );
    let cooled_records = records(&app, &cooled).await;
    assert_eq!(
        cooled_records
            .iter()
            .map(|(e, c, _, _)| (e.as_str(), c.as_str()))
            .collect::<Vec<_>>(),
        [("l-1", "e1"), ("l-3", "e0")]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_paused_campaign_sends_nothing_until_resumed() {
    let app = spawn_app().await;
    customers(&app, 1, 1).await;
    let campaign = event_campaign(
        &app,
        json!({"kind": "event", "event": "order_paid"}),
        Some(&["VIP"]),
    )
    .await;
    post_events(
        &app,
        json!([{"event_id": "p-1", "external_id": "e0", "name": "order_paid"}]),
    )
    .await;
    wait_records(&app, &campaign, 1).await;
    let (status, c) = app
        .post(
            &format!("/api/marketing/campaigns/{campaign}/pause"),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{c}");
    assert_eq!(c["paused"], true);
    post_events(
        &app,
        json!([{"event_id": "p-2", "external_id": "e0", "name": "order_paid"}]),
    )
    .await;
    settle(&app).await;
    assert_eq!(
        records(&app, &campaign).await.len(),
        1,
        "nothing while paused"
    );
    // Paused, it can be edited; resumed, new events send the new content.
    let (status, c) = app
        .put(
            &format!("/api/marketing/campaigns/{campaign}"),
            json!({"content": "[客户姓名]，新的感谢！"}),
        )
        .await;
    assert_eq!(status, 200, "{c}");
    let (status, c) = app
        .post(
            &format!("/api/marketing/campaigns/{campaign}/resume"),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{c}");
    post_events(
        &app,
        json!([{"event_id": "p-3", "external_id": "e0", "name": "order_paid"}]),
    )
    .await;
    wait_records(&app, &campaign, 2).await;
    let got = records(&app, &campaign).await;
    assert_eq!(got[1].0, "p-3");
    // The first listening execution finishes (its sends are final once a worker reports them);
    // the second carries the new content.
    let (_, list) = app
        .get(&format!("/api/marketing/campaigns/{campaign}/executions"))
        .await;
    let executions = list["executions"].as_array().unwrap();
    assert_eq!(executions.len(), 2, "{list}");
    let contents = app
        .rows(&format!(
            "SELECT contents::text AS line FROM campaign_executions
             WHERE campaign_id = '{campaign}' ORDER BY created_at"
        ))
        .await;
    assert!(!contents[0].contains("新的感谢"), "{contents:?}");
    assert!(contents[1].contains("新的感谢"), "{contents:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_event_triggers_name_the_field() {
    let app = spawn_app().await;
    for (trigger, field) in [
        (json!({"kind": "event"}), "trigger.event"),
        (json!({"kind": "event", "event": " "}), "trigger.event"),
        (
            json!({"kind": "event", "event": "x", "delay_seconds": -1}),
            "trigger.delay_seconds",
        ),
        (
            json!({"kind": "event", "event": "x", "delay_seconds": 9_999_999}),
            "trigger.delay_seconds",
        ),
        (
            json!({"kind": "event", "event": "x", "once_per_customer": "yes"}),
            "trigger.once_per_customer",
        ),
        (
            json!({"kind": "event", "event": "x", "cooldown_hours": 1.5}),
            "trigger.cooldown_hours",
        ),
        (
            json!({"kind": "event", "event": "x", "cron": "0 9 * * *"}),
            "trigger.cron",
        ),
        (
            json!({"kind": "recurring", "cron": "0 9 * * *", "time_zone": "UTC", "event": "x"}),
            "trigger.event",
        ),
        (
            json!({"kind": "event", "event": "x", "where": {"property": "amount", "op": "~", "value": 1}}),
            "trigger.where.op",
        ),
    ] {
        let mut body = campaign_body("bad");
        body["trigger"] = trigger.clone();
        let (status, out) = app.post("/api/marketing/campaigns", body).await;
        assert_eq!(status, 400, "{trigger}: {out}");
        assert_eq!(out["error"]["field"], field, "{trigger}: {out}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn grpc_creates_an_event_campaign_and_tracks_its_events() {
    let app = spawn_app().await;
    customers(&app, 2, 2).await;
    let mut campaigns = CampaignServiceClient::new(app.channel().await);
    let rule = json_struct(json!({"property": "amount", "op": ">=", "value": 100}));
    let c = campaigns
        .create_campaign(authed(pb::CreateCampaignRequest {
            name: "big orders".into(),
            r#type: "sms".into(),
            content: "谢谢惠顾".into(),
            trigger: Some(pb::CampaignTrigger {
                kind: "event".into(),
                event: Some("order_paid".into()),
                r#where: Some(rule),
                delay_seconds: Some(0),
                once_per_customer: Some(false),
                ..Default::default()
            }),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(c.status, "scheduled");
    let trigger = c.trigger.clone().unwrap();
    assert_eq!(trigger.kind, "event");
    assert_eq!(trigger.event.as_deref(), Some("order_paid"));
    assert!(trigger.r#where.is_some());
    let mut events = EventServiceClient::new(app.channel().await);
    let event = |id: &str, customer: &str, amount: i64| pb::EventInput {
        event_id: id.into(),
        customer: Some(pb::event_input::Customer::ExternalId(customer.into())),
        name: "order_paid".into(),
        properties: Some(json_struct(json!({"amount": amount}))),
        ..Default::default()
    };
    let out = events
        .track_events(authed(pb::TrackEventsRequest {
            events: vec![event("g-1", "e0", 150), event("g-2", "e1", 20)],
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(out.accepted, 2);
    wait_records(&app, &c.id, 1).await;
    settle(&app).await;
    let got = records(&app, &c.id).await;
    assert_eq!(
        got.len(),
        1,
        "only the order of 150 passes the rule: {got:?}"
    );
    assert_eq!((got[0].0.as_str(), got[0].1.as_str()), ("g-1", "e0"));
}
