//! Starting workers (in-process or as processes) against a test app's database and queues.

use std::time::Duration;

use clap::Parser as _;
use dispatch_worker::config::Config;
use serde_json::{Value, json};
use testkit::{TestApp, amqp_url, campaign_body, wait_until};

/// Worker flags for the app's database and queues, plus `extra`.
pub fn worker_args(app: &TestApp, amqp: &str, extra: &[impl AsRef<str>]) -> Vec<String> {
    let mut args: Vec<String> = [
        "dispatch-worker",
        "--database-url",
        &app.db.url,
        "--amqp-url",
        amqp,
        "--queue-prefix",
        &app.queues.prefix,
        "--retry-base-ms",
        "20",
        "--database-pool-size",
        "4",
        "--metrics-addr",
        "127.0.0.1:0",
        "--tracking-secret",
        testkit::TRACKING_SECRET,
        "--public-base-url",
        testkit::PUBLIC_BASE_URL,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(extra.iter().map(|s| s.as_ref().to_owned()));
    args
}

/// A worker running inside the test process; stopped (gracefully) on drop.
pub type Worker = testkit::StopOnDrop;

pub fn start_worker(app: &TestApp, extra: &[impl AsRef<str>]) -> Worker {
    start_worker_via(app, &amqp_url(), extra)
}

pub fn start_worker_via(app: &TestApp, amqp: &str, extra: &[impl AsRef<str>]) -> Worker {
    let config =
        Config::try_parse_from(worker_args(app, amqp, extra)).expect("worker config parses");
    let (worker, stopped) = testkit::stop_signal();
    tokio::spawn(dispatch_worker::run(config, stopped));
    worker
}

/// Worker flags sending SMS through the HTTP provider to `vendor`.
pub fn sms_vendor(vendor: &testkit::vendor::HttpVendor) -> [String; 6] {
    [
        "--sms-provider".into(),
        "http".into(),
        "--sms-http-url".into(),
        vendor.url(),
        "--sms-http-token".into(),
        vendor.token.clone(),
    ]
}

/// A worker delivering e-mail to `smtp`.
pub fn smtp_worker(app: &TestApp, smtp: &testkit::vendor::SmtpServer) -> Worker {
    let port = smtp.addr.port().to_string();
    start_worker(
        app,
        &[
            "--email-provider",
            "smtp",
            "--smtp-host",
            "127.0.0.1",
            "--smtp-port",
            &port,
        ],
    )
}

/// `n` customers tagged `bulk` with a phone, e-mail, push token and WeChat openid (`oWx-` and
/// `i` in 24 digits); returns their ids.
pub async fn customers(app: &TestApp, n: usize) -> Vec<String> {
    let mut ids = Vec::with_capacity(n);
    for chunk in (0..n).collect::<Vec<_>>().chunks(10_000) {
        let batch: Vec<_> = chunk
            .iter()
            .map(|i| {
                json!({
                    "external_id": format!("cust-{i}"),
                    "name": format!("客户{i}"),
                    "phone": format!("+861380{i:07}"),
                    "email": format!("c{i}@example.com"),
                    "push_token": format!("tok-{i}"),
                    "wechat_openid": format!("oWx-{i:024}"),
                    "tags": ["bulk"],
                })
            })
            .collect();
        let (status, out) = app
            .post("/api/marketing/customers/bulk", json!({"customers": batch}))
            .await;
        assert_eq!(status, 200, "{out}");
        ids.extend(
            out["ids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_owned()),
        );
    }
    ids
}

/// Creates and triggers a campaign to every `bulk` customer; returns its id.
pub async fn send_campaign(app: &TestApp, channel: &str, content: &str) -> String {
    let mut body = campaign_body("Double 11");
    body["type"] = json!(channel);
    body["target_tags"] = json!(["bulk"]);
    body["content"] = json!(content);
    let c = app.create_campaign(body).await;
    let id = c["id"].as_str().unwrap().to_owned();
    let (status, t) = app
        .post(&format!("/api/marketing/campaigns/{id}/trigger"), json!({}))
        .await;
    assert_eq!(status, 202, "{t}");
    wait_frozen(app, &t).await;
    id
}

/// A real trigger answers once its execution is committed and writes the records in the
/// background: waits until the execution in `trigger`'s answer shows them all written.
pub async fn wait_frozen(app: &TestApp, trigger: &Value) {
    let path = format!(
        "/api/marketing/executions/{}",
        trigger["execution_id"].as_str().unwrap()
    );
    wait_until(Duration::from_secs(15), "the audience frozen", || async {
        app.get(&path).await.1["frozen"] == true
    })
    .await;
}

/// Waits until every record of the campaign is written (a real trigger answers before it writes
/// them) and none is pending or sending.
pub async fn wait_final(app: &TestApp, campaign: &str, timeout: Duration) {
    wait_until(timeout, "every record final", || async {
        app.count(&format!(
            "SELECT (SELECT count(*) FROM campaign_executions
                     WHERE campaign_id = '{campaign}' AND NOT materialize_done)
                  + (SELECT count(*) FROM marketing_record
                     WHERE campaign_id = '{campaign}' AND status IN ('pending', 'sending')) AS n"
        ))
        .await
            == 0
    })
    .await;
}

/// Starts the dispatch-worker binary with `args` (as built by [`worker_args`]) and `env`.
pub fn worker_process(args: &[String], env: &[(&str, &str)]) -> Process {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_dispatch-worker"));
    command
        .args(&args[1..])
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null());
    for (k, v) in env {
        command.env(k, v);
    }
    Process(command.spawn().expect("the worker process starts"))
}

/// A child process killed when the test ends, passed or not.
pub struct Process(pub std::process::Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
