//! Journeys: create, list, read, update (a new version once customers may be inside), activate,
//! pause, archive, enter customers by hand, per-step statistics and a customer's path. The
//! runner that walks customers through the steps is `crate::fanout::journeys`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Bool, Integer, Jsonb, Nullable, Text, Uuid as SqlUuid};
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};
use marketing_core::models::CampaignRow;
use marketing_core::schema::content_templates::dsl as ct;
use marketing_core::schema::journey_versions::dsl as jv;
use marketing_core::schema::journeys::dsl as jn;
use marketing_core::schema::marketing_campaign::dsl as mc;
use marketing_core::schema::segments::dsl as sg;
use marketing_core::vocabulary::CampaignStatus;
use serde::Serialize;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::MarketingService;
use crate::auth::Caller;
use crate::domain::journey::{
    Definition, Entry, Journey, JourneyFields, ReEntry, Step, ValidJourney,
};
use crate::domain::trigger::JourneyStep;
use crate::domain::{IfMatch, Page, PageRequest};
use crate::error::{Error, Result};

/// Largest page of journeys.
pub const MAX_JOURNEY_PAGE: u32 = 100;
/// Most customers entered by one call.
pub const MAX_ENROLL: usize = 10_000;

/// A journey's lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JourneyStatus {
    Draft,
    Active,
    Paused,
    Archived,
}

impl JourneyStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JourneyStatus::Draft => "draft",
            JourneyStatus::Active => "active",
            JourneyStatus::Paused => "paused",
            JourneyStatus::Archived => "archived",
        }
    }

    fn stored(s: &str) -> Result<Self> {
        Self::parse("status", s)
            .map_err(|_| Error::Internal(anyhow::anyhow!("stored journey status `{s}`")))
    }

    pub fn parse(field: &str, s: &str) -> Result<Self> {
        match s {
            "draft" => Ok(JourneyStatus::Draft),
            "active" => Ok(JourneyStatus::Active),
            "paused" => Ok(JourneyStatus::Paused),
            "archived" => Ok(JourneyStatus::Archived),
            other => Err(Error::invalid(
                field,
                format!("`{other}` is not one of: draft active paused archived"),
            )),
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = marketing_core::schema::journeys)]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub(crate) struct JourneyRow {
    pub id: Uuid,
    pub name: String,
    pub status: String,
    pub version: i32,
    pub created_by: Uuid,
    pub updated_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub activated_at: Option<DateTime<Utc>>,
    pub archived_at: Option<DateTime<Utc>>,
}

impl JourneyRow {
    fn into_journey(self, definition: Value) -> Journey {
        Journey {
            id: self.id,
            name: self.name,
            status: self.status,
            version: self.version,
            definition: match definition {
                Value::Object(o) => o,
                _ => Map::new(),
            },
            created_at: self.created_at,
            updated_at: self.updated_at,
            activated_at: self.activated_at,
            archived_at: self.archived_at,
        }
    }
}

/// Customers entered by hand, and those who could not be.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Enrolled {
    pub entered: u64,
    /// Customers not entered: unknown or erased, already inside, or not allowed back yet.
    pub not_entered: Vec<Uuid>,
}

/// One step's counters (SPEC §6): customers who reached it, are held by it now, moved on from it
/// (or finished the journey there), left the journey at it (an exit step, or the journey was
/// archived while they were there) and converted while there; for a send step, its messages.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StepStats {
    pub version: i32,
    pub step: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub entered: i64,
    pub waiting: i64,
    pub completed: i64,
    pub exited: i64,
    pub converted: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub messages: Option<Value>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct JourneyStats {
    pub journey_id: Uuid,
    /// Customers who entered (every version).
    pub entered: i64,
    pub converted: i64,
    pub exited: i64,
    pub steps: Vec<StepStats>,
}

/// Where one customer is in a journey and how they got there.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct JourneyCustomer {
    pub journey_id: Uuid,
    pub customer_id: Uuid,
    /// Every walk, newest first.
    pub enrollments: Vec<Value>,
}

