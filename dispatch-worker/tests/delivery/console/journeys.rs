//! The journeys pages in a real browser: `console/e2e/journeys.mjs` creates the welcome series in
//! the JSON editor, activates it, enrolls 30 customers by hand, waits for this worker to walk
//! them through (e-mail → wait 3 s → opened? → exit / SMS), reads every step box of the graph,
//! breaks a `next` and saves (the API's error on its step), then saves over a version changed
//! elsewhere (412). The test checks what the page showed against the API and the database.

use serde_json::Value;

use super::{app_with_console, browser_script};
use crate::common::{customers, start_worker};

const CUSTOMERS: usize = 30;
const STEPS: [&str; 5] = ["welcome", "wait", "opened", "remind", "done"];

#[tokio::test(flavor = "multi_thread")]
async fn a_journey_graph_shows_each_steps_counts_and_the_step_an_error_names() {
    let app = app_with_console().await;
    let ids = customers(&app, CUSTOMERS).await;
    let _worker = start_worker(&app, &["--log-sink-path", "/dev/null"]);

    let result = browser_script(&app, "journeys.mjs", &[("E2E_CUSTOMER_IDS", ids.join(","))]).await;
    let journey = result["journey_id"].as_str().expect("journey id");

    // Each step box showed the API's counters of version 1 (settled: nobody waits any more).
    let (status, stats) = app
        .get(&format!("/api/marketing/journeys/{journey}/stats"))
        .await;
    assert_eq!(status, 200, "{stats}");
    let row = |step: &str| -> Value {
        stats["steps"]
            .as_array()
            .expect("steps")
            .iter()
            .find(|s| s["version"] == 1 && s["step"] == step)
            .cloned()
            .unwrap_or(Value::Null)
    };
    for step in STEPS {
        let api = row(step);
        let shown = &result["shown"][step];
        for k in ["entered", "waiting", "completed", "exited", "converted"] {
            assert_eq!(
                shown[k],
                api[k].as_i64().unwrap_or(0),
                "{step}.{k}: the page showed {}, the API says {}",
                shown[k],
                api[k]
            );
        }
        if step == "welcome" || step == "remind" {
            for k in ["sent", "delivered", "opened", "clicked"] {
                assert_eq!(
                    shown[k], api["messages"]["figures"][k],
                    "{step} messages {k}"
                );
            }
        }
    }
    // Everyone walked the whole way: the e-mail to all 30, nobody opened it, so all got the SMS.
    assert_eq!(result["shown"]["welcome"]["entered"], CUSTOMERS);
    assert_eq!(result["shown"]["welcome"]["sent"], CUSTOMERS);
    assert_eq!(result["shown"]["remind"]["completed"], CUSTOMERS);
    assert_eq!(result["shown"]["remind"]["sent"], CUSTOMERS);
    assert_eq!(result["shown"]["done"]["entered"], 0);
    for step in ["welcome", "remind"] {
        let campaign = row(step)["messages"]["campaign_id"]
            .as_str()
            .expect("a send step's campaign")
            .to_owned();
        let records = app
            .count(&format!(
                "SELECT count(*) AS n FROM marketing_record WHERE campaign_id = '{campaign}' AND status <> 'failed'"
            ))
            .await;
        assert_eq!(
            records, CUSTOMERS as i64,
            "{step}: one message per customer"
        );
    }
    let walks = app
        .count(&format!(
            "SELECT count(*) AS n FROM journey_enrollments WHERE journey_id = '{journey}' AND state = 'completed'"
        ))
        .await;
    assert_eq!(walks, CUSTOMERS as i64);

    // The broken `next` was refused by the API with its field, shown on the step it names.
    assert_eq!(result["error_field"], "steps.wait.next");
    assert_eq!(result["highlighted"], "wait");
    assert!(
        result["step_error"]
            .as_str()
            .is_some_and(|m| m.contains("nowhere")),
        "{}",
        result["step_error"]
    );
    // Neither the broken save nor the stale one landed: version 2 is the one saved elsewhere,
    // version 3 the browser's save after reloading it.
    let (status, j) = app.get(&format!("/api/marketing/journeys/{journey}")).await;
    assert_eq!(status, 200, "{j}");
    assert_eq!(j["version"], 3);
    assert_eq!(j["status"], "active");
    assert_eq!(j["steps"]["wait"]["next"], "opened");
    assert_eq!(j["steps"]["remind"]["content"], "{{ name }}，浏览器里改的");
    let v2 = app
        .count(&format!(
            "SELECT count(*) AS n FROM journey_versions WHERE journey_id = '{journey}' AND version = 2 \
             AND definition #>> '{{steps,remind,content}}' = '{{{{ name }}}}，礼包今晚到期'"
        ))
        .await;
    assert_eq!(v2, 1, "version 2 is the one saved through the API");
    assert!(
        result["conflict"]
            .as_str()
            .is_some_and(|m| m.contains("重新加载"))
    );
    assert_eq!(result["list_status"], "进行中");

    let shots = super::repo().join("target/console-screenshots");
    for name in [
        "80-journeys-graph",
        "81-journeys-graph-en",
        "82-journeys-error",
        "83-journeys-conflict",
        "84-journeys-list",
    ] {
        assert!(
            shots.join(format!("{name}.png")).is_file(),
            "{name}.png written"
        );
    }
}
