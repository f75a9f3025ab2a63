//! Every bad input gets a 400 naming the field (413 for oversized bodies), and writes nothing.

use serde_json::json;

use testkit::{campaign_body, spawn_app};

#[tokio::test(flavor = "multi_thread")]
async fn bad_campaign_bodies_name_the_field_and_write_nothing() {
    let app = spawn_app().await;
    let with = |patch: serde_json::Value| {
        let mut b = campaign_body("ok");
        for (k, v) in patch.as_object().unwrap() {
            b[k] = v.clone();
        }
        b
    };
    let mut missing_name = campaign_body("x");
    missing_name.as_object_mut().unwrap().remove("name");
    let mut missing_type = campaign_body("x");
    missing_type.as_object_mut().unwrap().remove("type");
    let cases = vec![
        (missing_name, "name"),
        (with(json!({"name": ""})), "name"),
        (with(json!({"name": "   "})), "name"),
        (with(json!({"name": "n".repeat(201)})), "name"),
        (missing_type, "type"),
        (with(json!({"type": "fax"})), "type"),
        (
            with(json!({"start_time": "2024-06-10 09:00"})),
            "start_time",
        ),
        (with(json!({"end_time": "tomorrow"})), "end_time"),
        (
            with(json!({"start_time": "2099-06-10T09:00:00Z", "end_time": "2099-06-09T09:00:00Z"})),
            "end_time",
        ),
        (
            with(json!({"target_segment_id": "segment-uuid"})),
            "target_segment_id",
        ),
        (
            with(json!({"content_template_id": "123"})),
            "content_template_id",
        ),
        (with(json!({"name": 42})), "name"),
        (with(json!({"target_tags": "VIP"})), "target_tags"),
        (with(json!({"target_tags": ["VIP", 7]})), "target_tags[1]"),
        (with(json!({"target_tags": ["VIP", ""]})), "target_tags[1]"),
        (with(json!({"statuss": "draft"})), "statuss"),
    ];
    for (body, field) in cases {
        let (status, err) = app.post("/api/marketing/campaigns", body.clone()).await;
        assert_eq!(status, 400, "{body} → {err}");
        assert_eq!(err["error"]["code"], "invalid_argument", "{body}");
        assert_eq!(err["error"]["field"], field, "{body} → {err}");
        assert!(!err["error"]["message"].as_str().unwrap().is_empty());
    }
    assert_eq!(
        app.count("SELECT count(*) AS n FROM marketing_campaign")
            .await,
        0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_json_and_oversized_bodies() {
    let app = spawn_app().await;
    let (status, err) = app
        .post_raw("/api/marketing/campaigns", "{\"name\": \"x\",")
        .await;
    assert_eq!(status, 400);
    assert_eq!(err["error"]["code"], "invalid_argument");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("malformed JSON"),
        "{err}"
    );

    let (status, _) = app.post_raw("/api/marketing/campaigns", "[1, 2]").await;
    assert_eq!(status, 400);

    // The test app's limit is 4 MiB.
    let huge = format!(
        "{{\"name\": \"x\", \"type\": \"sms\", \"content\": \"{}\"}}",
        "a".repeat(5 << 20)
    );
    let (status, err) = app.post_raw("/api/marketing/campaigns", huge).await;
    assert_eq!(status, 413, "{err}");
    assert_eq!(err["error"]["code"], "payload_too_large");
    assert_eq!(
        app.count("SELECT count(*) AS n FROM marketing_campaign")
            .await,
        0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_paths_and_queries_name_the_parameter() {
    let app = spawn_app().await;
    let cases = [
        ("/api/marketing/campaigns/not-a-uuid", "id"),
        ("/api/marketing/campaigns?status=running", "status"),
        ("/api/marketing/campaigns?type=fax", "type"),
        ("/api/marketing/campaigns?page_size=101", "page_size"),
        ("/api/marketing/campaigns?page_size=0", "page_size"),
        ("/api/marketing/campaigns?page=0", "page"),
        ("/api/marketing/campaigns?page=two", "page"),
        ("/api/marketing/records", "campaign_id"),
        ("/api/marketing/records?campaign_id=abc", "campaign_id"),
        ("/api/marketing/customers/123", "id"),
    ];
    for (path, field) in cases {
        let (status, err) = app.get(path).await;
        assert_eq!(status, 400, "{path} → {err}");
        assert_eq!(err["error"]["field"], field, "{path} → {err}");
    }
    let (status, err) = app
        .put("/api/marketing/campaigns/nope", json!({"name": "x"}))
        .await;
    assert_eq!((status, err["error"]["field"].clone()), (400, json!("id")));
    let (status, err) = app
        .post("/api/marketing/campaigns/nope/archive", json!({}))
        .await;
    assert_eq!((status, err["error"]["field"].clone()), (400, json!("id")));
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_updates_change_nothing() {
    let app = spawn_app().await;
    let c = app.create_campaign(campaign_body("keep")).await;
    let path = format!("/api/marketing/campaigns/{}", c["id"].as_str().unwrap());
    for (body, field) in [
        (json!({"name": "", "content": "new"}), "name"),
        (json!({"type": "pigeon", "content": "new"}), "type"),
        (
            json!({"content": "new", "start_time": "soon"}),
            "start_time",
        ),
        (json!({"content": 5}), "content"),
        (json!({"status": "active"}), "status"),
    ] {
        let (status, err) = app.put(&path, body.clone()).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(err["error"]["field"], field, "{body} → {err}");
    }
    let (_, stored) = app.get(&path).await;
    assert_eq!(stored, c);
}
