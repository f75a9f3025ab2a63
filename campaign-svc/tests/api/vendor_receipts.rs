//! Delivery receipts in each vendor's own format (Aliyun SmsReport, Tencent Cloud status
//! reports, Twilio status callbacks, SES events through SNS), authenticated as each vendor
//! does: they find the record by the vendor's message id, move it and its counters once, and a
//! call that does not prove itself is 401 and writes nothing.

use serde_json::{Value, json};
use testkit::vendors::callbacks::{SnsStandIn, form, twilio_signature};
use testkit::{PUBLIC_BASE_URL, TestApp, TestDb, TestQueues, spawn_app_with};

use crate::reached::{customers, record, sent_campaign, totals};

pub const ALIYUN_TOKEN: &str = "aliyun-callback-secret";
pub const TENCENT_TOKEN: &str = "tencent-callback-secret";
pub const TWILIO_TOKEN: &str = "twilio-test-auth-token";
pub const WEBHOOK_SECRET: &str = "test-webhook-secret";

/// The app with every vendor's callbacks configured (SNS trusting `sns`'s certificate URL).
pub async fn app_with_callbacks(sns: Option<&SnsStandIn>) -> TestApp {
    let sns = sns.map(|s| (s.topic_arn.clone(), s.prefix()));
    spawn_app_with(TestDb::new(), TestQueues::new(), |c| {
        c.webhook_secret = Some(WEBHOOK_SECRET.into());
        c.callbacks.aliyun_callback_token = Some(ALIYUN_TOKEN.into());
        c.callbacks.tencent_callback_token = Some(TENCENT_TOKEN.into());
        c.callbacks.twilio_auth_token = Some(TWILIO_TOKEN.into());
        if let Some((topic, prefix)) = sns {
            c.callbacks.sns_topic_arns = vec![topic];
            c.callbacks.sns_cert_url_prefixes = vec![prefix];
        }
    })
    .await
}

/// Posts `body` with `content_type` and extra headers; returns status and body.
pub async fn post(
    app: &TestApp,
    path: &str,
    content_type: &str,
    headers: &[(&str, String)],
    body: String,
) -> (u16, Value) {
    let mut req = app
        .http
        .post(app.url(path))
        .header("content-type", content_type)
        .body(body);
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    testkit::read(req.send().await.unwrap()).await
}

pub async fn post_json(app: &TestApp, path: &str, body: &Value) -> (u16, Value) {
    post(app, path, "application/json", &[], body.to_string()).await
}

/// Posts a Twilio form to `path`, signed over the public URL Twilio would have called.
pub async fn post_twilio(app: &TestApp, path: &str, params: &[(&str, &str)]) -> (u16, Value) {
    let sig = twilio_signature(TWILIO_TOKEN, &format!("{PUBLIC_BASE_URL}{path}"), params);
    post(
        app,
        path,
        "application/x-www-form-urlencoded",
        &[("X-Twilio-Signature", sig)],
        form(params),
    )
    .await
}

async fn webhook_events(app: &TestApp) -> i64 {
    app.count("SELECT count(*) AS n FROM webhook_events").await
}

/// An SMS (or e-mail) campaign sent to `n` customers, each record given the vendor message id
/// `<prefix>-<i>` as the worker would have stored it.
async fn sent_with_ids(
    app: &TestApp,
    channel: &str,
    tag: &str,
    n: usize,
    prefix: &str,
) -> (String, Vec<String>) {
    customers(app, tag, n).await;
    let (campaign, records) = sent_campaign(app, channel, tag, "1 minute").await;
    let mut ids = Vec::new();
    for (i, (rec, _)) in records.iter().enumerate() {
        app.sql(&format!(
            "UPDATE marketing_record SET provider_message_id = '{prefix}-{i}' WHERE id = '{rec}'"
        ))
        .await;
        ids.push(rec.clone());
    }
    (campaign, ids)
}

fn figures(t: &Value) -> (Value, Value) {
    (t["delivered"].clone(), t["failed"].clone())
}

