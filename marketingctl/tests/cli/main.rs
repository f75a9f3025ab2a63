//! Runs the real `marketingctl` binary against a real campaign-svc (and, where messages are
//! sent, a real dispatch-worker), started in-process on an isolated database and queues.

mod campaigns;
mod customers;
mod dlq;
mod events;

use clap::Parser as _;
use serde_json::Value;
use testkit::{TestApp, TestDb, TestQueues};

pub const ADMIN_TOKEN: &str = "cli-admin-token";

/// A campaign-svc whose `ADMIN_TOKENS` is [`ADMIN_TOKEN`] (testkit's tokens are not admins).
pub async fn spawn_app() -> TestApp {
    testkit::spawn_app_with(TestDb::new(), TestQueues::new(), |c| {
        c.admin_tokens = Some(ADMIN_TOKEN.into());
    })
    .await
}

/// What a run of the binary gave.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// stdout as JSON (for `-o json` runs).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:?}"))
    }
}

/// Runs `marketingctl args…` against `app` with `token` (through the environment, as an
/// operator would set it).
pub async fn ctl(app: &TestApp, token: &str, args: &[&str]) -> Run {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_marketingctl"))
        .args(args)
        .env("MARKETING_GRPC_ADDR", format!("http://{}", app.grpc_addr))
        .env("MARKETING_TOKEN", token)
        .output()
        .await
        .expect("marketingctl runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A dispatch-worker in this process on the app's database and queues, with `extra` flags;
/// stopped when the guard drops.
pub fn start_worker(app: &TestApp, extra: &[String]) -> testkit::StopOnDrop {
    let mut args: Vec<String> = [
        "dispatch-worker",
        "--database-url",
        &app.db.url,
        "--amqp-url",
        &testkit::amqp_url(),
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
    args.extend(extra.iter().cloned());
    let config = dispatch_worker::config::Config::try_parse_from(args).expect("worker config");
    let (guard, stopped) = testkit::stop_signal();
    tokio::spawn(dispatch_worker::run(config, stopped));
    guard
}

/// `n` customers tagged `tag`, with phones; returns their ids.
pub async fn customers(app: &TestApp, tag: &str, n: usize) -> Vec<String> {
    let batch: Vec<Value> = (0..n)
        .map(|i| {
            serde_json::json!({
                "external_id": format!("{tag}-{i}"),
                "name": format!("Customer {i}"),
                "phone": format!("+86138{:08}", i + 1),
                "tags": [tag],
            })
        })
        .collect();
    let (status, out) = app
        .post(
            "/api/marketing/customers/bulk",
            serde_json::json!({"customers": batch}),
        )
        .await;
    assert_eq!(status, 200, "{out}");
    out["ids"]
        .as_array()
        .expect("ids")
        .iter()
        .map(|v| v.as_str().expect("id").to_owned())
        .collect()
}

/// A file in a fresh temporary directory, removed with it.
pub struct TempFile {
    pub path: std::path::PathBuf,
}

impl TempFile {
    pub fn new(name: &str, contents: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("marketingctl-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join(name);
        std::fs::write(&path, contents).expect("temp file");
        TempFile { path }
    }

    pub fn arg(&self) -> &str {
        self.path.to_str().expect("a UTF-8 temp path")
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(dir) = self.path.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

#[tokio::test]
async fn help_documents_the_exit_codes_and_usage_errors_exit_1() {
    let app = spawn_app().await;
    let help = ctl(&app, testkit::TOKEN, &["--help"]).await;
    assert_eq!(help.code, 0, "{help:?}");
    for needle in [
        "Exit codes",
        "MARKETING_GRPC_ADDR",
        "MARKETING_TOKEN",
        "4  partial",
    ] {
        assert!(help.stdout.contains(needle), "{needle}: {}", help.stdout);
    }
    let bad = ctl(&app, testkit::TOKEN, &["campaigns", "frobnicate"]).await;
    assert_eq!(bad.code, 1, "{bad:?}");
    let missing = ctl(
        &app,
        testkit::TOKEN,
        &["campaigns", "create", "-f", "/nonexistent.json"],
    )
    .await;
    assert_eq!(missing.code, 1, "{missing:?}");
    assert!(missing.stderr.contains("/nonexistent.json"), "{missing:?}");
}

#[tokio::test]
async fn a_wrong_token_is_refused_and_an_unreachable_service_exits_3() {
    let app = spawn_app().await;
    let refused = ctl(&app, "not-a-token", &["campaigns", "list"]).await;
    assert_eq!(refused.code, 2, "{refused:?}");
    assert!(refused.stderr.contains("MARKETING_TOKEN"), "{refused:?}");
    let down = tokio::process::Command::new(env!("CARGO_BIN_EXE_marketingctl"))
        .args(["campaigns", "list", "--grpc-addr", "http://127.0.0.1:9"])
        .env("MARKETING_TOKEN", testkit::TOKEN)
        .output()
        .await
        .expect("marketingctl runs");
    assert_eq!(down.status.code(), Some(3), "{down:?}");
}
