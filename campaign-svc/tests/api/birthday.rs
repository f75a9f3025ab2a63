//! The daily birthday greeting over a clock the test controls: the service's database sessions
//! see a clock moved to 02:00 UTC on 28 February 2027 (`marketing.clock_offset`, set through the
//! connection URL), so "today" is the 28th in Shanghai and UTC, still the 27th in New York, and
//! 29 February birthdays are celebrated on the 28th of that common year.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use testkit::{TestApp, TestDb, TestQueues, campaign_body, spawn_app_with, wait_until};

/// The moment the service's clock shows.
const NOW: &str = "2027-02-28T02:00:00Z";

async fn app_at(now: &str) -> TestApp {
    let at: DateTime<Utc> = now.parse().unwrap();
    let offset = (at - Utc::now()).num_seconds();
    spawn_app_with(TestDb::new(), TestQueues::new(), move |c| {
        c.min_recurrence_secs = 1;
        c.database_url = format!(
            "{}?options=-c%20marketing.clock_offset%3D{offset}s",
            c.database_url
        );
    })
    .await
}

async fn customers(app: &TestApp) {
    let people = [
        ("b-sh", Some("Asia/Shanghai"), Some("1990-02-28")),
        ("b-ny", Some("America/New_York"), Some("1990-02-28")),
        ("b-ny2", Some("America/New_York"), Some("1985-02-27")),
        ("b-utc", None, Some("2000-02-28")),
        ("b-leap", Some("Asia/Shanghai"), Some("1992-02-29")),
        ("b-march", Some("Asia/Shanghai"), Some("1990-03-01")),
        ("b-none", Some("Asia/Shanghai"), None),
    ];
    let customers: Vec<Value> = people
        .iter()
        .enumerate()
        .map(|(i, (id, zone, birthday))| {
            json!({"external_id": id, "name": format!("寿星{i}"), "phone": format!("+861370000{i:04}"),
                   "time_zone": zone, "birthday": birthday})
        })
        .collect();
    let (status, out) = app
        .post(
            "/api/marketing/customers/bulk",
            json!({"customers": customers}),
        )
        .await;
    assert_eq!(status, 200, "{out}");
}

/// The customers of the campaign's first execution.
async fn greeted(app: &TestApp, campaign: &str) -> Vec<String> {
    app.rows(&format!(
        "SELECT c.external_id AS line FROM marketing_record r JOIN customers c ON c.id = r.customer_id
         WHERE r.execution_id = (SELECT id FROM campaign_executions WHERE campaign_id = '{campaign}'
                                 ORDER BY created_at LIMIT 1)
         ORDER BY 1"
    ))
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn the_daily_birthday_greeting_reaches_whoever_has_a_birthday_on_their_own_clock() {
    let app = app_at(NOW).await;
    customers(&app).await;
    let (status, segment) = app
        .post(
            "/api/marketing/segments",
            json!({"name": "今天生日", "rule": {"field": "birthday", "op": "is_today"}}),
        )
        .await;
    assert_eq!(status, 201, "{segment}");
    let segment = segment["id"].as_str().unwrap().to_owned();
    let (status, count) = app
        .get(&format!("/api/marketing/segments/{segment}/count"))
        .await;
    assert_eq!(status, 200, "{count}");
    assert_eq!(count["count"], 4, "{count}");

    let mut body = campaign_body("生日祝福");
    body.as_object_mut().unwrap().remove("target_tags");
    body["target_segment_id"] = json!(segment);
    body["content"] = json!("[客户姓名]，生日快乐！");
    body["trigger"] =
        json!({"kind": "recurring", "cron": "*/2 * * * * *", "time_zone": "Asia/Shanghai"});
    let campaign = app.create_campaign(body).await;
    let campaign = campaign["id"].as_str().unwrap().to_owned();
    wait_until(Duration::from_secs(20), "the first occurrence", || async {
        greeted(&app, &campaign).await.len() >= 4
    })
    .await;
    assert_eq!(
        greeted(&app, &campaign).await,
        ["b-leap", "b-ny2", "b-sh", "b-utc"],
        "28 February in Shanghai and UTC, the 27th in New York; 29 February on the 28th"
    );
}
