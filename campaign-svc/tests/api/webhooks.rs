//! Provider webhooks: signed delivery receipts and bounces move records and counters once;
//! unsigned, tampered or replayed calls change nothing.

use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use testkit::{TestApp, TestDb, TestQueues, spawn_app, spawn_app_with};

use crate::reached::{customers, record, sent_campaign, totals};

const SECRET: &str = "test-webhook-secret";

async fn app_with_secret() -> TestApp {
    spawn_app_with(TestDb::new(), TestQueues::new(), |c| {
        c.webhook_secret = Some(SECRET.to_owned());
    })
    .await
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// `X-Signature` for `body` at `t`, computed independently of the service's code.
fn signature(secret: &str, t: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.{body}").as_bytes());
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("t={t},v1={hex}")
}

/// Posts `body` to the provider's webhook with the given `X-Signature` (none: no header).
async fn post(app: &TestApp, provider: &str, body: &str, sig: Option<String>) -> (u16, Value) {
    let mut req = app
        .http
        .post(app.url(&format!("/webhooks/{provider}")))
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(sig) = sig {
        req = req.header("X-Signature", sig);
    }
    testkit::read(req.send().await.unwrap()).await
}

/// Posts `body` signed now with the right secret.
async fn signed(app: &TestApp, provider: &str, body: &str) -> (u16, Value) {
    post(app, provider, body, Some(signature(SECRET, now(), body))).await
}

fn events(events: Value) -> String {
    json!({ "events": events }).to_string()
}

async fn webhook_events(app: &TestApp) -> i64 {
    app.count("SELECT count(*) AS n FROM webhook_events").await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_signed_receipt_delivers_once_and_replays_change_nothing() {
    let app = app_with_secret().await;
    customers(&app, "wh", 2).await;
    let (campaign, records) = sent_campaign(&app, "sms", "wh", "1 minute").await;
    let rec = &records[0].0;
    assert_eq!(totals(&app, &campaign).await["delivered"], 0);

    let body = events(json!([{
        "event_id": "evt-1", "message_id": rec, "status": "delivered",
        "occurred_at": "2030-01-01T00:00:00Z"
    }]));
    let (status, out) = signed(&app, "sms", &body).await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(
        out,
        json!({"applied": 1, "duplicates": 0, "ignored": 0, "rejected": []})
    );
    let r = record(&app, &campaign, rec).await;
    assert_eq!(r["status"], "delivered");
    assert_eq!(r["delivered_at"], "2030-01-01T00:00:00Z");
    let t = totals(&app, &campaign).await;
    assert_eq!(
        (t["sent"].clone(), t["delivered"].clone()),
        (json!(2), json!(1))
    );

    // The same event again (a provider retry): a duplicate, nothing moves or counts twice.
    let (status, out) = signed(&app, "sms", &body).await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(
        out,
        json!({"applied": 0, "duplicates": 1, "ignored": 0, "rejected": []})
    );
    assert_eq!(totals(&app, &campaign).await["delivered"], 1);

    // A new event id, correctly signed six minutes ago: a replay, refused, nothing written.
    let late =
        events(json!([{"event_id": "evt-2", "message_id": records[1].0, "status": "delivered"}]));
    let (status, out) = post(
        &app,
        "sms",
        &late,
        Some(signature(SECRET, now() - 360, &late)),
    )
    .await;
    assert_eq!(status, 401, "{out}");
    assert_eq!(out["error"]["code"], "unauthenticated");
    assert_eq!(webhook_events(&app).await, 1);
    assert_eq!(
        record(&app, &campaign, &records[1].0).await["status"],
        "sent"
    );
    // Signed "in the future" by more than five minutes: refused too.
    let (status, _) = post(
        &app,
        "sms",
        &late,
        Some(signature(SECRET, now() + 360, &late)),
    )
    .await;
    assert_eq!(status, 401);

    // A second receipt for the delivered record (another event id) has nothing left to do.
    let again = events(json!([{"event_id": "evt-3", "message_id": rec, "status": "delivered"}]));
    let (_, out) = signed(&app, "sms", &again).await;
    assert_eq!(
        out,
        json!({"applied": 0, "duplicates": 0, "ignored": 1, "rejected": []})
    );
    assert_eq!(totals(&app, &campaign).await["delivered"], 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn unsigned_badly_signed_or_tampered_calls_are_refused() {
    let app = app_with_secret().await;
    customers(&app, "sig", 1).await;
    let (campaign, records) = sent_campaign(&app, "sms", "sig", "1 minute").await;
    let body =
        events(json!([{"event_id": "e", "message_id": records[0].0, "status": "delivered"}]));
    let tampered = body.replace("delivered", "bounced");
    let t = now();
    let refused = [
        ("no header", body.clone(), None),
        ("garbage", body.clone(), Some("nonsense".to_owned())),
        ("no v1", body.clone(), Some(format!("t={t}"))),
        (
            "wrong secret",
            body.clone(),
            Some(signature("guess", t, &body)),
        ),
        ("tampered body", tampered, Some(signature(SECRET, t, &body))),
        (
            "timestamp changed",
            body.clone(),
            Some(signature(SECRET, t, &body).replacen(&t.to_string(), &(t - 1).to_string(), 1)),
        ),
    ];
    for (what, body, sig) in refused {
        let (status, out) = post(&app, "sms", &body, sig).await;
        assert_eq!(status, 401, "{what}: {out}");
    }
    assert_eq!(webhook_events(&app).await, 0);
    assert_eq!(
        record(&app, &campaign, &records[0].0).await["status"],
        "sent"
    );

    // Without WEBHOOK_SECRET every webhook is refused, even one signed with some secret.
    let open = spawn_app().await;
    let (status, _) = post(&open, "sms", &body, Some(signature("", now(), &body))).await;
    assert_eq!(status, 401);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_receipt_after_a_click_keeps_the_record_clicked() {
    let app = app_with_secret().await;
    customers(&app, "clk", 1).await;
    let (campaign, records) = sent_campaign(&app, "push_notification", "clk", "1 minute").await;
    // The recipient clicked before the receipt arrived (as tracking would have recorded).
    app.sql(&format!(
        "UPDATE marketing_record SET status = 'clicked', opened_at = now(), clicked_at = now()
         WHERE id = '{}'",
        records[0].0
    ))
    .await;
    app.sql(&format!(
        "UPDATE campaign_stats SET opened = 1, clicked = 1 WHERE campaign_id = '{campaign}'"
    ))
    .await;
    let body =
        events(json!([{"event_id": "p1", "message_id": records[0].0, "status": "delivered"}]));
    let (status, out) = signed(&app, "push_notification", &body).await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["applied"], 1, "delivered_at is recorded");
    let r = record(&app, &campaign, &records[0].0).await;
    assert_eq!(r["status"], "clicked");
    assert!(r["delivered_at"].is_string(), "{r}");
    let t = totals(&app, &campaign).await;
    assert_eq!(
        (t["delivered"].clone(), t["clicked"].clone()),
        (json!(1), json!(1))
    );

    // A bounce cannot undo a click either.
    let bounce =
        events(json!([{"event_id": "p2", "message_id": records[0].0, "status": "failed"}]));
    let (_, out) = signed(&app, "push_notification", &bounce).await;
    assert_eq!(
        out,
        json!({"applied": 0, "duplicates": 0, "ignored": 1, "rejected": []})
    );
    assert_eq!(
        record(&app, &campaign, &records[0].0).await["status"],
        "clicked"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bounce_fails_the_message_with_its_reason_and_counts() {
    let app = app_with_secret().await;
    customers(&app, "bnc", 2).await;
    let (campaign, records) = sent_campaign(&app, "email", "bnc", "1 minute").await;
    let (sms_campaign, sms_records) = sent_campaign(&app, "sms", "bnc", "1 minute").await;
    let body = events(json!([
        // E-mail providers report the Message-ID the worker set.
        {"event_id": "b1", "message_id": format!("<{}@marketing.crm>", records[0].0),
         "status": "bounced", "reason": "550 mailbox unavailable"},
        // An SMS record reported by the e-mail provider: not its message.
        {"event_id": "b2", "message_id": sms_records[0].0, "status": "bounced"},
        {"event_id": "b3", "message_id": "0190f0e0-0000-7000-8000-000000000000", "status": "delivered"}
    ]));
    let (status, out) = signed(&app, "email", &body).await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(
        out,
        json!({"applied": 1, "duplicates": 0, "ignored": 2, "rejected": []})
    );
    let r = record(&app, &campaign, &records[0].0).await;
    assert_eq!(r["status"], "failed");
    assert_eq!(r["error_message"], "bounced: 550 mailbox unavailable");
    assert_eq!(
        record(&app, &campaign, &records[1].0).await["status"],
        "sent"
    );
    let t = totals(&app, &campaign).await;
    assert_eq!(
        (t["failed"].clone(), t["sent"].clone()),
        (json!(1), json!(2))
    );
    assert_eq!(
        record(&app, &sms_campaign, &sms_records[0].0).await["status"],
        "sent"
    );
    assert_eq!(totals(&app, &sms_campaign).await["failed"], 0);

    // An SMS delivered then reported failed in one call ends failed, counted both ways.
    let body = events(json!([
        {"event_id": "s1", "message_id": sms_records[1].0, "status": "delivered"},
        {"event_id": "s2", "message_id": sms_records[1].0, "status": "failed", "reason": "expired"}
    ]));
    let (_, out) = signed(&app, "sms", &body).await;
    assert_eq!(
        out,
        json!({"applied": 2, "duplicates": 0, "ignored": 0, "rejected": []})
    );
    let r = record(&app, &sms_campaign, &sms_records[1].0).await;
    assert_eq!(
        (r["status"].clone(), r["error_message"].clone()),
        (json!("failed"), json!("not delivered: expired"))
    );
    let t = totals(&app, &sms_campaign).await;
    assert_eq!(
        (t["delivered"].clone(), t["failed"].clone()),
        (json!(1), json!(1))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_records_are_ignored_and_bad_events_are_rejected_naming_the_field() {
    let app = app_with_secret().await;
    let body = events(json!([{
        "event_id": "u1", "message_id": "0190f0e0-0000-7000-8000-000000000001", "status": "delivered"
    }]));
    let (status, out) = signed(&app, "sms", &body).await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(
        out,
        json!({"applied": 0, "duplicates": 0, "ignored": 1, "rejected": []})
    );

    // A bad event is rejected on its own (a vendor retries a refused batch forever), named.
    for (body, field) in [
        (
            events(json!([{"event_id": "x", "message_id": "nope", "status": "delivered"}])),
            "events[0].message_id",
        ),
        (
            events(
                json!([{"event_id": "x", "message_id": "0190f0e0-0000-7000-8000-000000000001", "status": "read"}]),
            ),
            "events[0].status",
        ),
        (
            events(
                json!([{"message_id": "0190f0e0-0000-7000-8000-000000000001", "status": "failed"}]),
            ),
            "events[0].event_id",
        ),
    ] {
        let (status, out) = signed(&app, "sms", &body).await;
        assert_eq!(status, 200, "{body}: {out}");
        assert_eq!(out["applied"], 0, "{out}");
        assert_eq!(out["rejected"][0]["index"], 0, "{out}");
        assert_eq!(out["rejected"][0]["field"], field, "{body}: {out}");
        assert_eq!(out["rejected"][0]["code"], "invalid_argument", "{out}");
    }
    // A body that is not a batch at all is refused whole.
    for body in [events(json!([])), json!({"events": "x"}).to_string()] {
        let (status, out) = signed(&app, "sms", &body).await;
        assert_eq!(status, 400, "{body}: {out}");
        assert_eq!(out["error"]["field"], "events", "{body}: {out}");
    }
    let (status, _) = signed(&app, "sms", "{not json").await;
    assert_eq!(status, 400);
    let (status, _) = signed(&app, "fax", &body).await;
    assert_eq!(status, 404);
    assert_eq!(webhook_events(&app).await, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn one_bad_event_does_not_hold_up_the_rest_of_a_signed_batch() {
    let app = app_with_secret().await;
    customers(&app, "nul", 3).await;
    let (campaign, records) = sent_campaign(&app, "sms", "nul", "1 minute").await;
    // Raw JSON: a NUL escaped in an event id and in a reason (PostgreSQL cannot store either),
    // and a wrongly typed reason, between two good events.
    let body = format!(
        r#"{{"events": [
            {{"event_id": "ok-1", "message_id": "{}", "status": "delivered"}},
            {{"event_id": "bad\u0000id", "message_id": "{}", "status": "delivered"}},
            {{"event_id": "bad-reason", "message_id": "{}", "status": "failed", "reason": "no\u0000pe"}},
            {{"event_id": "bad-type", "message_id": "{}", "status": "failed", "reason": 42}},
            {{"event_id": "ok-2", "message_id": "{}", "status": "failed", "reason": "unreachable"}}
        ]}}"#,
        records[0].0, records[1].0, records[1].0, records[2].0, records[2].0
    );
    let (status, out) = signed(&app, "sms", &body).await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["applied"], 2, "{out}");
    let rejected: Vec<(u64, &str)> = out["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["index"].as_u64().unwrap(), r["field"].as_str().unwrap()))
        .collect();
    assert_eq!(
        rejected,
        vec![
            (1, "events[1].event_id"),
            (2, "events[2].reason"),
            (3, "events[3].reason")
        ],
        "{out}"
    );
    assert!(
        out["rejected"][0]["message"]
            .as_str()
            .unwrap()
            .contains("NUL"),
        "{out}"
    );
    assert_eq!(
        record(&app, &campaign, &records[0].0).await["status"],
        "delivered"
    );
    assert_eq!(
        record(&app, &campaign, &records[1].0).await["status"],
        "sent"
    );
    let third = record(&app, &campaign, &records[2].0).await;
    assert_eq!(third["status"], "failed");
    assert_eq!(third["error_message"], "not delivered: unreachable");
    // Only the applied events were claimed: a corrected retry of a rejected one still applies.
    assert_eq!(webhook_events(&app).await, 2);
    let fixed = events(
        json!([{"event_id": "bad-reason", "message_id": records[1].0, "status": "failed", "reason": "fixed"}]),
    );
    let (_, out) = signed(&app, "sms", &fixed).await;
    assert_eq!(out["applied"], 1, "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_receipt_that_overtakes_the_send_is_answered_retry_and_applies_when_sent_again() {
    let app = app_with_secret().await;
    customers(&app, "early", 2).await;
    let (campaign, records) = sent_campaign(&app, "sms", "early", "1 minute").await;
    let (early, done) = (&records[0].0, &records[1].0);
    // The vendor took the message and reports it delivered before the worker recorded the send
    // (the record is still `sending`): nothing is claimed for it, and the call says "again".
    app.sql(&format!(
        "UPDATE marketing_record SET status = 'sending', sent_at = NULL WHERE id = '{early}'"
    ))
    .await;
    let body = events(json!([
        {"event_id": "early-1", "message_id": early, "status": "delivered"},
        {"event_id": "done-1", "message_id": done, "status": "delivered"}
    ]));
    let resp = app
        .http
        .post(app.url("/webhooks/sms"))
        .header("content-type", "application/json")
        .header("X-Signature", signature(SECRET, now(), &body))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    assert_eq!(resp.headers()["retry-after"], "1");
    let (_, err) = testkit::read(resp).await;
    assert_eq!(err["error"]["code"], "unavailable", "{err}");
    assert_eq!(
        webhook_events(&app).await,
        1,
        "only the settled record's event is claimed"
    );
    assert_eq!(record(&app, &campaign, done).await["status"], "delivered");
    assert_eq!(record(&app, &campaign, early).await["status"], "sending");

    // The worker records the send; the vendor sends the batch again: applied once, the other
    // event a duplicate.
    app.sql(&format!(
        "UPDATE marketing_record SET status = 'sent', sent_at = now() WHERE id = '{early}'"
    ))
    .await;
    let (status, out) = signed(&app, "sms", &body).await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(
        out,
        json!({"applied": 1, "duplicates": 1, "ignored": 0, "rejected": []})
    );
    assert_eq!(record(&app, &campaign, early).await["status"], "delivered");
    assert_eq!(totals(&app, &campaign).await["delivered"], 2);
}
