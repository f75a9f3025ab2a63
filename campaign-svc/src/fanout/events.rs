//! The event dispatcher: turns customer events into the sends of the campaigns listening to them
//! (`trigger.kind = "event"`).
//!
//! Storing an event enqueues it, in the same transaction, for every campaign listening to its
//! name (`marketing_event_trigger`, filled by a database trigger on `customer_events`), due at
//! the event's time plus the campaign's delay. This loop takes the due rows campaign by
//! campaign, the campaign row locked (so replicas take turns per campaign, and once-per-customer
//! and cooldowns hold across them), skips those whose event fails the trigger's property rule or
//! whose customer is out of the campaign's audience, opted out, unreachable, over the frequency
//! cap, already sent to (`once_per_customer`) or within the cooldown, and writes one `pending`
//! record per remaining event into the campaign's listening execution, in the same transaction
//! that deletes the rows. A record waits (`not_before`) for its send time, so the timed publisher
//! publishes it, at once for an undelayed event. `(campaign_id, event_id)` is unique among
//! records: a crash between publishing and the delete, or an event posted twice, can never make
//! a second record.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use diesel::QueryableByName;
use diesel::prelude::*;
use diesel::sql_types::{
    Array, BigInt, Bool, Integer, Jsonb, Nullable, Text, Timestamptz, Uuid as SqlUuid,
};
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};
use marketing_core::models::CampaignRow;
use marketing_core::schema::{campaign_executions::dsl as ce, marketing_campaign::dsl as mc};
use marketing_core::segment;
use marketing_core::vocabulary::{CampaignStatus, ExecutionStatus};
use tokio::sync::watch;
use uuid::Uuid;

use super::Fanout;
use super::audience::{Audience, audience_def, variant_sql};
use super::trigger::{Run, trigger_locked};
use crate::domain::execution::Skipped;
use crate::domain::timing::Timing;
use crate::domain::trigger::{CampaignTrigger, EventTrigger};
use crate::domain::variant::{buckets, stored};
use crate::error::{Error, Result};

/// Campaigns with events due, oldest due first (a bounded look at the queue's head).
const DUE_CAMPAIGNS_SQL: &str = "
SELECT DISTINCT campaign_id FROM (
    SELECT campaign_id FROM marketing_event_trigger WHERE due_at <= now() ORDER BY due_at LIMIT 1000
) due";

#[derive(QueryableByName)]
struct DueCampaign {
    #[diesel(sql_type = SqlUuid)]
    campaign_id: Uuid,
}

/// One campaign's due events with what decides whether each sends. `$1` channel, `$2` campaign,
/// `$3` page size, `$4` once per customer, `$5` cooldown hours (0: none); the audience's binds
/// from `$6`.
fn due_sql(audience: &Audience) -> String {
    format!(
        "WITH due AS (
            SELECT t.event_id, t.customer_id, t.due_at FROM marketing_event_trigger t
            WHERE t.campaign_id = $2 AND t.due_at <= now()
            ORDER BY t.due_at LIMIT $3
            FOR UPDATE SKIP LOCKED
        ), {}
        SELECT d.event_id, d.customer_id, d.due_at,
               COALESCE(e.properties, '{{}}'::jsonb) AS properties,
               a.id IS NOT NULL AS in_audience,
               COALESCE(a.reachable, false) AS reachable,
               COALESCE(a.opted_out, false) AS opted_out,
               COALESCE(a.capped, false) AS capped,
               a.time_zone,
               CASE WHEN $4 OR $5 > 0 THEN EXISTS (
                   SELECT 1 FROM marketing_record m
                   WHERE m.customer_id = d.customer_id AND m.campaign_id = $2
                     AND m.event_id IS NOT NULL AND m.status <> 'failed'
                     AND ($4 OR m.created_at > now() - make_interval(hours => $5)))
               ELSE false END AS sent_before
        FROM due d
        LEFT JOIN audience a ON a.id = d.customer_id
        LEFT JOIN customer_events e ON e.event_id = d.event_id
        ORDER BY d.due_at, d.event_id",
        audience_def(audience, "AND c.id IN (SELECT customer_id FROM due)")
    )
}

#[derive(QueryableByName)]
struct Due {
    #[diesel(sql_type = Text)]
    event_id: String,
    #[diesel(sql_type = SqlUuid)]
    customer_id: Uuid,
    #[diesel(sql_type = Timestamptz)]
    due_at: DateTime<Utc>,
    #[diesel(sql_type = Jsonb)]
    properties: serde_json::Value,
    #[diesel(sql_type = Bool)]
    in_audience: bool,
    #[diesel(sql_type = Bool)]
    reachable: bool,
    #[diesel(sql_type = Bool)]
    opted_out: bool,
    #[diesel(sql_type = Bool)]
    capped: bool,
    #[diesel(sql_type = Nullable<Text>)]
    time_zone: Option<String>,
    #[diesel(sql_type = Bool)]
    sent_before: bool,
}

