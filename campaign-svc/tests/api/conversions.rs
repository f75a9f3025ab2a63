//! Conversions: last-touch attribution within the window, explicit records, idempotency on
//! `external_id`, and the stats' `converted` counting recipients once.

use crm_proto::v1 as pb;
use crm_proto::v1::conversion_service_client::ConversionServiceClient;
use serde_json::{Value, json};
use testkit::{TestApp, TestDb, TestQueues, authed, bad_field, spawn_app, spawn_app_with};

use crate::reached::{customers, sent_campaign, totals};

/// The app with a 24-hour conversion window.
async fn app() -> TestApp {
    spawn_app_with(TestDb::new(), TestQueues::new(), |c| {
        c.conversion_window_hours = 24;
    })
    .await
}

async fn report(app: &TestApp, body: Value) -> (u16, Value) {
    app.post("/api/marketing/conversions", body).await
}

fn ago(hours: i64) -> String {
    (chrono::Utc::now() - chrono::Duration::hours(hours)).to_rfc3339()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_latest_campaign_within_the_window_gets_the_conversion() {
    let app = app().await;
    let ids = customers(&app, "conv", 1).await;
    let (older, older_records) = sent_campaign(&app, "sms", "conv", "30 hours").await;
    let (newer, newer_records) = sent_campaign(&app, "email", "conv", "1 hour").await;

    // Now: the newer campaign is the latest to reach the customer (the older is 30 h back).
    let (status, c) = report(
        &app,
        json!({"customer_id": ids[0], "kind": "purchase", "value_cents": 1999}),
    )
    .await;
    assert_eq!(status, 201, "{c}");
    assert_eq!(c["campaign_id"], newer);
    assert_eq!(c["record_id"], newer_records[0].0);
    assert_eq!(c["attributed"], true);
    assert_eq!(
        (c["kind"].clone(), c["value_cents"].clone()),
        (json!("purchase"), json!(1999))
    );
    assert_eq!(totals(&app, &newer).await["converted"], 1);

    // 20 hours ago: the newer campaign was not sent yet; the older one was, 10 hours before.
    let (status, c) = report(&app, json!({"customer_id": ids[0], "occurred_at": ago(20)})).await;
    assert_eq!(status, 201, "{c}");
    assert_eq!(c["campaign_id"], older);
    assert_eq!(c["record_id"], older_records[0].0);
    assert_eq!(c["kind"], "conversion");
    assert_eq!(totals(&app, &older).await["converted"], 1);

    // 2 hours ago: the older campaign was 28 hours before, outside the window; unattributed.
    let (status, c) = report(&app, json!({"customer_id": ids[0], "occurred_at": ago(2)})).await;
    assert_eq!(status, 201, "{c}");
    assert_eq!(
        (c["campaign_id"].clone(), c["attributed"].clone()),
        (Value::Null, json!(false))
    );
    assert_eq!(totals(&app, &older).await["converted"], 1);
    let converted = app
        .count("SELECT count(*) AS n FROM marketing_record WHERE converted_at IS NOT NULL")
        .await;
    assert_eq!(converted, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_explicit_record_wins_and_must_be_the_customers() {
    let app = app().await;
    let ids = customers(&app, "exp", 2).await;
    let (older, older_records) = sent_campaign(&app, "sms", "exp", "3 hours").await;
    sent_campaign(&app, "email", "exp", "1 hour").await;
    let mine = older_records
        .iter()
        .find(|(_, c)| *c == ids[0])
        .unwrap()
        .0
        .clone();
    let theirs = older_records
        .iter()
        .find(|(_, c)| *c == ids[1])
        .unwrap()
        .0
        .clone();

    let (status, c) = report(&app, json!({"customer_id": ids[0], "record_id": mine})).await;
    assert_eq!(status, 201, "{c}");
    assert_eq!(
        (c["campaign_id"].clone(), c["record_id"].clone()),
        (json!(older), json!(mine))
    );
    assert_eq!(totals(&app, &older).await["converted"], 1);

    let (status, e) = report(&app, json!({"customer_id": ids[0], "record_id": theirs})).await;
    assert_eq!(status, 400, "{e}");
    assert_eq!(e["error"]["field"], "record_id");
    let (status, e) = report(
        &app,
        json!({"customer_id": ids[0], "record_id": "0190f0e0-0000-7000-8000-000000000000"}),
    )
    .await;
    assert_eq!(status, 404, "{e}");
    // A message that never went out earned nothing: 409, nothing stored.
    app.sql(&format!(
        "UPDATE marketing_record SET status = 'failed' WHERE id = '{theirs}'"
    ))
    .await;
    let (status, e) = report(&app, json!({"customer_id": ids[1], "record_id": theirs})).await;
    assert_eq!(status, 409, "{e}");
    assert_eq!(app.count("SELECT count(*) AS n FROM conversions").await, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_same_external_id_is_stored_and_counted_once() {
    let app = app().await;
    let ids = customers(&app, "idem", 1).await;
    let (campaign, _) = sent_campaign(&app, "sms", "idem", "1 hour").await;
    let body = json!({"customer_id": ids[0], "external_id": "order-42", "value_cents": 500});
    let (status, first) = report(&app, body.clone()).await;
    assert_eq!(status, 201, "{first}");
    let (status, again) = report(&app, body).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again, first);
    assert_eq!(app.count("SELECT count(*) AS n FROM conversions").await, 1);
    assert_eq!(totals(&app, &campaign).await["converted"], 1);

    // Another purchase by the same recipient is stored, but the recipient converted once.
    let (status, other) = report(
        &app,
        json!({"customer_id": ids[0], "external_id": "order-43"}),
    )
    .await;
    assert_eq!(status, 201, "{other}");
    assert_eq!(other["campaign_id"], campaign);
    assert_eq!(app.count("SELECT count(*) AS n FROM conversions").await, 2);
    assert_eq!(totals(&app, &campaign).await["converted"], 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_customer_nothing_reached_converts_unattributed() {
    let app = app().await;
    let ids = customers(&app, "none", 2).await;
    // A triggered campaign whose message to the customer was never sent does not count.
    let c = app
        .create_campaign(
            json!({"name": "pending", "type": "sms", "target_tags": ["none"], "content": "hi"}),
        )
        .await;
    let id = c["id"].as_str().unwrap();
    let (status, t) = app
        .post(&format!("/api/marketing/campaigns/{id}/trigger"), json!({}))
        .await;
    assert_eq!(status, 202);
    crate::frozen(&app, t["execution_id"].as_str().unwrap()).await;
    let (status, c) = report(&app, json!({"customer_id": ids[1]})).await;
    assert_eq!(status, 201, "{c}");
    assert_eq!(c["attributed"], false);
    assert_eq!(c["campaign_id"], Value::Null);
    assert_eq!(c["record_id"], Value::Null);
    assert_eq!(c["customer_id"], ids[1]);
    assert!(c["id"].is_string() && c["occurred_at"].is_string(), "{c}");
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_customers_and_bad_fields_are_refused() {
    let app = spawn_app().await;
    let ids = customers(&app, "bad", 1).await;
    let (status, e) = report(
        &app,
        json!({"customer_id": "0190f0e0-0000-7000-8000-000000000000"}),
    )
    .await;
    assert_eq!(status, 404, "{e}");
    let later = (chrono::Utc::now() + chrono::Duration::minutes(10)).to_rfc3339();
    for (body, field) in [
        (json!({}), "customer_id"),
        (json!({"customer_id": "x"}), "customer_id"),
        (
            json!({"customer_id": ids[0], "value_cents": -1}),
            "value_cents",
        ),
        (
            json!({"customer_id": ids[0], "value_cents": "ten"}),
            "value_cents",
        ),
        (
            json!({"customer_id": ids[0], "occurred_at": "yesterday"}),
            "occurred_at",
        ),
        (
            json!({"customer_id": ids[0], "occurred_at": later}),
            "occurred_at",
        ),
        (
            json!({"customer_id": ids[0], "kind": "k".repeat(51)}),
            "kind",
        ),
        (
            json!({"customer_id": ids[0], "external_id": "e".repeat(201)}),
            "external_id",
        ),
        (
            json!({"customer_id": ids[0], "record_id": "nope"}),
            "record_id",
        ),
        (json!({"customer_id": ids[0], "colour": "red"}), "colour"),
    ] {
        let (status, e) = report(&app, body.clone()).await;
        assert_eq!(status, 400, "{body}: {e}");
        assert_eq!(e["error"]["field"], field, "{body}: {e}");
    }
    // Behind the bearer token like the rest of the API.
    let resp = app
        .http
        .post(app.url("/api/marketing/conversions"))
        .json(&json!({"customer_id": ids[0]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(app.count("SELECT count(*) AS n FROM conversions").await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn report_conversion_over_grpc() {
    let app = app().await;
    let ids = customers(&app, "rpc", 1).await;
    let (campaign, records) = sent_campaign(&app, "sms", "rpc", "1 hour").await;
    let mut client = ConversionServiceClient::new(app.channel().await);
    let request = pb::ReportConversionRequest {
        customer_id: ids[0].clone(),
        external_id: Some("rpc-1".into()),
        kind: Some("purchase".into()),
        value_cents: Some(1250),
        ..Default::default()
    };
    let out = client
        .report_conversion(authed(request.clone()))
        .await
        .unwrap()
        .into_inner();
    assert!(out.created);
    let c = out.conversion.unwrap();
    assert!(c.attributed);
    assert_eq!(c.campaign_id.as_deref(), Some(campaign.as_str()));
    assert_eq!(c.record_id.as_deref(), Some(records[0].0.as_str()));
    assert_eq!((c.kind.as_str(), c.value_cents), ("purchase", Some(1250)));
    let again = client
        .report_conversion(authed(request))
        .await
        .unwrap()
        .into_inner();
    assert!(!again.created);
    assert_eq!(again.conversion.unwrap().id, c.id);
    assert_eq!(totals(&app, &campaign).await["converted"], 1);

    let status = client
        .report_conversion(authed(pb::ReportConversionRequest {
            customer_id: ids[0].clone(),
            value_cents: Some(-5),
            ..Default::default()
        }))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert_eq!(bad_field(&status).as_deref(), Some("value_cents"));
    let status = client
        .report_conversion(tonic::Request::new(pb::ReportConversionRequest::default()))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unauthenticated);
}
