//! Local-time delivery and quiet hours: each message waits (`pending`, with `not_before`) for
//! the campaign's local send time and the end of quiet hours on the customer's own clock, then
//! leaves. Horizons are seconds: the send times are computed from the current time.

use std::time::Duration;

use chrono::{DateTime, Datelike as _, TimeZone as _, Utc};
use chrono_tz::Tz;
use serde_json::{Value, json};

use testkit::{
    TestApp, TestDb, TestQueues, campaign_body, queue_depth, spawn_app, spawn_app_with, wait_until,
};

async fn customers(app: &TestApp, zones: &[(&str, Option<&str>)]) {
    let customers: Vec<Value> = zones
        .iter()
        .enumerate()
        .map(|(i, (id, zone))| {
            let mut c =
                json!({"external_id": id, "phone": format!("+861380000{i:04}"), "tags": ["VIP"]});
            if let Some(z) = zone {
                c["time_zone"] = json!(z);
            }
            c
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

/// Creates and triggers a VIP campaign with `extra` fields; returns (campaign, trigger time).
async fn send(app: &TestApp, extra: Value) -> (String, DateTime<Utc>) {
    let mut body = campaign_body("本地时间");
    body["target_tags"] = json!(["VIP"]);
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let c = app.create_campaign(body).await;
    let id = c["id"].as_str().unwrap().to_owned();
    let (status, t) = app
        .post(&format!("/api/marketing/campaigns/{id}/trigger"), json!({}))
        .await;
    assert_eq!(status, 202, "{t}");
    let e = crate::frozen(app, t["execution_id"].as_str().unwrap()).await;
    (id, e["created_at"].as_str().unwrap().parse().unwrap())
}

/// `not_before` of each record by customer external id.
async fn waiting(app: &TestApp, campaign: &str) -> Vec<(String, Option<DateTime<Utc>>)> {
    let (status, list) = app
        .get(&format!(
            "/api/marketing/records?campaign_id={campaign}&page_size=100"
        ))
        .await;
    assert_eq!(status, 200, "{list}");
    let mut out = Vec::new();
    for r in list["records"].as_array().unwrap() {
        assert_eq!(r["status"], "pending", "{r}");
        let (_, c) = app
            .get(&format!(
                "/api/marketing/customers/{}",
                r["customer_id"].as_str().unwrap()
            ))
            .await;
        out.push((
            c["external_id"].as_str().unwrap().to_owned(),
            r["not_before"].as_str().map(|t| t.parse().unwrap()),
        ));
    }
    out.sort();
    out
}

/// The first instant after `at` whose local time in `zone` is `hh:mm` (computed here, apart from
/// the service's code).
fn next_local(at: DateTime<Utc>, zone: Tz, hh: u32, mm: u32) -> DateTime<Utc> {
    let local = at.with_timezone(&zone);
    let today = zone
        .with_ymd_and_hms(local.year(), local.month(), local.day(), hh, mm, 0)
        .single()
        .unwrap()
        .with_timezone(&Utc);
    if today > at {
        today
    } else {
        today + chrono::Duration::days(1)
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn each_customer_gets_the_message_at_nine_on_their_own_clock() {
    let app = spawn_app().await;
    customers(
        &app,
        &[
            ("berlin", Some("Europe/Berlin")),
            ("new-york", Some("America/New_York")),
            ("no-zone", None),
            ("shanghai", Some("Asia/Shanghai")),
        ],
    )
    .await;
    let (campaign, at) = send(
        &app,
        json!({"send_at_local": "09:00", "time_zone": "Asia/Tokyo"}),
    )
    .await;
    let expected = vec![
        (
            "berlin".to_owned(),
            Some(next_local(at, chrono_tz::Europe::Berlin, 9, 0)),
        ),
        (
            "new-york".to_owned(),
            Some(next_local(at, chrono_tz::America::New_York, 9, 0)),
        ),
        // Without a zone of their own: the campaign's.
        (
            "no-zone".to_owned(),
            Some(next_local(at, chrono_tz::Asia::Tokyo, 9, 0)),
        ),
        (
            "shanghai".to_owned(),
            Some(next_local(at, chrono_tz::Asia::Shanghai, 9, 0)),
        ),
    ];
    assert_eq!(waiting(&app, &campaign).await, expected);
    // Nothing leaves before its time: the relay publishes none of them.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(queue_depth(&app.queues.topology().send_queue).await, 0);
    let (_, c) = app
        .get(&format!("/api/marketing/campaigns/{campaign}"))
        .await;
    assert_eq!(
        (c["send_at_local"].clone(), c["time_zone"].clone()),
        (json!("09:00:00"), json!("Asia/Tokyo"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_waiting_message_leaves_when_its_local_time_comes() {
    let app = spawn_app().await;
    customers(&app, &[("utc", Some("UTC"))]).await;
    let due = Utc::now() + chrono::Duration::seconds(3);
    let (campaign, _) = send(
        &app,
        json!({"send_at_local": due.format("%H:%M:%S").to_string()}),
    )
    .await;
    let not_before = waiting(&app, &campaign).await[0]
        .1
        .expect("the message waits");
    assert_eq!(not_before.timestamp(), due.timestamp());
    let queue = app.queues.topology().send_queue;
    assert_eq!(queue_depth(&queue).await, 0);
    wait_until(Duration::from_secs(15), "the message to leave", || async {
        queue_depth(&queue).await == 1
    })
    .await;
    assert!(Utc::now() >= not_before, "left before its time");
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM marketing_record WHERE campaign_id = '{campaign}' AND published_at IS NOT NULL"
        ))
        .await,
        1
    );
    let (_, e) = app
        .get(&format!("/api/marketing/campaigns/{campaign}/executions"))
        .await;
    assert_eq!(e["executions"][0]["published"], 1, "{e}");
}

#[tokio::test(flavor = "multi_thread")]
async fn quiet_hours_hold_a_message_until_they_end_on_the_customers_clock() {
    let app = spawn_app().await;
    customers(
        &app,
        &[("shanghai", Some("Asia/Shanghai")), ("utc", Some("UTC"))],
    )
    .await;
    // Quiet from an hour ago until eight seconds from now on the UTC clock: the UTC customer
    // waits, the Shanghai one (eight hours ahead) is outside the window and gets it at once
    // (the window leaves room for the freeze, which the trigger no longer waits for).
    let now = Utc::now();
    let clock = |t: DateTime<Utc>| t.format("%H:%M:%S").to_string();
    let end = now + chrono::Duration::seconds(8);
    let (campaign, _) = send(
        &app,
        json!({"quiet_hours": {"start": clock(now - chrono::Duration::hours(1)), "end": clock(end)}}),
    )
    .await;
    let records = waiting(&app, &campaign).await;
    assert_eq!(records[0], ("shanghai".to_owned(), None), "{records:?}");
    assert_eq!(
        records[1].1.map(|t| t.timestamp()),
        Some(end.timestamp()),
        "{records:?}"
    );
    let queue = app.queues.topology().send_queue;
    wait_until(Duration::from_secs(10), "the Shanghai message", || async {
        queue_depth(&queue).await == 1
    })
    .await;
    wait_until(
        Duration::from_secs(15),
        "the quiet hours to end",
        || async { queue_depth(&queue).await == 2 },
    )
    .await;
    // The window ends at the whole second `clock(end)` names, up to a second before `end`.
    assert!(Utc::now().timestamp() >= end.timestamp());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_service_default_quiet_hours_apply_unless_a_campaign_opts_out() {
    let now = Utc::now();
    let clock = |t: DateTime<Utc>| t.format("%H:%M:%S").to_string();
    let window = format!(
        "{}-{}",
        clock(now - chrono::Duration::hours(1)),
        clock(now + chrono::Duration::hours(1))
    );
    let app = spawn_app_with(TestDb::new(), TestQueues::new(), |c| {
        c.quiet_hours =
            Some(campaign_svc::domain::timing::QuietHours::parse_range(&window).unwrap());
    })
    .await;
    customers(&app, &[("utc", Some("UTC"))]).await;
    let (held, _) = send(&app, json!({})).await;
    assert!(
        waiting(&app, &held).await[0].1.is_some(),
        "the default quiet hours hold it"
    );
    let (free, _) = send(
        &app,
        json!({"quiet_hours": {"start": "00:00", "end": "00:00"}}),
    )
    .await;
    assert_eq!(
        waiting(&app, &free).await[0].1,
        None,
        "an empty window opts out"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_timing_names_the_field() {
    let app = spawn_app().await;
    for (extra, field) in [
        (json!({"send_at_local": "9am"}), "send_at_local"),
        (json!({"send_at_local": "24:00"}), "send_at_local"),
        (json!({"time_zone": "Mars/Base"}), "time_zone"),
        (
            json!({"quiet_hours": {"start": "21:00"}}),
            "quiet_hours.end",
        ),
        (
            json!({"quiet_hours": {"start": "21:00", "end": "8"}}),
            "quiet_hours.end",
        ),
        (json!({"quiet_hours": "21:00-08:00"}), "quiet_hours"),
    ] {
        let mut body = campaign_body("bad");
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        let (status, err) = app.post("/api/marketing/campaigns", body).await;
        assert_eq!(status, 400, "{extra}: {err}");
        assert_eq!(err["error"]["field"], field, "{extra}: {err}");
    }
    // Clearing works on update (null), and the fields read back.
    let c = app
        .create_campaign({
            let mut b = campaign_body("ok");
            b["send_at_local"] = json!("9:30");
            b["quiet_hours"] = json!({"start": "21:00", "end": "08:00"});
            b
        })
        .await;
    assert_eq!(c["send_at_local"], "09:30:00");
    assert_eq!(
        c["quiet_hours"],
        json!({"start": "21:00:00", "end": "08:00:00"})
    );
    let (status, c) = app
        .put(
            &format!("/api/marketing/campaigns/{}", c["id"].as_str().unwrap()),
            json!({"send_at_local": null, "quiet_hours": null}),
        )
        .await;
    assert_eq!(status, 200, "{c}");
    assert!(
        c["send_at_local"].is_null() && c["quiet_hours"].is_null(),
        "{c}"
    );
}
