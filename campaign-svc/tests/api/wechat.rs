//! The `wechat` channel in campaign-svc: customers carry a WeChat `openid` (REST and gRPC,
//! erased with the customer), a dry run skips customers without one, opt-outs and templates
//! accept the channel, and the official account's event pushes are verified by WeChat's
//! `signature`: the URL handshake echoes `echostr`, `unsubscribe` opts the follower out,
//! `TEMPLATESENDJOBFINISH` moves the record with that msgid, and a bad signature changes nothing.

use crm_proto::v1 as pb;
use crm_proto::v1::customer_service_client::CustomerServiceClient;
use serde_json::{Value, json};
use testkit::vendors::wechat::{job_finish_event, signed_query, unsubscribe_event};
use testkit::{TestApp, TestDb, TestQueues, authed, bad_field, spawn_app, spawn_app_with};

use crate::reached::{record, sent_campaign, totals};

const WECHAT_TOKEN: &str = "wechat-server-token";
const PUSH: &str = "/webhooks/wechat/official-account";

async fn app_with_wechat() -> TestApp {
    spawn_app_with(TestDb::new(), TestQueues::new(), |c| {
        c.callbacks.wechat_callback_token = Some(WECHAT_TOKEN.into());
    })
    .await
}

fn openid(i: usize) -> String {
    format!("oWx-follower-{i:015}")
}

