//! The journey runner: walks each customer through their journey's steps.
//!
//! Everything it does for a customer happens in one transaction with the customer's enrollment
//! row locked (`FOR UPDATE SKIP LOCKED`), so any number of replicas can run it, each step happens
//! exactly once, and a replica killed mid-step leaves the row to the next one, unchanged. A pass:
//!
//! 1. **Inbox**: events stored for active journeys (by a trigger on `customer_events`) enter
//!    customers (entry event), wake those waiting for them (wait-for-event) and mark goals.
//! 2. **Segment entries**: for a segment-entry journey, everyone matching it when activated, then
//!    each customer who starts to match, enters (at most every `segment_poll`).
//! 3. **Due customers**: a page of enrollments whose `due_at` passed, oldest first, advanced step
//!    after step until each one waits, leaves or finishes. A send step enqueues its message for
//!    the event dispatcher (the step's campaign, keyed by enrollment and step number, so a retried
//!    page can never send twice); branches and wait-for-event checks are evaluated for the whole
//!    page at once in SQL (customer fields, segments' rule language, events, and the engagement
//!    of the journey's earlier messages). The page's writes (enrollments, history, sends,
//!    counters) commit together.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, NaiveTime, TimeZone as _, Utc};
use chrono_tz::Tz;
use diesel::QueryableByName;
use diesel::prelude::*;
use diesel::sql_types::{
    Array, Bool, Integer, Jsonb, Nullable, Text, Timestamptz, Uuid as SqlUuid,
};
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};
use marketing_core::segment::{self, evaluate_properties};
use serde_json::{Value, json};
use tokio::sync::watch;
use uuid::Uuid;

use super::Fanout;
use crate::domain::journey::{Definition, Entry, Step, WaitFor};
use crate::error::{Error, Result};
use crate::service::journeys::{ENTER_SQL, re_entry_binds};

/// Most steps one customer takes in one pass (a definition without a cycle through a wait can
/// take at most its number of steps; this only guards the runner).
const MAX_STEPS_PER_PASS: usize = 200;

/// A version's definition and its send steps' campaigns (immutable once active).
struct Version {
    def: Definition,
    campaigns: HashMap<String, Uuid>,
}

pub(super) struct JourneyRunner {
    fanout: Fanout,
    versions: Mutex<HashMap<(Uuid, i32), Arc<Version>>>,
}

/// Walks taken per transaction: small enough that a page commits within a fraction of a second
/// (timers fire close to their time while many fall due), large enough to batch the writes.
const PAGE: i64 = 1000;

/// The runner loops of a replica (each takes its own page; `SKIP LOCKED` keeps them apart).
pub(super) const RUNNER_NAMES: [&str; 3] =
    ["journey runner", "journey runner 2", "journey runner 3"];

#[derive(QueryableByName)]
struct InboxRow {
    #[diesel(sql_type = SqlUuid)]
    journey_id: Uuid,
    #[diesel(sql_type = Text)]
    event_id: String,
    #[diesel(sql_type = SqlUuid)]
    customer_id: Uuid,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Jsonb)]
    properties: Value,
    #[diesel(sql_type = Timestamptz)]
    occurred_at: DateTime<Utc>,
}

#[derive(QueryableByName)]
struct JourneyHead {
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = Integer)]
    version: i32,
}

#[derive(QueryableByName)]
struct GoalCandidate {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = Integer)]
    version: i32,
    #[diesel(sql_type = SqlUuid)]
    customer_id: Uuid,
    #[diesel(sql_type = Timestamptz)]
    entered_at: DateTime<Utc>,
}

#[derive(QueryableByName, Clone)]
struct DueRow {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    journey_id: Uuid,
    #[diesel(sql_type = Integer)]
    version: i32,
    #[diesel(sql_type = SqlUuid)]
    customer_id: Uuid,
    #[diesel(sql_type = Text)]
    step: String,
    #[diesel(sql_type = Text)]
    phase: String,
    #[diesel(sql_type = Timestamptz)]
    step_entered_at: DateTime<Utc>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    wait_until: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Text>)]
    waiting_for: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    goal_event_id: Option<String>,
    #[diesel(sql_type = Integer)]
    seq: i32,
    #[diesel(sql_type = Jsonb)]
    sends: Value,
    #[diesel(sql_type = Nullable<Text>)]
    time_zone: Option<String>,
    #[diesel(sql_type = Bool)]
    erased: bool,
}

#[derive(QueryableByName)]
struct DbNow {
    #[diesel(sql_type = Timestamptz)]
    now: DateTime<Utc>,
}

#[derive(QueryableByName)]
struct Hit {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
}

/// An active segment-entry journey.
#[derive(QueryableByName)]
struct SegmentJourney {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = Integer)]
    version: i32,
    #[diesel(sql_type = Jsonb)]
    definition: Value,
}

/// What a walk waits for before it can go on.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Need {
    /// The branch rule's answer for this customer.
    Branch,
    /// Whether the awaited event happened since the step was entered.
    Event,
}

