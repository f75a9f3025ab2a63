//! crm.marketing.v1.JourneyService. Definitions travel as `google.protobuf.Struct`, the same JSON
//! the REST API takes (entry, start, steps, re_entry, goal).

use crm_proto::v1 as pb;
use crm_proto::v1::journey_service_server::JourneyService;
use serde_json::Value;
use tonic::{Request, Response, Status};

use super::convert::{json_to_struct, page_request, pagination, struct_to_json, timestamp};
use super::{GrpcApi, caller};
use crate::domain::IfMatch;
use crate::domain::journey::{Journey, JourneyFields};
use crate::domain::parse_uuid;
use crate::error::Error;
use crate::service::journeys::{MAX_JOURNEY_PAGE, StepStats, parse_status_filter};

fn object(v: Value) -> Option<prost_types::Struct> {
    match v {
        Value::Object(o) => Some(json_to_struct(o)),
        _ => None,
    }
}

fn to_pb(j: Journey) -> pb::Journey {
    pb::Journey {
        id: j.id.to_string(),
        name: j.name,
        status: j.status,
        version: j.version,
        definition: Some(json_to_struct(j.definition)),
        created_at: Some(timestamp(j.created_at)),
        updated_at: Some(timestamp(j.updated_at)),
        activated_at: j.activated_at.map(timestamp),
        archived_at: j.archived_at.map(timestamp),
    }
}

fn step_to_pb(s: StepStats) -> pb::JourneyStepStats {
    pb::JourneyStepStats {
        version: s.version,
        step: s.step,
        r#type: s.kind,
        entered: s.entered,
        waiting: s.waiting,
        completed: s.completed,
        exited: s.exited,
        converted: s.converted,
        messages: s.messages.and_then(object),
    }
}

/// A definition Struct as the REST body's fields (plus the name when given).
fn fields(
    name: Option<String>,
    definition: Option<prost_types::Struct>,
) -> Result<JourneyFields, Error> {
    let mut body = match definition.map(struct_to_json) {
        Some(Value::Object(o)) => o,
        _ => serde_json::Map::new(),
    };
    if body.contains_key("name") {
        return Err(Error::invalid(
            "definition.name",
            "the name is the request's own `name` field",
        ));
    }
    if let Some(name) = name {
        body.insert("name".to_owned(), Value::String(name));
    }
    JourneyFields::from_json(Value::Object(body))
}

#[tonic::async_trait]
impl JourneyService for GrpcApi {
    async fn create_journey(
        &self,
        req: Request<pb::CreateJourneyRequest>,
    ) -> Result<Response<pb::Journey>, Status> {
        let caller = caller(&req)?;
        let r = req.into_inner();
        let j = self
            .service
            .create_journey(caller, fields(Some(r.name), r.definition)?)
            .await?;
        Ok(Response::new(to_pb(j)))
    }

    async fn list_journeys(
        &self,
        req: Request<pb::ListJourneysRequest>,
    ) -> Result<Response<pb::ListJourneysResponse>, Status> {
        let r = req.into_inner();
        let page = page_request(r.page, r.page_size, MAX_JOURNEY_PAGE)?;
        let status = parse_status_filter(r.status.as_deref())?;
        let page = self.service.list_journeys(status, page).await?;
        Ok(Response::new(pb::ListJourneysResponse {
            pagination: Some(pagination(&page)),
            journeys: page.items.into_iter().map(to_pb).collect(),
        }))
    }

    async fn get_journey(
        &self,
        req: Request<pb::GetJourneyRequest>,
    ) -> Result<Response<pb::Journey>, Status> {
        let id = parse_uuid("id", &req.into_inner().id)?;
        Ok(Response::new(to_pb(self.service.get_journey(id).await?)))
    }

    async fn update_journey(
        &self,
        req: Request<pb::UpdateJourneyRequest>,
    ) -> Result<Response<pb::Journey>, Status> {
        let caller = caller(&req)?;
        let r = req.into_inner();
        let id = parse_uuid("id", &r.id)?;
        let j = self
            .service
            .update_journey(caller, id, fields(r.name, r.definition)?, &IfMatch::none())
            .await?;
        Ok(Response::new(to_pb(j)))
    }

    async fn activate_journey(
        &self,
        req: Request<pb::GetJourneyRequest>,
    ) -> Result<Response<pb::Journey>, Status> {
        let caller = caller(&req)?;
        let id = parse_uuid("id", &req.into_inner().id)?;
        Ok(Response::new(to_pb(
            self.service.activate_journey(caller, id).await?,
        )))
    }

    async fn pause_journey(
        &self,
        req: Request<pb::GetJourneyRequest>,
    ) -> Result<Response<pb::Journey>, Status> {
        let caller = caller(&req)?;
        let id = parse_uuid("id", &req.into_inner().id)?;
        Ok(Response::new(to_pb(
            self.service.pause_journey(caller, id).await?,
        )))
    }

    async fn archive_journey(
        &self,
        req: Request<pb::GetJourneyRequest>,
    ) -> Result<Response<pb::Journey>, Status> {
        let caller = caller(&req)?;
        let id = parse_uuid("id", &req.into_inner().id)?;
        Ok(Response::new(to_pb(
            self.service.archive_journey(caller, id).await?,
        )))
    }

    async fn enroll_customers(
        &self,
        req: Request<pb::EnrollCustomersRequest>,
    ) -> Result<Response<pb::EnrollCustomersResponse>, Status> {
        let r = req.into_inner();
        let id = parse_uuid("id", &r.id)?;
        let customers = r
            .customer_ids
            .iter()
            .enumerate()
            .map(|(i, s)| parse_uuid(&format!("customer_ids[{i}]"), s))
            .collect::<Result<Vec<_>, _>>()?;
        let out = self.service.enroll_in_journey(id, customers).await?;
        Ok(Response::new(pb::EnrollCustomersResponse {
            entered: out.entered,
            not_entered: out.not_entered.iter().map(ToString::to_string).collect(),
        }))
    }

    async fn get_journey_stats(
        &self,
        req: Request<pb::GetJourneyRequest>,
    ) -> Result<Response<pb::JourneyStats>, Status> {
        let id = parse_uuid("id", &req.into_inner().id)?;
        let s = self.service.journey_stats(id).await?;
        Ok(Response::new(pb::JourneyStats {
            journey_id: s.journey_id.to_string(),
            entered: s.entered,
            converted: s.converted,
            exited: s.exited,
            steps: s.steps.into_iter().map(step_to_pb).collect(),
        }))
    }

    async fn get_journey_customer(
        &self,
        req: Request<pb::GetJourneyCustomerRequest>,
    ) -> Result<Response<pb::JourneyCustomer>, Status> {
        let r = req.into_inner();
        let id = parse_uuid("id", &r.id)?;
        let customer = parse_uuid("customer_id", &r.customer_id)?;
        let c = self.service.journey_customer(id, customer).await?;
        Ok(Response::new(pb::JourneyCustomer {
            journey_id: c.journey_id.to_string(),
            customer_id: c.customer_id.to_string(),
            enrollments: c.enrollments.into_iter().filter_map(object).collect(),
        }))
    }
}