#[derive(QueryableByName)]
struct StatRow {
    #[diesel(sql_type = Integer)]
    version: i32,
    #[diesel(sql_type = Text)]
    step: String,
    #[diesel(sql_type = BigInt)]
    entered: i64,
    #[diesel(sql_type = BigInt)]
    waiting: i64,
    #[diesel(sql_type = BigInt)]
    completed: i64,
    #[diesel(sql_type = BigInt)]
    exited: i64,
    #[diesel(sql_type = BigInt)]
    converted: i64,
}

#[derive(QueryableByName)]
struct EnrollmentRow {
    #[diesel(sql_type = Jsonb)]
    enrollment: Value,
}

#[derive(QueryableByName)]
struct Entered {
    #[diesel(sql_type = SqlUuid)]
    customer_id: Uuid,
}

/// Enters customers into version `$2` of journey `$1` at step `$3`: `$4` customers with `$5`
/// their entry events (NULL when entered otherwise); not the erased, not one already inside, and
/// not one who was inside before unless re-entry allows it (`$6` never, `$7` cooldown hours).
pub(crate) const ENTER_SQL: &str = "
INSERT INTO journey_enrollments
    (id, journey_id, version, customer_id, step, phase, step_entered_at, entry_event_id, due_at, entered_at, updated_at)
SELECT gen_random_uuid(), $1, $2, x.customer_id, $3, 'enter', now(), x.event_id, now(), now(), now()
FROM unnest($4::uuid[], $5::text[]) AS x(customer_id, event_id)
JOIN customers c ON c.id = x.customer_id AND c.erased_at IS NULL
WHERE NOT EXISTS (
    SELECT 1 FROM journey_enrollments p
    WHERE p.journey_id = $1 AND p.customer_id = x.customer_id
      AND (p.state = 'active' OR $6 OR p.entered_at > now() - make_interval(hours => $7)))
ON CONFLICT DO NOTHING
RETURNING customer_id";

/// The re-entry binds of [`ENTER_SQL`].
pub(crate) fn re_entry_binds(r: ReEntry) -> (bool, i32) {
    match r {
        ReEntry::Never => (true, 0),
        ReEntry::CooldownHours(h) => (false, i32::try_from(h).unwrap_or(i32::MAX)),
    }
}

impl MarketingService {
    pub async fn create_journey(&self, caller: Caller, fields: JourneyFields) -> Result<Journey> {
        let valid = fields.into_new()?;
        let mut conn = self.pool.get().await?;
        let now = Utc::now();
        let row = conn
            .transaction::<_, Error, _>(async |conn| {
                check_references(conn, &valid.definition).await?;
                let row = JourneyRow {
                    id: Uuid::now_v7(),
                    name: valid.name.clone(),
                    status: JourneyStatus::Draft.as_str().to_owned(),
                    version: 1,
                    created_by: caller.id,
                    updated_by: caller.id,
                    created_at: now,
                    updated_at: now,
                    activated_at: None,
                    archived_at: None,
                };
                diesel::insert_into(jn::journeys)
                    .values(&row)
                    .execute(conn)
                    .await?;
                insert_version(conn, row.id, 1, &valid.definition.json, caller.id).await?;
                Ok(row)
            })
            .await?;
        tracing::info!(journey_id = %row.id, "journey created");
        Ok(row.into_journey(valid.definition.json))
    }

    pub async fn get_journey(&self, id: Uuid) -> Result<Journey> {
        let mut conn = self.pool.get().await?;
        let row = find(&mut conn, id, false).await?;
        let def = definition(&mut conn, id, row.version).await?;
        Ok(row.into_journey(def))
    }

    /// Newest first; `status` filters.
    pub async fn list_journeys(
        &self,
        status: Option<JourneyStatus>,
        page: PageRequest,
    ) -> Result<Page<Journey>> {
        let mut conn = self.pool.get().await?;
        let query = || {
            let mut q = jn::journeys.into_boxed();
            if let Some(s) = status {
                q = q.filter(jn::status.eq(s.as_str()));
            }
            q
        };
        let total: i64 = query().count().get_result(&mut conn).await?;
        let rows: Vec<(JourneyRow, Value)> = query()
            .inner_join(
                jv::journey_versions.on(jv::journey_id.eq(jn::id).and(jv::version.eq(jn::version))),
            )
            .order((jn::created_at.desc(), jn::id.desc()))
            .limit(page.limit())
            .offset(page.offset())
            .select((JourneyRow::as_select(), jv::definition))
            .load(&mut conn)
            .await?;
        Ok(Page {
            items: rows
                .into_iter()
                .map(|(row, def)| row.into_journey(def))
                .collect(),
            total: total as u64,
            request: page,
        })
    }

