//! Segments through REST and gRPC: rules checked when saved (errors name the bad node), counted,
//! used as a campaign's audience (alone or with tags), protected while in use.

use crm_proto::v1 as pb;
use crm_proto::v1::segment_service_client::SegmentServiceClient;
use serde_json::{Value, json};
use tonic::Code;

use testkit::{TestApp, authed, bad_field, campaign_body, spawn_app};

/// Eight customers; returns their ids by external id order.
async fn population(app: &TestApp) -> Vec<String> {
    let customers = json!({"customers": [
        {"external_id": "sh-vip", "phone": "+8613800000001", "tags": ["VIP"], "locale": "zh-CN",
         "birthday": "1990-06-15", "attributes": {"city": "上海", "points": 5000}},
        {"external_id": "sh", "phone": "+8613800000002", "tags": [], "locale": "zh-CN",
         "attributes": {"city": "上海", "points": 100}},
        {"external_id": "bj-vip", "phone": "+8613800000003", "tags": ["VIP"], "locale": "zh-TW",
         "birthday": "1985-06-01", "attributes": {"city": "北京", "points": 9000}},
        {"external_id": "en", "phone": "+8613800000004", "tags": ["VIP"], "locale": "en-US",
         "birthday": "1970-01-20", "attributes": {"city": "London", "points": "lots"}},
        {"external_id": "none", "phone": "+8613800000005", "tags": ["新用户"]},
        {"external_id": "no-phone", "email": "x@example.com", "tags": ["VIP"],
         "attributes": {"city": "上海", "points": 7000}},
        {"external_id": "sh-out", "phone": "+8613800000007", "tags": ["VIP"],
         "attributes": {"city": "上海", "points": 8000}},
        {"external_id": "gz", "phone": "+8613800000008", "tags": ["VIP"], "locale": "zh-CN",
         "attributes": {"city": "广州", "points": 3000, "interests": ["tea", "golf"]}}
    ]});
    let (status, out) = app.post("/api/marketing/customers/bulk", customers).await;
    assert_eq!(status, 200, "{out}");
    let ids: Vec<String> = out["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    app.post(
        &format!("/api/marketing/customers/{}/opt-outs", ids[6]),
        json!({"channel": "sms"}),
    )
    .await;
    ids
}

async fn create_segment(app: &TestApp, name: &str, rule: Value) -> Value {
    let (status, s) = app
        .post(
            "/api/marketing/segments",
            json!({"name": name, "description": "test", "rule": rule}),
        )
        .await;
    assert_eq!(status, 201, "{s}");
    s
}

/// Shanghai customers with at least 1000 points, or anyone born in June.
fn rule() -> Value {
    json!({"or": [
        {"and": [
            {"attribute": "city", "op": "=", "value": "上海"},
            {"attribute": "points", "op": ">=", "value": 1000}
        ]},
        {"field": "birthday_month", "op": "=", "value": 6}
    ]})
}

