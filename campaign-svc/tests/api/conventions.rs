//! HTTP conventions an integrator's client relies on: `Location` on what a POST created, and
//! `Idempotency-Key` making a retried POST answer as the first try did, never create twice.

use serde_json::{Value, json};

use testkit::{TOKEN, TestApp, campaign_body, http_client, read, spawn_app};

/// POSTs `body` to `path` with an `Idempotency-Key`; status, JSON body, `Location` and whether it
/// was a replay.
async fn post_keyed(
    app: &TestApp,
    path: &str,
    key: &str,
    body: &Value,
) -> (u16, Value, Option<String>, bool) {
    let resp = http_client()
        .post(app.url(path))
        .bearer_auth(TOKEN)
        .header("Idempotency-Key", key)
        .json(body)
        .send()
        .await
        .expect("request is sent");
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let location = header("location");
    let replayed = header("idempotent-replayed").as_deref() == Some("true");
    let (status, body) = read(resp).await;
    (status, body, location, replayed)
}

#[tokio::test(flavor = "multi_thread")]
async fn created_resources_and_triggers_answer_with_their_location() {
    let app = spawn_app().await;
    let (status, c) = app
        .post(
            "/api/marketing/customers",
            json!({"external_id": "loc-1", "name": "李雷", "phone": "+8613800000001", "tags": ["VIP"]}),
        )
        .await;
    assert_eq!(status, 201, "{c}");
    let cases = [
        ("/api/marketing/campaigns", campaign_body("定位")),
        (
            "/api/marketing/templates",
            json!({"name": "t", "channel": "sms", "body": "{{ name }}，您好"}),
        ),
        (
            "/api/marketing/segments",
            json!({"name": "VIP", "rule": {"tag": "VIP"}}),
        ),
        (
            "/api/marketing/customers",
            json!({"external_id": "loc-2", "name": "韩梅梅", "phone": "+8613800000002"}),
        ),
    ];
    for (i, (path, body)) in cases.iter().enumerate() {
        let (status, created, location, _) =
            post_keyed(&app, path, &format!("loc-{i}"), body).await;
        assert_eq!(status, 201, "{path}: {created}");
        let id = created["id"].as_str().expect("an id");
        assert_eq!(location.as_deref(), Some(format!("{path}/{id}").as_str()));
        // The Location is where the resource is.
        let (status, got) = app.get(&location.unwrap()).await;
        assert_eq!(status, 200, "{got}");
        assert_eq!(got["id"], created["id"]);
    }
    let campaign = app.create_campaign(campaign_body("发送")).await;
    let id = campaign["id"].as_str().unwrap();
    let path = format!("/api/marketing/campaigns/{id}/trigger");
    for body in [json!({"execution_type": "simulation"}), json!({})] {
        let (status, t, location, _) = post_keyed(&app, &path, &uuid(), &body).await;
        assert_eq!(status, 202, "{t}");
        let execution = t["execution_id"].as_str().expect("an execution id");
        let location = location.expect("a Location on the trigger's 202");
        assert_eq!(location, format!("/api/marketing/executions/{execution}"));
        let (status, got) = app.get(&location).await;
        assert_eq!(status, 200, "{got}");
    }
}

fn uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_retried_post_with_its_key_answers_as_the_first_and_creates_once() {
    let app = spawn_app().await;
    let key = uuid();
    let body = campaign_body("双十一");
    let (status, first, location, replayed) =
        post_keyed(&app, "/api/marketing/campaigns", &key, &body).await;
    assert_eq!(status, 201, "{first}");
    assert!(!replayed);
    let (status, again, again_location, replayed) =
        post_keyed(&app, "/api/marketing/campaigns", &key, &body).await;
    assert_eq!(status, 201, "the replay keeps the first status: {again}");
    assert!(replayed, "a replay says so");
    assert_eq!(again, first, "the replay is the first body");
    assert_eq!(again_location, location);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM marketing_campaign")
            .await,
        1
    );

    // The same key with another body is a client bug: 422 naming the header, nothing created.
    let (status, err, _, _) = post_keyed(
        &app,
        "/api/marketing/campaigns",
        &key,
        &campaign_body("另一个"),
    )
    .await;
    assert_eq!(status, 422, "{err}");
    assert_eq!(err["error"]["field"], "Idempotency-Key", "{err}");
    assert_eq!(
        app.count("SELECT count(*) AS n FROM marketing_campaign")
            .await,
        1
    );

    // The key belongs to its path: the same key elsewhere is another request.
    let (status, t, _, replayed) = post_keyed(
        &app,
        "/api/marketing/templates",
        &key,
        &json!({"name": "t", "channel": "sms", "body": "您好"}),
    )
    .await;
    assert_eq!(status, 201, "{t}");
    assert!(!replayed);

    // A refused request is answered the same way again (the client sent the same bad body),
    // and a key that is not a key is refused naming the header.
    let bad = json!({"name": "", "type": "sms", "content": "x"});
    let first_bad = post_keyed(&app, "/api/marketing/campaigns", "bad-1", &bad).await;
    let again_bad = post_keyed(&app, "/api/marketing/campaigns", "bad-1", &bad).await;
    assert_eq!(first_bad.0, 400);
    assert_eq!((again_bad.0, again_bad.3), (400, true));
    assert_eq!(again_bad.1, first_bad.1);
    let (status, err, _, _) = post_keyed(&app, "/api/marketing/campaigns", "a key", &body).await;
    assert_eq!(status, 400, "{err}");
    assert_eq!(err["error"]["field"], "Idempotency-Key", "{err}");

    // Without a key, POST keeps creating as before.
    app.create_campaign(body.clone()).await;
    assert_eq!(
        app.count("SELECT count(*) AS n FROM marketing_campaign")
            .await,
        2
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_retries_with_one_key_trigger_once() {
    let app = spawn_app().await;
    for i in 0..50 {
        app.post(
            "/api/marketing/customers",
            json!({"external_id": format!("c{i}"), "name": "客户", "phone": format!("+86138000{i:05}"), "tags": ["VIP"]}),
        )
        .await;
    }
    let campaign = app.create_campaign(campaign_body("一次")).await;
    let id = campaign["id"].as_str().unwrap().to_owned();
    let path = format!("/api/marketing/campaigns/{id}/trigger");
    let key = uuid();
    let tries: Vec<_> = (0..8)
        .map(|_| {
            let (app_url, path, key) = (app.url(&path), path.clone(), key.clone());
            let _ = path;
            tokio::spawn(async move {
                let resp = http_client()
                    .post(app_url)
                    .bearer_auth(TOKEN)
                    .header("Idempotency-Key", key)
                    .json(&json!({}))
                    .send()
                    .await
                    .expect("request is sent");
                read(resp).await
            })
        })
        .collect();
    let mut executions = std::collections::HashSet::new();
    for t in tries {
        let (status, body) = t.await.unwrap();
        assert_eq!(status, 202, "every retry gets the first answer: {body}");
        executions.insert(body["execution_id"].as_str().unwrap().to_owned());
    }
    assert_eq!(executions.len(), 1, "one execution: {executions:?}");
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM campaign_executions WHERE campaign_id = '{id}'"
        ))
        .await,
        1
    );
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM marketing_record WHERE campaign_id = '{id}'"
        ))
        .await,
        50
    );
}