    /// A draft is changed in place; an active or paused journey gets a new version (customers
    /// already inside finish on theirs); an archived one is refused.
    pub async fn update_journey(
        &self,
        caller: Caller,
        id: Uuid,
        fields: JourneyFields,
        if_match: &IfMatch,
    ) -> Result<Journey> {
        let mut conn = self.pool.get().await?;
        let (row, def) = conn
            .transaction::<_, Error, _>(async |conn| {
                let row = find(conn, id, true).await?;
                let old = definition(conn, id, row.version).await?;
                let read = row.clone().into_journey(old.clone());
                let status = JourneyStatus::stored(&row.status)?;
                if status == JourneyStatus::Archived {
                    return Err(Error::Conflict(format!(
                        "journey {id} is archived; archived journeys cannot change"
                    )));
                }
                let valid: ValidJourney = fields.apply(&row.name, &old)?;
                check_references(conn, &valid.definition).await?;
                // After the input's own checks: bad input is a 400 whatever the version.
                if_match.check("journey", &read)?;
                let now = Utc::now();
                let version = if status == JourneyStatus::Draft {
                    diesel::update(jv::journey_versions.find((id, row.version)))
                        .set(jv::definition.eq(&valid.definition.json))
                        .execute(conn)
                        .await?;
                    row.version
                } else {
                    let version = row.version + 1;
                    insert_version(conn, id, version, &valid.definition.json, caller.id).await?;
                    prepare_version(conn, &row.name, id, version, &valid.definition, caller.id)
                        .await?;
                    listen(conn, id).await?;
                    version
                };
                let row: JourneyRow = diesel::update(jn::journeys.find(id))
                    .set((
                        jn::name.eq(&valid.name),
                        jn::version.eq(version),
                        jn::updated_by.eq(caller.id),
                        jn::updated_at.eq(now),
                    ))
                    .returning(JourneyRow::as_returning())
                    .get_result(conn)
                    .await?;
                Ok((row, valid.definition.json))
            })
            .await?;
        tracing::info!(journey_id = %id, version = row.version, "journey updated");
        Ok(row.into_journey(def))
    }

    /// Starts (or resumes) a journey: customers enter and those inside move on.
    pub async fn activate_journey(&self, caller: Caller, id: Uuid) -> Result<Journey> {
        let journey = self
            .set_journey_status(caller, id, JourneyStatus::Active)
            .await?;
        self.fanout.journey_activated();
        Ok(journey)
    }

    /// Stops new entries and holds customers where they are until activated again.
    pub async fn pause_journey(&self, caller: Caller, id: Uuid) -> Result<Journey> {
        self.set_journey_status(caller, id, JourneyStatus::Paused)
            .await
    }

    /// Ends a journey: customers inside leave it (counted as exited at their step); its send
    /// steps stop. Archiving twice is a no-op.
    pub async fn archive_journey(&self, caller: Caller, id: Uuid) -> Result<Journey> {
        self.set_journey_status(caller, id, JourneyStatus::Archived)
            .await
    }