/// Writes the records: `$1` channel, `$2` campaign, `$3`, `$4` variants, `$5` execution, `$6`–`$9`
/// record ids, customers, send times and events. Counts what it wrote by variant.
fn insert_sql(has_variants: bool) -> String {
    format!(
        "WITH created AS (
            INSERT INTO marketing_record (id, campaign_id, execution_id, customer_id, channel, status, variant, not_before, due_at, event_id)
            SELECT a.record_id, $2, $5, a.id, $1, 'pending', {}, a.not_before, a.not_before, a.event_id
            FROM unnest($6::uuid[], $7::uuid[], $8::timestamptz[], $9::text[]) AS a(record_id, id, not_before, event_id)
            ON CONFLICT (campaign_id, event_id) WHERE event_id IS NOT NULL DO NOTHING
            RETURNING variant
        ), per_variant AS (
            SELECT COALESCE(variant, '') AS variant, count(*) AS n FROM created GROUP BY 1
        )
        SELECT (SELECT count(*) FROM created) AS planned,
               ARRAY(SELECT variant FROM per_variant ORDER BY variant) AS variants,
               ARRAY(SELECT n FROM per_variant ORDER BY variant) AS variant_planned",
        variant_sql(has_variants)
    )
}

#[derive(QueryableByName)]
struct Created {
    #[diesel(sql_type = BigInt)]
    planned: i64,
    #[diesel(sql_type = Array<Text>)]
    variants: Vec<String>,
    #[diesel(sql_type = Array<BigInt>)]
    variant_planned: Vec<i64>,
}

const DELETE_SQL: &str =
    "DELETE FROM marketing_event_trigger WHERE campaign_id = $1 AND event_id = ANY($2)";

pub(super) struct EventDispatcher {
    fanout: Fanout,
}

impl EventDispatcher {
    pub(super) fn new(fanout: Fanout) -> Self {
        EventDispatcher { fanout }
    }

    /// Dispatches due events until `stop` turns true: at once when events were stored by this
    /// process, else every [`super::FanoutSettings::event_poll`] (events stored by another
    /// replica, delays falling due); at once again after a full page.
    pub(super) async fn run(self, stop: watch::Receiver<bool>) {
        super::repeat(
            "event dispatch",
            self.fanout.settings().event_poll,
            || self.pass(),
            || self.fanout.inner.events.notified(),
            stop,
        )
        .await;
    }

    /// One round over the campaigns with due events; `true` when one had a full page.
    async fn pass(&self) -> Result<bool> {
        let mut conn = self.fanout.pool().get().await?;
        let campaigns: Vec<DueCampaign> =
            diesel::sql_query(DUE_CAMPAIGNS_SQL).load(&mut conn).await?;
        let page = self.fanout.settings().page_size;
        let mut more = false;
        for c in campaigns {
            let fanout = &self.fanout;
            let written = conn
                .transaction::<_, Error, _>(async |conn| {
                    dispatch(conn, fanout, c.campaign_id, page).await
                })
                .await?;
            if written.published {
                self.fanout.wake_timed();
            }
            more |= written.taken >= page as usize;
        }
        Ok(more)
    }
}

struct Dispatched {
    /// Due rows taken off the queue.
    taken: usize,
    /// Whether records were written (the timed publisher has work).
    published: bool,
}

