//! Previews and simulation samples through the real endpoints: they show the message exactly as
//! it will be sent (tracked links, unsubscribe link, e-mail pixel), their links lead where the
//! real ones do and record nothing, missing customer fields render empty.

use marketing_core::tracking::{PREVIEW_RECORD, Signer};
use serde_json::{Value, json};
use testkit::{TestApp, campaign_body, http_client_no_redirects, spawn_app};

use crate::templates::{create_template, customer, welcome_email};

/// The signer the test app uses: previews' links are predictable from it.
pub fn signer() -> Signer {
    Signer::new(
        testkit::TRACKING_SECRET.as_bytes(),
        testkit::PUBLIC_BASE_URL,
    )
}

/// The unsubscribe link every preview and simulation sample carries.
pub fn preview_unsubscribe() -> String {
    signer().unsubscribe_url(PREVIEW_RECORD)
}

/// What a preview of an e-mail in Chinese gets after its HTML: the unsubscribe link and the
/// open pixel (before `</body>` when there is one).
pub fn preview_email_footer() -> String {
    format!(
        "<p style=\"font-size:12px\"><a href=\"{}\">退订</a></p>\
         <img src=\"{}\" width=\"1\" height=\"1\" alt=\"\" style=\"display:none\">",
        preview_unsubscribe(),
        signer().open_url(PREVIEW_RECORD)
    )
}

pub async fn create(app: &TestApp, path: &str, body: Value) -> String {
    let (status, out) = app.post(path, body).await;
    assert_eq!(status, 201, "{out}");
    out["id"].as_str().unwrap().to_owned()
}