    async fn set_journey_status(
        &self,
        caller: Caller,
        id: Uuid,
        to: JourneyStatus,
    ) -> Result<Journey> {
        let mut conn = self.pool.get().await?;
        let (row, def) = conn
            .transaction::<_, Error, _>(async |conn| {
                let row = find(conn, id, true).await?;
                let from = JourneyStatus::stored(&row.status)?;
                let def_json = definition(conn, id, row.version).await?;
                if from == to {
                    return Ok((row, def_json));
                }
                if from == JourneyStatus::Archived {
                    return Err(Error::Conflict(format!(
                        "journey {id} is archived; archived journeys cannot change"
                    )));
                }
                if to == JourneyStatus::Paused && from != JourneyStatus::Active {
                    return Err(Error::Conflict(format!(
                        "journey {id} is {}; only an active journey can be paused",
                        from.as_str()
                    )));
                }
                let now = Utc::now();
                match to {
                    JourneyStatus::Active => {
                        let def = Definition::stored(&def_json)?;
                        check_references(conn, &def).await?;
                        prepare_version(conn, &row.name, id, row.version, &def, caller.id).await?;
                        listen(conn, id).await?;
                        // Resumed: customers waiting for an event look for it at once (its
                        // wake-up was not queued while paused).
                        diesel::sql_query(
                            "UPDATE journey_enrollments SET due_at = now()
                             WHERE journey_id = $1 AND state = 'active' AND phase = 'waiting'
                               AND waiting_for IS NOT NULL",
                        )
                        .bind::<SqlUuid, _>(id)
                        .execute(conn)
                        .await?;
                    }
                    JourneyStatus::Archived => archive(conn, id).await?,
                    JourneyStatus::Paused | JourneyStatus::Draft => {}
                }
                let row: JourneyRow = diesel::update(jn::journeys.find(id))
                    .set((
                        jn::status.eq(to.as_str()),
                        jn::updated_by.eq(caller.id),
                        jn::updated_at.eq(now),
                        jn::activated_at.eq(if to == JourneyStatus::Active {
                            Some(row.activated_at.unwrap_or(now))
                        } else {
                            row.activated_at
                        }),
                        jn::archived_at.eq(if to == JourneyStatus::Archived {
                            Some(now)
                        } else {
                            None
                        }),
                    ))
                    .returning(JourneyRow::as_returning())
                    .get_result(conn)
                    .await?;
                Ok((row, def_json))
            })
            .await?;
        tracing::info!(journey_id = %id, status = to.as_str(), "journey status changed");
        Ok(row.into_journey(def))
    }

    /// Enters customers (by id) into an active journey at its start, now.
    pub async fn enroll_in_journey(&self, id: Uuid, customers: Vec<Uuid>) -> Result<Enrolled> {
        if customers.is_empty() || customers.len() > MAX_ENROLL {
            return Err(Error::invalid(
                "customer_ids",
                format!("must hold 1 to {MAX_ENROLL} customer ids"),
            ));
        }
        let mut conn = self.pool.get().await?;
        let entered = conn
            .transaction::<_, Error, _>(async |conn| {
                let row = find(conn, id, false).await?;
                if JourneyStatus::stored(&row.status)? != JourneyStatus::Active {
                    return Err(Error::Conflict(format!(
                        "journey {id} is {}; customers enter active journeys only",
                        row.status
                    )));
                }
                let def = Definition::stored(&definition(conn, id, row.version).await?)?;
                let (never, cooldown) = re_entry_binds(def.re_entry);
                let entered: Vec<Entered> = diesel::sql_query(ENTER_SQL)
                    .bind::<SqlUuid, _>(id)
                    .bind::<Integer, _>(row.version)
                    .bind::<Text, _>(&def.start)
                    .bind::<Array<SqlUuid>, _>(&customers)
                    .bind::<Array<Nullable<Text>>, _>(vec![None::<String>; customers.len()])
                    .bind::<Bool, _>(never)
                    .bind::<Integer, _>(cooldown)
                    .load(conn)
                    .await?;
                Ok(entered)
            })
            .await?;
        self.fanout.journeys_changed();
        let inside: std::collections::HashSet<Uuid> =
            entered.iter().map(|e| e.customer_id).collect();
        let mut not_entered: Vec<Uuid> = customers
            .into_iter()
            .filter(|c| !inside.contains(c))
            .collect();
        not_entered.dedup();
        Ok(Enrolled {
            entered: inside.len() as u64,
            not_entered,
        })
    }

