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
use crate::domain::execution::{Execution, Progress, TriggerOutcome};
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

    /// The execution's progress at once, then whenever it changes (read every
    /// [`WATCH_INTERVAL`], sent at least every [`WATCH_HEARTBEAT`]); ends after a final one
    /// (completed or failed). The rate is measured over the last [`RATE_WINDOW`].
    pub async fn watch_execution(
        &self,
        id: Uuid,
    ) -> Result<impl futures::Stream<Item = Result<Progress>> + Send + use<>> {
        let first = self.get_execution(id).await?;
        let watch = Watch {
            service: self.clone(),
            id,
            next: Some(first),
            last: None,
            samples: std::collections::VecDeque::new(),
            finished: false,
        };
        Ok(futures::stream::unfold(watch, |mut w| async move {
            if w.finished {
                return None;
            }
            loop {
                let execution = match w.next.take() {
                    Some(e) => e,
                    None => {
                        tokio::time::sleep(WATCH_INTERVAL).await;
                        match w.service.get_execution(w.id).await {
                            Ok(e) => e,
                            Err(e) => {
                                w.finished = true;
                                return Some((Err(e), w));
                            }
                        }
                    }
                };
                let now = std::time::Instant::now();
                let done = execution.sent + execution.failed;
                w.samples.push_back((now, done));
                while w.samples.len() > 2
                    && w.samples
                        .front()
                        .is_some_and(|(t, _)| now.duration_since(*t) > RATE_WINDOW)
                {
                    w.samples.pop_front();
                }
                let rate = match w.samples.front() {
                    Some((t, d)) if w.samples.len() >= 2 => {
                        let secs = now.duration_since(*t).as_secs_f64();
                        (secs > 0.0).then(|| (done - d) as f64 / secs)
                    }
                    _ => None,
                };
                let progress = execution.progress(Utc::now(), rate);
                let last = progress.status != ExecutionStatus::Running;
                let due = w.last.as_ref().is_none_or(|(p, at)| {
                    !p.same_counts(&progress) || now.duration_since(*at) >= WATCH_HEARTBEAT
                });
                if due || last {
                    w.last = Some((progress.clone(), now));
                    w.finished = last;
                    return Some((Ok(progress), w));
                }
            }
        }))
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

/// How often a watched execution is read.
pub const WATCH_INTERVAL: std::time::Duration = std::time::Duration::from_millis(500);
/// A watcher hears at least this often, changed or not.
pub const WATCH_HEARTBEAT: std::time::Duration = std::time::Duration::from_secs(10);
/// The window a watcher's rate is measured over.
pub const RATE_WINDOW: std::time::Duration = std::time::Duration::from_secs(5);

/// A watcher's state between reads.
struct Watch {
    service: MarketingService,
    id: Uuid,
    /// Read already, not yet sent (the first one).
    next: Option<Execution>,
    last: Option<(Progress, std::time::Instant)>,
    /// (when, finished messages) over the rate window.
    samples: std::collections::VecDeque<(std::time::Instant, i64)>,
    finished: bool,
}