/// `n` customers tagged `tag`, the first `with_openid` of them following the account.
async fn followers(app: &TestApp, tag: &str, n: usize, with_openid: usize) -> Vec<String> {
    let batch: Vec<Value> = (0..n)
        .map(|i| {
            let mut c = json!({"external_id": format!("{tag}-{i}"), "name": format!("客户{i}"),
                               "tags": [tag]});
            if i < with_openid {
                c["wechat_openid"] = json!(openid(i));
            }
            c
        })
        .collect();
    let (status, out) = app
        .post("/api/marketing/customers/bulk", json!({"customers": batch}))
        .await;
    assert_eq!(status, 200, "{out}");
    out["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

async fn push(app: &TestApp, query: &str, xml: String) -> (u16, String) {
    let resp = app
        .http
        .post(app.url(&format!("{PUSH}?{query}")))
        .header("content-type", "text/xml")
        .body(xml)
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

async fn opt_outs(app: &TestApp, customer: &str) -> Value {
    app.get(&format!("/api/marketing/customers/{customer}"))
        .await
        .1["opt_outs"]
        .clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn customers_carry_an_openid_over_rest_and_grpc_and_erasure_removes_it() {
    let app = spawn_app().await;
    let (status, c) = app
        .post(
            "/api/marketing/customers",
            json!({"external_id": "wx-1", "wechat_openid": " o6_bmjrPTlm6_2sgVt7hMZOPfL2M "}),
        )
        .await;
    assert_eq!(status, 201, "{c}");
    assert_eq!(c["wechat_openid"], "o6_bmjrPTlm6_2sgVt7hMZOPfL2M");
    let (status, err) = app
        .post(
            "/api/marketing/customers/bulk",
            json!({"customers": [{"external_id": "wx-2"},
                                 {"external_id": "wx-3", "wechat_openid": "not an openid!"}]}),
        )
        .await;
    assert_eq!(status, 400, "{err}");
    assert_eq!(err["error"]["field"], "customers[1].wechat_openid");

    let mut grpc = CustomerServiceClient::new(app.channel().await);
    let bulk = grpc
        .bulk_upsert_customers(authed(pb::BulkUpsertCustomersRequest {
            customers: vec![pb::CustomerInput {
                external_id: "wx-g".into(),
                wechat_openid: Some("oGrpc0123456789".into()),
                ..Default::default()
            }],
        }))
        .await
        .unwrap()
        .into_inner();
    let got = grpc
        .get_customer(authed(pb::GetCustomerRequest {
            id: bulk.ids[0].clone(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.wechat_openid.as_deref(), Some("oGrpc0123456789"));
    let err = grpc
        .bulk_upsert_customers(authed(pb::BulkUpsertCustomersRequest {
            customers: vec![pb::CustomerInput {
                external_id: "wx-h".into(),
                wechat_openid: Some("o".repeat(65)),
                ..Default::default()
            }],
        }))
        .await
        .unwrap_err();
    assert_eq!(
        bad_field(&err).as_deref(),
        Some("customers[0].wechat_openid")
    );

    let path = format!("/api/marketing/customers/{}", c["id"].as_str().unwrap());
    assert_eq!(app.call(reqwest::Method::DELETE, &path, None).await.0, 204);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM customers WHERE wechat_openid IS NOT NULL")
            .await,
        1,
        "only the gRPC customer keeps an openid"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dry_run_skips_customers_without_an_openid_and_shows_the_template_text() {
    let app = spawn_app().await;
    followers(&app, "wx", 5, 3).await;
    let campaign = app
        .create_campaign(json!({
            "name": "双11 微信", "type": "wechat", "target_tags": ["wx"],
            "content": "{{ name }}，双11 五折：https://shop.example/d11",
        }))
        .await;
    assert_eq!(campaign["type"], "wechat");
    let e = app.simulate(campaign["id"].as_str().unwrap()).await;
    assert_eq!(e["planned"], 3, "{e}");
    assert_eq!(
        e["skipped"],
        json!({"opted_out": 0, "no_address": 2, "frequency_capped": 0})
    );
    let sample = &e["samples"][0];
    let body = sample.to_string();
    assert!(body.contains(&openid(0)), "sent to the openid: {sample}");
    assert!(body.contains("/t/c/"), "the link is tracked: {sample}");
    assert!(
        !body.contains("退订"),
        "no unsubscribe line in a template message: {sample}"
    );
    assert_eq!(
        app.count("SELECT count(*) AS n FROM marketing_record")
            .await,
        0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn templates_opt_outs_and_list_filters_take_the_channel() {
    let app = spawn_app().await;
    let ids = followers(&app, "wx", 1, 1).await;
    let (status, t) = app
        .post(
            "/api/marketing/templates",
            json!({"name": "会员通知", "channel": "wechat", "body": "{{ name }} 您好"}),
        )
        .await;
    assert_eq!(status, 201, "{t}");
    assert_eq!(t["channel"], "wechat");
    let (status, err) = app
        .post(
            "/api/marketing/templates",
            json!({"name": "x", "channel": "wechat", "subject": "标题", "body": "hi"}),
        )
        .await;
    assert_eq!(
        (status, err["error"]["field"].clone()),
        (400, json!("subject"))
    );
    let path = format!("/api/marketing/customers/{}/opt-outs", ids[0]);
    let (status, o) = app.post(&path, json!({"channel": "wechat"})).await;
    assert_eq!((status, o["channel"].clone()), (201, json!("wechat")));
    assert_eq!(opt_outs(&app, &ids[0]).await, json!(["wechat"]));
    app.create_campaign(json!({"name": "w", "type": "wechat", "target_tags": ["wx"],
                               "content": "hi"}))
        .await;
    let (status, list) = app.get("/api/marketing/campaigns?type=wechat").await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["pagination"]["total"], 1);
    let (status, err) = app
        .post(
            "/api/marketing/campaigns",
            json!({"name": "x", "type": "wexin", "target_tags": ["wx"], "content": "hi"}),
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        err["error"]["message"].as_str().unwrap().contains("wechat"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_url_handshake_echoes_echostr_once_the_signature_checks_out() {
    let app = app_with_wechat().await;
    let q = signed_query(WECHAT_TOKEN, None);
    let resp = app
        .http
        .get(app.url(&format!("{PUSH}?{q}&echostr=5837397520521790000")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), "5837397520521790000");
    let wrong = signed_query("not-the-token", None);
    let resp = app
        .http
        .get(app.url(&format!("{PUSH}?{wrong}&echostr=1")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    // Unconfigured: every call refused.
    let bare = spawn_app().await;
    let resp = bare
        .http
        .get(bare.url(&format!("{PUSH}?{q}&echostr=1")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unsubscribe_push_opts_the_follower_out_of_wechat_only() {
    let app = app_with_wechat().await;
    let ids = followers(&app, "wx", 2, 2).await;
    let event = unsubscribe_event(&openid(0));

    for bad in [
        signed_query("not-the-token", Some(&openid(0))),
        "timestamp=1&nonce=2".to_owned(),
    ] {
        let (status, body) = push(&app, &bad, event.clone()).await;
        assert_eq!(status, 401, "{body}");
    }
    assert_eq!(opt_outs(&app, &ids[0]).await, json!([]), "nothing written");

    let q = signed_query(WECHAT_TOKEN, Some(&openid(0)));
    assert_eq!(
        push(&app, &q, event.clone()).await,
        (200, "success".to_owned())
    );
    assert_eq!(opt_outs(&app, &ids[0]).await, json!(["wechat"]));
    assert_eq!(opt_outs(&app, &ids[1]).await, json!([]));
    // WeChat pushes again when it did not see the answer: still one opt-out.
    assert_eq!(push(&app, &q, event).await.0, 200);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM customer_opt_outs")
            .await,
        1
    );
    let (status, body) = push(&app, &q, "<html>not a push</html>".into()).await;
    assert_eq!(status, 400, "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn templatesendjobfinish_moves_the_record_with_that_msgid_once() {
    let app = app_with_wechat().await;
    followers(&app, "wx", 3, 3).await;
    let (campaign, records) = sent_campaign(&app, "wechat", "wx", "1 minute").await;
    for (i, (rec, _)) in records.iter().enumerate() {
        app.sql(&format!(
            "UPDATE marketing_record SET provider_message_id = '20016383{i}' WHERE id = '{rec}'"
        ))
        .await;
    }
    let q = signed_query(WECHAT_TOKEN, None);
    let delivered = job_finish_event(&openid(0), "200163830", "success");
    let blocked = job_finish_event(&openid(1), "200163831", "failed:user block");

    let (status, _) = push(&app, &signed_query("guess", None), delivered.clone()).await;
    assert_eq!(status, 401);
    assert_eq!(
        record(&app, &campaign, &records[0].0).await["status"],
        "sent"
    );

    assert_eq!(
        push(&app, &q, delivered.clone()).await,
        (200, "success".into())
    );
    assert_eq!(push(&app, &q, blocked).await.0, 200);
    assert_eq!(push(&app, &q, delivered).await.0, 200, "a repeat");
    let r0 = record(&app, &campaign, &records[0].0).await;
    assert_eq!(r0["status"], "delivered");
    let r1 = record(&app, &campaign, &records[1].0).await;
    assert_eq!(r1["status"], "failed");
    assert_eq!(r1["error_message"], "not delivered: failed:user block");
    assert_eq!(
        record(&app, &campaign, &records[2].0).await["status"],
        "sent"
    );
    let t = totals(&app, &campaign).await;
    assert_eq!(
        (t["delivered"].clone(), t["failed"].clone()),
        (json!(1), json!(1))
    );
}
