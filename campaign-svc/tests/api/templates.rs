//! Content templates through REST and gRPC: checked when saved, previewed for a customer (more in
//! `previews.rs`), used by campaigns (and then not deletable), hostile ones refused.

use crm_proto::v1 as pb;
use crm_proto::v1::template_service_client::TemplateServiceClient;
use serde_json::{Value, json};
use tonic::Code;

use testkit::{TestApp, authed, bad_field, campaign_body, spawn_app};

use crate::previews::preview_unsubscribe;

pub async fn create_template(app: &TestApp, body: Value) -> Value {
    let (status, t) = app.post("/api/marketing/templates", body).await;
    assert_eq!(status, 201, "{t}");
    t
}

pub fn welcome_email() -> Value {
    json!({
        "name": "welcome",
        "channel": "email",
        "subject": "{{ name }}，欢迎加入",
        "body": "{{ name | default('会员') }}，您的积分：{{ attributes.points | number }}",
        "html_body": "<p>{{ name }}</p><p>{{ campaign.end_time | date(format='%Y年%m月%d日') }}</p>"
    })
}

/// One customer with an HTML-looking name, in Shanghai.
pub async fn customer(app: &TestApp) -> String {
    let (status, c) = app
        .post(
            "/api/marketing/customers",
            json!({"external_id": "t1", "name": "<b>王五</b>", "email": "w@example.com",
                   "phone": "+8613800000009", "tags": ["VIP"], "locale": "zh-CN",
                   "time_zone": "Asia/Shanghai", "attributes": {"points": 12345}}),
        )
        .await;
    assert_eq!(status, 201, "{c}");
    c["id"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn templates_are_checked_when_saved_and_list_their_variables() {
    let app = spawn_app().await;
    let t = create_template(&app, welcome_email()).await;
    assert_eq!(
        t["variables"],
        json!(["attributes.points", "campaign.end_time", "name"])
    );
    let id = t["id"].as_str().unwrap();

    // Unknown variable, syntax error (with its line), parts the channel does not have.
    let cases = [
        (
            json!({"name": "x", "channel": "sms", "body": "Hi {{ nmae }}"}),
            "body",
            "nmae",
        ),
        (
            json!({"name": "x", "channel": "email", "body": "ok", "html_body": "<p>\n{% if %}</p>"}),
            "html_body",
            "line 2",
        ),
        (
            json!({"name": "x", "channel": "sms", "subject": "s", "body": "b"}),
            "subject",
            "SMS",
        ),
        (
            json!({"name": "x", "channel": "fax", "body": "b"}),
            "channel",
            "fax",
        ),
        (json!({"name": "x", "channel": "sms"}), "body", "empty"),
        (json!({"channel": "sms", "body": "b"}), "name", "empty"),
        // Hostile: an endless loop, huge output, reading a file.
        (
            json!({"name": "x", "channel": "sms",
                   "body": "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"}),
            "body",
            "too much work",
        ),
        (
            json!({"name": "x", "channel": "sms", "body": "{{ 'x' * 200000 }}{{ 'x' * 200000 }}"}),
            "body",
            "longer than",
        ),
        (
            json!({"name": "x", "channel": "sms", "body": "{% include '/etc/passwd' %}"}),
            "body",
            "not found",
        ),
    ];
    for (body, field, words) in cases {
        let (status, err) = app.post("/api/marketing/templates", body.clone()).await;
        assert_eq!(status, 400, "{body}: {err}");
        assert_eq!(err["error"]["field"], field, "{body}: {err}");
        assert!(
            err["error"]["message"].as_str().unwrap().contains(words),
            "{body}: {err}"
        );
    }
    assert_eq!(
        app.count("SELECT count(*) AS n FROM content_templates")
            .await,
        1,
        "nothing half-written"
    );

    // Partial update: variables recomputed; an invalid update changes nothing.
    let (status, t) = app
        .put(
            &format!("/api/marketing/templates/{id}"),
            json!({"body": "{{ external_id }}", "html_body": null}),
        )
        .await;
    assert_eq!(status, 200, "{t}");
    assert_eq!(t["variables"], json!(["external_id", "name"]));
    assert_eq!(t["html_body"], Value::Null);
    assert_eq!(t["subject"], "{{ name }}，欢迎加入");
    let (status, _) = app
        .put(
            &format!("/api/marketing/templates/{id}"),
            json!({"body": "{{ oops"}),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        app.get(&format!("/api/marketing/templates/{id}")).await.1["body"],
        "{{ external_id }}"
    );

    create_template(
        &app,
        json!({"name": "sms one", "channel": "sms", "body": "Hi [客户姓名]"}),
    )
    .await;
    let (_, list) = app.get("/api/marketing/templates?channel=sms").await;
    assert_eq!(list["pagination"]["total"], 1);
    assert_eq!(list["templates"][0]["variables"], json!(["name"]));
    let (_, list) = app.get("/api/marketing/templates?page_size=1&page=2").await;
    assert_eq!(list["pagination"]["total"], 2);
    assert_eq!(list["templates"][0]["id"], id, "newest first");

    assert_eq!(
        app.delete(&format!("/api/marketing/templates/{id}"))
            .await
            .0,
        204
    );
    assert_eq!(
        app.get(&format!("/api/marketing/templates/{id}")).await.0,
        404
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_template_in_use_cannot_be_deleted_or_mismatched() {
    let app = spawn_app().await;
    let sms = create_template(
        &app,
        json!({"name": "sms", "channel": "sms", "body": "Hi [客户姓名]"}),
    )
    .await;
    let sms_id = sms["id"].as_str().unwrap();
    let email = create_template(&app, welcome_email()).await;

    // A campaign must name an existing template of its own channel.
    let mut body = campaign_body("uses template");
    body["content_template_id"] = email["id"].clone();
    let (status, err) = app.post("/api/marketing/campaigns", body.clone()).await;
    assert_eq!(status, 400);
    assert_eq!(err["error"]["field"], "content_template_id");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("is for email")
    );
    body["content_template_id"] = json!(uuid::Uuid::now_v7());
    let (status, err) = app.post("/api/marketing/campaigns", body.clone()).await;
    assert_eq!(
        (status, err["error"]["field"].clone()),
        (400, json!("content_template_id"))
    );

    body["content_template_id"] = json!(sms_id);
    let c = app.create_campaign(body).await;
    let (status, err) = app
        .delete(&format!("/api/marketing/templates/{sms_id}"))
        .await;
    assert_eq!(status, 409, "{err}");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains(c["id"].as_str().unwrap())
    );
    // Nor can its channel change under the campaign.
    let (status, _) = app
        .put(
            &format!("/api/marketing/templates/{sms_id}"),
            json!({"channel": "push_notification"}),
        )
        .await;
    assert_eq!(status, 409);

    // Once the campaign is archived the template can go.
    let (status, _) = app
        .post(
            &format!(
                "/api/marketing/campaigns/{}/archive",
                c["id"].as_str().unwrap()
            ),
            json!({}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        app.delete(&format!("/api/marketing/templates/{sms_id}"))
            .await
            .0,
        204
    );

    // A template used by one variant of an A/B test is in use too.
    let ab = create_template(
        &app,
        json!({"name": "B copy", "channel": "sms", "body": "B: [客户姓名]"}),
    )
    .await;
    let ab_id = ab["id"].as_str().unwrap();
    let mut body = campaign_body("A/B uses template");
    body["content"] = json!("");
    body["variants"] = json!([
        {"weight": 50, "content": "A: [客户姓名]"},
        {"weight": 50, "template_id": ab_id}
    ]);
    app.create_campaign(body).await;
    let (status, err) = app
        .delete(&format!("/api/marketing/templates/{ab_id}"))
        .await;
    assert_eq!(status, 409, "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn templates_over_grpc() {
    let app = spawn_app().await;
    let customer = customer(&app).await;
    let mut client = TemplateServiceClient::new(app.channel().await);
    let t = client
        .create_template(authed(pb::CreateTemplateRequest {
            name: "push".into(),
            channel: "push_notification".into(),
            subject: Some("{{ campaign.name }}".into()),
            body: "{{ name }}: {{ attributes.points }} points".into(),
            html_body: None,
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        t.variables,
        vec!["attributes.points", "campaign.name", "name"]
    );
    let err = client
        .create_template(authed(pb::CreateTemplateRequest {
            name: "bad".into(),
            channel: "sms".into(),
            body: "{{ nope }}".into(),
            ..Default::default()
        }))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(bad_field(&err).as_deref(), Some("body"));

    let updated = client
        .update_template(authed(pb::UpdateTemplateRequest {
            id: t.id.clone(),
            name: Some("push v2".into()),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(updated.name, "push v2");
    assert_eq!(updated.body, t.body);
    let list = client
        .list_templates(authed(pb::ListTemplatesRequest {
            channel: Some("push_notification".into()),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(list.templates.len(), 1);
    let preview = client
        .preview_template(authed(pb::PreviewTemplateRequest {
            id: t.id.clone(),
            customer_id: customer,
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        preview.body,
        format!(
            "<b>王五</b>: 12345 points\n\n退订：{}",
            preview_unsubscribe()
        )
    );
    assert_eq!(preview.subject, "push v2");
    client
        .delete_template(authed(pb::DeleteTemplateRequest { id: t.id.clone() }))
        .await
        .unwrap();
    let err = client
        .get_template(authed(pb::GetTemplateRequest { id: t.id }))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
}
