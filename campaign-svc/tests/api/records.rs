//! `GET /api/marketing/records`: filters, shape, stable pagination. Records are inserted directly
//! here; the trigger tests create them through the API.

use serde_json::json;

use testkit::{TestApp, campaign_body, spawn_app};

/// A campaign with `n` customers and one record each; every third record `failed`.
async fn seed(app: &TestApp, n: usize) -> String {
    let c = app.create_campaign(campaign_body("records")).await;
    let id = c["id"].as_str().unwrap().to_owned();
    let customers: Vec<_> = (0..n)
        .map(|i| json!({"external_id": format!("r{i}"), "phone": "+8613800138000"}))
        .collect();
    app.post(
        "/api/marketing/customers/bulk",
        json!({"customers": customers}),
    )
    .await;
    let exec = uuid::Uuid::now_v7();
    app.sql(&format!(
        "INSERT INTO campaign_executions (id, campaign_id, execution_type, status) VALUES ('{exec}', '{id}', 'actual', 'running')"
    ))
    .await;
    app.sql(&format!(
        "INSERT INTO marketing_record (id, campaign_id, execution_id, customer_id, channel, status, sent_at)
         SELECT gen_random_uuid(), '{id}', '{exec}', c.id, 'sms',
                CASE WHEN row_number() OVER (ORDER BY c.external_id) % 3 = 0 THEN 'failed' ELSE 'sent' END, now()
         FROM customers c"
    ))
    .await;
    id
}

