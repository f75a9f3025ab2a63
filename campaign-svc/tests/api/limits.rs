//! What a hostile or careless client cannot make the service hold: oversized gRPC messages,
//! unbounded metric labels, connections that never finish a request, and answers without the
//! JSON error body.

use std::time::Duration;

use crm_proto::v1 as pb;
use crm_proto::v1::campaign_service_client::CampaignServiceClient;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tonic::Code;

use testkit::{TOKEN, TestDb, TestQueues, authed, read, spawn_app, spawn_app_with};

#[tokio::test(flavor = "multi_thread")]
async fn a_grpc_message_over_the_limit_is_resource_exhausted() {
    let app = spawn_app().await; // MAX_BODY_BYTES 4 MiB in tests
    let mut client = CampaignServiceClient::new(app.channel().await);
    let err = client
        .create_campaign(authed(pb::CreateCampaignRequest {
            name: "big".into(),
            r#type: "sms".into(),
            target_tags: vec!["VIP".into()],
            content: "x".repeat(5 * 1024 * 1024),
            ..Default::default()
        }))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
    assert!(err.message().contains("MAX_BODY_BYTES"), "{err:?}");
    // Just under the limit still reaches the service (which refuses the content's length).
    let err = client
        .create_campaign(authed(pb::CreateCampaignRequest {
            name: "almost".into(),
            r#type: "sms".into(),
            target_tags: vec!["VIP".into()],
            content: "x".repeat(4 * 1024 * 1024 - 1024),
            ..Default::default()
        }))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    assert_eq!(
        app.count("SELECT count(*) AS n FROM marketing_campaign")
            .await,
        0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn invented_paths_and_methods_never_become_metric_labels() {
    let app = spawn_app().await;
    // gRPC calls to methods that do not exist, unauthenticated, each on its own path.
    let mut grpc = tonic::client::Grpc::new(app.channel().await);
    for i in 0..200 {
        grpc.ready().await.unwrap();
        let path = format!("/evil.Service{i}/Method{i}").parse().unwrap();
        let err = grpc
            .unary::<_, pb::Campaign, _>(
                tonic::Request::new(pb::GetCampaignRequest::default()),
                path,
                tonic_prost::ProstCodec::default(),
            )
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::Unimplemented);
    }
    // REST requests with invented methods on a real route and on unknown routes.
    for i in 0..200 {
        let method = reqwest::Method::from_bytes(format!("EVIL{i}").as_bytes()).unwrap();
        let resp = app
            .http
            .request(method.clone(), app.url("/api/marketing/campaigns"))
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_client_error());
        let resp = app
            .http
            .request(method, app.url(&format!("/evil/{i}")))
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_client_error());
    }
    let metrics = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let leaked: Vec<&str> = metrics
        .lines()
        .filter(|l| l.contains("evil") || l.contains("EVIL"))
        .take(3)
        .collect();
    assert!(leaked.is_empty(), "client-chosen labels: {leaked:?}");
    assert!(
        metrics.contains(r#"grpc_requests_total{method="unknown",code="Unimplemented"}"#),
        "unknown gRPC methods count as one series"
    );
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("http_requests_total") && l.contains(r#"method="unknown""#)),
        "unknown HTTP methods count under one label"
    );
}

/// Limits small enough to watch: 1 s for headers and bodies, 8 connections.
async fn limited_app() -> testkit::TestApp {
    spawn_app_with(TestDb::new(), TestQueues::new(), |c| {
        c.limits.http_header_timeout_secs = 1;
        c.limits.http_body_timeout_secs = 1;
        c.limits.max_connections = 8;
    })
    .await
}

fn addr(app: &testkit::TestApp) -> String {
    app.base.trim_start_matches("http://").to_owned()
}

/// Reads until the server closes the connection (or `within` passes: `None`).
async fn read_until_closed(stream: &mut TcpStream, within: Duration) -> Option<String> {
    let mut got = Vec::new();
    let read = tokio::time::timeout(within, async {
        let mut buf = [0u8; 1024];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    read.ok()
        .map(|()| String::from_utf8_lossy(&got).into_owned())
}

#[tokio::test(flavor = "multi_thread")]
async fn slow_clients_are_cut_off_and_connections_are_bounded() {
    let app = limited_app().await;
    // Headers that never end: the connection is closed after the header timeout.
    let mut slow_headers = TcpStream::connect(addr(&app)).await.unwrap();
    slow_headers
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let closed = read_until_closed(&mut slow_headers, Duration::from_secs(5)).await;
    assert!(
        closed.is_some(),
        "a connection that never finished its headers stayed open"
    );
    assert!(started.elapsed() < Duration::from_secs(4));

    // A body that was declared and never sent: 408 with the JSON error body, connection closed.
    let mut slow_body = TcpStream::connect(addr(&app)).await.unwrap();
    slow_body
        .write_all(
            format!(
                "POST /api/marketing/campaigns HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\
                 Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let answer = read_until_closed(&mut slow_body, Duration::from_secs(5))
        .await
        .expect("a body that never arrived held the connection");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains(r#""code":"request_timeout""#), "{answer}");

    // Eight stalled connections fill the limit: a ninth client waits until they are cut.
    let mut stalled = Vec::new();
    for _ in 0..8 {
        let mut s = TcpStream::connect(addr(&app)).await.unwrap();
        s.write_all(b"GET /healthz HTTP/1.1\r\n").await.unwrap();
        stalled.push(s);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let quick = testkit::http_client()
        .get(app.url("/healthz"))
        .timeout(Duration::from_millis(400))
        .send()
        .await;
    assert!(
        quick.is_err(),
        "a ninth connection was served beyond the limit"
    );
    // Once the stalled ones time out, clients are served again.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (status, _) = read(
        testkit::http_client()
            .get(app.url("/healthz"))
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    for mut s in stalled {
        assert!(
            read_until_closed(&mut s, Duration::from_secs(2))
                .await
                .is_some(),
            "a stalled connection stayed open"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_api_error_has_the_json_body() {
    let app = spawn_app().await;
    for (method, path, status, code) in [
        (
            "DELETE",
            "/api/marketing/campaigns",
            405,
            "method_not_allowed",
        ),
        ("PATCH", "/api/marketing/records", 405, "method_not_allowed"),
        ("GET", "/webhooks/sms", 405, "method_not_allowed"),
        (
            "GET",
            "/api/marketing/campaigns/%FF",
            400,
            "invalid_argument",
        ),
        ("GET", "/api/marketing/nothing-here", 404, "not_found"),
    ] {
        let resp = app
            .http
            .request(
                reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
                app.url(path),
            )
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        let allow = resp.headers().get("allow").cloned();
        assert_eq!(
            resp.headers()["content-type"],
            "application/json",
            "{method} {path}"
        );
        let (got, body) = read(resp).await;
        assert_eq!(got, status, "{method} {path}: {body}");
        assert_eq!(body["error"]["code"], code, "{method} {path}: {body}");
        assert!(
            !body["error"]["message"].as_str().unwrap().is_empty(),
            "{body}"
        );
        if status == 405 {
            assert!(allow.is_some(), "405 names the allowed methods");
        }
    }
}