/// One customer's walk in this pass: the row as read, changed in memory.
struct Walk {
    row: DueRow,
    version: Arc<Version>,
    state: &'static str,
    finished: bool,
    due_at: Option<DateTime<Utc>>,
    need: Option<Need>,
    answer: Option<bool>,
    steps_taken: usize,
    history: Vec<(i32, String, &'static str, Option<Value>)>,
}

/// Counter deltas per (journey, version, step): entered, waiting, completed, exited, converted.
type Deltas = BTreeMap<(Uuid, i32, String), [i64; 5]>;
const ENTERED: usize = 0;
const WAITING: usize = 1;
const COMPLETED: usize = 2;
const EXITED: usize = 3;
const CONVERTED: usize = 4;

impl JourneyRunner {
    pub(super) fn new(fanout: Fanout) -> Self {
        JourneyRunner {
            fanout,
            versions: Mutex::new(HashMap::new()),
        }
    }

    /// Runs until `stop` turns true: at once when woken (events stored, customers entered,
    /// a journey activated), else every `event_poll`; at once again after a full page.
    pub(super) async fn run(self: Arc<Self>, stop: watch::Receiver<bool>) {
        let inner = &self.fanout.inner;
        super::repeat(
            "journey pass",
            self.fanout.settings().event_poll,
            || self.pass(),
            || async {
                tokio::select! {
                    _ = inner.journeys.notified() => {}
                    _ = inner.events.notified() => {}
                }
            },
            stop,
        )
        .await;
    }

    /// One pass; `true` when a page was full (more work is waiting).
    async fn pass(&self) -> Result<bool> {
        let mut conn = self.fanout.pool().get().await?;
        let inbox = self.inbox(&mut conn, PAGE).await?;
        let due = self.due(&mut conn, PAGE).await?;
        Ok(inbox >= PAGE as usize || due >= PAGE as usize)
    }

    /// Segment entries until `stop` turns true: every `JOURNEY_SEGMENT_POLL_MS`, and at once
    /// when a journey is activated. Its own loop, so a large segment never delays timers.
    pub(super) async fn run_segments(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let every = self.fanout.settings().journey_segment_poll;
        loop {
            let wait = match self.segment_entries().await {
                Ok(()) => every,
                Err(e) => {
                    tracing::warn!(error = %format!("{e:#}"), "journey segment entries failed; retrying");
                    every.min(Duration::from_secs(5))
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.fanout.inner.segments.notified() => {}
                _ = stop.wait_for(|s| *s) => return,
            }
        }
    }

    async fn version(
        &self,
        conn: &mut AsyncPgConnection,
        journey: Uuid,
        version: i32,
    ) -> Result<Arc<Version>> {
        if let Some(v) = self
            .versions
            .lock()
            .ok()
            .and_then(|m| m.get(&(journey, version)).cloned())
        {
            return Ok(v);
        }
        use marketing_core::schema::journey_versions::dsl as jv;
        let (def, sends): (Value, Value) = jv::journey_versions
            .find((journey, version))
            .select((jv::definition, jv::send_campaigns))
            .first(conn)
            .await?;
        let def = Definition::stored(&def)?;
        let mut campaigns = HashMap::new();
        if let Value::Object(o) = &sends {
            for (step, id) in o {
                if let Some(id) = id.as_str().and_then(|s| Uuid::parse_str(s).ok()) {
                    campaigns.insert(step.clone(), id);
                }
            }
        }
        let ready = def
            .steps
            .iter()
            .all(|(id, s)| !matches!(s, Step::Send { .. }) || campaigns.contains_key(id));
        let v = Arc::new(Version { def, campaigns });
        // Only a version made ready (activated) is final; one still being prepared is read again.
        if ready && let Ok(mut m) = self.versions.lock() {
            m.insert((journey, version), v.clone());
        }
        Ok(v)
    }

    /// Takes a page of the inbox: entries, wake-ups and goals. Returns the events taken.
    async fn inbox(&self, conn: &mut AsyncPgConnection, page: i64) -> Result<usize> {
        let (taken, entered) = conn
            .transaction::<_, Error, _>(async |conn| {
                let events: Vec<InboxRow> = diesel::sql_query(
                    "DELETE FROM journey_inbox WHERE (journey_id, event_id) IN (
                        SELECT journey_id, event_id FROM journey_inbox
                        ORDER BY received_at LIMIT $1 FOR UPDATE SKIP LOCKED)
                     RETURNING journey_id, event_id, customer_id, name, properties, occurred_at",
                )
                .bind::<diesel::sql_types::BigInt, _>(page)
                .load(conn)
                .await?;
                if events.is_empty() {
                    return Ok((0, 0));
                }
                let mut by_journey: BTreeMap<Uuid, Vec<&InboxRow>> = BTreeMap::new();
                for e in &events {
                    by_journey.entry(e.journey_id).or_default().push(e);
                }
                let mut entered = 0;
                for (journey, events) in by_journey {
                    entered += self.journey_events(conn, journey, &events).await?;
                }
                Ok((events.len(), entered))
            })
            .await?;
        if entered > 0 {
            metrics::counter!("journey_entries_total").increment(entered as u64);
        }
        Ok(taken)
    }

