//! The web console in a real browser (Debian's chromium driven by playwright-core) against the
//! real campaign-svc and a dispatch-worker: `console/e2e/campaign-flow.mjs` signs in, creates a
//! campaign, dry-runs it, sends it after the confirmation, follows the progress bar to 100% and
//! compares the report with the API. Screenshots go to `target/console-screenshots/`.
//!
//! Needs the console built (`scripts/console.sh --browser`, which `scripts/test.sh` runs first:
//! it installs chromium when missing and builds `console/dist`).

mod segments;

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;
use testkit::{TestApp, TestDb, TestQueues, spawn_app_with};

use crate::common::{customers, start_worker};

mod campaign_edit;
mod journeys;
mod report;

const AUDIENCE: usize = 2000;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the crate is in the workspace")
        .to_path_buf()
}

/// The service with the built console (asserting it is built and chromium is installed).
pub async fn app_with_console() -> TestApp {
    let dist = repo().join("console/dist");
    assert!(
        dist.join("index.html").is_file(),
        "the console is not built: run scripts/console.sh --browser (scripts/test.sh does)"
    );
    assert!(
        std::path::Path::new("/usr/bin/chromium").exists(),
        "Debian's chromium is missing: run scripts/console.sh --browser (scripts/test.sh does)"
    );
    spawn_app_with(TestDb::new(), TestQueues::new(), move |c| {
        c.console.console_dir = dist;
    })
    .await
}

/// Runs `console/e2e/<script>` (node, playwright-core, chromium) against `app` with `env`
/// besides the service's URL, token and screenshot folder; its `RESULT` line as JSON. Panics
/// with the script's output when it fails or runs past 4 minutes.
pub async fn browser_script(app: &TestApp, script: &str, env: &[(&str, String)]) -> Value {
    let repo = repo();
    let mut command = tokio::process::Command::new("node");
    command
        .arg(repo.join("console/e2e").join(script))
        .env("CONSOLE_URL", app.url(""))
        .env("API_TOKEN", testkit::TOKEN)
        .env("SCREENSHOT_DIR", repo.join("target/console-screenshots"))
        .kill_on_drop(true);
    for (key, value) in env {
        command.env(key, value);
    }
    let output = tokio::time::timeout(Duration::from_secs(240), command.output())
        .await
        .unwrap_or_else(|_| panic!("{script} ends within 4 minutes"))
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{script} failed\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .map(|json| serde_json::from_str(json).expect("RESULT is JSON"))
        .unwrap_or_else(|| panic!("no RESULT line from {script}\n{stdout}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_campaign_is_created_dry_run_sent_and_reported_in_the_browser() {
    let repo = repo();
    let app = app_with_console().await;
    let ids = customers(&app, AUDIENCE).await;
    // 500 SMS a second: the send takes about 4 s, so the bar is seen moving.
    let _worker = start_worker(
        &app,
        &["--log-sink-path", "/dev/null", "--sms-rate-limit", "500"],
    );

    let result = browser_script(
        &app,
        "campaign-flow.mjs",
        &[
            ("E2E_TAG", "bulk".into()),
            ("E2E_AUDIENCE", AUDIENCE.to_string()),
        ],
    )
    .await;
    let campaign = result["campaign_id"].as_str().expect("campaign id");
    // The form's preview (before the campaign was saved) is what the saved campaign renders for
    // that customer (the message; the unsubscribe link after it names the saved campaign).
    let (status, preview) = app
        .post(
            &format!("/api/marketing/campaigns/{campaign}/preview"),
            serde_json::json!({"customer_id": ids[7]}),
        )
        .await;
    assert_eq!(status, 200, "{preview}");
    assert_eq!(
        result["preview"], preview["previews"][0]["body"],
        "{preview}"
    );
    let (status, stats) = app
        .get(&format!("/api/marketing/campaigns/{campaign}/stats"))
        .await;
    assert_eq!(status, 200, "{stats}");
    for stage in [
        "planned",
        "sent",
        "delivered",
        "opened",
        "clicked",
        "converted",
        "failed",
    ] {
        assert_eq!(
            result["report"][stage], stats["totals"][stage],
            "{stage}: the page showed {}, the API says {}",
            result["report"][stage], stats["totals"][stage]
        );
    }
    assert_eq!(stats["totals"]["planned"], AUDIENCE);
    assert_eq!(stats["totals"]["sent"], AUDIENCE);
    // Every record left the pipeline as sent, none pending or failed.
    let records = |cond: &str| {
        format!("SELECT count(*) AS n FROM marketing_record WHERE campaign_id = '{campaign}'{cond}")
    };
    assert_eq!(app.count(&records("")).await, AUDIENCE as i64);
    assert_eq!(
        app.count(&records(" AND status IN ('pending', 'sending', 'failed')"))
            .await,
        0
    );
    let shots = repo.join("target/console-screenshots");
    for name in [
        "01-sign-in",
        "03-dry-run",
        "06-progress-done",
        "07-report",
        "08-campaigns",
    ] {
        assert!(
            shots.join(format!("{name}.png")).is_file(),
            "{name}.png written"
        );
    }
}
