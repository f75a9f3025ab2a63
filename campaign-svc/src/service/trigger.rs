//! Triggering a campaign: a real trigger is the fan-out's ([`crate::fanout::Fanout::trigger`]);
//! a simulation resolves and renders the same way here but writes no records.

use chrono::Utc;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use marketing_core::schema::campaign_executions::dsl as ce;
use marketing_core::segment::{self};
use marketing_core::tracking::FrequencyCap;
use marketing_core::vocabulary::{CampaignStatus, ExecutionStatus, ExecutionType};
use uuid::Uuid;

use super::MarketingService;
use super::cost::CostEstimate;
use crate::domain::execution::{Execution, TriggerOutcome};
use crate::domain::{Page, PageRequest};
use crate::error::{Error, Result};
use crate::fanout::audience::{Audience, Counts, count_sql};
use crate::fanout::check_not_ended;
use crate::fanout::plan::{Plan, audience_samples, base_query};

/// How many rendered messages a simulation keeps.
const SAMPLES: i64 = 5;

/// Largest page of executions.
pub const MAX_EXECUTION_PAGE: u32 = 100;

impl MarketingService {
    /// Triggers a campaign for real (`actual`, see [`crate::fanout::Fanout::trigger`]) or as a
    /// dry run (`simulation`).
    pub async fn trigger_campaign(
        &self,
        caller: Option<Uuid>,
        id: Uuid,
        kind: ExecutionType,
    ) -> Result<TriggerOutcome> {
        match kind {
            ExecutionType::Actual => self.fanout.trigger(caller, id).await,
            ExecutionType::Simulation => {
                let mut conn = self.pool.get().await?;
                let cap = self.settings.frequency_cap;
                simulate(&mut conn, id, caller, cap, &self.settings).await
            }
        }
    }

    /// A campaign's executions, newest first (404 for an unknown campaign).
    pub async fn list_executions(
        &self,
        campaign: Uuid,
        page: PageRequest,
    ) -> Result<Page<Execution>> {
        let mut conn = self.pool.get().await?;
        super::campaigns::find(&mut conn, campaign).await?;
        let total: i64 = ce::campaign_executions
            .filter(ce::campaign_id.eq(campaign))
            .count()
            .get_result(&mut conn)
            .await?;
        let items = ce::campaign_executions
            .filter(ce::campaign_id.eq(campaign))
            .order((ce::created_at.desc(), ce::id.desc()))
            .offset(page.offset())
            .limit(page.limit())
            .select(Execution::as_select())
            .load(&mut conn)
            .await?;
        Ok(Page {
            items,
            total: total.max(0) as u64,
            request: page,
        })
    }

    pub async fn get_execution(&self, id: Uuid) -> Result<Execution> {
        let mut conn = self.pool.get().await?;
        ce::campaign_executions
            .find(id)
            .select(Execution::as_select())
            .first(&mut conn)
            .await
            .optional()?
            .ok_or_else(|| Error::not_found("execution", id))
    }
}

/// A dry run: same resolution and rendering, nothing sent, no status change, no records (so
/// it counts toward no frequency cap, though it counts who the cap leaves out).
async fn simulate(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    caller: Option<Uuid>,
    cap: Option<FrequencyCap>,
    settings: &super::Settings,
) -> Result<TriggerOutcome> {
    let signer = &settings.signer;
    let campaign = super::campaigns::find(conn, id).await?;
    if campaign.status == CampaignStatus::Archived {
        return Err(Error::Conflict(format!("campaign {id} is archived")));
    }
    check_not_ended(&campaign)?;
    let plan = Plan::resolve(conn, &campaign).await?;
    let audience = Audience::of(conn, &campaign, 5, cap).await?;
    let query = base_query(count_sql(&audience), &campaign, &plan);
    let counts: Counts = segment::bind_all(query, &audience.binds)
        .get_result(conn)
        .await?;
    let samples = audience_samples(conn, &campaign, &plan, signer, SAMPLES, cap).await?;
    let skipped = counts.skipped();
    let spent = super::cost::spent(conn, id).await?;
    let estimate = CostEstimate::new(
        &settings.pricing,
        &campaign,
        counts.planned.max(0) as u64,
        spent,
    );
    let execution_id = Uuid::now_v7();
    let now = Utc::now();
    diesel::insert_into(ce::campaign_executions)
        .values((
            ce::id.eq(execution_id),
            ce::campaign_id.eq(id),
            ce::execution_type.eq(ExecutionType::Simulation),
            ce::status.eq(ExecutionStatus::Completed),
            ce::planned.eq(counts.planned),
            ce::skipped.eq(crate::fanout::to_json(skipped)?),
            ce::samples.eq(crate::fanout::to_json(&samples)?),
            ce::contents.eq(crate::fanout::to_json(&plan.contents)?),
            ce::triggered_by.eq(caller),
            ce::created_at.eq(now),
            ce::finished_at.eq(Some(now)),
            ce::publish_done.eq(true),
            ce::cost_estimate.eq(Some(crate::fanout::to_json(&estimate)?)),
        ))
        .execute(conn)
        .await?;
    Ok(TriggerOutcome {
        execution_id,
        kind: ExecutionType::Simulation,
        planned: counts.planned as u64,
        skipped,
        frozen: true,
    })
}