    /// One journey's events from the inbox.
    async fn journey_events(
        &self,
        conn: &mut AsyncPgConnection,
        journey: Uuid,
        events: &[&InboxRow],
    ) -> Result<usize> {
        let head: Option<JourneyHead> =
            diesel::sql_query("SELECT status, version FROM journeys WHERE id = $1")
                .bind::<SqlUuid, _>(journey)
                .get_result(conn)
                .await
                .optional()?;
        let Some(head) = head.filter(|h| h.status == "active") else {
            return Ok(0);
        };
        let current = self.version(conn, journey, head.version).await?;
        // Entries, in event order; one per customer per batch (the unique index keeps one walk
        // at a time anyway).
        let mut entered = 0;
        if let Entry::Event { event, where_rule } = &current.def.entry {
            let mut seen = HashSet::new();
            let (customers, ids): (Vec<Uuid>, Vec<Option<String>>) = events
                .iter()
                .filter(|e| &e.name == event)
                .filter(|e| {
                    where_rule
                        .as_ref()
                        .is_none_or(|r| evaluate_properties(r, &e.properties))
                })
                .filter(|e| seen.insert(e.customer_id))
                .map(|e| (e.customer_id, Some(e.event_id.clone())))
                .unzip();
            if !customers.is_empty() {
                let (never, cooldown) = re_entry_binds(current.def.re_entry);
                entered = diesel::sql_query(ENTER_SQL)
                    .bind::<SqlUuid, _>(journey)
                    .bind::<Integer, _>(head.version)
                    .bind::<Text, _>(&current.def.start)
                    .bind::<Array<SqlUuid>, _>(customers)
                    .bind::<Array<Nullable<Text>>, _>(ids)
                    .bind::<Bool, _>(never)
                    .bind::<Integer, _>(cooldown)
                    .execute(conn)
                    .await?;
            }
        }
        // Customers waiting for one of these events look again at once (whether it counts is
        // decided when they do: its time and properties).
        let (customers, names): (Vec<Uuid>, Vec<String>) = events
            .iter()
            .map(|e| (e.customer_id, e.name.clone()))
            .unzip();
        diesel::sql_query(
            "UPDATE journey_enrollments e SET due_at = now()
             FROM unnest($2::uuid[], $3::text[]) AS ev(customer_id, name)
             WHERE e.journey_id = $1 AND e.customer_id = ev.customer_id AND e.state = 'active'
               AND e.phase = 'waiting' AND e.waiting_for = ev.name AND e.due_at > now()",
        )
        .bind::<SqlUuid, _>(journey)
        .bind::<Array<SqlUuid>, _>(customers)
        .bind::<Array<Text>, _>(names)
        .execute(conn)
        .await?;
        self.goals(conn, journey, events).await?;
        Ok(entered)
    }

    /// Marks the walks these events convert: the goal of the walk's own version, an event after
    /// the customer entered.
    async fn goals(
        &self,
        conn: &mut AsyncPgConnection,
        journey: Uuid,
        events: &[&InboxRow],
    ) -> Result<()> {
        let customers: Vec<Uuid> = events.iter().map(|e| e.customer_id).collect();
        let candidates: Vec<GoalCandidate> = diesel::sql_query(
            "SELECT id, version, customer_id, entered_at FROM journey_enrollments
             WHERE journey_id = $1 AND state = 'active' AND goal_event_id IS NULL
               AND customer_id = ANY($2)",
        )
        .bind::<SqlUuid, _>(journey)
        .bind::<Array<SqlUuid>, _>(customers)
        .load(conn)
        .await?;
        let mut marks: Vec<(Uuid, String)> = Vec::new();
        for c in candidates {
            let v = self.version(conn, journey, c.version).await?;
            let Some(goal) = &v.def.goal else { continue };
            let hit = events.iter().find(|e| {
                e.customer_id == c.customer_id
                    && e.name == goal.event
                    && e.occurred_at >= c.entered_at
                    && goal
                        .where_rule
                        .as_ref()
                        .is_none_or(|r| evaluate_properties(r, &e.properties))
            });
            if let Some(e) = hit {
                marks.push((c.id, e.event_id.clone()));
            }
        }
        if marks.is_empty() {
            return Ok(());
        }
        let (ids, events): (Vec<Uuid>, Vec<String>) = marks.into_iter().unzip();
        diesel::sql_query(
            "UPDATE journey_enrollments e SET goal_event_id = g.event_id, due_at = now()
             FROM unnest($1::uuid[], $2::text[]) AS g(id, event_id)
             WHERE e.id = g.id AND e.state = 'active'",
        )
        .bind::<Array<SqlUuid>, _>(ids)
        .bind::<Array<Text>, _>(events)
        .execute(conn)
        .await?;
        Ok(())
    }