    /// Per-step counters of every version, read from the counter rows; a send step's messages
    /// from its campaign's statistics.
    pub async fn journey_stats(&self, id: Uuid) -> Result<JourneyStats> {
        let mut conn = self.pool.get().await?;
        find(&mut conn, id, false).await?;
        let rows: Vec<StatRow> = diesel::sql_query(
            "SELECT version, step, entered, waiting, completed, exited, converted
             FROM journey_step_stats WHERE journey_id = $1 ORDER BY version, step",
        )
        .bind::<SqlUuid, _>(id)
        .load(&mut conn)
        .await?;
        let versions: Vec<(i32, Value, Value)> = jv::journey_versions
            .filter(jv::journey_id.eq(id))
            .select((jv::version, jv::definition, jv::send_campaigns))
            .load(&mut conn)
            .await?;
        let mut defs = BTreeMap::new();
        for (v, def, sends) in versions {
            defs.insert(v, (Definition::stored(&def)?, sends));
        }
        let mut out = JourneyStats {
            journey_id: id,
            entered: 0,
            converted: 0,
            exited: 0,
            steps: Vec::with_capacity(rows.len()),
        };
        for r in rows {
            let Some((def, sends)) = defs.get(&r.version) else {
                continue;
            };
            let kind = def.steps.get(&r.step).map_or("", Step::kind);
            if r.step == def.start {
                out.entered += r.entered;
            }
            out.converted += r.converted;
            out.exited += r.exited;
            let messages = match sends.get(&r.step).and_then(Value::as_str) {
                Some(campaign) => {
                    let campaign = Uuid::parse_str(campaign).map_err(|e| {
                        Error::Internal(anyhow::anyhow!("journey {id}: send campaign id: {e}"))
                    })?;
                    let figures = serde_json::to_value(self.campaign_stats(campaign).await?.totals)
                        .map_err(|e| Error::Internal(anyhow::anyhow!("journey step stats: {e}")))?;
                    Some(json!({"campaign_id": campaign, "figures": figures}))
                }
                None => None,
            };
            out.steps.push(StepStats {
                version: r.version,
                kind: kind.to_owned(),
                step: r.step,
                entered: r.entered,
                waiting: r.waiting,
                completed: r.completed,
                exited: r.exited,
                converted: r.converted,
                messages,
            });
        }
        Ok(out)
    }

    /// Every walk of one customer through the journey with its history, newest first.
    pub async fn journey_customer(&self, id: Uuid, customer: Uuid) -> Result<JourneyCustomer> {
        let mut conn = self.pool.get().await?;
        find(&mut conn, id, false).await?;
        let rows: Vec<EnrollmentRow> = diesel::sql_query(
            "SELECT jsonb_build_object(
                'id', e.id, 'version', e.version, 'state', e.state, 'step', e.step,
                'waiting', e.phase = 'waiting' AND e.state = 'active',
                'wait_until', e.wait_until, 'entered_at', e.entered_at, 'finished_at', e.finished_at,
                'history', COALESCE((SELECT jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
                        'step', h.step, 'action', h.action, 'detail', h.detail, 'at', h.at)) ORDER BY h.seq)
                    FROM journey_history h WHERE h.enrollment_id = e.id), '[]'::jsonb)) AS enrollment
             FROM journey_enrollments e
             WHERE e.journey_id = $1 AND e.customer_id = $2
             ORDER BY e.entered_at DESC, e.id DESC",
        )
        .bind::<SqlUuid, _>(id)
        .bind::<SqlUuid, _>(customer)
        .load(&mut conn)
        .await?;
        if rows.is_empty() {
            return Err(Error::not_found(
                "journey customer",
                format!("{customer} (never entered journey {id})"),
            ));
        }
        Ok(JourneyCustomer {
            journey_id: id,
            customer_id: customer,
            enrollments: rows.into_iter().map(|r| r.enrollment).collect(),
        })
    }
}

/// Parses a `status` filter.
pub fn parse_status_filter(s: Option<&str>) -> Result<Option<JourneyStatus>> {
    s.filter(|s| !s.is_empty())
        .map(|s| JourneyStatus::parse("status", s))
        .transpose()
}

pub(crate) async fn find(conn: &mut AsyncPgConnection, id: Uuid, lock: bool) -> Result<JourneyRow> {
    let q = jn::journeys.find(id).select(JourneyRow::as_select());
    let row = if lock {
        q.for_no_key_update().first(conn).await.optional()?
    } else {
        q.first(conn).await.optional()?
    };
    row.ok_or_else(|| Error::not_found("journey", id))
}