#[tokio::test(flavor = "multi_thread")]
async fn segments_are_checked_counted_and_become_a_campaigns_audience() {
    let app = spawn_app().await;
    let ids = population(&app).await;
    let s = create_segment(&app, "上海高积分或六月生日", rule()).await;
    let sid = s["id"].as_str().unwrap();
    assert_eq!(s["rule"], rule());

    // Matches sh-vip, bj-vip (June), no-phone, sh-out: 4 customers.
    let (status, n) = app
        .get(&format!("/api/marketing/segments/{sid}/count"))
        .await;
    assert_eq!((status, n["count"].clone()), (200, json!(4)), "{n}");
    let (_, n) = app
        .post(
            "/api/marketing/segments/count",
            json!({"rule": {"not": {"field": "locale", "op": "prefix", "value": "zh"}}}),
        )
        .await;
    assert_eq!(n["count"], 4, "en, none, no-phone, sh-out: {n}");
    let (_, n) = app
        .post(
            "/api/marketing/segments/count",
            json!({"rule": {"attribute": "interests", "op": "contains", "value": "golf"}}),
        )
        .await;
    assert_eq!(n["count"], 1);

    // A segment alone is an audience: the 4 matches minus no phone and opted out = 2.
    let mut body = campaign_body("segment only");
    body["target_tags"] = json!([]);
    body["target_segment_id"] = json!(sid);
    let c = app.create_campaign(body).await;
    let cid = c["id"].as_str().unwrap();
    let e = app.simulate(cid).await;
    assert_eq!(e["planned"], 2, "{e}");
    assert_eq!(
        e["skipped"],
        json!({"opted_out": 1, "no_address": 1, "frequency_capped": 0})
    );
    let (status, t) = app
        .post(
            &format!("/api/marketing/campaigns/{cid}/trigger"),
            json!({}),
        )
        .await;
    assert_eq!(status, 202, "{t}");
    crate::frozen(&app, t["execution_id"].as_str().unwrap()).await;
    let (_, records) = app
        .get(&format!("/api/marketing/records?campaign_id={cid}"))
        .await;
    let mut got: Vec<&str> = records["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["customer_id"].as_str().unwrap())
        .collect();
    got.sort_unstable();
    let mut want = vec![ids[0].as_str(), ids[2].as_str()];
    want.sort_unstable();
    assert_eq!(got, want);

    // Tags and segment together: both must hold. 新用户 ∩ segment = nobody; VIP ∩ = 2.
    let mut body = campaign_body("both");
    body["target_tags"] = json!(["新用户"]);
    body["target_segment_id"] = json!(sid);
    let c2 = app.create_campaign(body).await;
    let (_, preview) = app
        .post(
            &format!(
                "/api/marketing/campaigns/{}/preview",
                c2["id"].as_str().unwrap()
            ),
            json!({"limit": 10}),
        )
        .await;
    assert_eq!(preview["previews"], json!([]));

    // In use: not deletable until the campaigns are archived (the active one must complete).
    let (status, err) = app.delete(&format!("/api/marketing/segments/{sid}")).await;
    assert_eq!(status, 409, "{err}");
    let s2 = create_segment(&app, "unused", json!({"tag": "VIP"})).await;
    let s2id = s2["id"].as_str().unwrap();
    let (status, updated) = app
        .put(
            &format!("/api/marketing/segments/{s2id}"),
            json!({"rule": {"tags_all": ["VIP", "新用户"]}}),
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["name"], "unused");
    let (_, n) = app
        .get(&format!("/api/marketing/segments/{s2id}/count"))
        .await;
    assert_eq!(n["count"], 0);
    let (_, list) = app.get("/api/marketing/segments?name=unu").await;
    assert_eq!(list["pagination"]["total"], 1);
    assert_eq!(
        app.delete(&format!("/api/marketing/segments/{s2id}"))
            .await
            .0,
        204
    );
    assert_eq!(
        app.get(&format!("/api/marketing/segments/{s2id}")).await.0,
        404
    );

    // A campaign naming a segment that does not exist is refused.
    let mut body = campaign_body("ghost");
    body["target_segment_id"] = json!(uuid::Uuid::now_v7());
    let (status, err) = app.post("/api/marketing/campaigns", body).await;
    assert_eq!(
        (status, err["error"]["field"].clone()),
        (400, json!("target_segment_id"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_rules_name_the_path_of_the_bad_node() {
    let app = spawn_app().await;
    let cases = [
        (
            json!({"and": [{"tag": "a"}, {"attribute": "x", "op": "~", "value": 1}]}),
            "rule.and[1].op",
        ),
        (json!({"or": []}), "rule.or"),
        (
            json!({"not": {"field": "birthday_month", "op": "=", "value": 13}}),
            "rule.not.value",
        ),
        (json!({"tag": "a", "extra": 1}), "rule"),
        (
            json!({"engagement": "opened", "campaign_id": "nope", "within_days": 3}),
            "rule.campaign_id",
        ),
        (json!([1, 2]), "rule"),
    ];
    for (rule, path) in cases {
        let (status, err) = app
            .post(
                "/api/marketing/segments",
                json!({"name": "bad", "rule": rule}),
            )
            .await;
        assert_eq!(status, 400, "{rule}: {err}");
        let field = err["error"]["field"].as_str().unwrap();
        assert!(
            field.starts_with(path),
            "{rule}: {field} should start with {path}"
        );
        let (status, err2) = app
            .post("/api/marketing/segments/count", json!({"rule": rule}))
            .await;
        assert_eq!(
            (status, &err2["error"]["field"]),
            (400, &err["error"]["field"])
        );
    }
    let (status, err) = app
        .post("/api/marketing/segments", json!({"name": "no rule"}))
        .await;
    assert_eq!(
        (status, err["error"]["field"].clone()),
        (400, json!("rule"))
    );
    assert_eq!(app.count("SELECT count(*) AS n FROM segments").await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn segments_over_grpc() {
    let app = spawn_app().await;
    population(&app).await;
    let mut client = SegmentServiceClient::new(app.channel().await);
    let to_struct = |v: Value| match v {
        Value::Object(o) => prost_types::Struct {
            fields: o.into_iter().map(|(k, v)| (k, json_value(v))).collect(),
        },
        _ => unreachable!("rules are objects"),
    };
    let s = client
        .create_segment(authed(pb::CreateSegmentRequest {
            name: "grpc".into(),
            description: String::new(),
            rule: Some(to_struct(rule())),
        }))
        .await
        .unwrap()
        .into_inner();
    let n = client
        .count_segment(authed(pb::CountSegmentRequest {
            target: Some(pb::count_segment_request::Target::Id(s.id.clone())),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(n.count, 4);
    let n = client
        .count_segment(authed(pb::CountSegmentRequest {
            target: Some(pb::count_segment_request::Target::Rule(to_struct(
                json!({"field": "birthday_month", "op": "in", "value": [1, 6]}),
            ))),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(n.count, 3);
    let err = client
        .create_segment(authed(pb::CreateSegmentRequest {
            name: "bad".into(),
            description: String::new(),
            rule: Some(to_struct(json!({"and": [{"tag": ""}]}))),
        }))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(bad_field(&err).as_deref(), Some("rule.and[0].tag"));
    client
        .delete_segment(authed(pb::DeleteSegmentRequest { id: s.id.clone() }))
        .await
        .unwrap();
    let err = client
        .get_segment(authed(pb::GetSegmentRequest { id: s.id }))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
}

fn json_value(v: Value) -> prost_types::Value {
    use prost_types::value::Kind;
    let kind = match v {
        Value::Null => Kind::NullValue(0),
        Value::Bool(b) => Kind::BoolValue(b),
        Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or_default()),
        Value::String(s) => Kind::StringValue(s),
        Value::Array(a) => Kind::ListValue(prost_types::ListValue {
            values: a.into_iter().map(json_value).collect(),
        }),
        Value::Object(o) => Kind::StructValue(prost_types::Struct {
            fields: o.into_iter().map(|(k, v)| (k, json_value(v))).collect(),
        }),
    };
    prost_types::Value { kind: Some(kind) }
}

#[tokio::test(flavor = "multi_thread")]
async fn large_rules_count_or_are_refused_naming_the_limit() {
    let app = spawn_app().await;
    population(&app).await;
    // 70 `in` lists of 1,000 values each (70,000 values, within every per-node limit): one
    // bind parameter per list, so PostgreSQL's 65,535-parameter limit is never reached.
    let cities: Vec<String> = (0..999)
        .map(|i| format!("city-{i}"))
        .chain(["上海".to_owned()])
        .collect();
    let ins: Vec<Value> = (0..70)
        .map(|_| json!({"attribute": "city", "op": "in", "value": cities}))
        .collect();
    let (status, out) = app
        .post(
            "/api/marketing/segments/count",
            json!({"rule": {"and": ins}}),
        )
        .await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["count"], 4, "the four customers in 上海");
    // Over the budget of nodes: 400 naming the limit, on count and on save alike.
    let leaf = json!({"tag": "VIP"});
    let groups: Vec<Value> = (0..21)
        .map(|_| json!({"or": vec![leaf.clone(); 100]}))
        .collect();
    for (path, body) in [
        (
            "/api/marketing/segments/count",
            json!({"rule": {"and": groups}}),
        ),
        (
            "/api/marketing/segments",
            json!({"name": "huge", "rule": {"and": groups}}),
        ),
    ] {
        let (status, err) = app.post(path, body).await;
        assert_eq!(status, 400, "{path}: {err}");
        assert_eq!(err["error"]["field"], "rule", "{err}");
        assert!(
            err["error"]["message"]
                .as_str()
                .unwrap()
                .contains("MAX_NODES"),
            "{err}"
        );
    }
    assert_eq!(app.count("SELECT count(*) AS n FROM segments").await, 0);
}