    /// Segment-entry journeys: customers who match now and did not at the last look enter.
    async fn segment_entries(&self) -> Result<()> {
        let mut conn = self.fanout.pool().get().await?;
        let conn = &mut conn;
        let journeys: Vec<SegmentJourney> = diesel::sql_query(
            "SELECT j.id, j.version, v.definition FROM journeys j
             JOIN journey_versions v ON v.journey_id = j.id AND v.version = j.version
             WHERE j.status = 'active' AND v.definition->'entry'->>'kind' = 'segment'",
        )
        .load(conn)
        .await?;
        let mut entered = 0;
        for j in journeys {
            entered += conn
                .transaction::<_, Error, _>(async |conn| self.segment_entry(conn, &j).await)
                .await?;
        }
        if entered > 0 {
            metrics::counter!("journey_entries_total").increment(entered as u64);
            self.fanout.journeys_changed();
        }
        Ok(())
    }

    async fn segment_entry(
        &self,
        conn: &mut AsyncPgConnection,
        j: &SegmentJourney,
    ) -> Result<usize> {
        // One replica at a time per journey; another one busy with it skips it.
        let mine: Option<Hit> = diesel::sql_query(
            "SELECT id FROM journeys WHERE id = $1 AND status = 'active' AND version = $2
             FOR NO KEY UPDATE SKIP LOCKED",
        )
        .bind::<SqlUuid, _>(j.id)
        .bind::<Integer, _>(j.version)
        .get_result(conn)
        .await
        .optional()?;
        if mine.is_none() {
            return Ok(0);
        }
        let def = Definition::stored(&j.definition)?;
        let Entry::Segment { segment_id } = def.entry else {
            return Ok(0);
        };
        let Some(segment) = marketing_core::models::SegmentRow::find(conn, segment_id).await?
        else {
            tracing::warn!(journey_id = %j.id, %segment_id, "segment of a journey's entry is gone");
            return Ok(0);
        };
        let rule = segment.parsed_rule().map_err(|e| {
            Error::Internal(anyhow::anyhow!("segment {segment_id}: stored rule: {e}"))
        })?;
        let compiled = segment::compile(&rule, 6);
        let (never, cooldown) = re_entry_binds(def.re_entry);
        let sql = format!(
            "WITH matching AS (
                SELECT c.id FROM customers c WHERE c.erased_at IS NULL AND ({})
             ), gone AS (
                DELETE FROM journey_segment_members m WHERE m.journey_id = $1
                  AND NOT EXISTS (SELECT 1 FROM matching x WHERE x.id = m.customer_id)
             ), fresh AS (
                INSERT INTO journey_segment_members (journey_id, customer_id)
                SELECT $1, id FROM matching ON CONFLICT DO NOTHING RETURNING customer_id
             )
             INSERT INTO journey_enrollments
                (id, journey_id, version, customer_id, step, phase, step_entered_at, due_at, entered_at, updated_at)
             SELECT gen_random_uuid(), $1, $2, f.customer_id, $3, 'enter', now(), now(), now(), now()
             FROM fresh f
             WHERE NOT EXISTS (
                SELECT 1 FROM journey_enrollments p
                WHERE p.journey_id = $1 AND p.customer_id = f.customer_id
                  AND (p.state = 'active' OR $4 OR p.entered_at > now() - make_interval(hours => $5)))
             ON CONFLICT DO NOTHING",
            compiled.sql
        );
        let query = diesel::sql_query(sql)
            .into_boxed()
            .bind::<SqlUuid, _>(j.id)
            .bind::<Integer, _>(j.version)
            .bind::<Text, _>(def.start.clone())
            .bind::<Bool, _>(never)
            .bind::<Integer, _>(cooldown);
        let entered = segment::bind_all(query, &compiled.binds)
            .execute(conn)
            .await?;
        if entered > 0 {
            tracing::info!(journey_id = %j.id, entered, "customers entered a journey by its segment");
        }
        Ok(entered)
    }

    /// Advances a page of due walks. Returns how many were taken.
    async fn due(&self, conn: &mut AsyncPgConnection, page: i64) -> Result<usize> {
        let fanout = &self.fanout;
        let (taken, sent) = conn
            .transaction::<_, Error, _>(async |conn| {
                let rows: Vec<DueRow> = diesel::sql_query(
                    "SELECT e.id, e.journey_id, e.version, e.customer_id, e.step, e.phase,
                            e.step_entered_at, e.wait_until, e.waiting_for, e.goal_event_id, e.seq,
                            e.sends, c.time_zone, c.erased_at IS NOT NULL AS erased
                     FROM journey_enrollments e JOIN customers c ON c.id = e.customer_id
                     WHERE e.due_at <= marketing_now()
                       AND e.journey_id IN (SELECT id FROM journeys WHERE status = 'active')
                     ORDER BY e.due_at LIMIT $1
                     FOR UPDATE OF e SKIP LOCKED",
                )
                .bind::<diesel::sql_types::BigInt, _>(page)
                .load(conn)
                .await?;
                if rows.is_empty() {
                    return Ok((0, 0));
                }
                // The database's clock (`marketing_now()`, which tests can move), so a walk's
                // times and the due check agree.
                let now: DbNow = diesel::sql_query("SELECT marketing_now() AS now")
                    .get_result(conn)
                    .await?;
                let now = now.now;
                let mut walks = Vec::with_capacity(rows.len());
                for row in rows {
                    let version = self.version(conn, row.journey_id, row.version).await?;
                    walks.push(Walk::new(row, version));
                }
                let mut deltas = Deltas::new();
                let mut sends: Vec<(Uuid, String, Uuid)> = Vec::new();
                for _round in 0..MAX_STEPS_PER_PASS {
                    for w in walks.iter_mut() {
                        w.advance(now, &mut deltas, &mut sends);
                    }
                    let blocked: Vec<usize> = (0..walks.len())
                        .filter(|&i| walks[i].need.is_some() && walks[i].answer.is_none())
                        .collect();
                    if blocked.is_empty() {
                        break;
                    }
                    answer(conn, &mut walks, &blocked).await?;
                }
                write(conn, &walks, &deltas, &sends, now).await?;
                tracing::debug!(
                    walks = walks.len(),
                    sends = sends.len(),
                    "journey walks advanced"
                );
                Ok((walks.len(), sends.len()))
            })
            .await?;
        if sent > 0 {
            metrics::counter!("journey_sends_total").increment(sent as u64);
            fanout.events_stored();
        }
        Ok(taken)
    }
}

