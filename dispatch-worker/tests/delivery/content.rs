//! Content as the worker really sends it: links in Chinese copy found one by one and each
//! leading to exactly its URL, every `href` tracked whatever its quoting, missing customer fields
//! empty, a customer whose data breaks the content failing alone, and every message exactly its
//! preview (the preview's tokens are for no record; the message's for its own).

use std::time::Duration;

use marketing_core::tracking::{PREVIEW_RECORD, Signer};
use serde_json::{Value, json};
use testkit::vendor::{HttpVendor, SmtpServer, VendorMode};
use testkit::{TestApp, http_client_no_redirects, spawn_app};
use uuid::Uuid;

use crate::common::{customers, send_campaign, sms_vendor, smtp_worker, start_worker, wait_final};

fn signer() -> Signer {
    Signer::new(
        testkit::TRACKING_SECRET.as_bytes(),
        testkit::PUBLIC_BASE_URL,
    )
}

/// A preview made the message of `record`: its tokens swapped for the record's.
fn as_sent(preview: &str, record: Uuid, links: &[&str]) -> String {
    let s = signer();
    let mut out = preview
        .replace(
            &s.unsubscribe_url(PREVIEW_RECORD),
            &s.unsubscribe_url(record),
        )
        .replace(&s.open_url(PREVIEW_RECORD), &s.open_url(record));
    for (i, url) in links.iter().enumerate() {
        let i = u16::try_from(i).unwrap();
        out = out.replace(
            &s.click_url(PREVIEW_RECORD, i, url),
            &s.click_url(record, i, url),
        );
    }
    out
}

/// The one record of `campaign`.
async fn only_record(app: &TestApp, campaign: &str) -> Value {
    let (_, records) = app
        .get(&format!("/api/marketing/records?campaign_id={campaign}"))
        .await;
    assert_eq!(records["records"].as_array().unwrap().len(), 1, "{records}");
    records["records"][0].clone()
}

/// Follows a tracked link as a browser would; returns where it leads.
async fn location(app: &TestApp, link: &str) -> String {
    let resp = http_client_no_redirects()
        .get(app.follow(link))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 302, "{link}");
    resp.headers()["location"].to_str().unwrap().to_owned()
}

/// The campaign's first preview (for the first recipient of its audience).
async fn first_preview(app: &TestApp, campaign: &str) -> Value {
    let (status, p) = app
        .post(
            &format!("/api/marketing/campaigns/{campaign}/preview"),
            json!({"limit": 1}),
        )
        .await;
    assert_eq!(status, 200, "{p}");
    p["previews"][0].clone()
}

const COPY: &str = "领券请访问https://shop.example.com/a，谢谢！规则见https://shop.example.com/b。活动页（https://shop.example.com/c）筛选";
const COPY_LINKS: [&str; 3] = [
    "https://shop.example.com/a",
    "https://shop.example.com/b",
    "https://shop.example.com/c",
];

#[tokio::test(flavor = "multi_thread")]
async fn chinese_sms_copy_gets_each_link_tracked_to_exactly_its_url() {
    let app = spawn_app().await;
    let vendor = HttpVendor::start(VendorMode::Ok).await;
    customers(&app, 1).await;
    let _w = start_worker(&app, &sms_vendor(&vendor));
    let campaign = send_campaign(&app, "sms", COPY).await;
    wait_final(&app, &campaign, Duration::from_secs(30)).await;

    let r = only_record(&app, &campaign).await;
    assert_eq!(r["status"], "sent", "{r}");
    let id: Uuid = r["id"].as_str().unwrap().parse().unwrap();
    let body = vendor.delivered()[&id.to_string()]["body"]
        .as_str()
        .unwrap()
        .to_owned();
    let s = signer();
    let [a, b, c] = COPY_LINKS.map(|url| {
        let i = COPY_LINKS.iter().position(|u| *u == url).unwrap();
        s.click_url(id, u16::try_from(i).unwrap(), url)
    });
    assert_eq!(
        body,
        format!(
            "领券请访问{a}，谢谢！规则见{b}。活动页（{c}）筛选\n\n退订：{}",
            s.unsubscribe_url(id)
        )
    );
    for (link, url) in [&a, &b, &c].into_iter().zip(COPY_LINKS) {
        assert_eq!(location(&app, link).await, url);
    }
    let r = only_record(&app, &campaign).await;
    let clicked: Vec<u64> = r["response"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["link_id"].as_u64().unwrap())
        .collect();
    assert_eq!(clicked, [0, 1, 2], "{r}");
}