/// Dispatches one page of campaign `id`'s due events (in the caller's transaction).
async fn dispatch(
    conn: &mut AsyncPgConnection,
    fanout: &Fanout,
    id: Uuid,
    page: i64,
) -> Result<Dispatched> {
    let settings = fanout.settings();
    let Some(campaign) = CampaignRow::lock(conn, id).await? else {
        return Ok(Dispatched {
            taken: 0,
            published: false,
        });
    };
    let trigger = match CampaignTrigger::stored(&campaign.trigger)? {
        CampaignTrigger::Event(t) => Some(*t),
        // A journey's send step: each enqueued send goes to its customer, at once.
        CampaignTrigger::Journey(_) => Some(EventTrigger::journey_step()),
        _ => None,
    };
    let now = Utc::now();
    let listening = trigger.is_some()
        && matches!(
            campaign.status,
            CampaignStatus::Scheduled | CampaignStatus::Active
        )
        && campaign.paused_at.is_none()
        && campaign.end_time.is_none_or(|end| end > now);
    let Some(trigger) = trigger.filter(|_| listening) else {
        // Paused, ended or no longer event-triggered: what fell due meanwhile is dropped.
        let dropped = diesel::sql_query(
            "DELETE FROM marketing_event_trigger WHERE campaign_id = $1 AND due_at <= now()",
        )
        .bind::<SqlUuid, _>(id)
        .execute(conn)
        .await?;
        if dropped > 0 {
            tracing::info!(campaign_id = %id, events = dropped,
                "events not sent: the campaign is not listening (paused or ended)");
        }
        return Ok(Dispatched {
            taken: dropped,
            published: false,
        });
    };
    let execution = match listening_execution(conn, &campaign).await? {
        Some(e) => e,
        None => match trigger_locked(conn, &campaign, None, settings, Run::Listening(now)).await {
            Ok(e) => ListeningExecution {
                id: e,
                timing: super::trigger::timing(&campaign, settings.default_quiet_hours)?,
            },
            Err(
                Error::Conflict(reason)
                | Error::InvalidArgument {
                    message: reason, ..
                },
            ) => {
                // It cannot be sent (its segment is gone, it has no content): back to draft, as
                // the scheduler does with a due campaign, instead of failing every round.
                tracing::warn!(campaign_id = %id, %reason,
                    "event-triggered campaign cannot be sent; moved back to draft");
                diesel::update(mc::marketing_campaign.find(id))
                    .set((mc::status.eq(CampaignStatus::Draft), mc::updated_at.eq(now)))
                    .execute(conn)
                    .await?;
                return Ok(Dispatched {
                    taken: 0,
                    published: false,
                });
            }
            Err(e) => return Err(e),
        },
    };
    let audience = Audience::of(conn, &campaign, 6, settings.frequency_cap).await?;
    let cooldown = trigger
        .cooldown_hours
        .map_or(0, |h| i32::try_from(h).unwrap_or(i32::MAX));
    let query = diesel::sql_query(due_sql(&audience))
        .into_boxed()
        .bind::<Text, _>(campaign.type_.as_str().to_owned())
        .bind::<SqlUuid, _>(id)
        .bind::<BigInt, _>(page)
        .bind::<Bool, _>(trigger.once_per_customer)
        .bind::<Integer, _>(cooldown);
    let due: Vec<Due> = segment::bind_all(query, &audience.binds).load(conn).await?;
    if due.is_empty() {
        return Ok(Dispatched {
            taken: 0,
            published: false,
        });
    }
    let decided = decide(&trigger, &due, execution.timing.as_ref());
    let taken: Vec<&str> = due.iter().map(|d| d.event_id.as_str()).collect();
    let mut planned = 0;
    let mut per_variant: Option<Created> = None;
    if !decided.sends.is_empty() {
        let (keys, upto) = buckets(&stored(&campaign.variants)?);
        let has_variants = !keys.is_empty();
        let created: Created = diesel::sql_query(insert_sql(has_variants))
            .bind::<Text, _>(campaign.type_.as_str().to_owned())
            .bind::<SqlUuid, _>(id)
            .bind::<Array<Text>, _>(keys)
            .bind::<Array<Integer>, _>(upto)
            .bind::<SqlUuid, _>(execution.id)
            .bind::<Array<SqlUuid>, _>(
                decided
                    .sends
                    .iter()
                    .map(|_| Uuid::now_v7())
                    .collect::<Vec<_>>(),
            )
            .bind::<Array<SqlUuid>, _>(decided.sends.iter().map(|s| s.customer).collect::<Vec<_>>())
            .bind::<Array<Timestamptz>, _>(
                decided
                    .sends
                    .iter()
                    .map(|s| s.not_before)
                    .collect::<Vec<_>>(),
            )
            .bind::<Array<Text>, _>(
                decided
                    .sends
                    .iter()
                    .map(|s| s.event_id.clone())
                    .collect::<Vec<_>>(),
            )
            .get_result(conn)
            .await?;
        planned = created.planned;
        per_variant = Some(created);
    }
    diesel::sql_query(DELETE_SQL)
        .bind::<SqlUuid, _>(id)
        .bind::<Array<Text>, _>(taken)
        .execute(conn)
        .await?;
    // The counters last: every stage of a busy campaign (this, the timed publisher, the workers)
    // updates its execution's row, so each holds it only from here to its commit. The execution
    // row before the statistics rows, the order the freeze, the workers and the relay lock them
    // in: the other order deadlocked with the workers' outcome writes about once a second at
    // 1,000 events/s (each costing `deadlock_timeout`, a rolled-back page and a retry).
    add_to_execution(conn, execution.id, planned, decided.skipped).await?;
    if let Some(created) = per_variant {
        diesel::sql_query(super::freeze::PLANNED_SQL)
            .bind::<SqlUuid, _>(execution.id)
            .bind::<SqlUuid, _>(id)
            .bind::<Text, _>(campaign.type_.as_str().to_owned())
            .bind::<Array<Text>, _>(&created.variants)
            .bind::<Array<BigInt>, _>(&created.variant_planned)
            .execute(conn)
            .await?;
    }
    metrics::counter!("event_sends_planned_total").increment(planned.max(0) as u64);
    tracing::debug!(campaign_id = %id, events = due.len(), planned, "event sends dispatched");
    Ok(Dispatched {
        taken: due.len(),
        published: planned > 0,
    })
}

