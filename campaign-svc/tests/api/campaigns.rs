//! Campaign CRUD over REST: status rules, filters, pagination edges.

use serde_json::json;

use testkit::{campaign_body, spawn_app};

#[tokio::test(flavor = "multi_thread")]
async fn create_returns_the_full_campaign_as_draft_or_scheduled() {
    let app = spawn_app().await;
    let mut body = campaign_body("六月会员关怀短信");
    body["start_time"] = json!("2099-06-10T09:00:00Z");
    body["end_time"] = json!("2099-06-15T23:59:59Z");
    let c = app.create_campaign(body).await;
    assert_eq!(c["status"], "scheduled");
    assert_eq!(c["name"], "六月会员关怀短信");
    assert_eq!(c["type"], "sms");
    assert_eq!(c["target_tags"], json!(["VIP", "新用户"]));
    assert_eq!(c["start_time"], "2099-06-10T09:00:00Z");
    assert_eq!(c["end_time"], "2099-06-15T23:59:59Z");
    for field in ["id", "created_at", "updated_at", "created_by", "updated_by"] {
        assert!(c[field].is_string(), "{field} missing in {c}");
    }
    assert!(c["actual_start_time"].is_null());

    let mut past = campaign_body("past start");
    past["start_time"] = json!("2020-01-01T00:00:00Z");
    assert_eq!(app.create_campaign(past).await["status"], "draft");
    assert_eq!(
        app.create_campaign(campaign_body("no start")).await["status"],
        "draft"
    );

    let (status, got) = app
        .get(&format!(
            "/api/marketing/campaigns/{}",
            c["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(status, 200);
    assert_eq!(got, c);
}

#[tokio::test(flavor = "multi_thread")]
async fn get_unknown_campaign_is_404() {
    let app = spawn_app().await;
    let (status, body) = app
        .get(&format!(
            "/api/marketing/campaigns/{}",
            uuid::Uuid::now_v7()
        ))
        .await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "not_found");
}

#[tokio::test(flavor = "multi_thread")]
async fn list_filters_by_status_type_and_name() {
    let app = spawn_app().await;
    app.create_campaign(campaign_body("Summer SALE sms")).await;
    let mut email = campaign_body("summer newsletter");
    email["type"] = json!("email");
    app.create_campaign(email).await;
    let mut later = campaign_body("Winter 50%_off");
    later["start_time"] = json!("2099-01-01T00:00:00Z");
    app.create_campaign(later).await;

    let names = |body: &serde_json::Value| -> Vec<String> {
        body["campaigns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let (_, b) = app.get("/api/marketing/campaigns?name=SUMMER").await;
    assert_eq!(names(&b), vec!["summer newsletter", "Summer SALE sms"]);
    let (_, b) = app
        .get("/api/marketing/campaigns?name=summer&type=email")
        .await;
    assert_eq!(names(&b), vec!["summer newsletter"]);
    let (_, b) = app.get("/api/marketing/campaigns?status=scheduled").await;
    assert_eq!(names(&b), vec!["Winter 50%_off"]);
    // LIKE wildcards in the search text match literally.
    let (_, b) = app.get("/api/marketing/campaigns?name=%25_").await;
    assert_eq!(names(&b), vec!["Winter 50%_off"]);
    let (_, b) = app.get("/api/marketing/campaigns?status=archived").await;
    assert_eq!(b["pagination"]["total"], 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn pagination_edges() {
    let app = spawn_app().await;
    for i in 0..25 {
        app.create_campaign(campaign_body(&format!("c{i:02}")))
            .await;
    }
    let (_, first) = app.get("/api/marketing/campaigns").await;
    assert_eq!(
        first["pagination"],
        json!({"total": 25, "page": 1, "page_size": 10})
    );
    assert_eq!(first["campaigns"].as_array().unwrap().len(), 10);
    assert_eq!(first["campaigns"][0]["name"], "c24", "newest first");

    let (_, last) = app
        .get("/api/marketing/campaigns?page=3&page_size=10")
        .await;
    assert_eq!(
        last["campaigns"].as_array().unwrap().len(),
        5,
        "last partial page"
    );
    assert_eq!(last["campaigns"][4]["name"], "c00");

    let (status, past) = app
        .get("/api/marketing/campaigns?page=4&page_size=10")
        .await;
    assert_eq!(status, 200);
    assert_eq!(past["campaigns"], json!([]));
    assert_eq!(past["pagination"]["total"], 25);

    let (_, all) = app.get("/api/marketing/campaigns?page_size=100").await;
    let mut seen: Vec<_> = all["campaigns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].clone())
        .collect();
    seen.dedup();
    assert_eq!(seen.len(), 25);
}

#[tokio::test(flavor = "multi_thread")]
async fn update_is_partial_and_moves_between_draft_and_scheduled() {
    let app = spawn_app().await;
    let c = app.create_campaign(campaign_body("before")).await;
    let path = format!("/api/marketing/campaigns/{}", c["id"].as_str().unwrap());

    let (status, u) = app.put(&path, json!({"name": "after"})).await;
    assert_eq!(status, 200, "{u}");
    assert_eq!(u["name"], "after");
    assert_eq!(u["content"], c["content"], "untouched fields stay");
    assert_eq!(u["target_tags"], c["target_tags"]);
    assert_eq!(u["status"], "draft");

    let (_, u) = app
        .put(
            &path,
            json!({"start_time": "2099-01-01T00:00:00Z", "end_time": "2099-01-02T00:00:00Z"}),
        )
        .await;
    assert_eq!(u["status"], "scheduled");
    let (_, u) = app
        .put(&path, json!({"start_time": null, "end_time": null}))
        .await;
    assert_eq!(u["status"], "draft");
    assert!(u["start_time"].is_null());

    // end before the stored start is refused even when only end_time is sent.
    app.put(&path, json!({"start_time": "2099-01-01T00:00:00Z"}))
        .await;
    let (status, e) = app
        .put(&path, json!({"end_time": "2098-01-01T00:00:00Z"}))
        .await;
    assert_eq!(status, 400);
    assert_eq!(e["error"]["field"], "end_time");
    let (_, stored) = app.get(&path).await;
    assert!(stored["end_time"].is_null(), "nothing half-written");
}

#[tokio::test(flavor = "multi_thread")]
async fn only_draft_or_scheduled_campaigns_can_be_updated() {
    let app = spawn_app().await;
    for status in ["active", "completed", "archived"] {
        let c = app.create_campaign(campaign_body(status)).await;
        let id = c["id"].as_str().unwrap();
        app.sql(&format!(
            "UPDATE marketing_campaign SET status = '{status}' WHERE id = '{id}'"
        ))
        .await;
        let (code, body) = app
            .put(
                &format!("/api/marketing/campaigns/{id}"),
                json!({"name": "x"}),
            )
            .await;
        assert_eq!(code, 409, "{status}: {body}");
        assert_eq!(body["error"]["code"], "failed_precondition");
        let (_, stored) = app.get(&format!("/api/marketing/campaigns/{id}")).await;
        assert_eq!(stored["name"], status);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn archive_from_any_state_but_active() {
    let app = spawn_app().await;
    for status in ["draft", "scheduled", "completed"] {
        let c = app.create_campaign(campaign_body(status)).await;
        let id = c["id"].as_str().unwrap();
        app.sql(&format!(
            "UPDATE marketing_campaign SET status = '{status}' WHERE id = '{id}'"
        ))
        .await;
        let (code, a) = app
            .post(&format!("/api/marketing/campaigns/{id}/archive"), json!({}))
            .await;
        assert_eq!(code, 200, "{status}: {a}");
        assert_eq!(a["status"], "archived");
        let (code, again) = app
            .post(&format!("/api/marketing/campaigns/{id}/archive"), json!({}))
            .await;
        assert_eq!(
            (code, &again["status"]),
            (200, &json!("archived")),
            "archiving twice is harmless"
        );
    }
    let c = app.create_campaign(campaign_body("running")).await;
    let id = c["id"].as_str().unwrap();
    app.sql(&format!(
        "UPDATE marketing_campaign SET status = 'active' WHERE id = '{id}'"
    ))
    .await;
    let (code, e) = app
        .post(&format!("/api/marketing/campaigns/{id}/archive"), json!({}))
        .await;
    assert_eq!(code, 409, "{e}");
    let (_, stored) = app.get(&format!("/api/marketing/campaigns/{id}")).await;
    assert_eq!(stored["status"], "active");

    let (code, _) = app
        .post(
            &format!("/api/marketing/campaigns/{}/archive", uuid::Uuid::now_v7()),
            json!({}),
        )
        .await;
    assert_eq!(code, 404);
}
