//! Recurring campaigns: each occurrence of the cron schedule is one execution with its own
//! audience, once across replicas, a missed one run once, pause and resume; over REST and gRPC.
//! Schedules fire every two seconds here (`MIN_RECURRENCE_SECS` lowered for tests).

use std::time::Duration;

use chrono::{DateTime, Utc};
use crm_proto::v1 as pb;
use crm_proto::v1::campaign_service_client::CampaignServiceClient;
use serde_json::{Value, json};
use tonic::Code;

use testkit::{TestApp, TestDb, TestQueues, authed, campaign_body, spawn_app_with, wait_until};

async fn app() -> TestApp {
    spawn_app_with(TestDb::new(), TestQueues::new(), |c| {
        c.min_recurrence_secs = 1;
    })
    .await
}

async fn vip_customers(app: &TestApp, n: usize) {
    let customers: Vec<Value> = (0..n)
        .map(|i| json!({"external_id": format!("r{i}"), "phone": format!("+861380000{i:04}"), "tags": ["VIP"]}))
        .collect();
    let (status, out) = app
        .post(
            "/api/marketing/customers/bulk",
            json!({"customers": customers}),
        )
        .await;
    assert_eq!(status, 200, "{out}");
}

fn every_two_seconds() -> Value {
    json!({"kind": "recurring", "cron": "*/2 * * * * *", "time_zone": "Asia/Shanghai"})
}

async fn recurring_campaign(app: &TestApp) -> String {
    let mut body = campaign_body("每两秒");
    body["target_tags"] = json!(["VIP"]);
    body["trigger"] = every_two_seconds();
    let c = app.create_campaign(body).await;
    assert_eq!(c["status"], "scheduled", "{c}");
    assert_eq!(c["trigger"], every_two_seconds());
    assert_eq!(c["paused"], false);
    let next: DateTime<Utc> = c["next_run_at"].as_str().unwrap().parse().unwrap();
    assert!(
        next > Utc::now() - chrono::Duration::seconds(1)
            && next <= Utc::now() + chrono::Duration::seconds(3)
    );
    c["id"].as_str().unwrap().to_owned()
}

