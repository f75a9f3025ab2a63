//! Each provider against a real server: SMS and push over HTTP, e-mail over SMTP, the log sink.

use std::time::Duration;

use serde_json::json;
use testkit::spawn_app;
use testkit::vendor::{HttpVendor, SmtpServer, VendorMode};

use crate::common::{customers, send_campaign, sms_vendor, smtp_worker, start_worker, wait_final};

#[tokio::test(flavor = "multi_thread")]
async fn sms_reaches_the_vendor_once_per_recipient_personalised() {
    let app = spawn_app().await;
    let vendor = HttpVendor::start(VendorMode::Ok).await;
    let ids = customers(&app, 50).await;
    let _w = start_worker(&app, &sms_vendor(&vendor));
    let campaign = send_campaign(&app, "sms", "亲爱的[客户姓名]，双11好礼！").await;
    wait_final(&app, &campaign, Duration::from_secs(30)).await;

    assert_eq!(app.records_with_status(&campaign, "sent").await, 50);
    assert_eq!(vendor.delivered_count(), 50);
    assert_eq!(vendor.duplicates(), 0);
    assert_eq!(vendor.unauthorised(), 0);
    let delivered = vendor.delivered();
    let (_, records) = app
        .get(&format!(
            "/api/marketing/records?campaign_id={campaign}&page_size=500"
        ))
        .await;
    for r in records["records"].as_array().unwrap() {
        assert_eq!(r["status"], "sent");
        assert!(r["sent_at"].is_string());
        let msg = &delivered[r["id"].as_str().unwrap()];
        let i = ids
            .iter()
            .position(|c| c == r["customer_id"].as_str().unwrap())
            .unwrap();
        // The content, then the message's own signed unsubscribe link.
        let body = msg["body"].as_str().unwrap();
        let (text, unsubscribe) = body
            .split_once("\n\n退订：")
            .expect("an unsubscribe footer");
        assert_eq!(text, format!("亲爱的客户{i}，双11好礼！"));
        assert!(
            unsubscribe.starts_with("https://marketing.test/u/"),
            "{body}"
        );
        assert_eq!(msg["unsubscribe_url"], unsubscribe);
        assert_eq!(msg["to"], format!("+861380{i:07}"));
    }
    testkit::wait_until(Duration::from_secs(10), "completion", || async {
        app.get(&format!("/api/marketing/campaigns/{campaign}"))
            .await
            .1["status"]
            == "completed"
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn push_goes_to_the_push_vendor() {
    let app = spawn_app().await;
    let vendor = HttpVendor::start(VendorMode::Ok).await;
    customers(&app, 5).await;
    let url = vendor.url();
    let _w = start_worker(
        &app,
        &[
            "--push-provider",
            "http",
            "--push-http-url",
            &url,
            "--push-http-token",
            &vendor.token,
        ],
    );
    let campaign = send_campaign(
        &app,
        "push_notification",
        "{{ name }}, your coupon is ready",
    )
    .await;
    wait_final(&app, &campaign, Duration::from_secs(30)).await;
    assert_eq!(app.records_with_status(&campaign, "sent").await, 5);
    let delivered = vendor.delivered();
    assert_eq!(delivered.len(), 5);
    assert!(
        delivered
            .values()
            .all(|m| m["to"].as_str().unwrap().starts_with("tok-") && m["title"] == "Double 11")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn email_is_delivered_over_smtp() {
    let app = spawn_app().await;
    let smtp = SmtpServer::start().await;
    customers(&app, 3).await;
    let _w = smtp_worker(&app, &smtp);
    let campaign = send_campaign(&app, "email", "Dear {{ name }},\nour sale starts today.").await;
    wait_final(&app, &campaign, Duration::from_secs(30)).await;
    assert_eq!(app.records_with_status(&campaign, "sent").await, 3);
    let mails = smtp.received();
    assert_eq!(mails.len(), 3);
    let (_, records) = app
        .get(&format!("/api/marketing/records?campaign_id={campaign}"))
        .await;
    for r in records["records"].as_array().unwrap() {
        let id = r["id"].as_str().unwrap();
        let mail = mails
            .iter()
            .find(|m| m.data.contains(id))
            .unwrap_or_else(|| panic!("no mail with Message-ID of {id}"));
        assert_eq!(mail.from, "marketing@example.com");
        assert!(mail.to[0].ends_with("@example.com"));
        assert!(mail.data.contains("Subject: Double 11"), "{}", mail.data);
        assert!(
            mail.data.contains("our sale starts today."),
            "{}",
            mail.data
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_log_sink_writes_one_json_line_per_message() {
    let app = spawn_app().await;
    customers(&app, 20).await;
    let sink = std::env::temp_dir().join(format!("sink-{}.jsonl", uuid::Uuid::new_v4()));
    let path = sink.to_str().unwrap().to_owned();
    let w = start_worker(&app, &["--log-sink-path", &path]);
    let campaign = send_campaign(&app, "sms", "Hi {{ name }}").await;
    wait_final(&app, &campaign, Duration::from_secs(30)).await;
    drop(w);
    let text = std::fs::read_to_string(&sink).unwrap();
    let _ = std::fs::remove_file(&sink);
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 20);
    assert!(
        lines
            .iter()
            .all(|l| l["channel"] == "sms" && l["body"].as_str().unwrap().starts_with("Hi 客户"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_email_template_arrives_with_its_subject_and_html_part() {
    let app = spawn_app().await;
    let smtp = SmtpServer::start().await;
    customers(&app, 2).await;
    let _w = smtp_worker(&app, &smtp);
    let (status, t) = app
        .post(
            "/api/marketing/templates",
            json!({"name": "html", "channel": "email", "subject": "{{ name }}的专属礼券",
                   "body": "{{ name }}，您好", "html_body": "<h1>{{ name }}</h1>"}),
        )
        .await;
    assert_eq!(status, 201, "{t}");
    let mut body = testkit::campaign_body("templated");
    body["type"] = json!("email");
    body["target_tags"] = json!(["bulk"]);
    body["content"] = json!("");
    body["content_template_id"] = t["id"].clone();
    let campaign = trigger(&app, body).await;
    // Editing the template after the trigger changes nothing already on its way.
    let (status, _) = app
        .put(
            &format!("/api/marketing/templates/{}", t["id"].as_str().unwrap()),
            json!({"subject": "changed"}),
        )
        .await;
    assert_eq!(status, 200);
    wait_final(&app, &campaign, Duration::from_secs(30)).await;
    assert_eq!(app.records_with_status(&campaign, "sent").await, 2);
    let mails = smtp.received();
    assert_eq!(mails.len(), 2);
    for (i, name) in ["客户0", "客户1"].iter().enumerate() {
        let mail = mails
            .iter()
            .find(|m| m.to[0] == format!("c{i}@example.com"))
            .expect("a mail per customer");
        let parsed = mail_parser::MessageParser::default()
            .parse(mail.data.as_bytes())
            .expect("a MIME message");
        assert_eq!(parsed.subject(), Some(format!("{name}的专属礼券").as_str()));
        let text = parsed
            .body_text(0)
            .expect("a text part")
            .replace("\r\n", "\n");
        assert!(
            text.starts_with(&format!("{name}，您好\n\n退订：")),
            "{text}"
        );
        let html = parsed.body_html(0).expect("an HTML part");
        assert!(html.starts_with(&format!("<h1>{name}</h1>")), "{html}");
        assert!(
            html.contains(">退订</a>") && html.contains("/t/o/"),
            "{html}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn each_recipient_gets_the_text_of_its_ab_variant() {
    let app = spawn_app().await;
    let vendor = HttpVendor::start(VendorMode::Ok).await;
    customers(&app, 200).await;
    let _w = start_worker(&app, &sms_vendor(&vendor));
    let mut body = testkit::campaign_body("A/B");
    body["target_tags"] = json!(["bulk"]);
    body["content"] = json!("");
    body["variants"] = json!([
        {"key": "short", "weight": 50, "content": "short: {{ name }}"},
        {"key": "long", "weight": 50, "content": "long: {{ name }}, thank you for being with us"}
    ]);
    let campaign = trigger(&app, body).await;
    wait_final(&app, &campaign, Duration::from_secs(30)).await;
    let delivered = vendor.delivered();
    assert_eq!(delivered.len(), 200);
    let (_, records) = app
        .get(&format!(
            "/api/marketing/records?campaign_id={campaign}&page_size=100&page=2"
        ))
        .await;
    for r in records["records"].as_array().unwrap() {
        let variant = r["variant"].as_str().unwrap();
        let msg = &delivered[r["id"].as_str().unwrap()];
        assert!(
            msg["body"]
                .as_str()
                .unwrap()
                .starts_with(&format!("{variant}: 客户")),
            "{r} got {msg}"
        );
    }
    let (_, stats) = app
        .get(&format!("/api/marketing/campaigns/{campaign}/stats"))
        .await;
    assert_eq!(stats["totals"]["sent"], 200, "{stats}");
    assert_eq!(stats["totals"]["rates"]["send_success"], 1.0);
    let per_variant: i64 = stats["by_variant"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            assert_eq!(v["sent"], v["planned"]);
            v["sent"].as_i64().unwrap()
        })
        .sum();
    assert_eq!(per_variant, 200);
}

/// Triggers a campaign created from `body`; returns its id.
async fn trigger(app: &testkit::TestApp, body: serde_json::Value) -> String {
    let c = app.create_campaign(body).await;
    let id = c["id"].as_str().unwrap().to_owned();
    let (status, t) = app
        .post(&format!("/api/marketing/campaigns/{id}/trigger"), json!({}))
        .await;
    assert_eq!(status, 202, "{t}");
    crate::common::wait_frozen(app, &t).await;
    id
}
