//! crm.marketing.v1.AdminService: the dead-letter queue, for admins only.

use crm_proto::v1 as pb;
use crm_proto::v1::admin_service_server::AdminService;
use tonic::{Request, Response, Status};

use super::convert::opt_timestamp;
use super::{GrpcApi, caller};
use crate::service::admin::{DeadLetter, ReplayOutcome, ReplaySelection};

fn dead_letter(d: DeadLetter) -> pb::DeadLetter {
    let job = d.job.as_ref();
    let id = |f: fn(&marketing_core::jobs::SendJob) -> uuid::Uuid| {
        job.map(|j| f(j).to_string()).unwrap_or_default()
    };
    pb::DeadLetter {
        message_id: d.message_id,
        record_id: id(|j| j.record_id),
        campaign_id: id(|j| j.campaign_id),
        execution_id: id(|j| j.execution_id),
        customer_id: id(|j| j.customer_id),
        channel: job
            .map(|j| j.channel.as_str().to_owned())
            .unwrap_or_default(),
        reason: d.reason,
        queue: d.queue,
        death_count: d.death_count,
        dead_lettered_at: opt_timestamp(d.dead_lettered_at),
        record_status: d.record_status,
        error_message: d.error_message,
    }
}

#[tonic::async_trait]
impl AdminService for GrpcApi {
    async fn list_dead_letters(
        &self,
        req: Request<pb::ListDeadLettersRequest>,
    ) -> Result<Response<pb::ListDeadLettersResponse>, Status> {
        let caller = caller(&req)?;
        let limit = req.into_inner().limit;
        let (listed, total) = self.service.list_dead_letters(&caller, limit).await?;
        Ok(Response::new(pb::ListDeadLettersResponse {
            dead_letters: listed.into_iter().map(dead_letter).collect(),
            total,
        }))
    }

    async fn replay_dead_letters(
        &self,
        req: Request<pb::ReplayDeadLettersRequest>,
    ) -> Result<Response<pb::ReplayDeadLettersResponse>, Status> {
        let caller = caller(&req)?;
        caller.require_admin()?;
        let r = req.into_inner();
        let selection = ReplaySelection::parse(&r.record_ids, r.limit)?;
        let results = self.service.replay_dead_letters(&caller, selection).await?;
        let count = |o: ReplayOutcome| results.iter().filter(|r| r.outcome == o).count() as u64;
        Ok(Response::new(pb::ReplayDeadLettersResponse {
            replayed: count(ReplayOutcome::Replayed),
            already_sent: count(ReplayOutcome::AlreadySent),
            kept: count(ReplayOutcome::Kept),
            results: results
                .into_iter()
                .map(|r| pb::ReplayedDeadLetter {
                    record_id: r.record_id,
                    outcome: r.outcome.as_str().to_owned(),
                    message: r.message,
                })
                .collect(),
        }))
    }
}