#[tokio::test(flavor = "multi_thread")]
async fn aliyun_reports_move_records_by_biz_id_once() {
    let app = app_with_callbacks(None).await;
    let (campaign, recs) = sent_with_ids(&app, "sms", "ali", 3, "9001").await;
    // The third report overtakes the worker's write of its BizId: found by its OutId.
    app.sql(&format!(
        "UPDATE marketing_record SET provider_message_id = NULL WHERE id = '{}'",
        recs[2]
    ))
    .await;
    let path = format!("/webhooks/sms/aliyun?token={ALIYUN_TOKEN}");
    let report = json!([
        {"phone_number": "13800000000", "send_time": "2026-12-01 10:00:00",
         "report_time": "2026-12-01 10:00:05", "success": true, "err_code": "DELIVERED",
         "err_msg": "用户接收成功", "sms_size": "1", "biz_id": "9001-0", "out_id": "67890"},
        {"phone_number": "13800000001", "send_time": "2026-12-01 10:00:00",
         "report_time": "2026-12-01 10:00:06", "success": false, "err_code": "MK:0001",
         "err_msg": "空号", "sms_size": "1", "biz_id": "9001-1"},
        {"biz_id": "9001-2", "success": true, "err_code": "DELIVERED", "out_id": recs[2]},
        {"biz_id": "someone-elses", "success": true, "err_code": "DELIVERED"}
    ]);

    // Without the token, or with a wrong one: 401, nothing written.
    for bad in ["/webhooks/sms/aliyun", "/webhooks/sms/aliyun?token=guess"] {
        let (status, out) = post_json(&app, bad, &report).await;
        assert_eq!(status, 401, "{out}");
    }
    assert_eq!(webhook_events(&app).await, 0);
    assert_eq!(record(&app, &campaign, &recs[0]).await["status"], "sent");

    let (status, out) = post_json(&app, &path, &report).await;
    assert_eq!(
        (status, out),
        (200, json!({"code": 0, "msg": "成功"})),
        "Aliyun's documented answer"
    );
    let r0 = record(&app, &campaign, &recs[0]).await;
    assert_eq!(r0["status"], "delivered");
    assert_eq!(r0["delivered_at"], "2026-12-01T02:00:05Z", "Beijing time");
    let r1 = record(&app, &campaign, &recs[1]).await;
    assert_eq!(r1["status"], "failed");
    assert_eq!(r1["error_message"], "not delivered: MK:0001: 空号");
    assert_eq!(
        record(&app, &campaign, &recs[2]).await["status"],
        "delivered"
    );
    assert_eq!(
        figures(&totals(&app, &campaign).await),
        (json!(2), json!(1))
    );

    // Aliyun pushes again (it did not see our answer): counted once.
    let (status, _) = post_json(&app, &path, &report).await;
    assert_eq!(status, 200);
    assert_eq!(
        webhook_events(&app).await,
        3,
        "the unknown BizId is not claimed"
    );
    assert_eq!(
        figures(&totals(&app, &campaign).await),
        (json!(2), json!(1))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn tencent_status_reports_move_records_by_sid_once() {
    let app = app_with_callbacks(None).await;
    let (campaign, recs) = sent_with_ids(&app, "sms", "tc", 2, "sid").await;
    let path = format!("/webhooks/sms/tencent?token={TENCENT_TOKEN}");
    let reports = json!([
        {"user_receive_time": "2026-12-01 10:00:05", "nationcode": "86",
         "mobile": "13800000000", "report_status": "SUCCESS", "errmsg": "DELIVRD",
         "description": "用户短信送达成功", "sid": "sid-0"},
        {"user_receive_time": "2026-12-01 10:00:06", "nationcode": "86",
         "mobile": "13800000001", "report_status": "FAIL", "errmsg": "MN:0017",
         "description": "号码状态异常", "sid": "sid-1"}
    ]);
    let (status, _) = post_json(&app, "/webhooks/sms/tencent?token=nope", &reports).await;
    assert_eq!(status, 401);
    assert_eq!(webhook_events(&app).await, 0);

    let (status, out) = post_json(&app, &path, &reports).await;
    assert_eq!((status, out), (200, json!({"result": 0, "errmsg": "OK"})));
    let (status, _) = post_json(&app, &path, &reports).await;
    assert_eq!(status, 200);
    assert_eq!(
        record(&app, &campaign, &recs[0]).await["status"],
        "delivered"
    );
    let r1 = record(&app, &campaign, &recs[1]).await;
    assert_eq!(r1["error_message"], "not delivered: MN:0017: 号码状态异常");
    assert_eq!(
        figures(&totals(&app, &campaign).await),
        (json!(1), json!(1))
    );
    assert_eq!(webhook_events(&app).await, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn twilio_status_callbacks_are_verified_over_the_public_url() {
    let app = app_with_callbacks(None).await;
    let (campaign, recs) = sent_with_ids(&app, "sms", "tw", 2, "SM").await;
    let path = "/webhooks/sms/twilio";
    let sent = [
        ("MessageSid", "SM-0"),
        ("MessageStatus", "sent"),
        ("AccountSid", "AC123"),
    ];
    let delivered = [
        ("MessageSid", "SM-0"),
        ("MessageStatus", "delivered"),
        ("AccountSid", "AC123"),
        ("To", "+8613800000000"),
    ];
    let undelivered = [
        ("MessageSid", "SM-1"),
        ("MessageStatus", "undelivered"),
        ("ErrorCode", "30003"),
        ("AccountSid", "AC123"),
    ];

    // Signed over the address the service listens on rather than the public one Twilio
    // calls, with another token, or tampered: 401, nothing written.
    let local = twilio_signature(TWILIO_TOKEN, &app.url(path), &delivered);
    let other = twilio_signature("guess", &format!("{PUBLIC_BASE_URL}{path}"), &delivered);
    let good = twilio_signature(
        TWILIO_TOKEN,
        &format!("{PUBLIC_BASE_URL}{path}"),
        &delivered,
    );
    let tampered = form(&delivered).replace("delivered", "undelivered");
    for (what, sig, body) in [
        ("local URL", Some(local), form(&delivered)),
        ("other token", Some(other), form(&delivered)),
        ("tampered", Some(good), tampered),
        ("unsigned", None, form(&delivered)),
    ] {
        let headers: Vec<(&str, String)> =
            sig.into_iter().map(|s| ("X-Twilio-Signature", s)).collect();
        let (status, out) = post(
            &app,
            path,
            "application/x-www-form-urlencoded",
            &headers,
            body,
        )
        .await;
        assert_eq!(status, 401, "{what}: {out}");
    }
    assert_eq!(webhook_events(&app).await, 0);

    let (status, out) = post_twilio(&app, path, &sent).await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["ignored"], 1, "`sent` changes nothing: {out}");
    let (_, out) = post_twilio(&app, path, &delivered).await;
    assert_eq!(
        out,
        json!({"applied": 1, "duplicates": 0, "ignored": 0, "rejected": []})
    );
    let (_, out) = post_twilio(&app, path, &delivered).await;
    assert_eq!(
        out,
        json!({"applied": 0, "duplicates": 1, "ignored": 0, "rejected": []})
    );
    let (_, out) = post_twilio(&app, path, &undelivered).await;
    assert_eq!(out["applied"], 1, "{out}");
    assert_eq!(
        record(&app, &campaign, &recs[0]).await["status"],
        "delivered"
    );
    assert_eq!(
        record(&app, &campaign, &recs[1]).await["error_message"],
        "not delivered: undelivered: error 30003"
    );
    assert_eq!(
        figures(&totals(&app, &campaign).await),
        (json!(1), json!(1))
    );
}

fn ses_event(kind: &str, message_id: &str) -> Value {
    let mut e = json!({
        "eventType": kind,
        "mail": {"timestamp": "2026-12-01T10:00:00.000Z", "source": "news@shop.example",
                 "messageId": message_id, "destination": ["c0.ses@example.com"],
                 "tags": {"record_id": ["ignored here"]}},
    });
    match kind {
        "Delivery" => {
            e["delivery"] = json!({"timestamp": "2026-12-01T10:00:02.000Z",
                "recipients": ["c0.ses@example.com"], "smtpResponse": "250 2.6.0 Message received"})
        }
        "Bounce" => {
            e["bounce"] = json!({"bounceType": "Permanent", "bounceSubType": "General",
                "bouncedRecipients": [{"emailAddress": "c1.ses@example.com", "action": "failed",
                    "status": "5.1.1", "diagnosticCode": "smtp; 550 5.1.1 user unknown"}],
                "timestamp": "2026-12-01T10:00:03.000Z", "feedbackId": "fb-1"})
        }
        "Complaint" => {
            e["complaint"] = json!({"complainedRecipients": [{"emailAddress": "c2.ses@example.com"}],
                "timestamp": "2026-12-01T10:05:00.000Z", "feedbackId": "fb-2",
                "complaintFeedbackType": "abuse"})
        }
        _ => {}
    }
    e
}

#[tokio::test(flavor = "multi_thread")]
async fn ses_events_through_sns_are_verified_with_the_signing_certificate() {
    let sns = SnsStandIn::start().await;
    let app = app_with_callbacks(Some(&sns)).await;
    let (campaign, recs) = sent_with_ids(&app, "email", "ses", 3, "0100-ses").await;
    let path = "/webhooks/email/ses";

    // Subscribing the endpoint: the confirmation is verified, then its SubscribeURL visited.
    let (status, out) = post_json(&app, path, &sns.subscription_confirmation()).await;
    assert_eq!((status, out), (200, json!({"subscription": "confirmed"})));
    assert_eq!(sns.confirmations(), 1);

    let delivery = sns.notification("sns-1", &ses_event("Delivery", "0100-ses-0"), 1);
    let bounce = sns.notification("sns-2", &ses_event("Bounce", "0100-ses-1"), 2);
    let complaint = sns.notification("sns-3", &ses_event("Complaint", "0100-ses-2"), 2);
    let open = sns.notification("sns-4", &ses_event("Open", "0100-ses-0"), 1);

    // Refused, nothing written: another topic, a tampered message, a certificate URL that is
    // neither AWS's nor allowed.
    let mut other_topic = delivery.clone();
    other_topic["TopicArn"] = "arn:aws:sns:eu-west-1:999999999999:theirs".into();
    let mut tampered = delivery.clone();
    tampered["Message"] = ses_event("Bounce", "0100-ses-0").to_string().into();
    let mut foreign_cert = delivery.clone();
    foreign_cert["SigningCertURL"] = "https://certs.example/cert.pem".into();
    for (what, m) in [
        ("other topic", &other_topic),
        ("tampered", &tampered),
        ("foreign certificate", &foreign_cert),
    ] {
        let (status, out) = post_json(&app, path, m).await;
        assert_eq!(status, 401, "{what}: {out}");
    }
    assert_eq!(webhook_events(&app).await, 0);

    for (m, applied) in [(&delivery, 1), (&bounce, 1), (&complaint, 1), (&open, 0)] {
        let (status, out) = post_json(&app, path, m).await;
        assert_eq!(status, 200, "{out}");
        assert_eq!(out["applied"], applied, "{m}: {out}");
    }
    // SNS retries a delivery it thinks failed: same MessageId, counted once.
    let (_, out) = post_json(&app, path, &delivery).await;
    assert_eq!(out["duplicates"], 1, "{out}");

    let r0 = record(&app, &campaign, &recs[0]).await;
    assert_eq!(
        (r0["status"].clone(), r0["delivered_at"].clone()),
        (json!("delivered"), json!("2026-12-01T10:00:02Z"))
    );
    let r1 = record(&app, &campaign, &recs[1]).await;
    assert_eq!(r1["status"], "failed");
    assert_eq!(
        r1["error_message"],
        "bounced: Permanent/General: smtp; 550 5.1.1 user unknown"
    );
    assert_eq!(
        record(&app, &campaign, &recs[2]).await["status"],
        "delivered"
    );
    assert_eq!(
        figures(&totals(&app, &campaign).await),
        (json!(2), json!(1))
    );
    // The complaint opted its recipient out of e-mail.
    let complained = app
        .rows(&format!(
            "SELECT o.channel || ':' || o.source AS line FROM customer_opt_outs o
             JOIN marketing_record r ON r.customer_id = o.customer_id WHERE r.id = '{}'",
            recs[2]
        ))
        .await;
    assert_eq!(complained, ["email:complaint"]);
}
