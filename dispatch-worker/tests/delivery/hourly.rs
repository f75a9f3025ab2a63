//! The report's time series: `GET /campaigns/:id/stats/hourly` (and gRPC
//! `GetCampaignHourlyStats`) after a real send, clicks on the tracked links and a receipt: each
//! counted in the hour it happened, the hours adding up to the totals, and the rows the writers
//! appended rolled up into one per hour without changing a figure.

use std::time::Duration;

use crm_proto::v1 as pb;
use crm_proto::v1::campaign_service_client::CampaignServiceClient;
use serde_json::Value;
use testkit::{TestDb, TestQueues, authed, spawn_app_with};

use crate::common::{customers, send_campaign, start_worker, wait_final};

#[tokio::test(flavor = "multi_thread")]
async fn hours_count_sends_and_clicks_when_they_happen_and_add_up_to_the_totals() {
    let app = spawn_app_with(TestDb::new(), TestQueues::new(), |c| {
        c.stats_rollup_secs = 1
    })
    .await;
    customers(&app, 40).await;
    let sink = std::env::temp_dir().join(format!("hourly-{}.jsonl", uuid::Uuid::now_v7()));
    let path = sink.to_str().unwrap().to_owned();
    // Small batches: the sends reach the counters in several statements, so several rows.
    let worker = start_worker(&app, &["--log-sink-path", &path, "--batch-size", "5"]);
    let campaign = send_campaign(
        &app,
        "sms",
        "{{ name }}，双十一 https://shop.example.com/d11",
    )
    .await;
    wait_final(&app, &campaign, Duration::from_secs(30)).await;
    drop(worker);
    let text = std::fs::read_to_string(&sink).unwrap();
    let _ = std::fs::remove_file(&sink);
    let links: Vec<String> = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .map(|m| {
            let body = m["body"].as_str().unwrap().to_owned();
            let at = body.find("http").unwrap();
            body[at..].split_whitespace().next().unwrap().to_owned()
        })
        .collect();
    assert_eq!(links.len(), 40);
    // 7 customers click (a click also counts as opened and delivered, as in the totals).
    let client = testkit::http_client_no_redirects();
    for link in &links[..7] {
        let resp = client.get(app.follow(link)).send().await.unwrap();
        assert!(resp.status().is_redirection(), "{}", resp.status());
    }

    let (status, hourly) = app
        .get(&format!("/api/marketing/campaigns/{campaign}/stats/hourly"))
        .await;
    assert_eq!(status, 200, "{hourly}");
    let hours = hourly["hours"].as_array().unwrap();
    assert!(
        !hours.is_empty() && hours.len() <= 2,
        "this hour (or two): {hourly}"
    );
    let now = chrono::Utc::now();
    let last: chrono::DateTime<chrono::Utc> = hours.last().unwrap()["hour"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        last <= now && now - last < chrono::TimeDelta::hours(1),
        "{last} is this hour"
    );
    let sum = |field: &str| {
        hours
            .iter()
            .map(|h| h[field].as_i64().unwrap())
            .sum::<i64>()
    };
    assert_eq!(sum("sent"), 40);
    assert_eq!(sum("clicked"), 7);
    assert_eq!(sum("opened"), 7);
    let (_, stats) = app
        .get(&format!("/api/marketing/campaigns/{campaign}/stats"))
        .await;
    for field in ["sent", "delivered", "opened", "clicked", "converted"] {
        assert_eq!(
            sum(field),
            stats["totals"][field].as_i64().unwrap(),
            "{field}: the hours add up to the totals"
        );
    }

    // The appended rows are rolled up into one per hour (every second here), figures unchanged.
    testkit::wait_until(Duration::from_secs(20), "rolled up", || async {
        app.count(&format!(
            "SELECT count(*) AS n FROM campaign_stats_hourly WHERE campaign_id = '{campaign}' AND NOT rolled"
        ))
        .await
            == 0
    })
    .await;
    let rows = app
        .count(&format!(
            "SELECT count(*) AS n FROM campaign_stats_hourly WHERE campaign_id = '{campaign}'"
        ))
        .await;
    assert_eq!(rows, hours.len() as i64, "one row per hour");
    let (_, again) = app
        .get(&format!("/api/marketing/campaigns/{campaign}/stats/hourly"))
        .await;
    assert_eq!(again["hours"], hourly["hours"]);

    // gRPC says the same; a range the wrong way round is refused naming the field.
    let mut grpc = CampaignServiceClient::new(app.channel().await);
    let g = grpc
        .get_campaign_hourly_stats(authed(pb::GetCampaignHourlyStatsRequest {
            id: campaign.clone(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(g.hours.iter().map(|h| h.sent).sum::<i64>(), 40);
    assert_eq!(g.hours.iter().map(|h| h.clicked).sum::<i64>(), 7);
    let (status, err) = app
        .get(&format!(
            "/api/marketing/campaigns/{campaign}/stats/hourly?since=2030-01-02T00:00:00Z&until=2030-01-01T00:00:00Z"
        ))
        .await;
    assert_eq!(status, 400);
    assert_eq!(err["error"]["field"], "since");
}
