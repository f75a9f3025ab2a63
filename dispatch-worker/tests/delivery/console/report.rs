//! The report's time series and records browser, and the templates section, in a real browser:
//! `console/e2e/report.mjs` sends a campaign to the customers seeded here (the ones without
//! `attributes.points` fail to render), compares the hourly chart and the records browser with
//! the API on the page, and writes a template with a syntax error on line 3 of its HTML body,
//! then fixes it and previews it for a customer. Here the page's figures are checked against
//! the database and the API once more.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::{app_with_console, browser_script};
use crate::common::start_worker;

const AUDIENCE: usize = 130;

/// `<tag>-<i>` customers as `report.mjs` seeds them when run alone: those with `i % 13 == 0` or
/// `i >= 110` have no `points` attribute, so `{{ attributes.points | round }}` fails for them.
fn customers(tag: &str) -> Vec<Value> {
    (0..AUDIENCE)
        .map(|i| {
            let mut c = json!({
                "external_id": format!("{tag}-{i}"),
                "name": format!("报告客户{i}"),
                "phone": format!("+86137{i:08}"),
                "email": format!("{tag}-{i}@example.com"),
                "tags": [tag],
            });
            if i % 13 != 0 && i < 110 {
                c["attributes"] = json!({"points": 1000 + i});
            }
            c
        })
        .collect()
}

fn ids(value: &Value) -> BTreeSet<String> {
    value
        .as_array()
        .expect("an array of ids")
        .iter()
        .map(|v| v.as_str().expect("an id").to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_report_draws_the_api_hours_and_browses_records_and_a_template_error_marks_its_line() {
    let app = app_with_console().await;
    let tag = "report";
    let (status, out) = app
        .post(
            "/api/marketing/customers/bulk",
            json!({"customers": customers(tag)}),
        )
        .await;
    assert_eq!(status, 200, "{out}");
    let failing = (0..AUDIENCE).filter(|i| i % 13 == 0 || *i >= 110).count();
    let sink = std::env::temp_dir().join(format!("console-report-{}.jsonl", uuid::Uuid::now_v7()));
    let sink_path = sink.to_str().expect("a UTF-8 temp path").to_owned();
    let _worker = start_worker(&app, &["--log-sink-path", &sink_path]);

    let result = browser_script(
        &app,
        "report.mjs",
        &[("E2E_TAG", tag.into()), ("E2E_SINK", sink_path.clone())],
    )
    .await;
    let _ = std::fs::remove_file(&sink);
    let campaign = result["campaign_id"].as_str().expect("campaign id");

    // The chart drew the API's hours, which add up to the campaign's records.
    let (status, hourly) = app
        .get(&format!("/api/marketing/campaigns/{campaign}/stats/hourly"))
        .await;
    assert_eq!(status, 200, "{hourly}");
    assert_eq!(
        result["hourly_api"], hourly["hours"],
        "the hours did not change since"
    );
    let drawn = |metric: &str| -> i64 {
        result["hourly_drawn"]["series"][metric]
            .as_array()
            .expect("a drawn series")
            .iter()
            .map(|v| v.as_i64().expect("a count"))
            .sum()
    };
    let records = |status: &str| {
        format!(
            "SELECT id::text AS line FROM marketing_record \
             WHERE campaign_id = '{campaign}' AND status = '{status}' ORDER BY id"
        )
    };
    let sent_in_db: BTreeSet<String> = app.rows(&records("sent")).await.into_iter().collect();
    let failed_in_db: BTreeSet<String> = app.rows(&records("failed")).await.into_iter().collect();
    let clicked_in_db = app.rows(&records("clicked")).await.len();
    assert_eq!(failed_in_db.len(), failing);
    assert_eq!(clicked_in_db, 7, "the script's clicks");
    assert_eq!(sent_in_db.len() + clicked_in_db, AUDIENCE - failing);
    assert_eq!(
        drawn("sent"),
        (AUDIENCE - failing) as i64,
        "the chart's sends"
    );
    assert_eq!(drawn("clicked"), 7, "the chart's clicks");
    assert_eq!(drawn("opened"), 7, "a click counts as opened");
    let (_, stats) = app
        .get(&format!("/api/marketing/campaigns/{campaign}/stats"))
        .await;
    for metric in ["sent", "delivered", "opened", "clicked"] {
        assert_eq!(
            drawn(metric),
            stats["totals"][metric].as_i64().expect("a total"),
            "{metric}: the chart's hours add up to the totals"
        );
    }

    // The records browser showed exactly the records of each status, every page once.
    assert_eq!(ids(&result["failed_shown"]), failed_in_db);
    let sent_shown = ids(&result["sent_shown"]);
    assert_eq!(
        sent_shown.len(),
        result["sent_shown"].as_array().unwrap().len(),
        "no record shown twice"
    );
    assert_eq!(sent_shown, sent_in_db);
    let pages: Vec<usize> = (0..sent_in_db.len())
        .step_by(50)
        .map(|start| (sent_in_db.len() - start).min(50))
        .collect();
    assert_eq!(result["sent_pages"], json!(pages), "pages of 50 by cursor");

    // The template was refused on html_body line 3, then saved fixed.
    let message = result["template_error"]["message"].as_str().unwrap();
    assert!(message.contains("(line 3)"), "{message}");
    let template = result["template_id"].as_str().expect("template id");
    let (status, saved) = app
        .get(&format!("/api/marketing/templates/{template}"))
        .await;
    assert_eq!(status, 200, "{saved}");
    assert!(
        saved["html_body"]
            .as_str()
            .unwrap()
            .contains("{% if attributes.points > 1000 %}"),
        "{saved}"
    );
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM content_templates WHERE name = '{}'",
            saved["name"].as_str().unwrap()
        ))
        .await,
        1,
        "the refused save created nothing"
    );
    assert!(
        result["preview"]["body"]
            .as_str()
            .unwrap()
            .starts_with("报告客户7，积分 1007"),
        "{}",
        result["preview"]
    );

    let shots = super::repo().join("target/console-screenshots");
    for name in [
        "40-report-hourly-records",
        "41-report-records-page2",
        "42-report-en",
        "43-templates-error",
        "44-templates-preview",
        "45-templates-list",
    ] {
        assert!(
            shots.join(format!("{name}.png")).is_file(),
            "{name}.png written"
        );
    }
}
