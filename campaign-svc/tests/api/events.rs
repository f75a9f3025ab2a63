//! Customer events over REST and gRPC: batches, idempotency on `event_id` (within a batch,
//! across batches, under concurrent identical posts), per-item rejections, batch limits,
//! erasure and retention.

use std::time::Duration;

use crm_proto::v1 as pb;
use crm_proto::v1::event_service_client::EventServiceClient;
use serde_json::{Value, json};
use tonic::Code;

use testkit::{TestDb, TestQueues, authed, bad_field, spawn_app, spawn_app_with, wait_until};

const EVENTS: &str = "/api/marketing/events";

/// Creates customers `crm-0` … `crm-{n-1}`; their ids in that order.
async fn customers(app: &testkit::TestApp, n: usize) -> Vec<String> {
    let batch: Vec<_> = (0..n)
        .map(|i| json!({"external_id": format!("crm-{i}"), "time_zone": "Asia/Shanghai"}))
        .collect();
    let (status, out) = app
        .post("/api/marketing/customers/bulk", json!({"customers": batch}))
        .await;
    assert_eq!(status, 200, "{out}");
    out["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

fn outcome(v: &Value) -> (u64, u64, usize) {
    (
        v["accepted"].as_u64().unwrap(),
        v["duplicates"].as_u64().unwrap(),
        v["rejected"].as_array().unwrap().len(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_batch_is_stored_once_by_customer_id_or_external_id() {
    let app = spawn_app().await;
    let ids = customers(&app, 2).await;
    let batch = json!({"events": [
        {"event_id": "e1", "customer_id": ids[0], "name": "order_paid",
         "properties": {"amount": 120, "items": ["tea"]}, "occurred_at": "2026-11-30T08:00:00+08:00"},
        {"event_id": "e2", "external_id": "crm-1", "name": "page_view"},
        {"event_id": "e1", "customer_id": ids[0], "name": "order_paid"},
    ]});
    let (status, out) = app.post(EVENTS, batch.clone()).await;
    assert_eq!(status, 202, "{out}");
    assert_eq!(
        outcome(&out),
        (2, 1, 0),
        "the repeat in the batch is a duplicate: {out}"
    );

    // The same batch again: everything is a duplicate, nothing stored twice.
    let (status, again) = app.post(EVENTS, batch).await;
    assert_eq!(status, 202);
    assert_eq!(outcome(&again), (0, 3, 0), "{again}");
    assert_eq!(
        app.count("SELECT count(*) AS n FROM customer_events").await,
        2
    );
    // What was stored: the customer resolved, properties and time as sent.
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM customer_events WHERE event_id = 'e1' \
             AND customer_id = '{}' AND name = 'order_paid' AND properties = '{{\"amount\": 120, \"items\": [\"tea\"]}}' \
             AND occurred_at = '2026-11-30T00:00:00Z'",
            ids[0]
        ))
        .await,
        1
    );
    // No occurred_at: the time of receipt.
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM customer_events WHERE event_id = 'e2' AND customer_id = '{}' \
             AND occurred_at > now() - interval '1 minute' AND properties = '{{}}'",
            ids[1]
        ))
        .await,
        1
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_items_are_rejected_alone_naming_the_field() {
    let app = spawn_app().await;
    let ids = customers(&app, 1).await;
    let c = ids[0].as_str();
    let unknown = uuid::Uuid::new_v4().to_string();
    let items = vec![
        json!({"event_id": "ok-1", "customer_id": c, "name": "order_paid"}),
        json!({"event_id": "u1", "customer_id": unknown, "name": "order_paid"}),
        json!({"event_id": "u2", "external_id": "nobody", "name": "order_paid"}),
        json!({"event_id": "n1", "customer_id": c, "name": "  "}),
        json!({"event_id": "n2", "customer_id": c, "name": "order\u{0}paid"}),
        json!({"event_id": "n3", "customer_id": c, "name": "x", "properties": {"note": "a\u{0}"}}),
        json!({"event_id": "t1", "customer_id": c, "name": "x", "occurred_at": "yesterday"}),
        json!({"event_id": "t2", "customer_id": c, "name": "x", "occurred_at": "2100-01-01T00:00:00Z"}),
        json!({"event_id": "p1", "customer_id": c, "name": "x", "properties": [1, 2]}),
        json!({"customer_id": c, "name": "x"}),
        json!({"event_id": "k1", "customer_id": c, "name": "x", "colour": "red"}),
        json!({"event_id": "w1", "customer_id": c, "name": 5}),
        json!("not an event"),
        json!({"event_id": "ok-2", "external_id": "crm-0", "name": "order_paid"}),
    ];
    let (status, out) = app.post(EVENTS, json!({"events": items})).await;
    assert_eq!(status, 202, "{out}");
    assert_eq!(outcome(&out), (2, 0, 12), "{out}");
    let rejected: Vec<(u64, String, String)> = out["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let message = r["message"].as_str().unwrap().to_owned();
            let field = r["field"].as_str().unwrap().to_owned();
            assert!(
                message.starts_with(&field),
                "the message names the field: {r}"
            );
            (
                r["index"].as_u64().unwrap(),
                r["code"].as_str().unwrap().to_owned(),
                field,
            )
        })
        .collect();
    let expected = [
        (1, "unknown_customer", "events[1].customer_id"),
        (2, "unknown_customer", "events[2].external_id"),
        (3, "invalid_argument", "events[3].name"),
        (4, "invalid_argument", "events[4].name"),
        (5, "invalid_argument", "events[5].properties.note"),
        (6, "invalid_argument", "events[6].occurred_at"),
        (7, "invalid_argument", "events[7].occurred_at"),
        (8, "invalid_argument", "events[8].properties"),
        (9, "invalid_argument", "events[9].event_id"),
        (10, "invalid_argument", "events[10].colour"),
        (11, "invalid_argument", "events[11].name"),
        (12, "invalid_argument", "events[12]"),
    ];
    let expected: Vec<(u64, String, String)> = expected
        .iter()
        .map(|(i, c, f)| (*i, (*c).to_owned(), (*f).to_owned()))
        .collect();
    assert_eq!(rejected, expected);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM customer_events").await,
        2
    );
    // An erased customer is unknown too.
    let (status, _) = app.delete(&format!("/api/marketing/customers/{c}")).await;
    assert_eq!(status, 204);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM customer_events").await,
        0,
        "erasure deletes the customer's events"
    );
    let (_, out) = app
        .post(
            EVENTS,
            json!({"events": [{"event_id": "late", "customer_id": c, "name": "x"}]}),
        )
        .await;
    assert_eq!(out["rejected"][0]["code"], "unknown_customer", "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn batches_outside_one_to_a_thousand_are_refused_whole() {
    let app = spawn_app().await;
    customers(&app, 1).await;
    let event =
        |i: usize| json!({"event_id": format!("e{i}"), "external_id": "crm-0", "name": "x"});
    let too_many: Vec<_> = (0..1001).map(event).collect();
    for body in [
        json!({"events": []}),
        json!({"events": too_many}),
        json!({}),
        json!({"events": {"event_id": "e"}}),
        json!({"events": [event(0)], "extra": 1}),
    ] {
        let (status, err) = app.post(EVENTS, body.clone()).await;
        assert_eq!(status, 400, "{err}");
        let field = err["error"]["field"].as_str().unwrap();
        assert!(field == "events" || field == "extra", "{body}: {err}");
    }
    let (status, _) = app.post_raw(EVENTS, "{not json").await;
    assert_eq!(status, 400);
    let thousand: Vec<_> = (0..1000).map(event).collect();
    let (status, out) = app.post(EVENTS, json!({"events": thousand})).await;
    assert_eq!((status, outcome(&out)), (202, (1000, 0, 0)));
    assert_eq!(
        app.count("SELECT count(*) AS n FROM customer_events").await,
        1000
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_identical_posts_store_each_event_once() {
    let app = spawn_app().await;
    customers(&app, 10).await;
    let batch: Vec<_> = (0..500)
        .map(|i| {
            json!({"event_id": format!("c-{i}"), "external_id": format!("crm-{}", i % 10),
                   "name": "order_paid", "properties": {"i": i}})
        })
        .collect();
    let body = json!({"events": batch});
    let posts: Vec<_> = (0..8)
        .map(|_| {
            let (http, url, body) = (app.http.clone(), app.url(EVENTS), body.clone());
            tokio::spawn(async move {
                let resp = http
                    .post(url)
                    .bearer_auth(testkit::TOKEN)
                    .json(&body)
                    .send()
                    .await
                    .expect("sent");
                testkit::read(resp).await
            })
        })
        .collect();
    let (mut accepted, mut duplicates) = (0, 0);
    for post in posts {
        let (status, out) = post.await.unwrap();
        assert_eq!(status, 202, "{out}");
        let (a, d, r) = outcome(&out);
        assert_eq!((a + d, r), (500, 0), "{out}");
        accepted += a;
        duplicates += d;
    }
    assert_eq!((accepted, duplicates), (500, 8 * 500 - 500));
    assert_eq!(
        app.count("SELECT count(*) AS n FROM customer_events").await,
        500
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn track_events_over_grpc() {
    let app = spawn_app().await;
    let ids = customers(&app, 1).await;
    let mut client = EventServiceClient::new(app.channel().await);
    let event = |id: &str, customer: pb::event_input::Customer| pb::EventInput {
        event_id: id.into(),
        customer: Some(customer),
        name: "order_paid".into(),
        ..Default::default()
    };
    use pb::event_input::Customer::{CustomerId, ExternalId};
    let mut with_time = event("g1", CustomerId(ids[0].clone()));
    with_time.occurred_at = Some(prost_types::Timestamp {
        seconds: chrono::Utc::now().timestamp() - 3600,
        nanos: 0,
    });
    let batch = pb::TrackEventsRequest {
        events: vec![
            with_time,
            event("g2", ExternalId("crm-0".into())),
            event("g1", CustomerId(ids[0].clone())),
            event("g3", ExternalId("nobody".into())),
            pb::EventInput {
                name: " ".into(),
                ..event("g4", ExternalId("crm-0".into()))
            },
        ],
    };
    let out = client
        .track_events(authed(batch.clone()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((out.accepted, out.duplicates), (2, 1));
    let rejected: Vec<_> = out
        .rejected
        .iter()
        .map(|r| (r.index, r.code.as_str(), r.field.as_str()))
        .collect();
    assert_eq!(
        rejected,
        vec![
            (3, "unknown_customer", "events[3].external_id"),
            (4, "invalid_argument", "events[4].name"),
        ]
    );
    let again = client
        .track_events(authed(batch))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((again.accepted, again.duplicates), (0, 3));
    assert_eq!(
        app.count("SELECT count(*) AS n FROM customer_events").await,
        2
    );

    let empty = client
        .track_events(authed(pb::TrackEventsRequest { events: vec![] }))
        .await
        .unwrap_err();
    assert_eq!(empty.code(), Code::InvalidArgument);
    assert_eq!(bad_field(&empty).as_deref(), Some("events"));
    // A NUL anywhere is refused at the edge, for the whole call, naming the field.
    let nul = client
        .track_events(authed(pb::TrackEventsRequest {
            events: vec![pb::EventInput {
                name: "a\0b".into(),
                ..event("g5", ExternalId("crm-0".into()))
            }],
        }))
        .await
        .unwrap_err();
    assert_eq!(nul.code(), Code::InvalidArgument);
    assert_eq!(bad_field(&nul).as_deref(), Some("events[0].name"));
    let unauthenticated = client
        .track_events(tonic::Request::new(pb::TrackEventsRequest::default()))
        .await
        .unwrap_err();
    assert_eq!(unauthenticated.code(), Code::Unauthenticated);
}

#[tokio::test(flavor = "multi_thread")]
async fn retention_deletes_expired_events_and_refuses_older_ones() {
    let app = spawn_app_with(TestDb::new(), TestQueues::new(), |c| {
        c.event_retention_days = 30;
        c.event_retention_interval_secs = 1;
        c.event_retention_batch = 7;
    })
    .await;
    let ids = customers(&app, 1).await;
    // 25 expired events (more than three batches) and 5 recent ones, written directly.
    app.sql(&format!(
        "INSERT INTO customer_events (event_id, customer_id, name, occurred_at) \
         SELECT 'old-' || i, '{0}'::uuid, 'order_paid', now() - interval '31 days' - i * interval '1 hour' \
         FROM generate_series(1, 25) i \
         UNION ALL SELECT 'new-' || i, '{0}'::uuid, 'order_paid', now() - interval '29 days' \
         FROM generate_series(1, 5) i",
        ids[0]
    ))
    .await;
    wait_until(
        Duration::from_secs(20),
        "expired events deleted",
        || async {
            app.count("SELECT count(*) AS n FROM customer_events WHERE event_id LIKE 'old-%'")
                .await
                == 0
        },
    )
    .await;
    assert_eq!(
        app.count("SELECT count(*) AS n FROM customer_events WHERE event_id LIKE 'new-%'")
            .await,
        5
    );
    let (_, out) = app
        .post(
            EVENTS,
            json!({"events": [{"event_id": "too-old", "customer_id": ids[0], "name": "x",
                               "occurred_at": "2020-01-01T00:00:00Z"}]}),
        )
        .await;
    assert_eq!(
        out["rejected"][0]["field"], "events[0].occurred_at",
        "{out}"
    );
    let (status, ready) = app.get("/readyz").await;
    assert_eq!(status, 200, "the retention loop runs supervised: {ready}");
}
