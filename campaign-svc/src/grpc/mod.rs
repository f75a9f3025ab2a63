//! The gRPC transport (tonic): thin handlers converting protobuf messages to domain values and
//! back, plus authentication, health and reflection.

mod admin;
mod campaign_fields;
mod campaigns;
mod conversions;
pub mod convert;
mod customers;
pub mod edge;
mod events;
mod executions;
mod journeys;
mod records;
mod segments;
mod templates;

use crm_proto::v1::admin_service_server::AdminServiceServer;
use crm_proto::v1::campaign_service_server::CampaignServiceServer;
use crm_proto::v1::conversion_service_server::ConversionServiceServer;
use crm_proto::v1::customer_service_server::CustomerServiceServer;
use crm_proto::v1::event_service_server::EventServiceServer;
use crm_proto::v1::journey_service_server::JourneyServiceServer;
use crm_proto::v1::record_service_server::RecordServiceServer;
use crm_proto::v1::segment_service_server::SegmentServiceServer;
use crm_proto::v1::template_service_server::TemplateServiceServer;
use tonic::service::Routes;
use tonic::{Request, Status};

use crate::auth::{ACTOR_HEADER, Authenticator, Caller};
use crate::service::MarketingService;

/// Checks the bearer token of every call to the marketing services and attaches the [`Caller`].
#[derive(Clone)]
pub struct AuthInterceptor(pub Authenticator);

impl tonic::service::Interceptor for AuthInterceptor {
    fn call(&mut self, mut req: Request<()>) -> Result<Request<()>, Status> {
        let meta = req.metadata();
        let get = |key: &str| meta.get(key).and_then(|v| v.to_str().ok());
        let caller = self
            .0
            .authenticate(get("authorization"), get(ACTOR_HEADER))?;
        req.extensions_mut().insert(caller);
        Ok(req)
    }
}

/// The caller attached by [`AuthInterceptor`].
fn caller<T>(req: &Request<T>) -> Result<Caller, Status> {
    req.extensions()
        .get::<Caller>()
        .copied()
        .ok_or_else(|| Status::unauthenticated("missing or invalid bearer token"))
}

/// The handlers' shared state.
#[derive(Clone)]
pub struct GrpcApi {
    service: MarketingService,
}

/// Builds every gRPC service: the marketing services and the admin service (authenticated),
/// health and reflection (open, so probes and grpcurl work without a token).
pub async fn routes(
    service: MarketingService,
    auth: Authenticator,
    max_message_bytes: usize,
) -> anyhow::Result<Routes> {
    let api = GrpcApi { service };
    let interceptor = AuthInterceptor(auth);
    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health_reporter
        .set_serving::<CampaignServiceServer<GrpcApi>>()
        .await;
    health_reporter
        .set_serving::<CustomerServiceServer<GrpcApi>>()
        .await;
    health_reporter
        .set_serving::<RecordServiceServer<GrpcApi>>()
        .await;
    health_reporter
        .set_serving::<TemplateServiceServer<GrpcApi>>()
        .await;
    health_reporter
        .set_serving::<SegmentServiceServer<GrpcApi>>()
        .await;
    health_reporter
        .set_serving::<ConversionServiceServer<GrpcApi>>()
        .await;
    health_reporter
        .set_serving::<EventServiceServer<GrpcApi>>()
        .await;
    health_reporter
        .set_serving::<JourneyServiceServer<GrpcApi>>()
        .await;
    health_reporter
        .set_serving::<AdminServiceServer<GrpcApi>>()
        .await;
    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(crm_proto::v1::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(crm_proto::v1::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;
    let campaigns =
        CampaignServiceServer::new(api.clone()).max_decoding_message_size(max_message_bytes);
    let customers =
        CustomerServiceServer::new(api.clone()).max_decoding_message_size(max_message_bytes);
    let records =
        RecordServiceServer::new(api.clone()).max_decoding_message_size(max_message_bytes);
    let templates =
        TemplateServiceServer::new(api.clone()).max_decoding_message_size(max_message_bytes);
    let segments =
        SegmentServiceServer::new(api.clone()).max_decoding_message_size(max_message_bytes);
    let conversions =
        ConversionServiceServer::new(api.clone()).max_decoding_message_size(max_message_bytes);
    let events = EventServiceServer::new(api.clone()).max_decoding_message_size(max_message_bytes);
    let journeys =
        JourneyServiceServer::new(api.clone()).max_decoding_message_size(max_message_bytes);
    let admin = AdminServiceServer::new(api).max_decoding_message_size(max_message_bytes);
    Ok(Routes::new(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(tonic::service::interceptor::InterceptedService::new(
            campaigns,
            interceptor.clone(),
        ))
        .add_service(tonic::service::interceptor::InterceptedService::new(
            customers,
            interceptor.clone(),
        ))
        .add_service(tonic::service::interceptor::InterceptedService::new(
            records,
            interceptor.clone(),
        ))
        .add_service(tonic::service::interceptor::InterceptedService::new(
            templates,
            interceptor.clone(),
        ))
        .add_service(tonic::service::interceptor::InterceptedService::new(
            segments,
            interceptor.clone(),
        ))
        .add_service(tonic::service::interceptor::InterceptedService::new(
            conversions,
            interceptor.clone(),
        ))
        .add_service(tonic::service::interceptor::InterceptedService::new(
            events,
            interceptor.clone(),
        ))
        .add_service(tonic::service::interceptor::InterceptedService::new(
            journeys,
            interceptor.clone(),
        ))
        .add_service(tonic::service::interceptor::InterceptedService::new(
            admin,
            interceptor,
        )))
}
