//! crm.marketing.v1.ConversionService.

use crm_proto::v1 as pb;
use crm_proto::v1::conversion_service_server::ConversionService;
use tonic::{Request, Response, Status};

use super::GrpcApi;
use super::convert::{from_timestamp, timestamp};
use crate::domain::conversion::{ConversionFields, NewConversion};
use crate::service::conversions::Conversion;

fn to_pb(c: Conversion) -> pb::Conversion {
    pb::Conversion {
        attributed: c.attributed(),
        id: c.id.to_string(),
        customer_id: c.customer_id.to_string(),
        record_id: c.record_id.map(|id| id.to_string()),
        campaign_id: c.campaign_id.map(|id| id.to_string()),
        kind: c.kind,
        value_cents: c.value_cents,
        occurred_at: Some(timestamp(c.occurred_at)),
    }
}

#[tonic::async_trait]
impl ConversionService for GrpcApi {
    async fn report_conversion(
        &self,
        req: Request<pb::ReportConversionRequest>,
    ) -> Result<Response<pb::ReportConversionResponse>, Status> {
        let r = req.into_inner();
        let occurred_at = r
            .occurred_at
            .map(|t| from_timestamp("occurred_at", t).map(|t| t.to_rfc3339()))
            .transpose()?;
        let new = NewConversion::parse(
            ConversionFields {
                customer_id: Some(r.customer_id),
                record_id: r.record_id,
                external_id: r.external_id,
                kind: r.kind,
                value_cents: r.value_cents,
                occurred_at,
            },
            chrono::Utc::now(),
        )?;
        let (conversion, created) = self.service.report_conversion(new).await?;
        Ok(Response::new(pb::ReportConversionResponse {
            conversion: Some(to_pb(conversion)),
            created,
        }))
    }
}
