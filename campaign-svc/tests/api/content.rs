//! The save-time check and the click redirect through the real endpoints: content that depends
//! on one customer's data is saved (and fails for that customer only), what is wrong for every
//! customer is refused; redirects carry only ASCII.

use serde_json::json;
use testkit::{campaign_body, http_client_no_redirects, spawn_app};
use uuid::Uuid;

use crate::previews::{create, signer};

#[tokio::test(flavor = "multi_thread")]
async fn content_depending_on_a_customers_data_is_saved_and_fails_for_that_customer_only() {
    let app = spawn_app().await;
    for body in [
        "{{ attributes.points | round }}",
        "{{ attributes.points * 2 }}",
        "积分翻倍：{{ (attributes.points * 2) | round | int }}",
    ] {
        create(
            &app,
            "/api/marketing/templates",
            json!({"name": "ok", "channel": "sms", "body": body}),
        )
        .await;
    }
    // What is wrong for every customer is still refused, also after such an expression.
    for (body, words) in [
        (
            "{{ attributes.points | round }}{{ name | nosuch }}",
            "nosuch",
        ),
        ("{{ attributes.points * 2 }}\n{{ name | plural }}", "line 2"),
        (
            "{{ attributes.points * 2 }}{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
            "too much work",
        ),
        (
            "{{ attributes.points * 2 }}{{ 'x' * 200000 }}{{ 'x' * 200000 }}",
            "longer than",
        ),
        (
            "{{ attributes.points | round }}{% include 'x' %}",
            "not found",
        ),
        ("{{ attributes.points * 2 }}{{ nmae }}", "nmae"),
        ("{{ attributes.points * 2 }}{{ name ", "syntax error"),
    ] {
        let (status, err) = app
            .post(
                "/api/marketing/templates",
                json!({"name": "bad", "channel": "sms", "body": body}),
            )
            .await;
        assert_eq!(status, 400, "{body}: {err}");
        assert_eq!(err["error"]["field"], "body", "{body}: {err}");
        assert!(
            err["error"]["message"].as_str().unwrap().contains(words),
            "{body}: {err}"
        );
    }
    // A campaign's own content alike.
    let mut body = campaign_body("翻倍");
    body["content"] = json!("{{ name }}，积分翻倍：{{ attributes.points * 2 }}");
    let campaign = app.create_campaign(body.clone()).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    body["content"] = json!("{{ attributes.points * 2 }}{{ name | nosuch }}");
    let (status, err) = app.post("/api/marketing/campaigns", body).await;
    assert_eq!((status, &err["error"]["field"]), (400, &json!("content")));

    // Rendered for a customer with points, and refused for one without, naming them.
    let with = create(
        &app,
        "/api/marketing/customers",
        json!({"external_id": "p", "name": "张三", "phone": "+8613800000001", "tags": ["VIP"],
               "attributes": {"points": 12345}}),
    )
    .await;
    let without = create(
        &app,
        "/api/marketing/customers",
        json!({"external_id": "q", "name": "李四", "phone": "+8613800000002", "tags": ["VIP"]}),
    )
    .await;
    let preview = |customer: String| {
        let app = &app;
        let campaign = campaign.clone();
        async move {
            app.post(
                &format!("/api/marketing/campaigns/{campaign}/preview"),
                json!({"customer_id": customer}),
            )
            .await
        }
    };
    let (status, p) = preview(with.clone()).await;
    assert_eq!(status, 200, "{p}");
    assert!(
        p["previews"][0]["body"]
            .as_str()
            .unwrap()
            .starts_with("张三，积分翻倍：24690\n\n退订："),
        "{p}"
    );
    let (status, err) = preview(without.clone()).await;
    assert_eq!(status, 409, "{err}");
    assert!(
        err["error"]["message"].as_str().unwrap().contains(&without),
        "{err}"
    );
    // A dry run (and a preview of the first recipients) reports that customer's failure on their
    // sample and renders the others: one customer's data does not stop it.
    let e = app.simulate(&campaign).await;
    assert_eq!(e["planned"], 2, "{e}");
    let samples = e["samples"].as_array().unwrap();
    let sample = |id: &str| samples.iter().find(|s| s["customer_id"] == id).unwrap();
    assert!(sample(&with)["error"].is_null(), "{e}");
    assert!(
        sample(&with)["body"]
            .as_str()
            .unwrap()
            .starts_with("张三，积分翻倍：24690")
    );
    let failed = sample(&without);
    assert!(
        failed["error"].as_str().unwrap().contains("body:"),
        "the failure names the part: {e}"
    );
    assert_eq!(failed["body"], "", "{e}");
    let (status, p) = app
        .post(
            &format!("/api/marketing/campaigns/{campaign}/preview"),
            json!({"limit": 5}),
        )
        .await;
    assert_eq!(status, 200, "{p}");
    assert_eq!(p["previews"].as_array().unwrap().len(), 2, "{p}");
    assert_eq!(
        p["previews"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["error"].is_string())
            .count(),
        1,
        "{p}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn click_redirects_carry_only_ascii() {
    let app = spawn_app().await;
    let s = signer();
    let client = http_client_no_redirects();
    for (url, location) in [
        (
            "https://shop.example.com/活动/双11?券=满减#说明",
            "https://shop.example.com/%E6%B4%BB%E5%8A%A8/%E5%8F%8C11?%E5%88%B8=%E6%BB%A1%E5%87%8F#%E8%AF%B4%E6%98%8E",
        ),
        (
            "https://例子.中国/路径",
            "https://xn--fsqu00a.xn--fiqs8s/%E8%B7%AF%E5%BE%84",
        ),
        (
            "https://shop.example.com/a b",
            "https://shop.example.com/a%20b",
        ),
        (
            "https://shop.example.com/a?x=1&y=2",
            "https://shop.example.com/a?x=1&y=2",
        ),
    ] {
        let link = s.click_url(Uuid::now_v7(), 0, url);
        let resp = client.get(app.follow(&link)).send().await.unwrap();
        assert_eq!(resp.status(), 302, "{url}");
        let sent = resp.headers()["location"].as_bytes();
        assert!(sent.iter().all(|b| b.is_ascii_graphic()), "{url}: {sent:?}");
        assert_eq!(sent, location.as_bytes(), "{url}");
    }
}
