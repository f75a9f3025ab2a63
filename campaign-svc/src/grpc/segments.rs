//! crm.marketing.v1.SegmentService. Rules travel as `google.protobuf.Struct`, the same JSON the
//! REST API takes.

use crm_proto::v1 as pb;
use crm_proto::v1::count_segment_request::Target;
use crm_proto::v1::segment_service_server::SegmentService;
use tonic::{Request, Response, Status};

use super::convert::{json_to_struct, page_request, pagination, struct_to_json, timestamp};
use super::{GrpcApi, caller};
use crate::domain::IfMatch;
use crate::domain::parse_uuid;
use crate::domain::segment::{Segment, SegmentFields};
use crate::error::Error;
use crate::service::segments::MAX_SEGMENT_PAGE;

fn to_pb(s: Segment) -> pb::Segment {
    let rule = match s.rule {
        serde_json::Value::Object(o) => Some(json_to_struct(o)),
        _ => None,
    };
    pb::Segment {
        id: s.id.to_string(),
        name: s.name,
        description: s.description,
        rule,
        created_by: s.created_by.to_string(),
        updated_by: s.updated_by.to_string(),
        created_at: Some(timestamp(s.created_at)),
        updated_at: Some(timestamp(s.updated_at)),
    }
}

#[tonic::async_trait]
impl SegmentService for GrpcApi {
    async fn create_segment(
        &self,
        req: Request<pb::CreateSegmentRequest>,
    ) -> Result<Response<pb::Segment>, Status> {
        let caller = caller(&req)?;
        let r = req.into_inner();
        let fields = SegmentFields {
            name: Some(r.name),
            description: Some(r.description),
            rule: r.rule.map(struct_to_json),
        };
        let s = self.service.create_segment(caller, fields).await?;
        Ok(Response::new(to_pb(s)))
    }

    async fn list_segments(
        &self,
        req: Request<pb::ListSegmentsRequest>,
    ) -> Result<Response<pb::ListSegmentsResponse>, Status> {
        let r = req.into_inner();
        let page = page_request(r.page, r.page_size, MAX_SEGMENT_PAGE)?;
        let name = r.name.filter(|n| !n.is_empty());
        let page = self.service.list_segments(name, page).await?;
        Ok(Response::new(pb::ListSegmentsResponse {
            pagination: Some(pagination(&page)),
            segments: page.items.into_iter().map(to_pb).collect(),
        }))
    }

    async fn get_segment(
        &self,
        req: Request<pb::GetSegmentRequest>,
    ) -> Result<Response<pb::Segment>, Status> {
        let id = parse_uuid("id", &req.into_inner().id)?;
        Ok(Response::new(to_pb(self.service.get_segment(id).await?)))
    }

    async fn update_segment(
        &self,
        req: Request<pb::UpdateSegmentRequest>,
    ) -> Result<Response<pb::Segment>, Status> {
        let caller = caller(&req)?;
        let r = req.into_inner();
        let id = parse_uuid("id", &r.id)?;
        let fields = SegmentFields {
            name: r.name,
            description: r.description,
            rule: r.rule.map(struct_to_json),
        };
        Ok(Response::new(to_pb(
            self.service
                .update_segment(caller, id, fields, &IfMatch::none())
                .await?,
        )))
    }

    async fn delete_segment(
        &self,
        req: Request<pb::DeleteSegmentRequest>,
    ) -> Result<Response<pb::DeleteSegmentResponse>, Status> {
        let id = parse_uuid("id", &req.into_inner().id)?;
        self.service.delete_segment(id).await?;
        Ok(Response::new(pb::DeleteSegmentResponse {
            id: id.to_string(),
        }))
    }

    async fn count_segment(
        &self,
        req: Request<pb::CountSegmentRequest>,
    ) -> Result<Response<pb::CountSegmentResponse>, Status> {
        let count = match req.into_inner().target {
            Some(Target::Id(id)) => {
                let id = parse_uuid("id", &id)?;
                self.service.count_segment(id).await?
            }
            Some(Target::Rule(rule)) => self.service.count_rule(&struct_to_json(rule)).await?,
            None => return Err(Error::invalid("target", "give id or rule").into()),
        };
        Ok(Response::new(pb::CountSegmentResponse { count }))
    }
}