struct ListeningExecution {
    id: Uuid,
    timing: Option<Timing>,
}

/// The execution collecting the campaign's event sends: the running listening one started since
/// the campaign was last changed (paused, resumed, edited), if any.
async fn listening_execution(
    conn: &mut AsyncPgConnection,
    campaign: &CampaignRow,
) -> Result<Option<ListeningExecution>> {
    let found: Option<(Uuid, Option<serde_json::Value>)> = ce::campaign_executions
        .filter(ce::campaign_id.eq(campaign.id))
        .filter(ce::listening)
        .filter(ce::status.eq(ExecutionStatus::Running))
        .filter(ce::created_at.ge(campaign.updated_at))
        .order(ce::created_at.desc())
        .select((ce::id, ce::timing))
        .first(conn)
        .await
        .optional()?;
    found
        .map(|(id, timing)| {
            let timing = timing
                .map(serde_json::from_value)
                .transpose()
                .map_err(|e| {
                    Error::Internal(anyhow::anyhow!("execution {id}: stored timing: {e}"))
                })?;
            Ok(ListeningExecution { id, timing })
        })
        .transpose()
}

/// A record to write.
#[derive(Debug, PartialEq)]
struct Send {
    event_id: String,
    customer: Uuid,
    not_before: DateTime<Utc>,
}

#[derive(Debug, Default)]
struct Decided {
    sends: Vec<Send>,
    skipped: Skipped,
}

/// Which due events send, in due order: those whose properties pass the trigger's rule and whose
/// customer is in the audience, reachable, not opted out, under the cap, and (with
/// `once_per_customer` or a cooldown) not sent to before, nor earlier in this page. Each leaves at
/// its due time, or later by the campaign's local send time and quiet hours.
fn decide(trigger: &EventTrigger, due: &[Due], timing: Option<&Timing>) -> Decided {
    let mut out = Decided::default();
    let mut sent_now: HashSet<Uuid> = HashSet::new();
    let limited = trigger.once_per_customer || trigger.cooldown_hours.is_some();
    for d in due {
        if !trigger.matches(&d.properties) || !d.in_audience {
            continue;
        }
        if d.opted_out {
            out.skipped.opted_out += 1;
            continue;
        }
        if !d.reachable {
            out.skipped.no_address += 1;
            continue;
        }
        if d.capped {
            out.skipped.frequency_capped += 1;
            continue;
        }
        if limited && (d.sent_before || !sent_now.insert(d.customer_id)) {
            continue;
        }
        let not_before = match timing {
            Some(t) => {
                let zone = d.time_zone.as_deref().and_then(|z| z.parse::<Tz>().ok());
                t.send_time(d.due_at, zone)
            }
            None => d.due_at,
        };
        out.sends.push(Send {
            event_id: d.event_id.clone(),
            customer: d.customer_id,
            not_before,
        });
    }
    out
}

/// Adds a page's records and skips to the execution's counts.
async fn add_to_execution(
    conn: &mut AsyncPgConnection,
    execution: Uuid,
    planned: i64,
    skipped: Skipped,
) -> Result<()> {
    diesel::sql_query(
        "UPDATE campaign_executions SET planned = planned + $2,
            skipped = jsonb_build_object(
                'opted_out', COALESCE((skipped->>'opted_out')::bigint, 0) + $3,
                'no_address', COALESCE((skipped->>'no_address')::bigint, 0) + $4,
                'frequency_capped', COALESCE((skipped->>'frequency_capped')::bigint, 0) + $5)
         WHERE id = $1",
    )
    .bind::<SqlUuid, _>(execution)
    .bind::<BigInt, _>(planned)
    .bind::<BigInt, _>(skipped.opted_out as i64)
    .bind::<BigInt, _>(skipped.no_address as i64)
    .bind::<BigInt, _>(skipped.frequency_capped as i64)
    .execute(conn)
    .await?;
    Ok(())
}
