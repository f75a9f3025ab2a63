//! Customer sync over REST: upsert, bulk, read, erase, opt-outs.

use serde_json::json;

use testkit::spawn_app;

#[tokio::test(flavor = "multi_thread")]
async fn upsert_creates_then_updates_by_external_id() {
    let app = spawn_app().await;
    let body = json!({
        "external_id": "crm-42", "name": "张三", "email": "zhang@example.com",
        "phone": "+86 138 0013 8000", "tags": ["VIP"], "attributes": {"city": "上海", "orders": 3},
        "locale": "zh-CN", "time_zone": "Asia/Shanghai"
    });
    let (status, c) = app.post("/api/marketing/customers", body.clone()).await;
    assert_eq!(status, 201, "{c}");
    assert_eq!(c["phone"], "+8613800138000");
    assert_eq!(c["attributes"]["orders"], 3);
    assert_eq!(c["opt_outs"], json!([]));

    let mut changed = body.clone();
    changed["name"] = json!("张三丰");
    let (status, u) = app.post("/api/marketing/customers", changed).await;
    assert_eq!(status, 200);
    assert_eq!(u["id"], c["id"], "same external_id, same customer");
    assert_eq!(u["name"], "张三丰");

    let (status, got) = app
        .get(&format!(
            "/api/marketing/customers/{}",
            c["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(status, 200);
    assert_eq!(got["name"], "张三丰");
    assert_eq!(app.count("SELECT count(*) AS n FROM customers").await, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn bulk_upserts_in_one_call_and_reports_counts() {
    let app = spawn_app().await;
    let batch: Vec<_> = (0..2000)
        .map(|i| json!({"external_id": format!("c{i}"), "name": format!("n{i}"), "tags": ["bulk"]}))
        .collect();
    let (status, out) = app
        .post("/api/marketing/customers/bulk", json!({"customers": batch}))
        .await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(
        (out["created"].as_u64(), out["updated"].as_u64()),
        (Some(2000), Some(0))
    );
    assert_eq!(out["ids"].as_array().unwrap().len(), 2000);

    let again: Vec<_> = (1990..2010)
        .map(|i| json!({"external_id": format!("c{i}"), "name": "renamed"}))
        .collect();
    let (_, out2) = app
        .post("/api/marketing/customers/bulk", json!({"customers": again}))
        .await;
    assert_eq!(
        (out2["created"].as_u64(), out2["updated"].as_u64()),
        (Some(10), Some(10))
    );
    assert_eq!(
        out2["ids"][0], out["ids"][1990],
        "ids come back in request order"
    );
    assert_eq!(app.count("SELECT count(*) AS n FROM customers").await, 2010);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM customers WHERE name = 'renamed'")
            .await,
        20
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bulk_refuses_bad_batches_whole() {
    let app = spawn_app().await;
    let cases = vec![
        (
            json!({"customers": [{"external_id": "a"}, {"external_id": "b", "email": "nope"}]}),
            "customers[1].email",
        ),
        (
            json!({"customers": [{"external_id": "a"}, {"external_id": "a"}]}),
            "customers[1].external_id",
        ),
        (
            json!({"customers": [{"name": "no id"}]}),
            "customers[0].external_id",
        ),
        (
            json!({"customers": [{"external_id": "a", "tags": "VIP"}]}),
            "customers[0].tags",
        ),
        (json!({"customers": []}), "customers"),
        (json!({}), "customers"),
    ];
    for (body, field) in cases {
        let (status, err) = app
            .post("/api/marketing/customers/bulk", body.clone())
            .await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(err["error"]["field"], field, "{body} → {err}");
    }
    let too_many: Vec<_> = (0..10_001)
        .map(|i| json!({"external_id": format!("x{i}")}))
        .collect();
    let (status, err) = app
        .post(
            "/api/marketing/customers/bulk",
            json!({"customers": too_many}),
        )
        .await;
    assert_eq!(
        (status, err["error"]["field"].clone()),
        (400, json!("customers"))
    );
    assert_eq!(app.count("SELECT count(*) AS n FROM customers").await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn erase_removes_personal_data_but_keeps_the_row() {
    let app = spawn_app().await;
    let (_, c) = app
        .post(
            "/api/marketing/customers",
            json!({"external_id": "gone", "name": "李四", "email": "li@example.com"}),
        )
        .await;
    let path = format!("/api/marketing/customers/{}", c["id"].as_str().unwrap());
    let (status, body) = app.call(reqwest::Method::DELETE, &path, None).await;
    assert_eq!((status, body), (204, serde_json::Value::Null));
    assert_eq!(app.get(&path).await.0, 404);
    assert_eq!(app.call(reqwest::Method::DELETE, &path, None).await.0, 404);
    let left = app
        .count("SELECT count(*) AS n FROM customers WHERE name IS NULL AND email IS NULL AND external_id IS NULL AND erased_at IS NOT NULL")
        .await;
    assert_eq!(left, 1, "tombstone without personal data");
    // The CRM may push the same external id again: it is a new customer.
    let (status, again) = app
        .post("/api/marketing/customers", json!({"external_id": "gone"}))
        .await;
    assert_eq!(status, 201);
    assert_ne!(again["id"], c["id"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn opt_outs_are_recorded_once_per_channel() {
    let app = spawn_app().await;
    let (_, c) = app
        .post(
            "/api/marketing/customers",
            json!({"external_id": "o1", "phone": "+8613800138000"}),
        )
        .await;
    let id = c["id"].as_str().unwrap();
    let path = format!("/api/marketing/customers/{id}/opt-outs");
    let (status, o) = app.post(&path, json!({"channel": "sms"})).await;
    assert_eq!(status, 201, "{o}");
    assert_eq!(o["channel"], "sms");
    assert_eq!(o["customer_id"], id);
    assert_eq!(app.post(&path, json!({"channel": "sms"})).await.0, 200);
    assert_eq!(app.post(&path, json!({"channel": "all"})).await.0, 201);
    let (status, err) = app.post(&path, json!({"channel": "fax"})).await;
    assert_eq!(
        (status, err["error"]["field"].clone()),
        (400, json!("channel"))
    );
    let (status, err) = app.post(&path, json!({})).await;
    assert_eq!(
        (status, err["error"]["field"].clone()),
        (400, json!("channel"))
    );
    let (_, got) = app.get(&format!("/api/marketing/customers/{id}")).await;
    assert_eq!(got["opt_outs"], json!(["all", "sms"]));
    let unknown = format!("/api/marketing/customers/{}/opt-outs", uuid::Uuid::now_v7());
    assert_eq!(app.post(&unknown, json!({"channel": "sms"})).await.0, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_bulk_upserts_of_the_same_customers_all_succeed() {
    let app = spawn_app().await;
    let batch = |order: &[usize], round: usize| {
        let customers: Vec<serde_json::Value> = order
            .iter()
            .map(|i| json!({"external_id": format!("same-{i}"), "name": format!("r{round}"), "tags": ["VIP"]}))
            .collect();
        json!({ "customers": customers })
    };
    let forward: Vec<usize> = (0..2000).collect();
    let reversed: Vec<usize> = forward.iter().rev().copied().collect();
    let interleaved: Vec<usize> = forward
        .iter()
        .map(|i| if i % 2 == 0 { i / 2 } else { 1999 - i / 2 })
        .collect();
    for round in 0..4 {
        let bodies = [
            batch(&forward, round),
            batch(&reversed, round),
            batch(&interleaved, round),
        ];
        let calls = bodies
            .iter()
            .map(|b| app.post("/api/marketing/customers/bulk", b.clone()));
        for (status, out) in futures::future::join_all(calls).await {
            assert_eq!(status, 200, "round {round}: {out}");
            assert_eq!(out["ids"].as_array().unwrap().len(), 2000);
        }
    }
    assert_eq!(
        app.count("SELECT count(*) AS n FROM customers WHERE name = 'r3'")
            .await,
        2000
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn phone_numbers_are_checked_against_the_numbering_plan_and_stored_in_e164() {
    let app = spawn_app().await; // DEFAULT_PHONE_REGION: CN
    for (i, (given, stored)) in [
        ("(138) 0013-8000", "+8613800138000"),
        ("+86 138-0013-8000", "+8613800138000"),
        ("+1 (415) 555-2671", "+14155552671"),
    ]
    .into_iter()
    .enumerate()
    {
        let (status, c) = app
            .post(
                "/api/marketing/customers",
                json!({"external_id": format!("p{i}"), "phone": given}),
            )
            .await;
        assert_eq!(status, 201, "{given}: {c}");
        assert_eq!(c["phone"], stored, "{given}");
    }
    for bad in [
        "1234567",
        "+86 138 0013 800",
        "138-0013-80000",
        "+999 1234 5678",
    ] {
        let (status, err) = app
            .post(
                "/api/marketing/customers",
                json!({"external_id": "bad", "phone": bad}),
            )
            .await;
        assert_eq!(status, 400, "{bad}: {err}");
        assert_eq!(err["error"]["field"], "phone", "{bad}: {err}");
    }
    let (status, err) = app
        .post(
            "/api/marketing/customers/bulk",
            json!({"customers": [{"external_id": "a", "phone": "+8613800000001"},
                                 {"external_id": "b", "phone": "1234567"}]}),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(err["error"]["field"], "customers[1].phone");
    assert_eq!(
        app.count("SELECT count(*) AS n FROM customers WHERE external_id IN ('a', 'b', 'bad')")
            .await,
        0
    );
    // Another default region reads national numbers by its own plan.
    let us = testkit::spawn_app_with(testkit::TestDb::new(), testkit::TestQueues::new(), |c| {
        c.default_phone_region = phonenumber::country::Id::US;
    })
    .await;
    let (status, c) = us
        .post(
            "/api/marketing/customers",
            json!({"external_id": "us", "phone": "(415) 555-2671"}),
        )
        .await;
    assert_eq!(status, 201, "{c}");
    assert_eq!(c["phone"], "+14155552671");
    let (status, _) = us
        .post(
            "/api/marketing/customers",
            json!({"external_id": "cn", "phone": "(138) 0013-8000"}),
        )
        .await;
    assert_eq!(status, 400, "a Chinese national number is not a US one");
}

#[tokio::test(flavor = "multi_thread")]
async fn customers_are_listed_by_filter_and_paged_by_cursor_while_they_change() {
    let app = spawn_app().await;
    let mut ids = Vec::new();
    for i in 0..7 {
        let tags = if i % 2 == 0 {
            json!(["VIP"])
        } else {
            json!(["新用户"])
        };
        let (status, c) = app
            .post(
                "/api/marketing/customers",
                json!({"external_id": format!("list-{i}"), "name": format!("客户{i}"),
                       "email": format!("c{i}@example.com"), "tags": tags}),
            )
            .await;
        assert_eq!(status, 201, "{c}");
        ids.push(c["id"].as_str().unwrap().to_owned());
    }
    // Page through three at a time; meanwhile one customer not yet seen is erased and one is
    // added: no page repeats or skips a customer that stayed.
    let mut seen: Vec<String> = Vec::new();
    let mut cursor = String::new();
    let mut pages = 0;
    loop {
        let (status, page) = app
            .get(&format!(
                "/api/marketing/customers?page_size=3&cursor={cursor}"
            ))
            .await;
        assert_eq!(status, 200, "{page}");
        for c in page["customers"].as_array().unwrap() {
            seen.push(c["id"].as_str().unwrap().to_owned());
        }
        pages += 1;
        if pages == 1 {
            let unseen = ids.iter().find(|id| !seen.contains(id)).unwrap().clone();
            let (status, _) = app
                .delete(&format!("/api/marketing/customers/{unseen}"))
                .await;
            assert_eq!(status, 204);
            ids.retain(|id| *id != unseen);
            let (_, added) = app
                .post(
                    "/api/marketing/customers",
                    json!({"external_id": "list-new", "name": "新来的", "tags": ["VIP"]}),
                )
                .await;
            ids.push(added["id"].as_str().unwrap().to_owned());
        }
        match page["next"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => break,
        }
        assert!(pages < 10, "paging ends");
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), seen.len(), "no customer twice: {seen:?}");
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!(
        unique, expected,
        "every live customer once, the erased one not"
    );

    // Filters: a tag, an external id, a piece of text.
    let (_, vip) = app
        .get("/api/marketing/customers?tag=VIP&page_size=100")
        .await;
    let names: Vec<&str> = vip["customers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"新来的") && names.iter().all(|n| *n != "客户1"),
        "{names:?}"
    );
    let (_, one) = app.get("/api/marketing/customers?external_id=list-5").await;
    assert_eq!(one["customers"].as_array().unwrap().len(), 1, "{one}");
    assert_eq!(one["customers"][0]["email"], "c5@example.com");
    assert!(one["next"].is_null(), "{one}");
    let (_, text) = app.get("/api/marketing/customers?q=C6@EXAMPLE").await;
    assert_eq!(text["customers"].as_array().unwrap().len(), 1, "{text}");

    // Bad paging input names the parameter.
    for (query, field) in [("cursor=nonsense", "cursor"), ("page_size=0", "page_size")] {
        let (status, err) = app.get(&format!("/api/marketing/customers?{query}")).await;
        assert_eq!(status, 400, "{err}");
        assert_eq!(err["error"]["field"], field, "{err}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn grpc_lists_customers_by_page_token() {
    use crm_proto::v1 as pb;
    use crm_proto::v1::customer_service_client::CustomerServiceClient;

    let app = spawn_app().await;
    let customers: Vec<_> = (0..25)
        .map(|i| {
            json!({"external_id": format!("g{i:02}"), "name": format!("客户{i}"),
                        "tags": if i % 5 == 0 { json!(["VIP"]) } else { json!([]) }})
        })
        .collect();
    let (status, _) = app
        .post(
            "/api/marketing/customers/bulk",
            json!({"customers": customers}),
        )
        .await;
    assert_eq!(status, 200);
    let mut client = CustomerServiceClient::new(app.channel().await);
    let mut seen = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let page = client
            .list_customers(testkit::authed(pb::ListCustomersRequest {
                page_size: 10,
                page_token: token.clone(),
                ..Default::default()
            }))
            .await
            .expect("ListCustomers answers")
            .into_inner();
        pages += 1;
        seen.extend(page.customers.into_iter().map(|c| c.external_id));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
        assert!(pages < 10, "paging ends");
    }
    assert_eq!(pages, 3);
    seen.sort();
    let expected: Vec<String> = (0..25).map(|i| format!("g{i:02}")).collect();
    assert_eq!(seen, expected, "each customer once");

    let vip = client
        .list_customers(testkit::authed(pb::ListCustomersRequest {
            tag: Some("VIP".into()),
            ..Default::default()
        }))
        .await
        .expect("ListCustomers answers")
        .into_inner();
    assert_eq!(vip.customers.len(), 5);
    assert!(vip.next_page_token.is_empty());

    for (request, field) in [
        (
            pb::ListCustomersRequest {
                page_token: "nope".into(),
                ..Default::default()
            },
            "page_token",
        ),
        (
            pb::ListCustomersRequest {
                page_size: 1001,
                ..Default::default()
            },
            "page_size",
        ),
    ] {
        let err = client
            .list_customers(testkit::authed(request))
            .await
            .expect_err("refused");
        assert_eq!(err.code(), tonic::Code::InvalidArgument);
        assert!(err.message().contains(field), "{}", err.message());
    }
}