impl Walk {
    fn new(row: DueRow, version: Arc<Version>) -> Self {
        Walk {
            row,
            version,
            state: "active",
            finished: false,
            due_at: None,
            need: None,
            answer: None,
            steps_taken: 0,
            history: Vec::new(),
        }
    }

    fn delta(&self, deltas: &mut Deltas, which: usize, n: i64) {
        let key = (self.row.journey_id, self.row.version, self.row.step.clone());
        deltas.entry(key).or_insert([0; 5])[which] += n;
    }

    fn record(&mut self, action: &'static str, detail: Option<Value>) {
        let seq = self.row.seq + self.history.len() as i32 + 1;
        self.history
            .push((seq, self.row.step.clone(), action, detail));
    }

    /// Moves on to `next`, or finishes the journey when there is none.
    fn go(&mut self, next: Option<String>, now: DateTime<Utc>, deltas: &mut Deltas) {
        self.delta(deltas, COMPLETED, 1);
        match next {
            Some(next) => {
                self.row.step = next;
                self.row.phase = "enter".to_owned();
                self.row.step_entered_at = now;
                self.row.wait_until = None;
                self.row.waiting_for = None;
            }
            None => {
                self.record("completed", None);
                self.finish("completed");
            }
        }
    }

    fn finish(&mut self, state: &'static str) {
        self.state = state;
        self.finished = true;
        self.due_at = None;
    }

