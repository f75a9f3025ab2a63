//! A NUL character (U+0000) anywhere in a stored string: PostgreSQL cannot store one, so both
//! APIs refuse it at the edge as 400 / INVALID_ARGUMENT naming the field, and write nothing.

use crm_proto::v1 as pb;
use crm_proto::v1::campaign_service_client::CampaignServiceClient;
use crm_proto::v1::conversion_service_client::ConversionServiceClient;
use crm_proto::v1::customer_service_client::CustomerServiceClient;
use crm_proto::v1::segment_service_client::SegmentServiceClient;
use crm_proto::v1::template_service_client::TemplateServiceClient;
use serde_json::{Value, json};
use tonic::Code;

use testkit::{TestApp, authed, bad_field, campaign_body, spawn_app};

const NUL: &str = "a\u{0}b";

async fn rows(app: &TestApp) -> i64 {
    app.count(
        "SELECT (SELECT count(*) FROM marketing_campaign) + (SELECT count(*) FROM customers)
              + (SELECT count(*) FROM content_templates) + (SELECT count(*) FROM segments)
              + (SELECT count(*) FROM conversions) AS n",
    )
    .await
}

fn assert_refused(status: u16, err: &Value, field: &str, what: &str) {
    assert_eq!(status, 400, "{what}: {err}");
    assert_eq!(err["error"]["code"], "invalid_argument", "{what}: {err}");
    assert_eq!(err["error"]["field"], field, "{what}: {err}");
    assert!(
        err["error"]["message"].as_str().unwrap().contains("NUL"),
        "{what}: {err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn rest_refuses_nul_in_every_stored_string_naming_the_field() {
    let app = spawn_app().await;
    let (_, customer) = app
        .post(
            "/api/marketing/customers",
            json!({"external_id": "c1", "phone": "+8613800000001", "tags": ["VIP"]}),
        )
        .await;
    let campaign = app.create_campaign(campaign_body("ok")).await;
    let before = rows(&app).await;
    let with = |base: Value, key: &str, value: Value| {
        let mut b = base;
        b[key] = value;
        b
    };
    let cases: Vec<(&str, &str, Value, &str)> = vec![
        (
            "POST",
            "/api/marketing/campaigns",
            with(campaign_body("x"), "name", json!(NUL)),
            "name",
        ),
        (
            "POST",
            "/api/marketing/campaigns",
            with(campaign_body("x"), "content", json!(NUL)),
            "content",
        ),
        (
            "POST",
            "/api/marketing/campaigns",
            with(campaign_body("x"), "target_tags", json!(["VIP", NUL])),
            "target_tags[1]",
        ),
        ("PUT", "campaign", json!({"name": NUL}), "name"),
        (
            "POST",
            "/api/marketing/customers",
            json!({"external_id": NUL}),
            "external_id",
        ),
        (
            "POST",
            "/api/marketing/customers",
            json!({"external_id": "c2", "name": NUL}),
            "name",
        ),
        (
            "POST",
            "/api/marketing/customers",
            json!({"external_id": "c2", "attributes": {"city": NUL}}),
            "attributes.city",
        ),
        (
            "POST",
            "/api/marketing/customers",
            json!({"external_id": "c2", "attributes": {"a\u{0}": 1}}),
            "attributes",
        ),
        (
            "POST",
            "/api/marketing/customers/bulk",
            json!({"customers": [{"external_id": "c3"}, {"external_id": "c4", "tags": ["x", NUL]}]}),
            "customers[1].tags[1]",
        ),
        (
            "POST",
            "/api/marketing/templates",
            json!({"name": "t", "channel": "sms", "body": NUL}),
            "body",
        ),
        (
            "POST",
            "/api/marketing/segments",
            json!({"name": NUL, "rule": {"tag": "VIP"}}),
            "name",
        ),
        (
            "POST",
            "/api/marketing/conversions",
            json!({"customer_id": customer["id"], "kind": NUL}),
            "kind",
        ),
        (
            "POST",
            "/api/marketing/conversions",
            json!({"customer_id": customer["id"], "external_id": NUL}),
            "external_id",
        ),
    ];
    for (method, path, body, field) in cases {
        let path = if path == "campaign" {
            format!(
                "/api/marketing/campaigns/{}",
                campaign["id"].as_str().unwrap()
            )
        } else {
            path.to_owned()
        };
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let (status, err) = app.call(method, &path, Some(body.clone())).await;
        assert_refused(status, &err, field, &format!("{path} {body}"));
    }
    // List filters.
    for path in [
        "/api/marketing/campaigns?name=%00",
        "/api/marketing/templates?name=a%00",
        "/api/marketing/segments?name=%00",
        "/api/marketing/campaigns?status=%00",
    ] {
        let (status, err) = app.get(path).await;
        let field = path.split('?').nth(1).unwrap().split('=').next().unwrap();
        assert_refused(status, &err, field, path);
    }
    let (status, err) = app
        .get(&format!(
            "/api/marketing/records?campaign_id={}&status=%00",
            campaign["id"].as_str().unwrap()
        ))
        .await;
    assert_refused(status, &err, "status", "records filter");
    assert_eq!(rows(&app).await, before, "nothing was written");
    let (_, c) = app
        .get(&format!(
            "/api/marketing/campaigns/{}",
            campaign["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(c["name"], "ok");
}

#[tokio::test(flavor = "multi_thread")]
async fn grpc_refuses_nul_in_every_stored_string_naming_the_field() {
    let app = spawn_app().await;
    let channel = app.channel().await;
    let invalid = |status: tonic::Status, field: &str| {
        assert_eq!(status.code(), Code::InvalidArgument, "{field}: {status:?}");
        assert_eq!(bad_field(&status).as_deref(), Some(field), "{status:?}");
        assert!(status.message().contains("NUL"), "{status:?}");
    };
    let mut campaigns = CampaignServiceClient::new(channel.clone());
    let err = campaigns
        .create_campaign(authed(pb::CreateCampaignRequest {
            name: NUL.into(),
            r#type: "sms".into(),
            target_tags: vec!["VIP".into()],
            content: "hi".into(),
            ..Default::default()
        }))
        .await
        .unwrap_err();
    invalid(err, "name");
    let err = campaigns
        .list_campaigns(authed(pb::ListCampaignsRequest {
            name: Some(NUL.into()),
            ..Default::default()
        }))
        .await
        .unwrap_err();
    invalid(err, "name");

    let mut attributes = prost_types::Struct::default();
    attributes.fields.insert(
        "address".into(),
        prost_types::Value {
            kind: Some(prost_types::value::Kind::StructValue(prost_types::Struct {
                fields: [(
                    "city".to_owned(),
                    prost_types::Value {
                        kind: Some(prost_types::value::Kind::StringValue(NUL.into())),
                    },
                )]
                .into(),
            })),
        },
    );
    let mut customers = CustomerServiceClient::new(channel.clone());
    let err = customers
        .bulk_upsert_customers(authed(pb::BulkUpsertCustomersRequest {
            customers: vec![
                pb::CustomerInput {
                    external_id: "g1".into(),
                    ..Default::default()
                },
                pb::CustomerInput {
                    external_id: "g2".into(),
                    attributes: Some(attributes),
                    ..Default::default()
                },
            ],
        }))
        .await
        .unwrap_err();
    invalid(err, "customers[1].attributes.address.city");
    let err = customers
        .upsert_customer(authed(pb::CustomerInput {
            external_id: NUL.into(),
            ..Default::default()
        }))
        .await
        .unwrap_err();
    invalid(err, "external_id");

    let err = TemplateServiceClient::new(channel.clone())
        .create_template(authed(pb::CreateTemplateRequest {
            name: "t".into(),
            channel: "sms".into(),
            body: NUL.into(),
            ..Default::default()
        }))
        .await
        .unwrap_err();
    invalid(err, "body");
    let err = SegmentServiceClient::new(channel.clone())
        .create_segment(authed(pb::CreateSegmentRequest {
            name: NUL.into(),
            ..Default::default()
        }))
        .await
        .unwrap_err();
    invalid(err, "name");
    let err = ConversionServiceClient::new(channel)
        .report_conversion(authed(pb::ReportConversionRequest {
            customer_id: uuid::Uuid::nil().to_string(),
            kind: Some(NUL.into()),
            ..Default::default()
        }))
        .await
        .unwrap_err();
    invalid(err, "kind");
    assert_eq!(rows(&app).await, 0, "nothing was written");
}
