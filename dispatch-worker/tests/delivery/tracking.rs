//! Tracking end to end: a campaign delivered to a real SMTP server, each e-mail parsed as a mail
//! client would, its pixel, click link and unsubscribe link followed; records, statistics and
//! opt-outs checked; tampered tokens refused without writing anything.

use std::time::Duration;

use serde_json::{Value, json};
use testkit::vendor::SmtpServer;
use testkit::{TestApp, spawn_app};

use crate::common::{customers, smtp_worker, wait_final};

async fn email_campaign(app: &TestApp, name: &str) -> String {
    let (status, t) = app
        .post(
            "/api/marketing/templates",
            json!({"name": name, "channel": "email", "subject": "{{ name }}，双11来了",
                   "body": "{{ name }}：https://shop.example.com/sale?x=1&y=2",
                   "html_body": "<html><body><p>{{ name }}</p><a href=\"https://shop.example.com/sale?x=1&amp;y=2\">去逛逛</a></body></html>"}),
        )
        .await;
    assert_eq!(status, 201, "{t}");
    let mut body = testkit::campaign_body(name);
    body["type"] = json!("email");
    body["target_tags"] = json!(["bulk"]);
    body["content"] = json!("");
    body["content_template_id"] = t["id"].clone();
    let c = app.create_campaign(body).await;
    let id = c["id"].as_str().unwrap().to_owned();
    let (status, t) = app
        .post(&format!("/api/marketing/campaigns/{id}/trigger"), json!({}))
        .await;
    assert_eq!(status, 202, "{t}");
    crate::common::wait_frozen(app, &t).await;
    id
}

/// What a mail client finds in one received e-mail.
struct Mail {
    list_unsubscribe: String,
    one_click: String,
    pixel: String,
    click: String,
    unsubscribe: String,
    text: String,
}

fn attribute_values<'a>(html: &'a str, attr: &str) -> Vec<&'a str> {
    html.split(&format!("{attr}=\""))
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .collect()
}

fn read_mail(raw: &str) -> Mail {
    let parsed = mail_parser::MessageParser::default()
        .parse(raw.as_bytes())
        .expect("a MIME message");
    let header = |name: &str| {
        parsed
            .header_raw(name)
            .unwrap_or_else(|| panic!("no {name} header"))
            .trim()
            .to_owned()
    };
    let html = parsed.body_html(0).expect("an HTML part").into_owned();
    let links = attribute_values(&html, "href");
    let images = attribute_values(&html, "src");
    let pixel = images
        .iter()
        .find(|s| s.contains("/t/o/"))
        .expect("an open pixel");
    let click = links
        .iter()
        .find(|s| s.contains("/t/c/"))
        .expect("a tracked link");
    let unsubscribe = links
        .iter()
        .find(|s| s.contains("/u/"))
        .expect("an unsubscribe link");
    Mail {
        list_unsubscribe: header("List-Unsubscribe"),
        one_click: header("List-Unsubscribe-Post"),
        pixel: pixel.replace("&amp;", "&"),
        click: click.replace("&amp;", "&"),
        unsubscribe: unsubscribe.replace("&amp;", "&"),
        text: parsed.body_text(0).expect("a text part").into_owned(),
    }
}

async fn record_of(app: &TestApp, campaign: &str, customer: &str) -> Value {
    let (_, records) = app
        .get(&format!(
            "/api/marketing/records?campaign_id={campaign}&customer_id={customer}"
        ))
        .await;
    records["records"][0].clone()
}