#[tokio::test(flavor = "multi_thread")]
async fn lists_records_with_filters_and_stable_pages() {
    let app = spawn_app().await;
    let campaign = seed(&app, 30).await;
    let (status, page1) = app
        .get(&format!(
            "/api/marketing/records?campaign_id={campaign}&page_size=20"
        ))
        .await;
    assert_eq!(status, 200, "{page1}");
    assert_eq!(
        page1["pagination"],
        json!({"total": 30, "page": 1, "page_size": 20})
    );
    let r = &page1["records"][0];
    for field in [
        "id",
        "campaign_id",
        "customer_id",
        "channel",
        "status",
        "sent_at",
        "response",
    ] {
        assert!(r.get(field).is_some(), "{field} missing from {r}");
    }
    let (_, page2) = app
        .get(&format!(
            "/api/marketing/records?campaign_id={campaign}&page=2&page_size=20"
        ))
        .await;
    assert_eq!(page2["records"].as_array().unwrap().len(), 10);
    let mut ids: Vec<_> = page1["records"]
        .as_array()
        .unwrap()
        .iter()
        .chain(page2["records"].as_array().unwrap())
        .map(|r| r["id"].clone())
        .collect();
    ids.sort_by_key(|v| v.to_string());
    ids.dedup();
    assert_eq!(ids.len(), 30, "pages neither overlap nor skip");

    let (_, failed) = app
        .get(&format!(
            "/api/marketing/records?campaign_id={campaign}&status=failed&page_size=500"
        ))
        .await;
    assert_eq!(failed["pagination"]["total"], 10);
    assert!(
        failed["records"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["status"] == "failed")
    );

    let one = page1["records"][3]["customer_id"].as_str().unwrap();
    let (_, mine) = app
        .get(&format!(
            "/api/marketing/records?campaign_id={campaign}&customer_id={one}"
        ))
        .await;
    assert_eq!(mine["pagination"]["total"], 1);
    let (_, email) = app
        .get(&format!(
            "/api/marketing/records?campaign_id={campaign}&channel=email"
        ))
        .await;
    assert_eq!(email["pagination"]["total"], 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn record_queries_refuse_bad_parameters() {
    let app = spawn_app().await;
    let campaign = seed(&app, 1).await;
    for (query, field) in [
        (format!("campaign_id={campaign}&page_size=501"), "page_size"),
        (format!("campaign_id={campaign}&status=lost"), "status"),
        (format!("campaign_id={campaign}&channel=fax"), "channel"),
        (
            format!("campaign_id={campaign}&customer_id=me"),
            "customer_id",
        ),
    ] {
        let (status, err) = app.get(&format!("/api/marketing/records?{query}")).await;
        assert_eq!(status, 400, "{query}");
        assert_eq!(err["error"]["field"], field, "{query}");
    }
    let (status, _) = app
        .get(&format!(
            "/api/marketing/records?campaign_id={campaign}&page_size=500"
        ))
        .await;
    assert_eq!(status, 200);
    let (status, _) = app
        .get(&format!(
            "/api/marketing/records?campaign_id={}",
            uuid::Uuid::now_v7()
        ))
        .await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn records_name_the_provider_that_sent_them_over_rest_and_grpc() {
    use crm_proto::v1 as pb;
    use crm_proto::v1::record_service_client::RecordServiceClient;

    let app = spawn_app().await;
    let campaign = seed(&app, 3).await;
    // What a worker writes: the primary sent one, the secondary another, the third failed
    // before any provider was called.
    app.sql(&format!(
        "UPDATE marketing_record r SET provider = v.provider
         FROM (SELECT id, CASE row_number() OVER (ORDER BY id) WHEN 1 THEN 'aliyun' WHEN 2 THEN 'tencent' END AS provider
               FROM marketing_record WHERE campaign_id = '{campaign}') v
         WHERE r.id = v.id"
    ))
    .await;
    let (status, list) = app
        .get(&format!("/api/marketing/records?campaign_id={campaign}"))
        .await;
    assert_eq!(status, 200, "{list}");
    let rest: Vec<_> = list["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.get("provider").cloned())
        .collect();
    assert_eq!(
        rest,
        [Some(json!("aliyun")), Some(json!("tencent")), None],
        "absent when no provider was called"
    );
    let grpc = RecordServiceClient::new(app.channel().await)
        .list_records(testkit::authed(pb::ListRecordsRequest {
            campaign_id: campaign.clone(),
            ..Default::default()
        }))
        .await
        .expect("ListRecords answers")
        .into_inner();
    let grpc: Vec<_> = grpc.records.into_iter().map(|r| r.provider).collect();
    assert_eq!(
        grpc,
        [Some("aliyun".to_owned()), Some("tencent".to_owned()), None]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_customers_records_are_listed_across_campaigns_over_rest_and_grpc() {
    use crm_proto::v1 as pb;
    use crm_proto::v1::record_service_client::RecordServiceClient;

    let app = spawn_app().await;
    // Two campaigns to the same 4 customers (each seed inserts one record per customer).
    let first = seed(&app, 4).await;
    let second = seed(&app, 0).await;
    let (_, page) = app
        .get(&format!("/api/marketing/records?campaign_id={first}"))
        .await;
    let customer = page["records"][1]["customer_id"]
        .as_str()
        .unwrap()
        .to_owned();

    let (status, mine) = app
        .get(&format!(
            "/api/marketing/records?customer_id={customer}&cursor="
        ))
        .await;
    assert_eq!(status, 200, "{mine}");
    let mut campaigns: Vec<&str> = mine["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            assert_eq!(r["customer_id"], customer.as_str(), "only theirs: {r}");
            r["campaign_id"].as_str().unwrap()
        })
        .collect();
    campaigns.sort_unstable();
    let mut both = [first.as_str(), second.as_str()];
    both.sort_unstable();
    assert_eq!(campaigns, both, "one record in each campaign");
    assert_eq!(mine["next"], serde_json::Value::Null);

    let grpc = RecordServiceClient::new(app.channel().await)
        .list_records(testkit::authed(pb::ListRecordsRequest {
            customer_id: Some(customer.clone()),
            ..Default::default()
        }))
        .await
        .expect("ListRecords answers")
        .into_inner();
    let mut over_grpc: Vec<&str> = grpc
        .records
        .iter()
        .map(|r| r.campaign_id.as_str())
        .collect();
    over_grpc.sort_unstable();
    assert_eq!(over_grpc, both);
    assert_eq!(grpc.pagination.map(|p| p.total), Some(2));

    // Neither a campaign nor a customer: 400 naming the campaign, on both APIs.
    let (status, err) = app.get("/api/marketing/records?status=sent").await;
    assert_eq!(status, 400, "{err}");
    assert_eq!(err["error"]["field"], "campaign_id");
    let refused = RecordServiceClient::new(app.channel().await)
        .list_records(testkit::authed(pb::ListRecordsRequest::default()))
        .await
        .expect_err("refused");
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    assert!(refused.message().contains("campaign_id"), "{refused:?}");
}

/// Walks a campaign's records by cursor over REST (`cursor` / `next`) or gRPC (`page_token` /
/// `next_page_token`), `size` at a time; `between` runs after each page.
async fn walk_by_cursor(
    app: &TestApp,
    campaign: &str,
    size: u32,
    grpc: bool,
    mut between: impl AsyncFnMut(usize),
) -> Vec<String> {
    use crm_proto::v1 as pb;
    use crm_proto::v1::record_service_client::RecordServiceClient;

    let mut client = RecordServiceClient::new(app.channel().await);
    let mut seen = Vec::new();
    let mut cursor = String::new();
    for pages in 1.. {
        assert!(pages < 50, "paging ends");
        let (ids, next) = if grpc {
            let page = client
                .list_records(testkit::authed(pb::ListRecordsRequest {
                    campaign_id: campaign.to_owned(),
                    page_size: size,
                    page_token: Some(cursor.clone()),
                    ..Default::default()
                }))
                .await
                .expect("ListRecords answers")
                .into_inner();
            assert!(page.pagination.is_none(), "token pages are not counted");
            let ids: Vec<String> = page.records.into_iter().map(|r| r.id).collect();
            (ids, Some(page.next_page_token).filter(|t| !t.is_empty()))
        } else {
            let (status, page) = app
                .get(&format!(
                    "/api/marketing/records?campaign_id={campaign}&page_size={size}&cursor={cursor}"
                ))
                .await;
            assert_eq!(status, 200, "{page}");
            assert!(page.get("pagination").is_none(), "not counted: {page}");
            let ids: Vec<String> = page["records"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["id"].as_str().unwrap().to_owned())
                .collect();
            (ids, page["next"].as_str().map(str::to_owned))
        };
        assert!(ids.len() <= size as usize);
        seen.extend(ids);
        between(pages).await;
        match next {
            Some(next) => cursor = next,
            None => break,
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread")]
async fn records_are_paged_by_cursor_without_repeats_or_gaps_while_they_change() {
    let app = spawn_app().await;
    let campaign = seed(&app, 30).await;
    let original: Vec<String> = {
        let (_, all) = app
            .get(&format!(
                "/api/marketing/records?campaign_id={campaign}&page_size=500"
            ))
            .await;
        all["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_owned())
            .collect()
    };
    for grpc in [false, true] {
        // While paging, every record changes status (what workers and receipts do) and new
        // records are written (a listening campaign): each record that was there is seen once.
        let seen = walk_by_cursor(&app, &campaign, 7, grpc, async |page| {
            if page == 1 {
                app.sql(&format!(
                    "UPDATE marketing_record SET status = 'delivered', delivered_at = now() WHERE campaign_id = '{campaign}'"
                ))
                .await;
                // A customer added since, reached by the same execution.
                let (status, newcomer) = app
                    .post(
                        "/api/marketing/customers",
                        json!({"external_id": format!("late-{grpc}"), "phone": "+8613800138001"}),
                    )
                    .await;
                assert_eq!(status, 201, "{newcomer}");
                app.sql(&format!(
                    "INSERT INTO marketing_record (id, campaign_id, execution_id, customer_id, channel, status)
                     SELECT '{}'::uuid, campaign_id, execution_id, '{}'::uuid, channel, 'pending'
                     FROM marketing_record WHERE campaign_id = '{campaign}' LIMIT 1",
                    uuid::Uuid::now_v7(),
                    newcomer["id"].as_str().unwrap()
                ))
                .await;
            }
        })
        .await;
        let mut unique = seen.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), seen.len(), "no record twice (grpc: {grpc})");
        assert!(
            original.iter().all(|id| seen.contains(id)),
            "every record once (grpc: {grpc}): {} of {} seen",
            original.iter().filter(|id| seen.contains(id)).count(),
            original.len()
        );
    }
    // The last page says so; a page number and a cursor together, or a cursor this API did not
    // give, are refused naming the field.
    for (query, field) in [
        ("page=2&cursor=".to_owned(), "cursor"),
        ("cursor=page-3".to_owned(), "cursor"),
    ] {
        let (status, err) = app
            .get(&format!(
                "/api/marketing/records?campaign_id={campaign}&{query}"
            ))
            .await;
        assert_eq!(status, 400, "{query}: {err}");
        assert_eq!(err["error"]["field"], field, "{query}");
    }
    // Numbered pages carry the cursor of what follows too, so a client can switch.
    let (_, numbered) = app
        .get(&format!(
            "/api/marketing/records?campaign_id={campaign}&page_size=10"
        ))
        .await;
    assert_eq!(numbered["pagination"]["page"], 1);
    assert_eq!(numbered["next"], numbered["records"][9]["id"]);
}
