//! The real campaign-svc process, as an operator runs it (default log level, JSON lines): callers'
//! mistakes never reach the error log, so no client can flood it; ERROR is for the service's own
//! failures.

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use crm_proto::v1 as pb;
use crm_proto::v1::campaign_service_client::CampaignServiceClient;
use crm_proto::v1::customer_service_client::CustomerServiceClient;
use tonic::Code;

use testkit::{TOKEN, TestDb, TestQueues, authed, wait_until};

/// A free local port (bound once and released, so the process can take it).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

#[tokio::test(flavor = "multi_thread")]
async fn client_errors_are_not_logged_as_errors() {
    let (db, queues) = (TestDb::new(), TestQueues::new());
    let (http, grpc) = (free_port(), free_port());
    let mut child = Command::new(env!("CARGO_BIN_EXE_campaign-svc"))
        .env_remove("RUST_LOG")
        .env("DATABASE_URL", &db.url)
        .env("AMQP_URL", testkit::amqp_url())
        .env("QUEUE_PREFIX", &queues.prefix)
        .env("HTTP_ADDR", format!("127.0.0.1:{http}"))
        .env("GRPC_ADDR", format!("127.0.0.1:{grpc}"))
        .env("API_TOKENS", TOKEN)
        .env("LOG_JSON", "true")
        .stdout(Stdio::piped())
        .spawn()
        .expect("campaign-svc starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let lines = std::thread::spawn(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<String>>()
    });
    let client = testkit::http_client();
    let base = format!("http://127.0.0.1:{http}");
    wait_until(Duration::from_secs(60), "campaign-svc ready", || async {
        client
            .get(format!("{base}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
    })
    .await;

    let channel = tonic::transport::Channel::from_shared(format!("http://127.0.0.1:{grpc}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut campaigns = CampaignServiceClient::new(channel.clone());
    let mut customers = CustomerServiceClient::new(channel);
    for _ in 0..20 {
        let err = campaigns
            .list_campaigns(tonic::Request::new(pb::ListCampaignsRequest::default()))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::Unauthenticated);
    }
    let err = campaigns
        .get_campaign(authed(pb::GetCampaignRequest { id: "nope".into() }))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let err = customers
        .get_customer(authed(pb::GetCustomerRequest {
            id: uuid::Uuid::now_v7().to_string(),
        }))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let draft = campaigns
        .create_campaign(authed(pb::CreateCampaignRequest {
            name: "no audience".into(),
            r#type: "sms".into(),
            content: "hi".into(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    let err = campaigns
        .trigger_campaign(authed(pb::TriggerCampaignRequest {
            id: draft.id,
            ..Default::default()
        }))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
    for _ in 0..20 {
        let r = client
            .get(format!("{base}/api/marketing/campaigns"))
            .bearer_auth("wrong")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
    }

    // SIGTERM: the process drains and exits, closing its output.
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = tokio::task::spawn_blocking(move || child.wait()).await;
    let lines = lines.join().expect("log reader");
    let levels: Vec<String> = lines
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|v| v["level"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(
        levels.iter().any(|l| l == "INFO"),
        "the process's log was read: {lines:?}"
    );
    let errors: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains(r#""level":"ERROR""#))
        .collect();
    assert!(
        errors.is_empty(),
        "client errors logged as errors: {errors:#?}"
    );
    let warnings = levels.iter().filter(|l| *l == "WARN").count();
    assert!(
        warnings < 5,
        "client errors flooded the warnings: {lines:#?}"
    );
}
