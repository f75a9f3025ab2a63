//! Inbound SMS ("回复TD退订"): a reply that is an opt-out keyword (`TD`, `ＴＤ`, `退订`, …) opts
//! its sender out of SMS, so the next campaign skips them; any other reply is kept as a
//! response to the latest SMS the sender got, listed by `GET /api/marketing/replies`. Each
//! vendor message acts once; a call that does not prove itself is 401 and writes nothing.

use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use testkit::TestApp;
use testkit::vendors::callbacks::{form, twilio_signature};

use crate::reached::{customers, sent_campaign, totals};
use crate::vendor_receipts::{
    ALIYUN_TOKEN, TENCENT_TOKEN, WEBHOOK_SECRET, app_with_callbacks, post, post_json, post_twilio,
};

/// The generic form, signed with `X-Signature` as the generic webhook is.
async fn post_generic(app: &TestApp, body: &Value, secret: &str) -> (u16, Value) {
    let t = chrono::Utc::now().timestamp();
    let body = body.to_string();
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.{body}").as_bytes());
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let sig = format!("t={t},v1={hex}");
    post(
        app,
        "/webhooks/sms/replies",
        "application/json",
        &[("X-Signature", sig)],
        body,
    )
    .await
}

async fn replies(app: &TestApp, query: &str) -> Value {
    let (status, list) = app.get(&format!("/api/marketing/replies?{query}")).await;
    assert_eq!(status, 200, "{list}");
    list
}

async fn opt_outs(app: &TestApp) -> Vec<String> {
    app.rows(
        "SELECT c.external_id || ':' || o.channel || ':' || o.source AS line
         FROM customer_opt_outs o JOIN customers c ON c.id = o.customer_id ORDER BY 1",
    )
    .await
}

/// Phones of `customers(app, tag, n)`: `+86138000{i:05}`.
fn national(i: usize) -> String {
    format!("138000{i:05}")
}