async fn stats(app: &TestApp, campaign: &str) -> Value {
    let (status, s) = app
        .get(&format!("/api/marketing/campaigns/{campaign}/stats"))
        .await;
    assert_eq!(status, 200, "{s}");
    s["totals"].clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mail_client_opens_clicks_and_unsubscribes() {
    let app = spawn_app().await;
    let smtp = SmtpServer::start().await;
    let ids = customers(&app, 3).await;
    let worker = smtp_worker(&app, &smtp);
    let campaign = email_campaign(&app, "tracked").await;
    wait_final(&app, &campaign, Duration::from_secs(30)).await;
    let mails = smtp.received();
    assert_eq!(mails.len(), 3);
    let mail_of = |i: usize| {
        let m = mails
            .iter()
            .find(|m| m.to[0] == format!("c{i}@example.com"))
            .expect("a mail per customer");
        read_mail(&m.data)
    };
    let first = mail_of(0);
    assert_eq!(first.list_unsubscribe, format!("<{}>", first.unsubscribe));
    assert_eq!(first.one_click, "List-Unsubscribe=One-Click");
    assert!(
        first.text.contains("/t/c/"),
        "text links are tracked too: {}",
        first.text
    );
    let no_redirects = testkit::http_client_no_redirects();

    // The pixel, loaded twice: opened once.
    for _ in 0..2 {
        let resp = no_redirects
            .get(app.follow(&first.pixel))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["content-type"], "image/gif");
        assert_eq!(resp.bytes().await.unwrap().len(), 43);
    }
    let r = record_of(&app, &campaign, &ids[0]).await;
    assert_eq!(r["status"], "opened");
    assert!(r["opened_at"].is_string());

    // The link, clicked twice: redirected to the original URL, clicked once.
    for _ in 0..2 {
        let resp = no_redirects
            .get(app.follow(&first.click))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 302);
        assert_eq!(
            resp.headers()["location"],
            "https://shop.example.com/sale?x=1&y=2"
        );
    }
    let r = record_of(&app, &campaign, &ids[0]).await;
    assert_eq!(r["status"], "clicked");
    assert_eq!(r["response"][0]["action"], "click");
    assert_eq!(
        r["response"][0]["link_id"].as_u64(),
        Some(1),
        "the HTML's link follows the text's"
    );

    // The second customer clicks without loading images: counted as opened too.
    let second = mail_of(1);
    let resp = no_redirects
        .get(app.follow(&second.click))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 302);
    let totals = stats(&app, &campaign).await;
    assert_eq!(
        (
            &totals["sent"],
            &totals["delivered"],
            &totals["opened"],
            &totals["clicked"]
        ),
        (&json!(3), &json!(2), &json!(2), &json!(2)),
        "{totals}"
    );
    assert_eq!(totals["rates"]["click_to_open"], 1.0);

    // Tampered, truncated or misused tokens: 404, nothing written.
    let before = record_of(&app, &campaign, &ids[2]).await;
    let third = mail_of(2);
    let mut tampered: Vec<char> = third.click.chars().collect();
    let at = tampered.len() - 5;
    tampered[at] = if tampered[at] == 'A' { 'B' } else { 'A' };
    let tampered: String = tampered.into_iter().collect();
    let truncated = &third.click[..third.click.len() - 3];
    let open_as_click = third.pixel.replace("/t/o/", "/t/c/");
    for bad in [tampered.as_str(), truncated, open_as_click.as_str()] {
        let resp = no_redirects.get(app.follow(bad)).send().await.unwrap();
        assert_eq!(resp.status(), 404, "{bad}");
        assert!(resp.headers().get("location").is_none());
    }
    let resp = no_redirects
        .post(app.follow(&third.unsubscribe.replace("/u/", "/u/x")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    assert_eq!(record_of(&app, &campaign, &ids[2]).await, before);

    // Unsubscribe: the page asks, only the POST (here the RFC 8058 one-click) opts out.
    let resp = no_redirects
        .get(app.follow(&first.unsubscribe))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.text()
            .await
            .unwrap()
            .contains("<form method=\"post\">")
    );
    let (_, customer) = app
        .get(&format!("/api/marketing/customers/{}", ids[0]))
        .await;
    assert_eq!(customer["opt_outs"], json!([]), "a GET unsubscribes nobody");

    // A second campaign is queued before the unsubscribe and sent after it: not to them.
    drop(worker);
    let second_campaign = email_campaign(&app, "queued").await;
    let resp = no_redirects
        .post(app.follow(&first.unsubscribe))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let (_, customer) = app
        .get(&format!("/api/marketing/customers/{}", ids[0]))
        .await;
    assert_eq!(customer["opt_outs"], json!(["email"]));
    assert_eq!(stats(&app, &campaign).await["unsubscribed"], 1);

    let _worker = smtp_worker(&app, &smtp);
    wait_final(&app, &second_campaign, Duration::from_secs(30)).await;
    let r = record_of(&app, &second_campaign, &ids[0]).await;
    assert_eq!(r["status"], "failed");
    assert!(
        r["error_message"].as_str().unwrap().contains("opted out"),
        "{r}"
    );
    let to_first = smtp
        .received()
        .iter()
        .filter(|m| m.to[0] == "c0@example.com")
        .count();
    assert_eq!(
        to_first, 1,
        "only the first campaign reached the unsubscribed customer"
    );
    assert_eq!(smtp.received().len(), 5);
}
