//! A journey's messages delivered for real: the welcome series of the README. A signup event
//! enters the customer, the welcome e-mail reaches the SMTP server, the customer who opens it (the
//! pixel, loaded as a mail client would) leaves the journey, the one who does not gets the
//! reminder SMS at the vendor after the wait; each step once, counted per step.

use std::time::Duration;

use serde_json::{Value, json};
use testkit::vendor::{HttpVendor, SmtpServer, VendorMode};
use testkit::{spawn_app, wait_until};

use crate::common::{customers, sms_vendor, start_worker};

#[tokio::test(flavor = "multi_thread")]
async fn the_welcome_series_reminds_only_those_who_did_not_open() {
    let app = spawn_app().await;
    let smtp = SmtpServer::start().await;
    let vendor = HttpVendor::start(VendorMode::Ok).await;
    let ids = customers(&app, 3).await;
    let port = smtp.addr.port().to_string();
    let mut args: Vec<String> = [
        "--email-provider",
        "smtp",
        "--smtp-host",
        "127.0.0.1",
        "--smtp-port",
        &port,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(sms_vendor(&vendor));
    let _worker = start_worker(&app, &args);

    let (status, t) = app
        .post(
            "/api/marketing/templates",
            json!({"name": "欢迎邮件", "channel": "email", "subject": "{{ name }}，欢迎加入",
                   "body": "{{ name }}，欢迎！新人礼包：https://shop.example.com/welcome",
                   "html_body": "<html><body><p>{{ name }}，欢迎！</p><a href=\"https://shop.example.com/welcome\">领取礼包</a></body></html>"}),
        )
        .await;
    assert_eq!(status, 201, "{t}");
    let (status, j) = app
        .post(
            "/api/marketing/journeys",
            json!({
                "name": "新客欢迎",
                "entry": {"kind": "event", "event": "signup"},
                "start": "welcome",
                "steps": {
                    "welcome": {"type": "send", "channel": "email", "template_id": t["id"], "next": "wait"},
                    "wait": {"type": "wait", "duration_seconds": 6, "next": "opened"},
                    "opened": {"type": "branch", "rule": {"engagement": "opened", "step": "welcome"},
                               "then": "done", "else": "remind"},
                    "remind": {"type": "send", "channel": "sms", "content": "{{name}}，新人礼包还没领，别错过"},
                    "done": {"type": "exit"}
                }
            }),
        )
        .await;
    assert_eq!(status, 201, "{j}");
    let journey = j["id"].as_str().unwrap().to_owned();
    let (status, j) = app
        .post(
            &format!("/api/marketing/journeys/{journey}/activate"),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{j}");
    let (status, out) = app
        .post(
            "/api/marketing/events",
            json!({"events": [
                {"event_id": "s-0", "external_id": "cust-0", "name": "signup"},
                {"event_id": "s-1", "external_id": "cust-1", "name": "signup"},
                {"event_id": "s-0-again", "external_id": "cust-0", "name": "signup"}
            ]}),
        )
        .await;
    assert_eq!(status, 202, "{out}");

    wait_until(Duration::from_secs(20), "two welcome e-mails", || async {
        smtp.received().len() == 2
    })
    .await;
    // cust-0 opens the welcome e-mail: the pixel of the message it received.
    let mail = smtp
        .received()
        .into_iter()
        .find(|m| m.to[0] == "c0@example.com")
        .expect("cust-0's e-mail");
    let parsed = mail_parser::MessageParser::default()
        .parse(mail.data.as_bytes())
        .expect("a MIME message");
    let html = parsed.body_html(0).expect("an HTML part").into_owned();
    let pixel = html
        .split("src=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .find(|s| s.contains("/t/o/"))
        .expect("an open pixel")
        .replace("&amp;", "&");
    let resp = testkit::http_client()
        .get(app.follow(&pixel))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    // After the wait: cust-1 (who did not open) gets the SMS; cust-0 leaves.
    wait_until(Duration::from_secs(30), "the reminder SMS", || async {
        vendor.delivered_count() == 1
    })
    .await;
    let sms: Vec<Value> = vendor.delivered().into_values().collect();
    assert_eq!(sms[0]["to"], "+8613800000001", "{sms:?}");
    assert!(
        sms[0]["body"]
            .as_str()
            .unwrap()
            .contains("客户1，新人礼包还没领"),
        "{sms:?}"
    );
    let path = |customer: String| {
        let app = &app;
        let journey = journey.clone();
        async move {
            let (status, out) = app
                .get(&format!(
                    "/api/marketing/journeys/{journey}/customers/{customer}"
                ))
                .await;
            assert_eq!(status, 200, "{out}");
            out["enrollments"].clone()
        }
    };
    wait_until(Duration::from_secs(10), "both walks over", || async {
        path(ids[0].clone()).await[0]["state"] == "exited"
            && path(ids[1].clone()).await[0]["state"] == "completed"
    })
    .await;
    let walked = |w: &Value| -> Vec<String> {
        w[0]["history"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| {
                format!(
                    "{}:{}",
                    h["step"].as_str().unwrap(),
                    h["action"].as_str().unwrap()
                )
            })
            .collect()
    };
    let first = path(ids[0].clone()).await;
    assert_eq!(
        first.as_array().unwrap().len(),
        1,
        "one walk despite two signups: {first}"
    );
    assert_eq!(
        walked(&first),
        ["welcome:sent", "wait:waiting", "opened:then", "done:exited"]
    );
    assert_eq!(
        walked(&path(ids[1].clone()).await),
        [
            "welcome:sent",
            "wait:waiting",
            "opened:else",
            "remind:sent",
            "remind:completed"
        ]
    );
    // Nothing more arrives, and the counters say the same.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(smtp.received().len(), 2);
    assert_eq!(vendor.delivered_count(), 1);
    let (_, stats) = app
        .get(&format!("/api/marketing/journeys/{journey}/stats"))
        .await;
    let step = |id: &str| {
        stats["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["step"] == id)
            .cloned()
            .unwrap()
    };
    assert_eq!(stats["entered"], 2, "{stats}");
    assert_eq!(step("welcome")["messages"]["figures"]["sent"], 2, "{stats}");
    assert_eq!(
        step("welcome")["messages"]["figures"]["opened"],
        1,
        "{stats}"
    );
    assert_eq!(step("remind")["messages"]["figures"]["sent"], 1, "{stats}");
    assert_eq!(step("opened")["entered"], 2, "{stats}");
    assert_eq!(step("done")["exited"], 1, "{stats}");
    assert_eq!(step("wait")["waiting"], 0, "{stats}");

    // Its first messages all delivered, the journey still sends: a later signup gets the welcome.
    let (status, out) = app
        .post(
            "/api/marketing/events",
            json!({"events": [{"event_id": "s-2", "external_id": "cust-2", "name": "signup"}]}),
        )
        .await;
    assert_eq!(status, 202, "{out}");
    wait_until(
        Duration::from_secs(20),
        "the later welcome e-mail",
        || async { smtp.received().iter().any(|m| m.to[0] == "c2@example.com") },
    )
    .await;
}