/// `PUT` with an optional `If-Match`; status, body and the answer's `ETag`.
async fn put_if_match(
    app: &TestApp,
    path: &str,
    tag: Option<&str>,
    body: &Value,
) -> (u16, Value, Option<String>) {
    let mut req = http_client()
        .put(app.url(path))
        .bearer_auth(TOKEN)
        .json(body);
    if let Some(t) = tag {
        req = req.header("If-Match", t);
    }
    let resp = req.send().await.expect("request is sent");
    let etag = resp
        .headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let (status, body) = read(resp).await;
    (status, body, etag)
}

async fn get_tagged(app: &TestApp, path: &str) -> (Value, String) {
    let resp = http_client()
        .get(app.url(path))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("request is sent");
    let etag = resp
        .headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .expect("a single resource carries an ETag");
    let (status, body) = read(resp).await;
    assert_eq!(status, 200, "{body}");
    (body, etag)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stale_if_match_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    let resources = [
        (
            "/api/marketing/campaigns",
            campaign_body("并发编辑"),
            json!({"name": "A 的改动"}),
            json!({"name": "B 的改动"}),
        ),
        (
            "/api/marketing/templates",
            json!({"name": "t", "channel": "sms", "body": "您好"}),
            json!({"name": "t", "channel": "sms", "body": "A 的改动"}),
            json!({"name": "t", "channel": "sms", "body": "B 的改动"}),
        ),
        (
            "/api/marketing/segments",
            json!({"name": "VIP", "rule": {"tag": "VIP"}}),
            json!({"name": "A 的改动", "rule": {"tag": "VIP"}}),
            json!({"name": "B 的改动", "rule": {"tag": "VIP"}}),
        ),
    ];
    for (path, create, change_a, change_b) in resources {
        let (status, created) = app.post(path, create).await;
        assert_eq!(status, 201, "{created}");
        let one = format!("{path}/{}", created["id"].as_str().unwrap());
        // Two editors read the same version.
        let (_, seen_by_a) = get_tagged(&app, &one).await;
        let (_, seen_by_b) = get_tagged(&app, &one).await;
        assert_eq!(
            seen_by_a, seen_by_b,
            "the same representation, the same tag"
        );
        // A saves first: accepted, with the new version's tag.
        let (status, saved, new_tag) = put_if_match(&app, &one, Some(&seen_by_a), &change_a).await;
        assert_eq!(status, 200, "{path}: {saved}");
        let new_tag = new_tag.expect("an update answers with its ETag");
        assert_ne!(new_tag, seen_by_a);
        let (now, tag_now) = get_tagged(&app, &one).await;
        assert_eq!(tag_now, new_tag, "the update's ETag is the one GET gives");
        // B's save is based on the old version: 412, and A's change stands.
        let (status, err, _) = put_if_match(&app, &one, Some(&seen_by_b), &change_b).await;
        assert_eq!(status, 412, "{path}: {err}");
        assert_eq!(err["error"]["code"], "precondition_failed", "{err}");
        let (after, _) = get_tagged(&app, &one).await;
        assert_eq!(after, now, "{path}: a refused update changes nothing");
        // `*` and no If-Match at all keep working.
        let (status, _, _) = put_if_match(&app, &one, Some("*"), &change_b).await;
        assert_eq!(status, 200);
        let (status, _, _) = put_if_match(&app, &one, None, &change_a).await;
        assert_eq!(status, 200);
    }
}
