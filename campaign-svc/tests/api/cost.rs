//! Spend caps on campaigns (REST and gRPC), the dry run's cost estimate, and the cost settings
//! refused at start-up. Sending against a cap is tested with real workers in dispatch-worker's
//! `delivery::control::cost`.

use crm_proto::v1 as pb;
use crm_proto::v1::campaign_service_client::CampaignServiceClient;
use serde_json::json;
use testkit::{TestDb, TestQueues, authed, bad_field, campaign_body, spawn_app, spawn_app_with};
use tonic::Code;

#[tokio::test(flavor = "multi_thread")]
async fn spend_caps_are_exact_decimals_set_changed_and_cleared_over_rest() {
    let app = spawn_app().await;
    let mut body = campaign_body("capped");
    body["spend_cap"] = json!("500.05");
    let c = app.create_campaign(body).await;
    assert_eq!(c["spend_cap"], "500.05", "{c}");
    let id = c["id"].as_str().unwrap();
    // A JSON number is read as the decimal it was written as, not as a float.
    let (status, c) = app
        .put(
            &format!("/api/marketing/campaigns/{id}"),
            json!({"spend_cap": 0.1}),
        )
        .await;
    assert_eq!(status, 200, "{c}");
    assert_eq!(c["spend_cap"], "0.1");
    let (_, c) = app.get(&format!("/api/marketing/campaigns/{id}")).await;
    assert_eq!(c["spend_cap"], "0.1", "stored exactly");
    let (status, c) = app
        .put(
            &format!("/api/marketing/campaigns/{id}"),
            json!({"name": "renamed"}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(c["spend_cap"], "0.1", "an update without it keeps it");
    let (status, c) = app
        .put(
            &format!("/api/marketing/campaigns/{id}"),
            json!({"spend_cap": null}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(c["spend_cap"], serde_json::Value::Null, "null clears it");
    let plain = app.create_campaign(campaign_body("uncapped")).await;
    assert_eq!(plain["spend_cap"], serde_json::Value::Null);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_spend_caps_are_400_naming_the_field() {
    let app = spawn_app().await;
    let c = app.create_campaign(campaign_body("capped")).await;
    let id = c["id"].as_str().unwrap();
    for bad in [
        json!("0"),
        json!(0),
        json!("-5"),
        json!(-5),
        json!("abc"),
        json!(""),
        json!("1e3"),
        json!("0.0000001"),
        json!("99999999999"),
        json!(true),
        json!({"amount": 5}),
    ] {
        let mut body = campaign_body("bad cap");
        body["spend_cap"] = bad.clone();
        let (status, e) = app.post("/api/marketing/campaigns", body).await;
        assert_eq!(status, 400, "{bad}: {e}");
        assert_eq!(e["error"]["field"], "spend_cap", "{bad}: {e}");
        let (status, e) = app
            .put(
                &format!("/api/marketing/campaigns/{id}"),
                json!({"spend_cap": bad}),
            )
            .await;
        assert_eq!(status, 400, "{e}");
        assert_eq!(e["error"]["field"], "spend_cap", "{e}");
    }
    let (_, c) = app.get(&format!("/api/marketing/campaigns/{id}")).await;
    assert_eq!(c["spend_cap"], serde_json::Value::Null, "nothing changed");
}

#[tokio::test(flavor = "multi_thread")]
async fn spend_caps_over_grpc() {
    let app = spawn_app().await;
    let mut client = CampaignServiceClient::new(app.channel().await);
    let request = |cap: &str| pb::CreateCampaignRequest {
        name: "grpc capped".into(),
        r#type: "sms".into(),
        target_tags: vec!["VIP".into()],
        content: "Hello {{name}}".into(),
        spend_cap: Some(cap.into()),
        ..Default::default()
    };
    let c = client
        .create_campaign(authed(request("12.345")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(c.spend_cap.as_deref(), Some("12.345"));
    for bad in ["0", "-1", "x", "1.0000001"] {
        let err = client
            .create_campaign(authed(request(bad)))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{bad}");
        assert_eq!(bad_field(&err).as_deref(), Some("spend_cap"), "{bad}");
    }
    let updated = client
        .update_campaign(authed(pb::UpdateCampaignRequest {
            id: c.id.clone(),
            spend_cap: Some("7".into()),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(updated.spend_cap.as_deref(), Some("7"));
    let cleared = client
        .update_campaign(authed(pb::UpdateCampaignRequest {
            id: c.id.clone(),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["spend_cap".into()],
            }),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        cleared.spend_cap, None,
        "listed in the mask and absent: cleared"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_dry_run_estimates_the_cost_at_the_primary_price() {
    let app = spawn_app_with(TestDb::new(), TestQueues::new(), |c| {
        c.cost.message_costs =
            marketing_core::cost::MessageCosts::parse("sms:aliyun=0.045,sms:tencent=0.05").unwrap();
        c.cost.cost_currency = marketing_core::cost::Currency::parse("USD").unwrap();
        c.primaries.sms_provider = "aliyun".into();
    })
    .await;
    let customers: Vec<_> = (0..7)
        .map(|i| json!({"external_id": format!("c{i}"), "name": "客户", "phone": format!("+86138001380{i:02}"), "tags": ["VIP"]}))
        .collect();
    let (status, out) = app
        .post(
            "/api/marketing/customers/bulk",
            json!({"customers": customers}),
        )
        .await;
    assert_eq!(status, 200, "{out}");
    let mut body = campaign_body("estimated");
    body["type"] = json!("sms");
    body["spend_cap"] = json!("0.2");
    let c = app.create_campaign(body).await;
    let execution = app.simulate(c["id"].as_str().unwrap()).await;
    assert_eq!(execution["planned"], 7, "{execution}");
    assert_eq!(
        execution["cost_estimate"],
        json!({
            "currency": "USD",
            "provider": "aliyun",
            "price": "0.045",
            "messages": 7,
            "cost": "0.315",
            "spend_cap": "0.2",
            "spend_cap_left": "0.2",
            "messages_within_cap": 4,
        }),
        "{execution}"
    );
    // Over gRPC too.
    let mut client = CampaignServiceClient::new(app.channel().await);
    let e = client
        .get_execution(authed(pb::GetExecutionRequest {
            id: execution["id"].as_str().unwrap().into(),
        }))
        .await
        .unwrap()
        .into_inner();
    let estimate = e.cost_estimate.expect("an estimate");
    assert_eq!(
        (estimate.cost.as_str(), estimate.messages_within_cap),
        ("0.315", Some(4))
    );
    // Without a cap: the estimate alone.
    let plain = app.create_campaign({
        let mut b = campaign_body("uncapped");
        b["type"] = json!("sms");
        b
    });
    let execution = app.simulate(plain.await["id"].as_str().unwrap()).await;
    assert_eq!(execution["cost_estimate"]["cost"], "0.315");
    assert_eq!(
        execution["cost_estimate"]["spend_cap_left"],
        serde_json::Value::Null
    );
}

/// Runs the campaign-svc binary with `env` and returns what it printed, once it exited.
fn refused(env: &[(&str, &str)]) -> String {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_campaign-svc"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    for (k, v) in env {
        command.env(k, v);
    }
    let out = command.output().expect("campaign-svc runs");
    assert!(!out.status.success(), "it refuses to start");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn bad_cost_settings_stop_the_service_naming_the_setting() {
    let err = refused(&[("MESSAGE_COSTS", "sms:aliyun=0.04.5")]);
    assert!(
        err.contains("MESSAGE_COSTS entry `sms:aliyun=0.04.5`"),
        "{err}"
    );
    let err = refused(&[("MESSAGE_COSTS", "fax:aliyun=0.1")]);
    assert!(
        err.contains("MESSAGE_COSTS entry `fax:aliyun=0.1`"),
        "{err}"
    );
    let err = refused(&[("COST_CURRENCY", "yuan")]);
    assert!(err.contains("COST_CURRENCY"), "{err}");
}
