//! crm.marketing.v1.EventService.

use crm_proto::v1 as pb;
use crm_proto::v1::event_service_server::EventService;
use tonic::{Request, Response, Status};

use super::GrpcApi;
use super::convert::{from_timestamp, struct_to_json};
use crate::domain::event::{EventFields, EventLimits, NewEvent};
use crate::error::Result;

/// Item `index`, read and checked; errors name `events[index].…`.
fn parse_item(e: pb::EventInput, index: usize, limits: EventLimits) -> Result<NewEvent> {
    let (customer_id, external_id) = match e.customer {
        Some(pb::event_input::Customer::CustomerId(id)) => (Some(id), None),
        Some(pb::event_input::Customer::ExternalId(x)) => (None, Some(x)),
        None => (None, None),
    };
    let occurred_at = e
        .occurred_at
        .map(|t| from_timestamp(&format!("events[{index}].occurred_at"), t))
        .transpose()?
        .map(|t| t.to_rfc3339());
    let fields = EventFields {
        event_id: Some(e.event_id),
        customer_id,
        external_id,
        name: Some(e.name),
        properties: e.properties.map(struct_to_json),
        occurred_at,
    };
    NewEvent::parse(fields, index, limits)
}

#[tonic::async_trait]
impl EventService for GrpcApi {
    async fn track_events(
        &self,
        req: Request<pb::TrackEventsRequest>,
    ) -> Result<Response<pb::TrackEventsResponse>, Status> {
        let limits = self.service.event_limits();
        let batch = req
            .into_inner()
            .events
            .into_iter()
            .enumerate()
            .map(|(i, e)| parse_item(e, i, limits))
            .collect();
        let outcome = self.service.track_events(batch).await?;
        Ok(Response::new(pb::TrackEventsResponse {
            accepted: outcome.accepted,
            duplicates: outcome.duplicates,
            rejected: outcome
                .rejected
                .into_iter()
                .map(|r| pb::RejectedEvent {
                    index: r.index as u32,
                    code: r.code.to_owned(),
                    message: r.message,
                    field: r.field,
                })
                .collect(),
        }))
    }
}