#[tokio::test(flavor = "multi_thread")]
async fn push_to_a_customer_with_only_a_token_is_exactly_its_preview() {
    let app = spawn_app().await;
    let vendor = HttpVendor::start(VendorMode::Ok).await;
    let (status, c) = app
        .post(
            "/api/marketing/customers",
            json!({"external_id": "push-only", "push_token": "tok-p", "tags": ["bulk"],
                   "attributes": {"nickname": null}}),
        )
        .await;
    assert_eq!(status, 201, "{c}");
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
    let content = "[客户姓名]|{{ email }}|{{ phone }}|{{ time_zone }}|{{ locale }}|{{ birthday }}|{{ email | lower }}|{{ attributes.nickname | upper }}|{{ phone | default('无') }} 详情https://shop.example.com/p。";
    let mut body = testkit::campaign_body("推送");
    body["type"] = json!("push_notification");
    body["target_tags"] = json!(["bulk"]);
    body["content"] = json!(content);
    let campaign = app.create_campaign(body).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let preview = first_preview(&app, &campaign).await;
    let (status, t) = app
        .post(
            &format!("/api/marketing/campaigns/{campaign}/trigger"),
            json!({}),
        )
        .await;
    assert_eq!(status, 202, "{t}");
    wait_final(&app, &campaign, Duration::from_secs(30)).await;

    let r = only_record(&app, &campaign).await;
    assert_eq!(r["status"], "sent", "{r}");
    let id: Uuid = r["id"].as_str().unwrap().parse().unwrap();
    let sent = &vendor.delivered()[&id.to_string()];
    let s = signer();
    assert_eq!(
        sent["body"],
        format!(
            "顾客||||||||无 详情{}。\n\n退订：{}",
            s.click_url(id, 0, "https://shop.example.com/p"),
            s.unsubscribe_url(id)
        )
    );
    assert_eq!(
        sent["body"].as_str().unwrap(),
        as_sent(
            preview["body"].as_str().unwrap(),
            id,
            &["https://shop.example.com/p"]
        )
    );
    assert_eq!(sent["title"], preview["subject"]);
    assert_eq!(sent["to"], preview["to"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn email_is_exactly_its_preview_and_every_href_is_tracked() {
    let app = spawn_app().await;
    let smtp = SmtpServer::start().await;
    customers(&app, 1).await;
    let _w = smtp_worker(&app, &smtp);
    let links = [
        "https://shop.example.com/text",
        "https://shop.example.com/unquoted?a=1&b=2",
        "https://shop.example.com/upper",
        "https://shop.example.com/spaced",
        "https://shop.example.com/single",
        "https://shop.example.com/活动",
    ];
    let (status, t) = app
        .post(
            "/api/marketing/templates",
            json!({"name": "双11", "channel": "email", "subject": "{{ name }}，双11",
                   "body": "{{ name }}：https://shop.example.com/text。{{ phone | default('') }}",
                   "html_body": "<html><body><p>{{ name }}</p>\
                     <a href=https://shop.example.com/unquoted?a=1&amp;b=2>1</a>\
                     <A HREF=\"https://shop.example.com/upper\">2</A>\
                     <a class=x href = \"https://shop.example.com/spaced\">3</a>\
                     <a href='https://shop.example.com/single'>4</a>\
                     <a href=\"https://shop.example.com/活动\">5</a>\
                     <div data-href=\"https://shop.example.com/data\">not a link</div></body></html>"}),
        )
        .await;
    assert_eq!(status, 201, "{t}");
    let mut body = testkit::campaign_body("邮件");
    body["type"] = json!("email");
    body["target_tags"] = json!(["bulk"]);
    body["content"] = json!("");
    body["content_template_id"] = t["id"].clone();
    let campaign = app.create_campaign(body).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let preview = first_preview(&app, &campaign).await;
    let (status, t) = app
        .post(
            &format!("/api/marketing/campaigns/{campaign}/trigger"),
            json!({}),
        )
        .await;
    assert_eq!(status, 202, "{t}");
    wait_final(&app, &campaign, Duration::from_secs(30)).await;

    let r = only_record(&app, &campaign).await;
    assert_eq!(r["status"], "sent", "{r}");
    let id: Uuid = r["id"].as_str().unwrap().parse().unwrap();
    let mails = smtp.received();
    assert_eq!(mails.len(), 1);
    let mail = mail_parser::MessageParser::default()
        .parse(mails[0].data.as_bytes())
        .expect("a MIME message");
    let html = mail.body_html(0).unwrap().replace("\r\n", "\n");
    let text = mail.body_text(0).unwrap().replace("\r\n", "\n");

    // Every http(s) link of the HTML is tracked and leads to exactly its URL.
    let s = signer();
    for (i, url) in links.iter().enumerate().skip(1) {
        let link = s.click_url(id, u16::try_from(i).unwrap(), url);
        assert!(html.contains(link.as_str()), "{url}: {html}");
        let expected = match *url {
            "https://shop.example.com/活动" => "https://shop.example.com/%E6%B4%BB%E5%8A%A8",
            url => url,
        };
        assert_eq!(location(&app, &link).await, expected);
    }
    assert_eq!(
        html.matches("https://shop.example.com").count(),
        1,
        "only the data attribute keeps its URL: {html}"
    );

    // And the whole message is its preview, tokens aside.
    assert_eq!(mail.subject(), preview["subject"].as_str());
    assert_eq!(text, as_sent(preview["body"].as_str().unwrap(), id, &links));
    assert_eq!(
        html,
        as_sent(preview["html_body"].as_str().unwrap(), id, &links)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_customer_whose_data_breaks_the_content_fails_alone() {
    let app = spawn_app().await;
    let vendor = HttpVendor::start(VendorMode::Ok).await;
    let (status, out) = app
        .post(
            "/api/marketing/customers/bulk",
            json!({"customers": [
                {"external_id": "p", "name": "张三", "phone": "+8613800000001", "tags": ["bulk"],
                 "attributes": {"points": 12345}},
                {"external_id": "q", "name": "李四", "phone": "+8613800000002", "tags": ["bulk"]}
            ]}),
        )
        .await;
    assert_eq!(status, 200, "{out}");
    let _w = start_worker(&app, &sms_vendor(&vendor));
    // Saved although the sample customer has no points.
    let campaign = send_campaign(
        &app,
        "sms",
        "{{ name }}，积分翻倍：{{ attributes.points * 2 }}",
    )
    .await;
    wait_final(&app, &campaign, Duration::from_secs(30)).await;

    let (_, records) = app
        .get(&format!("/api/marketing/records?campaign_id={campaign}"))
        .await;
    let by_customer = |i: usize| {
        records["records"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["customer_id"] == out["ids"][i])
            .unwrap()
            .clone()
    };
    let with = by_customer(0);
    assert_eq!(with["status"], "sent", "{with}");
    let body = vendor.delivered()[with["id"].as_str().unwrap()]["body"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        body.starts_with("张三，积分翻倍：24690\n\n退订："),
        "{body}"
    );
    let without = by_customer(1);
    assert_eq!(without["status"], "failed", "{without}");
    assert!(
        without["error_message"]
            .as_str()
            .unwrap()
            .contains("the content cannot be rendered"),
        "{without}"
    );
    assert_eq!(vendor.delivered_count(), 1);
}
