//! A/B tests: variants checked when saved, each recipient's variant stable (hash of campaign and
//! customer), recorded on its record, split by the weights, and broken down in the stats.

use std::collections::HashMap;

use crm_proto::v1 as pb;
use crm_proto::v1::campaign_service_client::CampaignServiceClient;
use serde_json::{Value, json};

use testkit::{TestApp, authed, campaign_body, spawn_app};

async fn customers(app: &TestApp, n: usize) {
    let batch: Vec<Value> = (0..n)
        .map(|i| {
            json!({"external_id": format!("c{i}"), "name": format!("客户{i}"),
                   "phone": format!("+861380{i:07}"), "tags": ["ab"]})
        })
        .collect();
    let (status, out) = app
        .post("/api/marketing/customers/bulk", json!({"customers": batch}))
        .await;
    assert_eq!(status, 200, "{out}");
}

async fn ab_campaign(app: &TestApp) -> String {
    let (status, t) = app
        .post(
            "/api/marketing/templates",
            json!({"name": "B copy", "channel": "sms", "body": "B: {{ name }}，限时8折"}),
        )
        .await;
    assert_eq!(status, 201, "{t}");
    let mut body = campaign_body("A/B");
    body["target_tags"] = json!(["ab"]);
    body["content"] = json!("");
    body["variants"] = json!([
        {"key": "A", "weight": 30, "content": "A: {{ name }}，满100减20"},
        {"key": "B", "weight": 70, "template_id": t["id"]}
    ]);
    let c = app.create_campaign(body).await;
    assert_eq!(c["variants"][1]["template_id"], t["id"]);
    c["id"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn variants_split_the_audience_stably_and_show_in_records_and_stats() {
    let app = spawn_app().await;
    customers(&app, 1000).await;
    let id = ab_campaign(&app).await;

    // Preview twice: every customer gets the same variant each time, with that variant's text.
    let (_, first) = app
        .post(
            &format!("/api/marketing/campaigns/{id}/preview"),
            json!({"limit": 50}),
        )
        .await;
    let (_, again) = app
        .post(
            &format!("/api/marketing/campaigns/{id}/preview"),
            json!({"limit": 50}),
        )
        .await;
    assert_eq!(first, again);
    let previewed: HashMap<String, String> = first["previews"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let v = p["variant"].as_str().unwrap();
            assert!(
                p["body"].as_str().unwrap().starts_with(&format!("{v}: ")),
                "{p}"
            );
            (p["customer_id"].as_str().unwrap().to_owned(), v.to_owned())
        })
        .collect();
    assert_eq!(previewed.len(), 50);

    let (status, t) = app
        .post(&format!("/api/marketing/campaigns/{id}/trigger"), json!({}))
        .await;
    assert_eq!(status, 202, "{t}");
    crate::frozen(&app, t["execution_id"].as_str().unwrap()).await;
    let (_, records) = app
        .get(&format!(
            "/api/marketing/records?campaign_id={id}&page_size=100"
        ))
        .await;
    assert_eq!(records["pagination"]["total"], 1000);
    // The record's variant is the one the preview showed.
    let mut checked = 0;
    for r in records["records"].as_array().unwrap() {
        if let Some(v) = previewed.get(r["customer_id"].as_str().unwrap()) {
            assert_eq!(r["variant"].as_str(), Some(v.as_str()));
            checked += 1;
        }
    }
    assert!(checked > 0);
    let a = app
        .count(&format!(
            "SELECT count(*) AS n FROM marketing_record WHERE campaign_id = '{id}' AND variant = 'A'"
        ))
        .await;
    let b = app
        .count(&format!(
            "SELECT count(*) AS n FROM marketing_record WHERE campaign_id = '{id}' AND variant = 'B'"
        ))
        .await;
    assert_eq!(a + b, 1000);
    // 30/70 of 1000: the standard deviation is about 14.5, so ±70 is almost 5 of them.
    assert!((230..=370).contains(&a), "A got {a} of 1000");

    let (status, stats) = app
        .get(&format!("/api/marketing/campaigns/{id}/stats"))
        .await;
    assert_eq!(status, 200, "{stats}");
    assert_eq!(stats["totals"]["planned"], 1000);
    assert_eq!(stats["by_variant"][0]["variant"], "A");
    assert_eq!(stats["by_variant"][0]["planned"], a);
    assert_eq!(stats["by_variant"][1]["variant"], "B");
    assert_eq!(stats["by_variant"][1]["planned"], b);
    assert_eq!(
        stats["totals"]["rates"]["send_success"],
        Value::Null,
        "nothing attempted yet"
    );

    let mut grpc = CampaignServiceClient::new(app.channel().await);
    let s = grpc
        .get_campaign_stats(authed(pb::GetCampaignStatsRequest { id: id.clone() }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(s.totals.unwrap().planned, 1000);
    assert_eq!(
        s.by_variant
            .iter()
            .map(|v| (v.variant.as_str(), v.planned as i64))
            .collect::<Vec<_>>(),
        vec![("A", a), ("B", b)]
    );

    // Across campaigns, by channel; `since` limits to executions triggered since then.
    let (status, all) = app.get("/api/marketing/stats").await;
    assert_eq!(status, 200, "{all}");
    assert_eq!(all["by_channel"][0]["channel"], "sms");
    assert_eq!(all["by_channel"][0]["planned"], 1000);
    let (_, later) = app
        .get("/api/marketing/stats?since=2100-01-01T00:00:00Z")
        .await;
    assert_eq!(later["by_channel"], json!([]));
    let (status, err) = app.get("/api/marketing/stats?since=yesterday").await;
    assert_eq!(
        (status, err["error"]["field"].clone()),
        (400, json!("since"))
    );
    let channels = grpc
        .get_channel_stats(authed(pb::GetChannelStatsRequest { since: None }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(channels.by_channel.len(), 1);
    assert_eq!(channels.by_channel[0].channel, "sms");
    assert_eq!(channels.by_channel[0].planned, 1000);
}

#[tokio::test(flavor = "multi_thread")]
async fn variants_are_checked_when_saved() {
    let app = spawn_app().await;
    let mut body = campaign_body("bad A/B");
    let cases = [
        (json!([{"weight": 100, "content": "x"}]), "variants"),
        (
            json!([{"weight": 50, "content": "x"}, {"weight": 40, "content": "y"}]),
            "variants",
        ),
        (
            json!([{"weight": 50, "content": "x"}, {"weight": 50}]),
            "variants[1].content",
        ),
        (
            json!([{"weight": 50, "content": "x"}, {"weight": 50, "content": "{{ nope }}"}]),
            "variants[1].content",
        ),
        (
            json!([{"key": "A", "weight": 50, "content": "x"}, {"key": "A", "weight": 50, "content": "y"}]),
            "variants[1].key",
        ),
        (
            json!([{"weight": 50, "content": "x"}, {"weight": 50, "template_id": uuid::Uuid::now_v7()}]),
            "variants[1].template_id",
        ),
        (
            json!([{"weight": 50, "content": "x"}, {"weight": 50, "template_id": "nope"}]),
            "variants[1].template_id",
        ),
        (
            json!([{"weight": 0, "content": "x"}, {"weight": 100, "content": "y"}]),
            "variants[0].weight",
        ),
    ];
    for (variants, field) in cases {
        body["variants"] = variants.clone();
        let (status, err) = app.post("/api/marketing/campaigns", body.clone()).await;
        assert_eq!(status, 400, "{variants}: {err}");
        assert_eq!(err["error"]["field"], field, "{variants}: {err}");
    }
    assert_eq!(
        app.count("SELECT count(*) AS n FROM marketing_campaign")
            .await,
        0
    );

    // Variants can be added and removed while the campaign is a draft.
    body["variants"] = json!([]);
    let c = app.create_campaign(body).await;
    let id = c["id"].as_str().unwrap();
    let (status, c) = app
        .put(
            &format!("/api/marketing/campaigns/{id}"),
            json!({"variants": [{"weight": 50, "content": "x"}, {"weight": 50, "content": "y"}]}),
        )
        .await;
    assert_eq!(status, 200, "{c}");
    assert_eq!(c["variants"][1]["key"], "B");
    let (_, c) = app
        .put(
            &format!("/api/marketing/campaigns/{id}"),
            json!({"variants": []}),
        )
        .await;
    assert_eq!(c["variants"], json!([]));
}
