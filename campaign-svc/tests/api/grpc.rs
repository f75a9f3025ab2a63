//! The same operations through the gRPC API (a real tonic client), plus auth, health, reflection.

use crm_proto::v1 as pb;
use crm_proto::v1::campaign_service_client::CampaignServiceClient;
use crm_proto::v1::customer_service_client::CustomerServiceClient;
use crm_proto::v1::record_service_client::RecordServiceClient;
use prost_types::{FieldMask, Timestamp};
use tonic::Code;

use testkit::{authed, bad_field, spawn_app};

fn create(name: &str) -> pb::CreateCampaignRequest {
    pb::CreateCampaignRequest {
        name: name.into(),
        r#type: "email".into(),
        target_tags: vec!["VIP".into()],
        content: "Hello {{name}}".into(),
        ..Default::default()
    }
}

fn future() -> Timestamp {
    Timestamp {
        seconds: 4_102_444_800,
        nanos: 0,
    } // 2100-01-01
}

#[tokio::test(flavor = "multi_thread")]
async fn campaign_lifecycle_over_grpc() {
    let app = spawn_app().await;
    let mut client = CampaignServiceClient::new(app.channel().await);
    let c = client
        .create_campaign(authed(create("grpc one")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(c.status, "draft");
    assert_eq!(c.r#type, "email");
    let mut scheduled = create("grpc two");
    scheduled.start_time = Some(future());
    let s = client
        .create_campaign(authed(scheduled))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(s.status, "scheduled");

    let got = client
        .get_campaign(authed(pb::GetCampaignRequest { id: c.id.clone() }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got, c);

    let list = client
        .list_campaigns(authed(pb::ListCampaignsRequest {
            status: Some("scheduled".into()),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(list.campaigns.len(), 1);
    assert_eq!(
        list.pagination,
        Some(pb::Pagination {
            total: 1,
            page: 1,
            page_size: 10
        })
    );
    let past_end = client
        .list_campaigns(authed(pb::ListCampaignsRequest {
            page: 2,
            page_size: 2,
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert!(past_end.campaigns.is_empty());
    assert_eq!(past_end.pagination.unwrap().total, 2);

    // Without a mask, present fields change; with one, listed paths change (absent = cleared).
    let u = client
        .update_campaign(authed(pb::UpdateCampaignRequest {
            id: s.id.clone(),
            name: Some("renamed".into()),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (u.name.as_str(), u.status.as_str(), u.content.as_str()),
        ("renamed", "scheduled", "Hello {{name}}")
    );
    let u = client
        .update_campaign(authed(pb::UpdateCampaignRequest {
            id: s.id.clone(),
            update_mask: Some(FieldMask {
                paths: vec!["start_time".into()],
            }),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(u.start_time, None);
    assert_eq!(u.status, "draft");

    let a = client
        .archive_campaign(authed(pb::ArchiveCampaignRequest { id: s.id.clone() }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(a.status, "archived");
    let err = client
        .update_campaign(authed(pb::UpdateCampaignRequest {
            id: s.id.clone(),
            name: Some("late".into()),
            ..Default::default()
        }))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    let err = client
        .get_campaign(authed(pb::GetCampaignRequest {
            id: uuid::Uuid::now_v7().to_string(),
        }))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
}

#[tokio::test(flavor = "multi_thread")]
async fn grpc_bad_input_is_invalid_argument_naming_the_field() {
    let app = spawn_app().await;
    let mut client = CampaignServiceClient::new(app.channel().await);
    let mut end_before_start = create("x");
    end_before_start.start_time = Some(future());
    end_before_start.end_time = Some(Timestamp {
        seconds: 1,
        nanos: 0,
    });
    let cases = vec![
        (create(""), "name"),
        (
            pb::CreateCampaignRequest {
                name: "n".repeat(201),
                ..create("")
            },
            "name",
        ),
        (
            pb::CreateCampaignRequest {
                r#type: "fax".into(),
                ..create("x")
            },
            "type",
        ),
        (
            pb::CreateCampaignRequest {
                r#type: String::new(),
                ..create("x")
            },
            "type",
        ),
        (end_before_start, "end_time"),
        (
            pb::CreateCampaignRequest {
                start_time: Some(Timestamp {
                    seconds: 0,
                    nanos: -5,
                }),
                ..create("x")
            },
            "start_time",
        ),
        (
            pb::CreateCampaignRequest {
                target_segment_id: Some("seg".into()),
                ..create("x")
            },
            "target_segment_id",
        ),
    ];
    for (req, field) in cases {
        let err = client
            .create_campaign(authed(req.clone()))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{req:?}");
        assert_eq!(bad_field(&err).as_deref(), Some(field), "{req:?}: {err:?}");
    }
    let err = client
        .list_campaigns(authed(pb::ListCampaignsRequest {
            page_size: 101,
            ..Default::default()
        }))
        .await
        .unwrap_err();
    assert_eq!(bad_field(&err).as_deref(), Some("page_size"));
    let err = client
        .list_campaigns(authed(pb::ListCampaignsRequest {
            status: Some("running".into()),
            ..Default::default()
        }))
        .await
        .unwrap_err();
    assert_eq!(bad_field(&err).as_deref(), Some("status"));
    let err = client
        .get_campaign(authed(pb::GetCampaignRequest { id: "abc".into() }))
        .await
        .unwrap_err();
    assert_eq!(bad_field(&err).as_deref(), Some("id"));
    let err = client
        .update_campaign(authed(pb::UpdateCampaignRequest {
            id: uuid::Uuid::now_v7().to_string(),
            update_mask: Some(FieldMask {
                paths: vec!["status".into()],
            }),
            ..Default::default()
        }))
        .await
        .unwrap_err();
    assert_eq!(bad_field(&err).as_deref(), Some("update_mask"));
    assert_eq!(
        app.count("SELECT count(*) AS n FROM marketing_campaign")
            .await,
        0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn customers_and_records_over_grpc() {
    let app = spawn_app().await;
    let mut customers = CustomerServiceClient::new(app.channel().await);
    let mut attrs = prost_types::Struct::default();
    attrs.fields.insert(
        "orders".into(),
        prost_types::Value {
            kind: Some(prost_types::value::Kind::NumberValue(3.0)),
        },
    );
    let one = customers
        .upsert_customer(authed(pb::CustomerInput {
            external_id: "g1".into(),
            name: Some("王五".into()),
            email: Some("wang@example.com".into()),
            tags: vec!["VIP".into()],
            attributes: Some(attrs),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(one.name.as_deref(), Some("王五"));
    let bulk = customers
        .bulk_upsert_customers(authed(pb::BulkUpsertCustomersRequest {
            customers: vec![
                pb::CustomerInput {
                    external_id: "g1".into(),
                    ..Default::default()
                },
                pb::CustomerInput {
                    external_id: "g2".into(),
                    ..Default::default()
                },
            ],
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((bulk.created, bulk.updated), (1, 1));
    assert_eq!(bulk.ids[0], one.id);

    let err = customers
        .bulk_upsert_customers(authed(pb::BulkUpsertCustomersRequest {
            customers: vec![pb::CustomerInput {
                external_id: "g3".into(),
                phone: Some("call me".into()),
                ..Default::default()
            }],
        }))
        .await
        .unwrap_err();
    assert_eq!(bad_field(&err).as_deref(), Some("customers[0].phone"));

    let o = customers
        .add_opt_out(authed(pb::AddOptOutRequest {
            customer_id: one.id.clone(),
            channel: "email".into(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(o.channel, "email");
    let got = customers
        .get_customer(authed(pb::GetCustomerRequest { id: one.id.clone() }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.opt_outs, vec!["email".to_string()]);
    assert_eq!(got.name, None, "the bulk upsert replaced the fields");

    customers
        .erase_customer(authed(pb::EraseCustomerRequest { id: one.id.clone() }))
        .await
        .unwrap();
    let err = customers
        .get_customer(authed(pb::GetCustomerRequest { id: one.id.clone() }))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);

    let mut campaigns = CampaignServiceClient::new(app.channel().await);
    let c = campaigns
        .create_campaign(authed(create("records")))
        .await
        .unwrap()
        .into_inner();
    let mut records = RecordServiceClient::new(app.channel().await);
    let empty = records
        .list_records(authed(pb::ListRecordsRequest {
            campaign_id: c.id.clone(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert!(empty.records.is_empty());
    let err = records
        .list_records(authed(pb::ListRecordsRequest::default()))
        .await
        .unwrap_err();
    assert_eq!(bad_field(&err).as_deref(), Some("campaign_id"));
    let err = records
        .list_records(authed(pb::ListRecordsRequest {
            campaign_id: c.id,
            page_size: 501,
            ..Default::default()
        }))
        .await
        .unwrap_err();
    assert_eq!(bad_field(&err).as_deref(), Some("page_size"));
}

#[tokio::test(flavor = "multi_thread")]
async fn grpc_requires_a_token_but_health_and_reflection_do_not() {
    let app = spawn_app().await;
    let channel = app.channel().await;
    let mut client = CampaignServiceClient::new(channel.clone());
    let err = client
        .create_campaign(tonic::Request::new(create("x")))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    let mut wrong = tonic::Request::new(pb::ListCampaignsRequest::default());
    wrong
        .metadata_mut()
        .insert("authorization", "Bearer nope".parse().unwrap());
    assert_eq!(
        client.list_campaigns(wrong).await.unwrap_err().code(),
        Code::Unauthenticated
    );
    let mut customers = CustomerServiceClient::new(channel.clone());
    let err = customers
        .get_customer(tonic::Request::new(pb::GetCustomerRequest::default()))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM marketing_campaign")
            .await,
        0
    );

    let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
    for service in [
        "",
        "crm.marketing.v1.CampaignService",
        "crm.marketing.v1.CustomerService",
    ] {
        let resp = health
            .check(tonic_health::pb::HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            resp.status,
            tonic_health::pb::health_check_response::ServingStatus::Serving as i32,
            "{service}"
        );
    }

    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    let mut reflection = ServerReflectionClient::new(channel);
    let req = tonic_reflection::pb::v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut stream = reflection
        .server_reflection_info(futures::stream::iter(vec![req]))
        .await
        .unwrap()
        .into_inner();
    let first = stream.message().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = first.message_response else {
        panic!("unexpected reflection answer: {first:?}");
    };
    let names: Vec<_> = list.service.iter().map(|s| s.name.as_str()).collect();
    for expected in [
        "crm.marketing.v1.CampaignService",
        "crm.marketing.v1.CustomerService",
        "crm.marketing.v1.RecordService",
        "grpc.health.v1.Health",
    ] {
        assert!(names.contains(&expected), "{expected} not in {names:?}");
    }
}
