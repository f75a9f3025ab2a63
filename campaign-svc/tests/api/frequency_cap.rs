//! The frequency cap at trigger time: at most N messages per customer and channel per window,
//! counted by reason, not consumed by simulations, and held when two campaigns fan out at once.

use crm_proto::v1 as pb;
use crm_proto::v1::campaign_service_client::CampaignServiceClient;
use serde_json::{Value, json};
use testkit::{TestApp, TestDb, TestQueues, authed, campaign_body, spawn_app_with};

/// An app capping marketing messages at 1 per customer and channel per 24 h.
async fn capped_app() -> TestApp {
    spawn_app_with(TestDb::new(), TestQueues::new(), |c| {
        c.tracking.frequency_cap = 1;
        c.tracking.frequency_cap_window_hours = 24;
    })
    .await
}

/// Upserts `n` customers (`cust-{first + i}`) with a phone and an e-mail, tagged `tags(i)`;
/// returns their ids.
async fn customers(
    app: &TestApp,
    first: usize,
    n: usize,
    tags: impl Fn(usize) -> Vec<&'static str>,
) -> Vec<String> {
    let batch: Vec<Value> = (first..first + n)
        .map(|i| {
            json!({
                "external_id": format!("cust-{i}"),
                "phone": format!("+861390{i:07}"),
                "email": format!("c{i}@example.com"),
                "tags": tags(i),
            })
        })
        .collect();
    let (status, out) = app
        .post("/api/marketing/customers/bulk", json!({"customers": batch}))
        .await;
    assert_eq!(status, 200, "{out}");
    out["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

/// Creates a campaign on `channel` to customers with any of `tags`; returns its id.
async fn campaign(app: &TestApp, name: &str, channel: &str, tags: &[&str]) -> String {
    let mut body = campaign_body(name);
    body["type"] = json!(channel);
    body["target_tags"] = json!(tags);
    let c = app.create_campaign(body).await;
    c["id"].as_str().unwrap().to_owned()
}

/// Triggers a campaign (`actual` or `simulation`); returns the response and its execution.
async fn trigger(app: &TestApp, id: &str, kind: &str) -> (Value, Value) {
    let (status, t) = app
        .post(
            &format!("/api/marketing/campaigns/{id}/trigger"),
            json!({"execution_type": kind}),
        )
        .await;
    assert_eq!(status, 202, "{t}");
    let execution = t["execution_id"].as_str().unwrap();
    if kind == "actual" {
        // The trigger answers before the records are written.
        return (t.clone(), crate::frozen(app, execution).await);
    }
    let (status, e) = app
        .get(&format!("/api/marketing/executions/{execution}"))
        .await;
    assert_eq!(status, 200, "{e}");
    (t, e)
}

fn skipped(opted_out: u64, no_address: u64, frequency_capped: u64) -> Value {
    json!({"opted_out": opted_out, "no_address": no_address, "frequency_capped": frequency_capped})
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cap_holds_per_customer_and_channel_and_simulations_do_not_consume_it() {
    let app = capped_app().await;
    // Customers 0–9 are tagged `a`, 5–14 `b`: five of B's audience already got campaign A.
    let ids = customers(&app, 0, 15, |i| match i {
        0..5 => vec!["a"],
        5..10 => vec!["a", "b"],
        _ => vec!["b"],
    })
    .await;

    let a = campaign(&app, "A", "sms", &["a"]).await;
    let (_, e) = trigger(&app, &a, "actual").await;
    assert_eq!(e["planned"], 10);
    assert_eq!(e["skipped"], skipped(0, 0, 0));

    // A dry run of B counts the capped customers, twice over: it consumed nothing.
    let b = campaign(&app, "B", "sms", &["b"]).await;
    for _ in 0..2 {
        let (t, e) = trigger(&app, &b, "simulation").await;
        assert_eq!(e["planned"], 5, "{e}");
        assert_eq!(e["skipped"], skipped(0, 0, 5));
        assert!(
            t["message"]
                .as_str()
                .unwrap()
                .contains("5 over the frequency cap"),
            "{t}"
        );
        let samples = e["samples"].as_array().unwrap();
        assert!(
            samples
                .iter()
                .all(|s| !ids[..10].contains(&s["customer_id"].as_str().unwrap().to_owned())),
            "samples are of recipients only: {samples:?}"
        );
    }
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM marketing_record WHERE campaign_id = '{b}'"
        ))
        .await,
        0
    );

    let (t, e) = trigger(&app, &b, "actual").await;
    assert_eq!(e["planned"], 5);
    assert_eq!(e["skipped"], skipped(0, 0, 5));
    // B went to the five new customers only; every customer has one sms.
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM marketing_record
             WHERE campaign_id = '{b}' AND customer_id IN ({})",
            ids[10..]
                .iter()
                .map(|id| format!("'{id}'"))
                .collect::<Vec<_>>()
                .join(",")
        ))
        .await,
        5
    );
    assert_eq!(
        app.count(
            "SELECT count(*) AS n FROM (SELECT customer_id FROM marketing_record
             WHERE channel = 'sms' GROUP BY customer_id HAVING count(*) > 1) x"
        )
        .await,
        0
    );

    // The gRPC execution carries the same reason.
    let mut client = CampaignServiceClient::new(app.channel().await);
    let g = client
        .get_execution(authed(pb::GetExecutionRequest {
            id: t["execution_id"].as_str().unwrap().into(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(g.skipped.get("frequency_capped"), Some(&5));

    // Another channel has its own cap.
    let email = campaign(&app, "E", "email", &["a", "b"]).await;
    let (_, e) = trigger(&app, &email, "actual").await;
    assert_eq!(e["planned"], 15);
    assert_eq!(e["skipped"], skipped(0, 0, 0));

    // A customer counts under one reason, the first: opted out before capped.
    app.post(
        &format!("/api/marketing/customers/{}/opt-outs", ids[0]),
        json!({"channel": "sms"}),
    )
    .await;
    let again = campaign(&app, "A again", "sms", &["a"]).await;
    let (_, e) = trigger(&app, &again, "actual").await;
    assert_eq!(e["planned"], 0);
    assert_eq!(e["skipped"], skipped(1, 0, 9));
}

#[tokio::test(flavor = "multi_thread")]
async fn records_that_failed_or_left_the_window_do_not_count() {
    let app = capped_app().await;
    customers(&app, 0, 4, |_| vec!["a"]).await;
    let first = campaign(&app, "first", "sms", &["a"]).await;
    trigger(&app, &first, "actual").await;
    // Two of the four messages failed, one was created 25 hours ago (outside the window).
    app.sql(&format!(
        "UPDATE marketing_record SET status = 'failed'
         WHERE id IN (SELECT id FROM marketing_record WHERE campaign_id = '{first}' ORDER BY id LIMIT 2)"
    ))
    .await;
    app.sql(&format!(
        "UPDATE marketing_record SET created_at = now() - interval '25 hours'
         WHERE id = (SELECT id FROM marketing_record WHERE campaign_id = '{first}' ORDER BY id OFFSET 2 LIMIT 1)"
    ))
    .await;
    let second = campaign(&app, "second", "sms", &["a"]).await;
    let (_, e) = trigger(&app, &second, "actual").await;
    assert_eq!(e["planned"], 3);
    assert_eq!(e["skipped"], skipped(0, 0, 1));
}

#[tokio::test(flavor = "multi_thread")]
async fn two_campaigns_triggered_at_once_do_not_exceed_the_cap_together() {
    const N: usize = 2_000;
    let app = capped_app().await;
    customers(&app, 0, N, |_| vec!["bulk"]).await;
    let a = campaign(&app, "A", "sms", &["bulk"]).await;
    let b = campaign(&app, "B", "sms", &["bulk"]).await;
    let (path_a, path_b) = (
        format!("/api/marketing/campaigns/{a}/trigger"),
        format!("/api/marketing/campaigns/{b}/trigger"),
    );
    // Both requests in flight at once: the two fan-outs overlap in the database.
    let (ta, tb) = tokio::join!(app.post(&path_a, json!({})), app.post(&path_b, json!({})));
    assert_eq!(ta.0, 202, "{}", ta.1);
    assert_eq!(tb.0, 202, "{}", tb.1);
    let execution = |t: &Value| t["execution_id"].as_str().unwrap().to_owned();
    let ea = crate::frozen(&app, &execution(&ta.1)).await;
    let eb = crate::frozen(&app, &execution(&tb.1)).await;
    let planned = |e: &Value| e["planned"].as_u64().unwrap();
    let capped = |e: &Value| e["skipped"]["frequency_capped"].as_u64().unwrap();
    assert_eq!(
        app.count("SELECT count(*) AS n FROM marketing_record")
            .await,
        N as i64,
        "A: {ea}, B: {eb}"
    );
    assert_eq!(
        app.count("SELECT count(DISTINCT customer_id) AS n FROM marketing_record")
            .await,
        N as i64,
        "each customer exactly one message"
    );
    assert_eq!(planned(&ea) + planned(&eb), N as u64);
    assert_eq!(capped(&ea) + capped(&eb), N as u64);
    assert_eq!(planned(&ea), capped(&eb));
    assert_eq!(planned(&eb), capped(&ea));
}
