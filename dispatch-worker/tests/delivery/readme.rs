//! The documentation's examples, run as a newcomer pastes them: every `sh` block of the README's
//! five-minute walkthrough, then those of the pages under docs/ that go on from it, in order, in
//! one shell (later blocks use the variables earlier ones set), against a fresh campaign-svc and
//! a worker with the `log` provider (what `scripts/run-local.sh` starts). Any call answered
//! 4xx/5xx fails the run.

use std::time::Duration;

use testkit::{TestDb, TestQueues, spawn_app_with};

use crate::common::start_worker;

/// The pages whose examples run, in this order, with the part of each that holds them: the text
/// from the first heading up to the second (`None`: the page's end).
const PAGES: &[(&str, &str, Option<&str>)] = &[
    (
        "README.md",
        "## Five-minute walkthrough",
        Some("## Documentation"),
    ),
    ("docs/api.md", "## REST examples", None),
    ("docs/content.md", "# ", None),
    ("docs/delivery.md", "# ", None),
    ("docs/automation.md", "# ", None),
];

/// The `sh` code blocks of `page` between the headings `from` and `to` (gRPC ones need grpcurl:
/// left out).
fn shell_blocks(page: &str, from: &str, to: Option<&str>) -> Vec<String> {
    let text = std::fs::read_to_string(format!("{}/../{page}", env!("CARGO_MANIFEST_DIR")))
        .unwrap_or_else(|e| panic!("{page}: {e}"));
    let start = text
        .find(from)
        .unwrap_or_else(|| panic!("`{from}` is in {page}"));
    let end = match to {
        Some(to) => text[start..]
            .find(to)
            .map(|e| start + e)
            .unwrap_or_else(|| panic!("`{to}` follows `{from}` in {page}")),
        None => text.len(),
    };
    let mut blocks = Vec::new();
    let mut rest = &text[start..end];
    while let Some(open) = rest.find("```sh\n") {
        let body = &rest[open + 6..];
        let close = body.find("\n```").expect("a closed code block");
        if !body[..close].contains("grpcurl") {
            blocks.push(body[..close].to_owned());
        }
        rest = &body[close + 4..];
    }
    assert!(!blocks.is_empty(), "{page} has examples after `{from}`");
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
    let blocks: Vec<String> = PAGES
        .iter()
        .flat_map(|(page, from, to)| shell_blocks(page, from, *to))
        .collect();
    assert!(blocks.len() >= 20, "found {} blocks", blocks.len());
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
