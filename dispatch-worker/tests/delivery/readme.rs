//! The README's examples, run as a newcomer pastes them: every `sh` block from "REST examples"
//! to "Conversions", in order, in one shell, against a fresh campaign-svc and a worker with the
//! `log` provider (what `scripts/run-local.sh` starts). Any call answered 4xx/5xx fails the run.

use std::time::Duration;

use testkit::{TestDb, TestQueues, spawn_app_with};

use crate::common::start_worker;

/// The `sh` code blocks between the headings `from` and `to` (gRPC ones need grpcurl: left out).
fn shell_blocks(readme: &str, from: &str, to: &str) -> Vec<String> {
    let start = readme
        .find(from)
        .expect("the first heading is in the README");
    let end = readme[start..]
        .find(to)
        .map(|e| start + e)
        .expect("the last heading is in the README");
    let mut blocks = Vec::new();
    let mut rest = &readme[start..end];
    while let Some(open) = rest.find("```sh\n") {
        let body = &rest[open + 6..];
        let close = body.find("\n```").expect("a closed code block");
        if !body[..close].contains("grpcurl") {
            blocks.push(body[..close].to_owned());
        }
        rest = &body[close + 4..];
    }
    blocks
}

#[tokio::test(flavor = "multi_thread")]
async fn the_readme_examples_run_as_pasted() {
    let app = spawn_app_with(TestDb::new(), TestQueues::new(), |c| {
        // What scripts/run-local.sh sets.
        c.api_tokens = Some("dev-token".into());
        c.webhook_secret = Some("dev-webhook-secret".into());
    })
    .await;
    let _worker = start_worker(&app, &["--log-sink-path", "/dev/null"]);
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("README.md");
    let blocks = shell_blocks(&readme, "## REST examples", "## Behaviour decided here");
    assert!(blocks.len() >= 7, "found {} blocks", blocks.len());
    let script = format!(
        "set -euo pipefail\n\
         curl() {{ command curl --fail-with-body --max-time 30 \"$@\"; }}\n{}",
        blocks
            .join("\n")
            .replace("http://127.0.0.1:8080", &app.base)
    );
    let run = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::process::Command::new("bash")
            .arg("-c")
            .arg(&script)
            .output(),
    )
    .await
    .expect("the examples finish")
    .expect("bash runs");
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        run.status.success(),
        "the examples failed ({}):\n{stdout}\n{stderr}",
        run.status
    );
    // What the comments in the examples promise.
    assert!(
        stdout.contains("one campaign, answered twice alike"),
        "a POST retried with its Idempotency-Key got the first answer: {stdout}"
    );
    assert!(
        stdout
            .to_ascii_lowercase()
            .contains("location: /api/marketing/executions/"),
        "the trigger's 202 carries its execution's Location: {stdout}"
    );
    assert!(
        stdout.contains(r#"{"applied":1,"duplicates":0,"ignored":0,"rejected":[]}"#),
        "the webhook example applied its receipt: {stdout}"
    );
    assert!(
        stdout.contains(r#""kind":"purchase""#) && stdout.contains(r#""attributed":true"#),
        "the conversion example was attributed: {stdout}"
    );
    assert!(
        stdout.contains(r#""status":"completed""#),
        "the campaign was sent: {stdout}"
    );
    assert_eq!(
        stdout.matches("}204\n").count(),
        2,
        "erasing the customer and deleting the template: {stdout}"
    );
    assert_eq!(
        app.count("SELECT count(*) AS n FROM marketing_record WHERE status = 'delivered'")
            .await,
        1
    );
}