/// The campaign's executions, oldest first: (occurrence, planned).
async fn occurrences(app: &TestApp, campaign: &str) -> Vec<(DateTime<Utc>, u64)> {
    let (status, list) = app
        .get(&format!(
            "/api/marketing/campaigns/{campaign}/executions?page_size=100"
        ))
        .await;
    assert_eq!(status, 200, "{list}");
    let mut out: Vec<(DateTime<Utc>, u64)> = list["executions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["execution_type"] == "actual")
        .map(|e| {
            (
                e["occurrence"]
                    .as_str()
                    .expect("an occurrence")
                    .parse()
                    .unwrap(),
                e["planned"].as_u64().unwrap(),
            )
        })
        .collect();
    out.reverse();
    out
}

/// Pauses the campaign and waits until every occurrence that started has its whole audience of
/// `customers` written (the newest may have been committed an instant before, or left half-way
/// by a replica that died, for another to resume after the lease).
async fn pause_until_frozen(app: &TestApp, campaign: &str, customers: u64) {
    let (status, out) = app
        .post(
            &format!("/api/marketing/campaigns/{campaign}/pause"),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{out}");
    wait_until(
        Duration::from_secs(40),
        "every occurrence frozen",
        || async {
            occurrences(app, campaign)
                .await
                .iter()
                .all(|(_, planned)| *planned == customers)
        },
    )
    .await;
}

async fn wait_for_occurrences(app: &TestApp, campaign: &str, n: usize) {
    wait_until(Duration::from_secs(30), "occurrences", || async {
        occurrences(app, campaign).await.len() >= n
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn each_occurrence_runs_once_across_replicas_even_when_one_stops() {
    let app = app().await;
    vip_customers(&app, 3).await;
    let campaign = recurring_campaign(&app).await;
    let replica = app.replica().await;
    wait_for_occurrences(&app, &campaign, 3).await;
    // One replica goes away between occurrences; the other carries on.
    drop(replica);
    let seen = occurrences(&app, &campaign).await.len();
    wait_for_occurrences(&app, &campaign, seen + 2).await;
    // Stopped here, every occurrence that started finishes freezing (the newest may have been
    // committed an instant ago, its audience still being written).
    pause_until_frozen(&app, &campaign, 3).await;
    let runs = occurrences(&app, &campaign).await;
    for pair in runs.windows(2) {
        let gap = (pair[1].0 - pair[0].0).num_seconds();
        assert!(
            gap >= 2 && gap % 2 == 0,
            "occurrences {pair:?} twice or off the schedule"
        );
    }
    assert!(
        runs.iter()
            .all(|(at, planned)| *planned == 3 && at.timestamp() % 2 == 0),
        "{runs:?}"
    );
    // Each occurrence reached every customer once: one record per execution and customer.
    let records = app
        .count(&format!(
            "SELECT count(*) AS n FROM marketing_record WHERE campaign_id = '{campaign}'"
        ))
        .await;
    let executions = app
        .count(&format!(
            "SELECT count(*) AS n FROM campaign_executions WHERE campaign_id = '{campaign}' AND execution_type = 'actual'"
        ))
        .await;
    assert_eq!(records, executions * 3);
    let (_, c) = app
        .get(&format!("/api/marketing/campaigns/{campaign}"))
        .await;
    assert_eq!(c["status"], "active", "{c}");
    // A recurring campaign runs on its schedule: no manual trigger.
    let (status, err) = app
        .post(
            &format!("/api/marketing/campaigns/{campaign}/trigger"),
            json!({}),
        )
        .await;
    assert_eq!(status, 409, "{err}");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("recurring"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn pausing_stops_occurrences_and_resuming_continues_from_now() {
    let app = app().await;
    vip_customers(&app, 2).await;
    let campaign = recurring_campaign(&app).await;
    wait_for_occurrences(&app, &campaign, 1).await;
    let (status, c) = app
        .post(
            &format!("/api/marketing/campaigns/{campaign}/pause"),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{c}");
    assert_eq!(c["paused"], true);
    // An occurrence already being taken when the pause arrived may still start.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let paused_at = occurrences(&app, &campaign).await.len();
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        occurrences(&app, &campaign).await.len(),
        paused_at,
        "nothing runs while paused"
    );
    // Paused, the content may change (each occurrence freezes its own).
    let (status, c) = app
        .put(
            &format!("/api/marketing/campaigns/{campaign}"),
            json!({"content": "新内容 [客户姓名]"}),
        )
        .await;
    assert_eq!(status, 200, "{c}");
    let (status, c) = app
        .post(
            &format!("/api/marketing/campaigns/{campaign}/resume"),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{c}");
    assert_eq!(c["paused"], false);
    let next: DateTime<Utc> = c["next_run_at"].as_str().unwrap().parse().unwrap();
    assert!(
        next >= Utc::now() - chrono::Duration::seconds(1),
        "missed occurrences are not made up"
    );
    wait_for_occurrences(&app, &campaign, paused_at + 1).await;
    // Only recurring campaigns pause; a one-shot one is a conflict.
    let once = app.create_campaign(campaign_body("once")).await;
    let (status, _) = app
        .post(
            &format!(
                "/api/marketing/campaigns/{}/pause",
                once["id"].as_str().unwrap()
            ),
            json!({}),
        )
        .await;
    assert_eq!(status, 409);
}

#[tokio::test(flavor = "multi_thread")]
async fn occurrences_missed_while_no_replica_ran_are_run_once() {
    let app = app().await;
    vip_customers(&app, 2).await;
    let mut body = campaign_body("补发一次");
    body["target_tags"] = json!(["VIP"]);
    body["trigger"] = json!({"kind": "recurring", "cron": "*/2 * * * * *", "time_zone": "UTC"});
    body["start_time"] = json!("2099-01-01T00:00:00Z");
    let c = app.create_campaign(body).await;
    let campaign = c["id"].as_str().unwrap().to_owned();
    assert_eq!(c["next_run_at"], "2099-01-01T00:00:00Z");
    // As if every replica had been down through the last ten occurrences.
    app.sql(&format!(
        "UPDATE marketing_campaign SET next_run_at = date_trunc('second', now()) - interval '20 seconds',
                start_time = now() - interval '1 minute' WHERE id = '{campaign}'"
    ))
    .await;
    wait_for_occurrences(&app, &campaign, 1).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let runs = occurrences(&app, &campaign).await;
    assert!(
        runs.len() <= 2,
        "missed occurrences were made up one by one: {runs:?}"
    );
    assert!(
        runs[0].0 < Utc::now() - chrono::Duration::seconds(15),
        "{runs:?}"
    );
    let (_, c) = app
        .get(&format!("/api/marketing/campaigns/{campaign}"))
        .await;
    let next: DateTime<Utc> = c["next_run_at"].as_str().unwrap().parse().unwrap();
    assert!(next > Utc::now() - chrono::Duration::seconds(2), "{c}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_recurring_campaign_completes_at_its_end_time() {
    let app = app().await;
    vip_customers(&app, 1).await;
    let mut body = campaign_body("到期结束");
    body["target_tags"] = json!(["VIP"]);
    body["trigger"] = every_two_seconds();
    body["end_time"] = json!((Utc::now() + chrono::Duration::seconds(5)).to_rfc3339());
    let campaign = app.create_campaign(body).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    wait_until(
        Duration::from_secs(30),
        "the campaign to complete",
        || async {
            app.get(&format!("/api/marketing/campaigns/{campaign}"))
                .await
                .1["status"]
                == "completed"
        },
    )
    .await;
    let (_, c) = app
        .get(&format!("/api/marketing/campaigns/{campaign}"))
        .await;
    assert!(c["next_run_at"].is_null(), "{c}");
    let runs = occurrences(&app, &campaign).await;
    assert!((1..=3).contains(&runs.len()), "{runs:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn recurring_campaigns_over_grpc_and_bad_schedules() {
    let app = app().await;
    vip_customers(&app, 1).await;
    let mut client = CampaignServiceClient::new(app.channel().await);
    let c = client
        .create_campaign(authed(pb::CreateCampaignRequest {
            name: "grpc recurring".into(),
            r#type: "sms".into(),
            target_tags: vec!["VIP".into()],
            content: "hi".into(),
            trigger: Some(pb::CampaignTrigger {
                kind: "recurring".into(),
                cron: Some("*/2 * * * * *".into()),
                time_zone: Some("Europe/Berlin".into()),
                ..Default::default()
            }),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(c.status, "scheduled");
    assert!(c.next_run_at.is_some());
    assert_eq!(c.trigger.as_ref().unwrap().kind, "recurring");
    wait_until(Duration::from_secs(30), "an occurrence", || async {
        let mut client = CampaignServiceClient::new(app.channel().await);
        client
            .list_executions(authed(pb::ListExecutionsRequest {
                campaign_id: c.id.clone(),
                ..Default::default()
            }))
            .await
            .unwrap()
            .into_inner()
            .executions
            .iter()
            .any(|e| e.occurrence.is_some())
    })
    .await;
    let paused = client
        .pause_campaign(authed(pb::PauseCampaignRequest { id: c.id.clone() }))
        .await
        .unwrap()
        .into_inner();
    assert!(paused.paused);
    let resumed = client
        .resume_campaign(authed(pb::ResumeCampaignRequest { id: c.id.clone() }))
        .await
        .unwrap()
        .into_inner();
    assert!(!resumed.paused);
    let err = client
        .create_campaign(authed(pb::CreateCampaignRequest {
            name: "bad".into(),
            r#type: "sms".into(),
            target_tags: vec!["VIP".into()],
            content: "hi".into(),
            trigger: Some(pb::CampaignTrigger {
                kind: "recurring".into(),
                cron: Some("61 * * * *".into()),
                time_zone: Some("UTC".into()),
                ..Default::default()
            }),
            ..Default::default()
        }))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(testkit::bad_field(&err).as_deref(), Some("trigger.cron"));

    // REST refuses the same, naming the field; every occurrence too close together is refused.
    for (trigger, field) in [
        (
            json!({"kind": "recurring", "cron": "0 9 * * *"}),
            "trigger.time_zone",
        ),
        (json!({"kind": "daily"}), "trigger.kind"),
        (
            json!({"kind": "recurring", "cron": "0 9 * * *", "time_zone": "Asia/Tokio"}),
            "trigger.time_zone",
        ),
    ] {
        let mut body = campaign_body("bad");
        body["trigger"] = trigger.clone();
        let (status, err) = app.post("/api/marketing/campaigns", body).await;
        assert_eq!(status, 400, "{trigger}: {err}");
        assert_eq!(err["error"]["field"], field, "{trigger}: {err}");
    }
    let strict = testkit::spawn_app().await; // MIN_RECURRENCE_SECS 60 by default
    let mut body = campaign_body("too often");
    body["trigger"] = every_two_seconds();
    let (status, err) = strict.post("/api/marketing/campaigns", body).await;
    assert_eq!(
        (status, &err["error"]["field"]),
        (400, &json!("trigger.cron")),
        "{err}"
    );
}

/// A second campaign-svc, as a process of its own, killed (SIGKILL) between occurrences once it
/// has run at least one: the other replica carries on, and no occurrence is lost or run twice.
#[tokio::test(flavor = "multi_thread")]
async fn a_replica_killed_between_occurrences_loses_and_doubles_none() {
    let app = app().await;
    vip_customers(&app, 3).await;
    let log = std::env::temp_dir().join(format!("replica-{}.log", uuid::Uuid::now_v7()));
    let free_port = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port()
    };
    let mut replica = std::process::Command::new(env!("CARGO_BIN_EXE_campaign-svc"))
        .env("DATABASE_URL", &app.db.url)
        .env("DATABASE_POOL_SIZE", "4")
        .env("AMQP_URL", testkit::amqp_url())
        .env("QUEUE_PREFIX", &app.queues.prefix)
        .env("API_TOKENS", testkit::TOKEN)
        .env("HTTP_ADDR", format!("127.0.0.1:{}", free_port()))
        .env("GRPC_ADDR", format!("127.0.0.1:{}", free_port()))
        .env("MIN_RECURRENCE_SECS", "1")
        .env("SCHEDULER_INTERVAL_MS", "200")
        .env("TRACKING_SECRET", testkit::TRACKING_SECRET)
        .env("PUBLIC_BASE_URL", testkit::PUBLIC_BASE_URL)
        .env("RUST_LOG", "campaign_svc=info")
        .stdout(std::fs::File::create(&log).expect("the replica's log"))
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("campaign-svc starts");
    let campaign = recurring_campaign(&app).await;
    let ran_one = || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .any(|l| l.contains("campaign triggered") && l.contains(&campaign))
    };
    wait_until(
        Duration::from_secs(40),
        "the replica process to run an occurrence",
        || async { ran_one() },
    )
    .await;
    replica.kill().expect("SIGKILL the replica");
    let _ = replica.wait();
    let _ = std::fs::remove_file(&log);
    let seen = occurrences(&app, &campaign).await.len();
    wait_for_occurrences(&app, &campaign, seen + 2).await;
    // Killed in the middle of freezing one, the replica left it to the survivor (after the lease).
    pause_until_frozen(&app, &campaign, 3).await;
    let runs = occurrences(&app, &campaign).await;
    for pair in runs.windows(2) {
        let gap = (pair[1].0 - pair[0].0).num_seconds();
        assert!(
            gap >= 2 && gap % 2 == 0,
            "occurrences {pair:?} twice or off the schedule"
        );
    }
    let records = app
        .count(&format!(
            "SELECT count(*) AS n FROM marketing_record WHERE campaign_id = '{campaign}'"
        ))
        .await;
    assert_eq!(records, runs.len() as i64 * 3);
}