/// A campaign using template `template` for the VIPs; returns its id.
async fn campaign_with(app: &TestApp, channel: &str, template: &str) -> String {
    let mut body = campaign_body("双11");
    body["type"] = json!(channel);
    body["content"] = json!("");
    body["content_template_id"] = json!(template);
    app.create_campaign(body).await["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The samples of a simulation of `campaign`.
async fn simulation_samples(app: &TestApp, campaign: &str) -> Vec<Value> {
    let e = app.simulate(campaign).await;
    e["samples"].as_array().unwrap().clone()
}

/// The template preview, the campaign preview and the simulation sample for `customer`.
async fn every_preview(
    app: &TestApp,
    template: &str,
    campaign: &str,
    customer: &str,
) -> [Value; 3] {
    let (status, t) = app
        .post(
            &format!("/api/marketing/templates/{template}/preview"),
            json!({"customer_id": customer}),
        )
        .await;
    assert_eq!(status, 200, "{t}");
    let (status, c) = app
        .post(
            &format!("/api/marketing/campaigns/{campaign}/preview"),
            json!({"customer_id": customer}),
        )
        .await;
    assert_eq!(status, 200, "{c}");
    let samples = simulation_samples(app, campaign).await;
    assert_eq!(samples.len(), 1, "{samples:?}");
    [t, c["previews"][0].clone(), samples[0].clone()]
}

#[tokio::test(flavor = "multi_thread")]
async fn previews_and_samples_show_the_email_as_sent_and_their_links_record_nothing() {
    let app = spawn_app().await;
    let customer = create(
        &app,
        "/api/marketing/customers",
        json!({"external_id": "w5", "name": "王五", "email": "w@example.com", "tags": ["VIP"],
               "locale": "zh-CN", "attributes": {"points": 12345}}),
    )
    .await;
    let template = create(
        &app,
        "/api/marketing/templates",
        json!({"name": "双11邮件", "channel": "email", "subject": "{{ name }}，双11礼券",
               "body": "{{ name }}，积分 {{ attributes.points }}：https://shop.example.com/11。",
               "html_body": "<html><body><p>{{ name }}</p><a href=https://shop.example.com/11?from=mail&amp;x=1>去逛逛</a></body></html>"}),
    )
    .await;
    let campaign = campaign_with(&app, "email", &template).await;

    let s = signer();
    let click_text = s.click_url(PREVIEW_RECORD, 0, "https://shop.example.com/11");
    let click_html = s.click_url(
        PREVIEW_RECORD,
        1,
        "https://shop.example.com/11?from=mail&x=1",
    );
    let unsubscribe = preview_unsubscribe();
    let pixel = s.open_url(PREVIEW_RECORD);
    for preview in every_preview(&app, &template, &campaign, &customer).await {
        assert_eq!(preview["subject"], "王五，双11礼券");
        assert_eq!(
            preview["body"],
            format!("王五，积分 12345：{click_text}。\n\n退订：{unsubscribe}")
        );
        assert_eq!(
            preview["html_body"],
            format!(
                "<html><body><p>王五</p><a href=\"{click_html}\">去逛逛</a>{}</body></html>",
                preview_email_footer()
            )
        );
    }

    // The preview's links work like a real message's and change nothing.
    let client = http_client_no_redirects();
    for (link, to) in [
        (&click_text, "https://shop.example.com/11"),
        (&click_html, "https://shop.example.com/11?from=mail&x=1"),
    ] {
        let resp = client.get(app.follow(link)).send().await.unwrap();
        assert_eq!(resp.status(), 302);
        assert_eq!(resp.headers()["location"], to);
    }
    let resp = client.get(app.follow(&pixel)).send().await.unwrap();
    assert_eq!(
        (resp.status().as_u16(), &resp.headers()["content-type"]),
        (200, &"image/gif".parse().unwrap())
    );
    let page = client.get(app.follow(&unsubscribe)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("Preview"));
    let resp = client
        .post(app.follow(&unsubscribe))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.text()
            .await
            .unwrap()
            .contains("nobody was unsubscribed")
    );
    let (_, c) = app
        .get(&format!("/api/marketing/customers/{customer}"))
        .await;
    assert_eq!(c["opt_outs"], json!([]));
    assert_eq!(
        app.count("SELECT count(*) AS n FROM marketing_record")
            .await,
        0
    );
    let (_, stats) = app
        .get(&format!("/api/marketing/campaigns/{campaign}/stats"))
        .await;
    assert_eq!(
        (&stats["totals"]["clicked"], &stats["totals"]["opened"]),
        (&json!(0), &json!(0)),
        "{stats}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_customer_fields_render_empty_in_previews_and_samples() {
    let app = spawn_app().await;
    let customer = create(
        &app,
        "/api/marketing/customers",
        json!({"external_id": "push-only", "push_token": "tok-1", "tags": ["VIP"],
               "attributes": {"nickname": null}}),
    )
    .await;
    let template = create(
        &app,
        "/api/marketing/templates",
        json!({"name": "push", "channel": "push_notification",
               "subject": "{{ email | default('你好') }}",
               "body": "{{ email }}|{{ phone }}|{{ time_zone }}|{{ locale }}|{{ birthday }}|{{ email | lower }}|{{ phone | upper }}|{{ locale | trim }}|{{ attributes.nickname }}|{{ phone | default('无') }}"}),
    )
    .await;
    let campaign = campaign_with(&app, "push_notification", &template).await;
    let unsubscribe = preview_unsubscribe();
    for preview in every_preview(&app, &template, &campaign, &customer).await {
        assert_eq!(preview["to"], "tok-1");
        assert_eq!(preview["subject"], "你好");
        assert_eq!(
            preview["body"],
            format!("|||||||||无\n\n退订：{unsubscribe}")
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn preview_renders_for_one_customer_in_their_time_zone_and_escapes_html() {
    let app = spawn_app().await;
    let customer = customer(&app).await;
    let t = create_template(&app, welcome_email()).await;
    let id = t["id"].as_str().unwrap();
    let (status, p) = app
        .post(
            &format!("/api/marketing/templates/{id}/preview"),
            json!({"customer_id": customer}),
        )
        .await;
    assert_eq!(status, 200, "{p}");
    assert_eq!(p["to"], "w@example.com");
    assert_eq!(p["subject"], "<b>王五</b>，欢迎加入");
    // As it will be sent: with the unsubscribe link, and for e-mail the pixel.
    assert_eq!(
        p["body"],
        format!(
            "<b>王五</b>，您的积分：12,345\n\n退订：{}",
            preview_unsubscribe()
        )
    );
    assert_eq!(
        p["html_body"],
        format!(
            "<p>&lt;b&gt;王五&lt;&#x2f;b&gt;</p><p></p>{}",
            preview_email_footer()
        )
    );

    // Through a campaign: its end time shows in the customer's time zone.
    let mut body = campaign_body("with template");
    body["type"] = json!("email");
    body["content"] = json!("");
    body["content_template_id"] = json!(id);
    body["end_time"] = json!("2099-06-30T16:30:00Z");
    let c = app.create_campaign(body).await;
    let cid = c["id"].as_str().unwrap();
    let (status, p) = app
        .post(
            &format!("/api/marketing/campaigns/{cid}/preview"),
            json!({"customer_id": customer}),
        )
        .await;
    assert_eq!(status, 200, "{p}");
    assert_eq!(
        p["previews"][0]["html_body"],
        format!(
            "<p>&lt;b&gt;王五&lt;&#x2f;b&gt;</p><p>2099年07月01日</p>{}",
            preview_email_footer()
        )
    );
    // Simulation renders the template as a real run would.
    let e = app.simulate(cid).await;
    assert_eq!(e["planned"], 1);
    assert_eq!(e["samples"][0]["subject"], "<b>王五</b>，欢迎加入");

    // Bad requests name the field; unknown ids are 404.
    let (status, err) = app
        .post(&format!("/api/marketing/templates/{id}/preview"), json!({}))
        .await;
    assert_eq!(
        (status, err["error"]["field"].clone()),
        (400, json!("customer_id"))
    );
    let (status, _) = app
        .post(
            &format!("/api/marketing/templates/{id}/preview"),
            json!({"customer_id": uuid::Uuid::now_v7()}),
        )
        .await;
    assert_eq!(status, 404);
    let (status, err) = app
        .post(
            &format!("/api/marketing/campaigns/{cid}/preview"),
            json!({"limit": 51}),
        )
        .await;
    assert_eq!(
        (status, err["error"]["field"].clone()),
        (400, json!("limit"))
    );
}

/// The console's live preview of a campaign being written: the create body rendered for one
/// customer with the create's checks (the field and line of a syntax error, a variant's weight),
/// nothing written.
#[tokio::test(flavor = "multi_thread")]
async fn an_unsaved_campaign_is_previewed_for_one_customer_with_the_create_errors() {
    let app = spawn_app().await;
    let customer = create(
        &app,
        "/api/marketing/customers",
        json!({"external_id": "z3", "name": "张三", "phone": "+8613800138000", "tags": ["VIP"],
               "attributes": {"points": 12345}}),
    )
    .await;
    let preview = |campaign: Value| {
        let body = json!({"campaign": campaign, "customer_id": customer});
        let app = &app;
        async move { app.post("/api/marketing/campaigns/preview", body).await }
    };

    let mut body = campaign_body("双11");
    body["content"] = json!("{{ name }}，积分 {{ attributes.points }}");
    let (status, out) = preview(body.clone()).await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["previews"].as_array().unwrap().len(), 1, "{out}");
    assert_eq!(out["previews"][0]["customer_id"], json!(customer));
    let text = out["previews"][0]["body"].as_str().unwrap();
    assert!(text.starts_with("张三，积分 12345"), "{out}");

    // The errors a create answers: the part and its line, a variant's field.
    body["content"] = json!("你好\n{{ name ");
    let (status, err) = preview(body.clone()).await;
    assert_eq!(
        (status, err["error"]["field"].clone()),
        (400, json!("content")),
        "{err}"
    );
    assert!(
        err["error"]["message"].as_str().unwrap().contains("line 2"),
        "{err}"
    );
    body["content"] = json!("");
    body["variants"] = json!([{"weight": 50, "content": "A {{ name }}"},
                              {"weight": 60, "content": "B {{ name }}"}]);
    let (status, err) = preview(body.clone()).await;
    assert_eq!(status, 400, "{err}");
    assert!(
        err["error"]["field"]
            .as_str()
            .unwrap()
            .starts_with("variants"),
        "{err}"
    );
    body["variants"][1]["weight"] = json!(50);
    let (status, out) = preview(body.clone()).await;
    assert_eq!(status, 200, "{out}");
    let variant = out["previews"][0]["variant"].as_str().unwrap().to_owned();
    let expected = if variant == "A" {
        "A 张三"
    } else {
        "B 张三"
    };
    assert!(
        out["previews"][0]["body"]
            .as_str()
            .unwrap()
            .starts_with(expected),
        "{out}"
    );

    // The customer is required and must exist; nothing was saved.
    let (status, err) = app
        .post(
            "/api/marketing/campaigns/preview",
            json!({"campaign": campaign_body("x")}),
        )
        .await;
    assert_eq!(
        (status, err["error"]["field"].clone()),
        (400, json!("customer_id"))
    );
    let (status, _) = app
        .post(
            "/api/marketing/campaigns/preview",
            json!({"campaign": campaign_body("x"), "customer_id": uuid::Uuid::now_v7()}),
        )
        .await;
    assert_eq!(status, 404);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM marketing_campaign")
            .await,
        0
    );
}
