//! Creating and editing a campaign in the browser (`console/e2e/campaign-edit.mjs`): a segment
//! audience with its live count, a template syntax error shown on the content field with its
//! line, the live preview for a chosen customer, two A/B variants with weights, a recurring
//! trigger with quiet hours; then an edit of the name (a stale one refused with 412 first) and the
//! archive. The script's findings are compared with what the API says afterwards.

use serde_json::json;

use super::{app_with_console, browser_script};
use crate::common::customers;

#[tokio::test(flavor = "multi_thread")]
async fn a_campaign_is_created_edited_and_archived_in_the_browser() {
    let app = app_with_console().await;
    // 12 `bulk` customers, 李雷 among them with a city, and 3 outside the segment.
    customers(&app, 12).await;
    let (status, lilei) = app
        .post(
            "/api/marketing/customers",
            json!({"external_id": "edit-lilei", "name": "李雷", "phone": "+8613900000001",
                   "tags": ["bulk"], "attributes": {"city": "上海"}}),
        )
        .await;
    assert_eq!(status, 201, "{lilei}");
    for i in 0..3 {
        let (status, out) = app
            .post(
                "/api/marketing/customers",
                json!({"external_id": format!("other-{i}"), "name": format!("其他{i}"),
                       "phone": format!("+861390000010{i}"), "tags": ["other"]}),
            )
            .await;
        assert_eq!(status, 201, "{out}");
    }
    let (status, segment) = app
        .post(
            "/api/marketing/segments",
            json!({"name": "批量客户", "rule": {"tag": "bulk"}}),
        )
        .await;
    assert_eq!(status, 201, "{segment}");
    let segment_id = segment["id"].as_str().unwrap().to_owned();

    let result = browser_script(
        &app,
        "campaign-edit.mjs",
        &[
            ("E2E_SEGMENT_ID", segment_id.clone()),
            ("E2E_CUSTOMER_ID", lilei["id"].as_str().unwrap().to_owned()),
        ],
    )
    .await;

    // The live count the page showed is the segment's.
    assert_eq!(result["live_count"], 13, "{result}");
    // The template error named line 2; the preview was 李雷's, rendered.
    assert!(
        result["content_error"]
            .as_str()
            .unwrap()
            .contains("第 2 行"),
        "{result}"
    );
    let preview = result["preview"].as_str().unwrap();
    assert!(
        preview.starts_with("李雷，您好！\n上海会员专享双12好礼"),
        "{preview}"
    );
    assert!(
        result["weight_error"]
            .as_str()
            .unwrap()
            .contains("between 1 and 99"),
        "{result}"
    );

    // An edit over someone else's change was refused (412) and changed nothing.
    assert_eq!(result["stale_refused"], true, "{result}");

    // What the API holds: the edited name and everything the form set.
    let campaign = result["campaign_id"].as_str().expect("campaign id");
    let (status, saved) = app
        .get(&format!("/api/marketing/campaigns/{campaign}"))
        .await;
    assert_eq!(status, 200, "{saved}");
    assert_eq!(saved["name"], result["new_name"]);
    assert_eq!(saved["target_segment_id"], json!(segment_id));
    assert_eq!(saved["target_tags"], json!([]));
    assert_eq!(saved["content"], "");
    let variants: Vec<_> = saved["variants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["key"].clone(), v["weight"].clone(), v["content"].clone()))
        .collect();
    assert_eq!(
        variants,
        vec![
            (
                json!("A"),
                json!(30),
                json!("{{ name }}，您好！\n{{ attributes.city }}会员专享双12好礼")
            ),
            (json!("B"), json!(70), json!("{{ name }}，全场8折")),
        ]
    );
    assert_eq!(saved["trigger"]["kind"], "recurring");
    assert_eq!(saved["trigger"]["cron"], "0 9 * * *");
    assert_eq!(saved["trigger"]["time_zone"], "Asia/Shanghai");
    assert_eq!(saved["time_zone"], "Asia/Shanghai");
    assert_eq!(
        (
            saved["quiet_hours"]["start"].as_str().map(|s| &s[..5]),
            saved["quiet_hours"]["end"].as_str().map(|s| &s[..5])
        ),
        (Some("21:00"), Some("08:00"))
    );
    // Archived in the page, archived in the API.
    assert_eq!(saved["status"], "archived");
    assert_eq!(result["archived_status"], "archived");

    let shots = super::repo().join("target/console-screenshots");
    for name in [
        "20-edit-content-error",
        "21-edit-create",
        "22-edit-form",
        "23-edit-form-en",
        "24-edit-archived",
    ] {
        assert!(
            shots.join(format!("{name}.png")).is_file(),
            "{name}.png written"
        );
    }
}
