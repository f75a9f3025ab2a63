//! Bearer tokens on REST (gRPC is covered in grpc.rs); health endpoints stay open.

use serde_json::json;

use testkit::{OTHER_TOKEN, campaign_body, read, spawn_app};

#[tokio::test(flavor = "multi_thread")]
async fn missing_or_wrong_tokens_are_401_and_write_nothing() {
    let app = spawn_app().await;
    let url = app.url("/api/marketing/campaigns");
    let no_token = app
        .http
        .post(&url)
        .json(&campaign_body("x"))
        .send()
        .await
        .unwrap();
    assert_eq!(no_token.headers()["www-authenticate"], "Bearer");
    let (status, body) = read(no_token).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "unauthenticated");

    let wrong = app
        .http
        .get(&url)
        .bearer_auth("guess")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let basic = app
        .http
        .get(&url)
        .basic_auth("user", Some("pw"))
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), 401);
    for path in [
        "/api/marketing/records?campaign_id=x",
        "/api/marketing/customers/x",
    ] {
        let r = app.http.get(app.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 401, "{path}");
    }
    assert_eq!(
        app.count("SELECT count(*) AS n FROM marketing_campaign")
            .await,
        0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn health_endpoints_are_open() {
    let app = spawn_app().await;
    let (status, body) = read(app.http.get(app.url("/healthz")).send().await.unwrap()).await;
    assert_eq!((status, body), (200, json!({"status": "ok"})));
    let (status, body) = read(app.http.get(app.url("/readyz")).send().await.unwrap()).await;
    assert_eq!((status, body), (200, json!({"status": "ready"})));
}

#[tokio::test(flavor = "multi_thread")]
async fn created_by_and_updated_by_come_from_the_caller() {
    let app = spawn_app().await;
    let c = app.create_campaign(campaign_body("mine")).await;
    assert_eq!(c["created_by"], c["updated_by"]);
    let id = c["id"].as_str().unwrap();
    let resp = app
        .http
        .put(app.url(&format!("/api/marketing/campaigns/{id}")))
        .bearer_auth(OTHER_TOKEN)
        .json(&json!({"content": "edited"}))
        .send()
        .await
        .unwrap();
    let (_, u) = read(resp).await;
    assert_eq!(u["created_by"], c["created_by"]);
    assert_ne!(
        u["updated_by"], c["created_by"],
        "another token is another caller"
    );

    // An internal service names the user it acts for.
    let actor = uuid::Uuid::new_v4().to_string();
    let resp = app
        .http
        .post(app.url("/api/marketing/campaigns"))
        .bearer_auth(OTHER_TOKEN)
        .header("x-actor-id", &actor)
        .json(&campaign_body("on behalf"))
        .send()
        .await
        .unwrap();
    let (status, c) = read(resp).await;
    assert_eq!(status, 201);
    assert_eq!(c["created_by"], actor.as_str());
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_are_open_and_count_requests_by_route() {
    let app = spawn_app().await;
    app.create_campaign(campaign_body("counted")).await;
    let (_, body) = read(app.http.get(app.url("/metrics")).send().await.unwrap()).await;
    let text = body.as_str().unwrap().to_owned();
    assert!(
        text.contains(
            r#"http_requests_total{route="/api/marketing/campaigns",method="POST",status="201"}"#
        ),
        "{text}"
    );
    assert!(
        text.contains("http_request_duration_seconds_bucket"),
        "{text}"
    );
    assert!(
        text.contains(r#"db_pool_connections{state="in_use"}"#),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_bearer_scheme_is_case_insensitive_on_both_apis() {
    use crm_proto::v1 as pb;
    use crm_proto::v1::campaign_service_client::CampaignServiceClient;
    let app = spawn_app().await;
    let mut grpc = CampaignServiceClient::new(app.channel().await);
    for header in [
        format!("BEARER {}", testkit::TOKEN),
        format!("bearer {}", testkit::TOKEN),
        format!("Bearer\t{}", testkit::TOKEN),
        format!("bEaReR   {}", testkit::TOKEN),
    ] {
        let resp = app
            .http
            .get(app.url("/api/marketing/campaigns"))
            .header("authorization", &header)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "REST {header:?}");
        let mut req = tonic::Request::new(pb::ListCampaignsRequest::default());
        req.metadata_mut()
            .insert("authorization", header.parse().unwrap());
        assert!(grpc.list_campaigns(req).await.is_ok(), "gRPC {header:?}");
    }
    for header in [
        format!("Bearer{}", testkit::TOKEN),
        format!("Basic {}", testkit::TOKEN),
    ] {
        let resp = app
            .http
            .get(app.url("/api/marketing/campaigns"))
            .header("authorization", &header)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 401, "REST {header:?}");
    }
}