#[tokio::test(flavor = "multi_thread")]
async fn reply_keywords_opt_out_and_other_replies_are_kept_as_responses() {
    let app = app_with_callbacks(None).await;
    let ids = customers(&app, "rep", 5).await;
    let (campaign, records) = sent_campaign(&app, "sms", "rep", "10 minutes").await;

    // `TD` through the generic form, `ＴＤ` (full width) from Aliyun, `退订。` from Tencent.
    let generic = json!({"messages": [
        {"message_id": "in-1", "from": national(0), "text": " td ",
         "received_at": "2026-12-01T10:00:00Z"}
    ]});
    let (status, out) = post_generic(&app, &generic, WEBHOOK_SECRET).await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(
        out,
        json!({"opted_out": 1, "responses": 0, "duplicates": 0, "unknown_sender": 0, "rejected": []})
    );
    let aliyun = json!([{"phone_number": national(1), "send_time": "2026-12-01 18:00:00",
        "content": "ＴＤ", "sign_name": "某某商城", "dest_code": "1234", "sequence_id": 881}]);
    let aliyun_path = format!("/webhooks/sms/aliyun/replies?token={ALIYUN_TOKEN}");
    let (status, out) = post_json(&app, &aliyun_path, &aliyun).await;
    assert_eq!((status, out), (200, json!({"code": 0, "msg": "成功"})));
    let tencent = json!({"extend": "", "mobile": national(2), "nationcode": "86",
        "reply_time": "2026-12-01 18:01:00", "sign": "某某商城", "text": "退订。"});
    let tencent_path = format!("/webhooks/sms/tencent/replies?token={TENCENT_TOKEN}");
    let (status, out) = post_json(&app, &tencent_path, &tencent).await;
    assert_eq!((status, out), (200, json!({"result": 0, "errmsg": "OK"})));

    // Anything else is a response: from Twilio (empty TwiML back), and through the generic form.
    let from3 = format!("+86{}", national(3));
    let incoming = [
        ("MessageSid", "SM-in-1"),
        ("From", from3.as_str()),
        ("To", "+15005550006"),
        ("Body", "活动几点结束？"),
    ];
    let resp = app
        .http
        .post(app.url("/webhooks/sms/twilio/replies"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header(
            "X-Twilio-Signature",
            twilio_signature(
                crate::vendor_receipts::TWILIO_TOKEN,
                &format!("{}/webhooks/sms/twilio/replies", testkit::PUBLIC_BASE_URL),
                &incoming,
            ),
        )
        .body(form(&incoming))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/xml")
    );
    assert!(resp.text().await.unwrap().contains("<Response></Response>"));
    let (_, out) = post_generic(
        &app,
        &json!({"messages": [{"message_id": "in-2", "from": national(4), "text": "TD谢谢"},
                             {"message_id": "in-3", "from": "13999999999", "text": "TD"}]}),
        WEBHOOK_SECRET,
    )
    .await;
    assert_eq!(
        (out["responses"].clone(), out["unknown_sender"].clone()),
        (json!(1), json!(1)),
        "{out}"
    );

    // Delivered again by each vendor: nothing new.
    let (_, out) = post_generic(&app, &generic, WEBHOOK_SECRET).await;
    assert_eq!(out["duplicates"], 1, "{out}");
    post_json(&app, &aliyun_path, &aliyun).await;
    post_json(&app, &tencent_path, &tencent).await;
    post_twilio(&app, "/webhooks/sms/twilio/replies", &incoming).await;
    assert_eq!(app.count("SELECT count(*) AS n FROM sms_replies").await, 5);

    assert_eq!(
        opt_outs(&app).await,
        [
            "rep-0:sms:sms_reply",
            "rep-1:sms:sms_reply",
            "rep-2:sms:sms_reply"
        ]
    );
    assert_eq!(totals(&app, &campaign).await["unsubscribed"], 3);

    // The responses, on the SMS they answer.
    let list = replies(&app, &format!("campaign_id={campaign}&kind=response")).await;
    assert_eq!(list["pagination"]["total"], 2, "{list}");
    let by_customer = |i: usize| {
        list["replies"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["customer_id"] == ids[i])
            .cloned()
            .unwrap_or_else(|| panic!("a reply of customer {i} in {list}"))
    };
    let r3 = by_customer(3);
    assert_eq!(r3["text"], "活动几点结束？");
    assert_eq!(r3["source"], "twilio");
    assert_eq!(r3["phone"], format!("+86{}", national(3)));
    let record3 = records.iter().find(|(_, c)| c == &ids[3]).unwrap();
    assert_eq!(r3["record_id"], record3.0);
    assert_eq!(by_customer(4)["text"], "TD谢谢");
    let all = replies(&app, "page_size=50").await;
    assert_eq!(all["pagination"]["total"], 5, "{all}");

    // The next SMS campaign skips the three who opted out.
    let next = app
        .create_campaign(
            json!({"name": "after TD", "type": "sms", "target_tags": ["rep"],
                                "content": "Hello again"}),
        )
        .await;
    let execution = app.simulate(next["id"].as_str().unwrap()).await;
    assert_eq!(execution["planned"], 2, "{execution}");
    assert_eq!(execution["skipped"]["opted_out"], 3, "{execution}");

    // Erasing a customer takes their replies with them.
    let (status, _) = app
        .delete(&format!("/api/marketing/customers/{}", ids[3]))
        .await;
    assert_eq!(status, 204);
    assert_eq!(
        replies(&app, "page_size=50").await["pagination"]["total"],
        4
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn inbound_sms_that_does_not_prove_itself_is_refused() {
    let app = app_with_callbacks(None).await;
    customers(&app, "sig", 1).await;
    let generic = json!({"messages": [{"message_id": "x", "from": national(0), "text": "TD"}]});
    let (status, _) = post_generic(&app, &generic, "guess").await;
    assert_eq!(status, 401);
    let (status, _) = post_json(&app, "/webhooks/sms/replies", &generic).await;
    assert_eq!(status, 401, "unsigned");
    let up = json!([{"phone_number": national(0), "content": "TD", "sequence_id": 1}]);
    let (status, _) = post_json(&app, "/webhooks/sms/aliyun/replies?token=guess", &up).await;
    assert_eq!(status, 401);
    let (status, _) = post_json(&app, "/webhooks/sms/tencent/replies", &up).await;
    assert_eq!(status, 401);
    let from = format!("+86{}", national(0));
    let params = [
        ("MessageSid", "SM1"),
        ("From", from.as_str()),
        ("Body", "TD"),
    ];
    let bad = twilio_signature(
        "guess",
        "https://marketing.test/webhooks/sms/twilio/replies",
        &params,
    );
    let (status, _) = post(
        &app,
        "/webhooks/sms/twilio/replies",
        "application/x-www-form-urlencoded",
        &[("X-Twilio-Signature", bad)],
        form(&params),
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(app.count("SELECT count(*) AS n FROM sms_replies").await, 0);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM customer_opt_outs")
            .await,
        0
    );

    // A message that cannot be read is rejected on its own, naming the field.
    let (status, out) = post_generic(
        &app,
        &json!({"messages": [{"message_id": "y", "from": "12ab", "text": "TD"}]}),
        WEBHOOK_SECRET,
    )
    .await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["rejected"][0]["field"], "messages[0].from", "{out}");
}