async fn definition(conn: &mut AsyncPgConnection, id: Uuid, version: i32) -> Result<Value> {
    Ok(jv::journey_versions
        .find((id, version))
        .select(jv::definition)
        .first(conn)
        .await?)
}

async fn insert_version(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    version: i32,
    def: &Value,
    caller: Uuid,
) -> Result<()> {
    diesel::insert_into(jv::journey_versions)
        .values((
            jv::journey_id.eq(id),
            jv::version.eq(version),
            jv::definition.eq(def),
            jv::send_campaigns.eq(json!({})),
            jv::created_by.eq(caller),
            jv::created_at.eq(Utc::now()),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// Templates and segments the definition names exist, and each template is of its step's
/// channel.
async fn check_references(conn: &mut AsyncPgConnection, def: &Definition) -> Result<()> {
    if let Entry::Segment { segment_id } = def.entry {
        let found: i64 = sg::segments
            .filter(sg::id.eq(segment_id))
            .count()
            .get_result(conn)
            .await?;
        if found == 0 {
            return Err(Error::invalid(
                "entry.segment_id",
                format!("no segment {segment_id}"),
            ));
        }
    }
    for (id, step) in &def.steps {
        if let Step::Branch { rule, .. } = step {
            for segment_id in rule.segments() {
                let found: i64 = sg::segments
                    .filter(sg::id.eq(segment_id))
                    .count()
                    .get_result(conn)
                    .await?;
                if found == 0 {
                    return Err(Error::invalid(
                        format!("steps.{id}.rule"),
                        format!("no segment {segment_id}"),
                    ));
                }
            }
        }
        if let Step::Send {
            channel,
            template_id: Some(t),
            ..
        } = step
        {
            let found: Option<String> = ct::content_templates
                .find(t)
                .select(ct::channel)
                .first(conn)
                .await
                .optional()?;
            match found {
                None => {
                    return Err(Error::invalid(
                        format!("steps.{id}.template_id"),
                        format!("no template {t}"),
                    ));
                }
                Some(c) if c != channel.as_str() => {
                    return Err(Error::invalid(
                        format!("steps.{id}.template_id"),
                        format!("template {t} is for {c}, the step sends {channel}"),
                    ));
                }
                Some(_) => {}
            }
        }
    }
    Ok(())
}

/// Makes version `version` ready to run: a campaign for each send step (its records, opt-outs,
/// caps, tracking and statistics are a campaign's) and a counter row for each step. Done once
/// per version.
async fn prepare_version(
    conn: &mut AsyncPgConnection,
    name: &str,
    id: Uuid,
    version: i32,
    def: &Definition,
    caller: Uuid,
) -> Result<()> {
    let existing: Value = jv::journey_versions
        .find((id, version))
        .select(jv::send_campaigns)
        .first(conn)
        .await?;
    if existing.as_object().is_some_and(|o| !o.is_empty()) {
        return Ok(());
    }
    let now = Utc::now();
    let mut campaigns = Map::new();
    for (step, s) in &def.steps {
        let Step::Send {
            channel,
            content,
            template_id,
            ..
        } = s
        else {
            continue;
        };
        let campaign_name: String = format!("{name} · v{version} · {step}")
            .chars()
            .take(crate::domain::campaign::MAX_NAME_CHARS)
            .collect();
        let row = CampaignRow {
            id: Uuid::now_v7(),
            name: campaign_name,
            type_: *channel,
            status: CampaignStatus::Active,
            target_tags: Vec::new(),
            target_segment_id: None,
            content_template_id: *template_id,
            content: content.clone().unwrap_or_default(),
            variants: json!([]),
            start_time: Some(now),
            end_time: None,
            actual_start_time: Some(now),
            actual_end_time: None,
            created_by: caller,
            updated_by: caller,
            created_at: now,
            updated_at: now,
            trigger: JourneyStep {
                journey_id: id,
                version,
                step: step.clone(),
            }
            .to_json(),
            next_run_at: None,
            paused_at: None,
            send_at_local: None,
            time_zone: None,
            quiet_hours: None,
            spend_cap_micros: None,
        };
        diesel::insert_into(mc::marketing_campaign)
            .values(&row)
            .execute(conn)
            .await?;
        campaigns.insert(step.clone(), Value::String(row.id.to_string()));
    }
    diesel::update(jv::journey_versions.find((id, version)))
        .set(jv::send_campaigns.eq(Value::Object(campaigns)))
        .execute(conn)
        .await?;
    let steps: Vec<String> = def.steps.keys().cloned().collect();
    diesel::sql_query(
        "INSERT INTO journey_step_stats (journey_id, version, step)
         SELECT $1, $2, s FROM unnest($3::text[]) AS s ON CONFLICT DO NOTHING",
    )
    .bind::<SqlUuid, _>(id)
    .bind::<Integer, _>(version)
    .bind::<Array<Text>, _>(steps)
    .execute(conn)
    .await?;
    Ok(())
}

/// The event names the journey listens to: those of every version (customers on an old one may
/// still wait for its events).
async fn listen(conn: &mut AsyncPgConnection, id: Uuid) -> Result<()> {
    let defs: Vec<Value> = jv::journey_versions
        .filter(jv::journey_id.eq(id))
        .select(jv::definition)
        .load(conn)
        .await?;
    let mut names = std::collections::BTreeSet::new();
    for def in defs {
        names.extend(Definition::stored(&def)?.event_names());
    }
    diesel::sql_query("DELETE FROM journey_event_names WHERE journey_id = $1")
        .bind::<SqlUuid, _>(id)
        .execute(conn)
        .await?;
    diesel::sql_query(
        "INSERT INTO journey_event_names (name, journey_id) SELECT n, $1 FROM unnest($2::text[]) AS n",
    )
    .bind::<SqlUuid, _>(id)
    .bind::<Array<Text>, _>(names.into_iter().collect::<Vec<_>>())
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(QueryableByName)]
struct Left {
    #[diesel(sql_type = Integer)]
    version: i32,
    #[diesel(sql_type = Text)]
    step: String,
    #[diesel(sql_type = BigInt)]
    exited: i64,
    #[diesel(sql_type = BigInt)]
    waiting: i64,
}

/// Archiving: customers inside leave (exited at their step), nothing more is enqueued, and the
/// send steps' campaigns complete.
async fn archive(conn: &mut AsyncPgConnection, id: Uuid) -> Result<()> {
    let left: Vec<Left> = diesel::sql_query(
        "WITH left_journey AS (
            UPDATE journey_enrollments SET state = 'exited', due_at = NULL, finished_at = now(),
                   updated_at = now()
            WHERE journey_id = $1 AND state = 'active'
            RETURNING version, step, phase
        )
        SELECT version, step, count(*) AS exited, count(*) FILTER (WHERE phase = 'waiting') AS waiting
        FROM left_journey GROUP BY version, step ORDER BY version, step",
    )
    .bind::<SqlUuid, _>(id)
    .load(conn)
    .await?;
    for l in left {
        diesel::sql_query(
            "UPDATE journey_step_stats SET exited = exited + $4, waiting = waiting - $5
             WHERE journey_id = $1 AND version = $2 AND step = $3",
        )
        .bind::<SqlUuid, _>(id)
        .bind::<Integer, _>(l.version)
        .bind::<Text, _>(&l.step)
        .bind::<BigInt, _>(l.exited)
        .bind::<BigInt, _>(l.waiting)
        .execute(conn)
        .await?;
    }
    diesel::sql_query("DELETE FROM journey_event_names WHERE journey_id = $1")
        .bind::<SqlUuid, _>(id)
        .execute(conn)
        .await?;
    diesel::sql_query("DELETE FROM journey_inbox WHERE journey_id = $1")
        .bind::<SqlUuid, _>(id)
        .execute(conn)
        .await?;
    let now = Utc::now();
    diesel::update(
        mc::marketing_campaign
            .filter(mc::trigger.retrieve_as_text("kind").eq("journey"))
            .filter(
                mc::trigger
                    .retrieve_as_text("journey_id")
                    .eq(id.to_string()),
            )
            .filter(mc::status.eq(CampaignStatus::Active)),
    )
    .set((
        mc::status.eq(CampaignStatus::Completed),
        mc::actual_end_time.eq(Some(now)),
        mc::updated_at.eq(now),
    ))
    .execute(conn)
    .await?;
    Ok(())
}
