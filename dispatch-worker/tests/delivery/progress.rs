//! Live progress of a real send: the Server-Sent Events stream and gRPC `WatchExecution` follow
//! an execution from the trigger to 100% (sent, remaining, percent, rate, ETA) and end when it is
//! final; `GET /executions/:id` shows the same figures.

use std::time::Duration;

use crm_proto::v1 as pb;
use crm_proto::v1::campaign_service_client::CampaignServiceClient;
use futures::StreamExt as _;
use serde_json::{Value, json};
use testkit::{authed, spawn_app};

use crate::common::{customers, send_campaign, start_worker};

/// The `progress` events of an SSE stream, until the server closes it.
async fn sse_events(app: &testkit::TestApp, execution: &str) -> Vec<Value> {
    let resp = testkit::http_client()
        .get(app.url(&format!("/api/marketing/executions/{execution}/events")))
        .bearer_auth(testkit::TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let mut resp = resp;
    let mut buffer = String::new();
    let mut events = Vec::new();
    let read = async {
        while let Some(chunk) = resp.chunk().await.unwrap() {
            buffer.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buffer.find("\n\n") {
                let block: String = buffer.drain(..end + 2).collect();
                let name = block.lines().find_map(|l| l.strip_prefix("event: "));
                let data = block.lines().find_map(|l| l.strip_prefix("data: "));
                if let (Some("progress"), Some(data)) = (name, data) {
                    events.push(serde_json::from_str(data).unwrap());
                }
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(60), read)
        .await
        .expect("the stream ends when the execution is final");
    events
}

#[tokio::test(flavor = "multi_thread")]
async fn progress_streams_to_one_hundred_percent_and_ends() {
    let app = spawn_app().await;
    customers(&app, 3000).await;
    // 1,000 SMS a second: the send takes about 3 s and progress is seen moving.
    let _worker = start_worker(
        &app,
        &["--log-sink-path", "/dev/null", "--sms-rate-limit", "1000"],
    );
    let campaign = send_campaign(&app, "sms", "进度测试 [客户姓名]").await;
    let (_, executions) = app
        .get(&format!("/api/marketing/campaigns/{campaign}/executions"))
        .await;
    let execution = executions["executions"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Both streams at once: SSE and gRPC.
    let grpc = {
        let channel = app.channel().await;
        let execution = execution.clone();
        tokio::spawn(async move {
            let mut client = CampaignServiceClient::new(channel);
            let mut stream = client
                .watch_execution(authed(pb::GetExecutionRequest { id: execution }))
                .await
                .unwrap()
                .into_inner();
            let mut seen = Vec::new();
            while let Some(p) = stream.next().await {
                seen.push(p.unwrap());
            }
            seen
        })
    };
    let events = sse_events(&app, &execution).await;
    assert!(events.len() >= 2, "progress seen moving: {events:?}");
    let last = events.last().unwrap();
    assert_eq!(last["status"], "completed", "{last}");
    assert_eq!(last["planned"], 3000);
    assert_eq!(last["sent"], 3000);
    assert_eq!(last["remaining"], 0);
    assert_eq!(last["percent"], 100.0);
    assert_eq!(last["frozen"], true);
    let percents: Vec<f64> = events
        .iter()
        .map(|e| e["percent"].as_f64().unwrap())
        .collect();
    assert!(
        percents.windows(2).all(|w| w[0] <= w[1]),
        "never backwards: {percents:?}"
    );
    assert!(
        events.iter().any(|e| e["status"] == "running"
            && e["eta_seconds"].as_f64().is_some_and(|s| s > 0.0)
            && e["rate_per_second"].as_f64().is_some_and(|r| r > 0.0)),
        "a running event with a rate and an ETA: {events:?}"
    );
    let seen = tokio::time::timeout(Duration::from_secs(30), grpc)
        .await
        .expect("the gRPC stream ends too")
        .unwrap();
    let final_ = seen.last().unwrap();
    assert_eq!(
        (
            final_.status.as_str(),
            final_.sent,
            final_.remaining,
            final_.percent
        ),
        ("completed", 3000, 0, 100.0)
    );

    // The execution as read: the same figures. A stream of a finished execution: one event.
    let (status, e) = app
        .get(&format!("/api/marketing/executions/{execution}"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        (&e["sent"], &e["remaining"], &e["percent"]),
        (&json!(3000), &json!(0), &json!(100.0)),
        "{e}"
    );
    let again = sse_events(&app, &execution).await;
    assert_eq!(again.len(), 1, "{again:?}");
    // An unknown execution: 404 before any stream.
    let (status, _) = app
        .get("/api/marketing/executions/0193a1b2-0000-7000-8000-000000000000/events")
        .await;
    assert_eq!(status, 404);
}