    /// Takes steps until the walk waits, needs an answer from the database, or ends.
    fn advance(
        &mut self,
        now: DateTime<Utc>,
        deltas: &mut Deltas,
        sends: &mut Vec<(Uuid, String, Uuid)>,
    ) {
        let version = self.version.clone();
        while !self.finished && self.steps_taken < MAX_STEPS_PER_PASS {
            if self.need.is_some() && self.answer.is_none() {
                return;
            }
            if self.row.erased {
                if self.row.phase == "waiting" {
                    self.delta(deltas, WAITING, -1);
                }
                self.delta(deltas, EXITED, 1);
                self.record("exited", Some(json!({"reason": "customer erased"})));
                self.finish("exited");
                return;
            }
            if let Some(event) = self.row.goal_event_id.clone() {
                if self.row.phase == "waiting" {
                    self.delta(deltas, WAITING, -1);
                }
                self.delta(deltas, CONVERTED, 1);
                self.record("converted", Some(json!({"event_id": event})));
                self.finish("converted");
                return;
            }
            let Some(step) = version.def.steps.get(&self.row.step) else {
                // Cannot happen for a validated definition; end the walk rather than loop.
                self.record("exited", Some(json!({"reason": "unknown step"})));
                self.finish("exited");
                return;
            };
            self.steps_taken += 1;
            let entering = self.row.phase == "enter";
            if entering && self.need.is_none() {
                self.delta(deltas, ENTERED, 1);
            }
            match step {
                Step::Send { next, .. } => {
                    let key = format!(
                        "journey:{}:{}",
                        self.row.id,
                        self.row.seq + self.history.len() as i32 + 1
                    );
                    match version.campaigns.get(&self.row.step) {
                        Some(campaign) => {
                            sends.push((*campaign, key.clone(), self.row.customer_id));
                            if let Value::Object(o) = &mut self.row.sends {
                                o.insert(
                                    self.row.step.clone(),
                                    json!({"campaign": campaign, "key": key}),
                                );
                            }
                            self.record("sent", Some(json!({"campaign_id": campaign, "key": key})));
                        }
                        None => {
                            self.record("skipped", Some(json!({"reason": "step has no campaign"})))
                        }
                    }
                    self.go(next.clone(), now, deltas);
                }
                Step::Wait { wait, next } => {
                    if entering {
                        let until = match wait {
                            WaitFor::Seconds(s) => now + chrono::Duration::seconds(*s),
                            WaitFor::LocalTime(t) => {
                                next_local(now, *t, self.row.time_zone.as_deref())
                            }
                        };
                        self.hold(until, None, deltas);
                        self.record("waiting", Some(json!({"until": until})));
                        return;
                    }
                    match self.row.wait_until {
                        Some(until) if until > now => {
                            self.due_at = Some(until);
                            return;
                        }
                        _ => {
                            self.delta(deltas, WAITING, -1);
                            self.go(next.clone(), now, deltas);
                        }
                    }
                }
                Step::WaitForEvent {
                    event,
                    timeout_seconds,
                    on_event,
                    on_timeout,
                    ..
                } => {
                    if entering {
                        let until = now + chrono::Duration::seconds(*timeout_seconds);
                        self.hold(until, Some(event.clone()), deltas);
                        self.record("waiting", Some(json!({"event": event, "until": until})));
                        return;
                    }
                    let Some(happened) = self.answer.take() else {
                        self.need = Some(Need::Event);
                        self.steps_taken -= 1;
                        return;
                    };
                    self.need = None;
                    let timed_out = self.row.wait_until.is_none_or(|u| u <= now);
                    if happened || timed_out {
                        self.delta(deltas, WAITING, -1);
                        let (action, next) = if happened {
                            ("event", on_event)
                        } else {
                            ("timeout", on_timeout)
                        };
                        self.record(action, Some(json!({"event": event})));
                        self.go(Some(next.clone()), now, deltas);
                    } else {
                        // Woken by an event that did not count: back to waiting.
                        self.due_at = self.row.wait_until;
                        return;
                    }
                }
                Step::Branch {
                    then, otherwise, ..
                } => {
                    let Some(holds) = self.answer.take() else {
                        self.need = Some(Need::Branch);
                        self.steps_taken -= 1;
                        return;
                    };
                    self.need = None;
                    let next = if holds { then } else { otherwise };
                    self.record(
                        if holds { "then" } else { "else" },
                        Some(json!({"next": next})),
                    );
                    self.go(Some(next.clone()), now, deltas);
                }
                Step::Split { branches } => {
                    let total: u32 = branches.iter().map(|(w, _)| w).sum();
                    let bucket =
                        split_bucket(self.row.journey_id, &self.row.step, self.row.customer_id)
                            % u64::from(total.max(1));
                    let mut upto = 0u64;
                    let mut chosen = &branches[branches.len() - 1].1;
                    for (w, next) in branches {
                        upto += u64::from(*w);
                        if bucket < upto {
                            chosen = next;
                            break;
                        }
                    }
                    self.record("split", Some(json!({"next": chosen})));
                    self.go(Some(chosen.clone()), now, deltas);
                }
                Step::Exit => {
                    self.delta(deltas, EXITED, 1);
                    self.record("exited", None);
                    self.finish("exited");
                }
            }
        }
        if !self.finished && self.due_at.is_none() && self.need.is_none() {
            // The guard stopped a long walk: it goes on in the next pass.
            self.due_at = Some(now);
        }
    }

    /// Holds the walk at a wait (or wait-for-event) step until `until`.
    fn hold(&mut self, until: DateTime<Utc>, event: Option<String>, deltas: &mut Deltas) {
        self.delta(deltas, WAITING, 1);
        self.row.phase = "waiting".to_owned();
        self.row.wait_until = Some(until);
        self.row.waiting_for = event;
        self.due_at = Some(until);
    }
}

/// A stable number for a customer at a split step (FNV-1a over journey, step and customer).
fn split_bucket(journey: Uuid, step: &str, customer: Uuid) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in journey
        .as_bytes()
        .iter()
        .chain(step.as_bytes())
        .chain(customer.as_bytes())
    {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The next time after `now` that the clock of `zone` (UTC when none or unknown) shows `at`.
fn next_local(now: DateTime<Utc>, at: NaiveTime, zone: Option<&str>) -> DateTime<Utc> {
    let tz: Tz = zone.and_then(|z| z.parse().ok()).unwrap_or(Tz::UTC);
    let local_now = now.with_timezone(&tz);
    let mut date = local_now.date_naive();
    for _ in 0..3 {
        if let Some(t) = tz
            .from_local_datetime(&date.and_time(at))
            .earliest()
            .map(|t| t.with_timezone(&Utc))
            .filter(|t| *t > now)
        {
            return t;
        }
        date = date.succ_opt().unwrap_or(date);
    }
    now + chrono::Duration::days(1)
}

/// Answers the blocked walks' questions, one query per (journey, version, step).
async fn answer(conn: &mut AsyncPgConnection, walks: &mut [Walk], blocked: &[usize]) -> Result<()> {
    let mut groups: BTreeMap<(Uuid, i32, String), Vec<usize>> = BTreeMap::new();
    for &i in blocked {
        let w = &walks[i];
        groups
            .entry((w.row.journey_id, w.row.version, w.row.step.clone()))
            .or_default()
            .push(i);
    }
    for ((_, _, step), members) in groups {
        let version = walks[members[0]].version.clone();
        let need = walks[members[0]].need;
        let ids: Vec<Uuid> = members.iter().map(|&i| walks[i].row.id).collect();
        let customers: Vec<Uuid> = members.iter().map(|&i| walks[i].row.customer_id).collect();
        let hits: Vec<Hit> = match (version.def.steps.get(&step), need) {
            (Some(Step::Branch { rule, .. }), Some(Need::Branch)) => {
                let sends: Vec<Value> = members
                    .iter()
                    .map(|&i| walks[i].row.sends.clone())
                    .collect();
                // Saved segments tested by the branch, with their rules as they are now.
                let mut segments = HashMap::new();
                for id in rule.segments() {
                    if let Some(s) = marketing_core::models::SegmentRow::find(conn, id).await? {
                        let parsed = s.parsed_rule().map_err(|e| {
                            Error::Internal(anyhow::anyhow!("segment {id}: stored rule: {e}"))
                        })?;
                        segments.insert(id, parsed);
                    }
                }
                let compiled = segment::compile(&rule.with_segments(&segments), 4);
                let sql = format!(
                    "SELECT je.id FROM unnest($1::uuid[], $2::uuid[], $3::jsonb[]) AS je(id, customer_id, sends)
                     JOIN customers c ON c.id = je.customer_id
                     WHERE {}",
                    compiled.sql
                );
                let q = diesel::sql_query(sql)
                    .into_boxed()
                    .bind::<Array<SqlUuid>, _>(ids)
                    .bind::<Array<SqlUuid>, _>(customers)
                    .bind::<Array<Jsonb>, _>(sends);
                segment::bind_all(q, &compiled.binds).load(conn).await?
            }
            (
                Some(Step::WaitForEvent {
                    event, where_rule, ..
                }),
                Some(Need::Event),
            ) => {
                let since: Vec<DateTime<Utc>> = members
                    .iter()
                    .map(|&i| walks[i].row.step_entered_at)
                    .collect();
                let filter = where_rule
                    .as_ref()
                    .map(|r| segment::compile_properties(r, "ev.properties", 5));
                let sql = format!(
                    "SELECT je.id FROM unnest($1::uuid[], $2::uuid[], $3::timestamptz[]) AS je(id, customer_id, since)
                     WHERE EXISTS (SELECT 1 FROM customer_events ev
                                   WHERE ev.customer_id = je.customer_id AND ev.name = $4
                                     AND ev.occurred_at >= je.since AND {})",
                    filter.as_ref().map_or("true".to_owned(), |f| format!("({})", f.sql))
                );
                let q = diesel::sql_query(sql)
                    .into_boxed()
                    .bind::<Array<SqlUuid>, _>(ids)
                    .bind::<Array<SqlUuid>, _>(customers)
                    .bind::<Array<Timestamptz>, _>(since)
                    .bind::<Text, _>(event.clone());
                match &filter {
                    Some(f) => segment::bind_all(q, &f.binds).load(conn).await?,
                    None => q.load(conn).await?,
                }
            }
            _ => Vec::new(),
        };
        let hit: HashSet<Uuid> = hits.into_iter().map(|h| h.id).collect();
        for &i in &members {
            walks[i].answer = Some(hit.contains(&walks[i].row.id));
        }
    }
    Ok(())
}

/// Writes a page's walks: the enrollments, their history, the sends and the counters.
async fn write(
    conn: &mut AsyncPgConnection,
    walks: &[Walk],
    deltas: &Deltas,
    sends: &[(Uuid, String, Uuid)],
    now: DateTime<Utc>,
) -> Result<()> {
    let n = walks.len();
    let mut ids = Vec::with_capacity(n);
    let mut steps = Vec::with_capacity(n);
    let mut phases = Vec::with_capacity(n);
    let mut states = Vec::with_capacity(n);
    let mut entered_at = Vec::with_capacity(n);
    let mut wait_until = Vec::with_capacity(n);
    let mut waiting_for = Vec::with_capacity(n);
    let mut seqs = Vec::with_capacity(n);
    let mut sends_json = Vec::with_capacity(n);
    let mut due = Vec::with_capacity(n);
    let mut finished = Vec::with_capacity(n);
    let (mut h_ids, mut h_seq, mut h_step, mut h_action, mut h_detail, mut h_at) = (
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
    );
    for w in walks {
        ids.push(w.row.id);
        steps.push(w.row.step.clone());
        phases.push(w.row.phase.clone());
        states.push(w.state.to_owned());
        entered_at.push(w.row.step_entered_at);
        wait_until.push(w.row.wait_until);
        waiting_for.push(w.row.waiting_for.clone());
        seqs.push(w.row.seq + w.history.len() as i32);
        sends_json.push(w.row.sends.clone());
        due.push(w.due_at);
        finished.push(w.finished.then_some(now));
        for (seq, step, action, detail) in &w.history {
            h_ids.push(w.row.id);
            h_seq.push(*seq);
            h_step.push(step.clone());
            h_action.push((*action).to_owned());
            h_detail.push(detail.clone());
            h_at.push(now);
        }
    }
    diesel::sql_query(
        "UPDATE journey_enrollments e SET
            step = u.step, phase = u.phase, state = u.state, step_entered_at = u.step_entered_at,
            wait_until = u.wait_until, waiting_for = u.waiting_for, seq = u.seq, sends = u.sends,
            due_at = u.due_at, finished_at = u.finished_at, updated_at = $12,
            goal_event_id = CASE WHEN u.state = 'active' THEN e.goal_event_id END
         FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::timestamptz[],
                     $6::timestamptz[], $7::text[], $8::int[], $9::jsonb[], $10::timestamptz[],
                     $11::timestamptz[])
              AS u(id, step, phase, state, step_entered_at, wait_until, waiting_for, seq, sends, due_at, finished_at)
         WHERE e.id = u.id",
    )
    .bind::<Array<SqlUuid>, _>(ids)
    .bind::<Array<Text>, _>(steps)
    .bind::<Array<Text>, _>(phases)
    .bind::<Array<Text>, _>(states)
    .bind::<Array<Timestamptz>, _>(entered_at)
    .bind::<Array<Nullable<Timestamptz>>, _>(wait_until)
    .bind::<Array<Nullable<Text>>, _>(waiting_for)
    .bind::<Array<Integer>, _>(seqs)
    .bind::<Array<Jsonb>, _>(sends_json)
    .bind::<Array<Nullable<Timestamptz>>, _>(due)
    .bind::<Array<Nullable<Timestamptz>>, _>(finished)
    .bind::<Timestamptz, _>(now)
    .execute(conn)
    .await?;
    if !h_ids.is_empty() {
        diesel::sql_query(
            "INSERT INTO journey_history (enrollment_id, seq, step, action, detail, at)
             SELECT * FROM unnest($1::uuid[], $2::int[], $3::text[], $4::text[], $5::jsonb[], $6::timestamptz[])
             ON CONFLICT DO NOTHING",
        )
        .bind::<Array<SqlUuid>, _>(h_ids)
        .bind::<Array<Integer>, _>(h_seq)
        .bind::<Array<Text>, _>(h_step)
        .bind::<Array<Text>, _>(h_action)
        .bind::<Array<Nullable<Jsonb>>, _>(h_detail)
        .bind::<Array<Timestamptz>, _>(h_at)
        .execute(conn)
        .await?;
    }
    if !sends.is_empty() {
        let (campaigns, rest): (Vec<Uuid>, Vec<(String, Uuid)>) =
            sends.iter().map(|(c, k, u)| (*c, (k.clone(), *u))).unzip();
        let (keys, customers): (Vec<String>, Vec<Uuid>) = rest.into_iter().unzip();
        diesel::sql_query(
            "INSERT INTO marketing_event_trigger (campaign_id, event_id, customer_id, due_at)
             SELECT c, k, u, $4 FROM unnest($1::uuid[], $2::text[], $3::uuid[]) AS s(c, k, u)
             ON CONFLICT DO NOTHING",
        )
        .bind::<Array<SqlUuid>, _>(campaigns)
        .bind::<Array<Text>, _>(keys)
        .bind::<Array<SqlUuid>, _>(customers)
        .bind::<Timestamptz, _>(now)
        .execute(conn)
        .await?;
    }
    // The counters last, row by row in key order (replicas lock them in the same order).
    for ((journey, version, step), d) in deltas {
        if d.iter().all(|x| *x == 0) {
            continue;
        }
        diesel::sql_query(
            "UPDATE journey_step_stats SET entered = entered + $4, waiting = waiting + $5,
                completed = completed + $6, exited = exited + $7, converted = converted + $8
             WHERE journey_id = $1 AND version = $2 AND step = $3",
        )
        .bind::<SqlUuid, _>(*journey)
        .bind::<Integer, _>(*version)
        .bind::<Text, _>(step)
        .bind::<diesel::sql_types::BigInt, _>(d[ENTERED])
        .bind::<diesel::sql_types::BigInt, _>(d[WAITING])
        .bind::<diesel::sql_types::BigInt, _>(d[COMPLETED])
        .bind::<diesel::sql_types::BigInt, _>(d[EXITED])
        .bind::<diesel::sql_types::BigInt, _>(d[CONVERTED])
        .execute(conn)
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_waits_end_at_the_next_such_time_on_the_customers_clock() {
        let now = Utc.with_ymd_and_hms(2026, 12, 1, 23, 30, 0).unwrap();
        let nine = NaiveTime::from_hms_opt(9, 0, 0).unwrap();
        // 07:30 in Shanghai: 09:00 the same day.
        assert_eq!(
            next_local(now, nine, Some("Asia/Shanghai")),
            Utc.with_ymd_and_hms(2026, 12, 2, 1, 0, 0).unwrap()
        );
        // 23:30 UTC: 09:00 tomorrow.
        assert_eq!(
            next_local(now, nine, None),
            Utc.with_ymd_and_hms(2026, 12, 2, 9, 0, 0).unwrap()
        );
    }

    #[test]
    fn splits_are_stable_per_customer_and_spread() {
        let j = Uuid::now_v7();
        let c = Uuid::now_v7();
        assert_eq!(split_bucket(j, "s", c), split_bucket(j, "s", c));
        let left = (0..10_000)
            .filter(|_| split_bucket(j, "s", Uuid::new_v4()) % 100 < 30)
            .count();
        assert!((2_600..3_400).contains(&left), "{left}");
    }
}
