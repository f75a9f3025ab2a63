//! Triggering a campaign: check it, record the execution and make the campaign active (one
//! transaction), then freeze the audience set-based in PostgreSQL as one `pending` record per
//! recipient, in chunks the relay publishes as they commit (see [`super::freeze`]). A simulation
//! resolves and renders the same way but writes no records.

use std::sync::Arc;

use chrono::Utc;
use diesel::prelude::*;
use std::collections::HashMap;

use diesel::pg::Pg;
use diesel::query_builder::{BoxedSqlQuery, SqlQuery};
use diesel::sql_types::{Array, BigInt, Integer, Nullable, Text, Uuid as SqlUuid};
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};
use marketing_core::models::CampaignRow;
use marketing_core::render::{CampaignVars, Content, MessageSource, Recipient, VariantContent};
use marketing_core::schema::{campaign_executions::dsl as ce, marketing_campaign::dsl as mc};
use marketing_core::segment::{self, Bind};
use marketing_core::tracking::FrequencyCap;
use marketing_core::vocabulary::{CampaignStatus, Channel, ExecutionType};
use uuid::Uuid;

use super::MarketingService;
use super::campaigns::{find_for_update, stored_status};
use super::templates::find_template;
use crate::domain::execution::{Execution, Sample, Skipped, TriggerOutcome};
use crate::domain::template::render_error;
use crate::domain::variant::buckets;
use crate::error::{Error, Result};

/// How many rendered messages a simulation keeps.
const SAMPLES: i64 = 5;

/// First key of the advisory lock that serialises real triggers per channel while a frequency
/// cap is set (the second key is `hashtext(channel)`). Arbitrary but fixed: "FCAP".
pub(crate) const FREQUENCY_CAP_LOCK: i32 = 0x4643_4150;

/// A recipient's A/B bucket, 0–99: a hash of campaign and customer ids, stable across retries.
/// `$2` campaign; `a.id` the customer.
const BUCKET: &str = "(('x' || substr(md5($2::text || a.id::text), 1, 8))::bit(32)::bigint % 100)";

/// The variant of bucket [`BUCKET`]: `$3` keys, `$4` cumulative upper bounds. Without variants a
/// plain NULL, so a campaign without an A/B test pays nothing per recipient.
pub(crate) fn variant_sql(has_variants: bool) -> String {
    if !has_variants {
        return "NULL::text".to_owned();
    }
    format!(
        "(SELECT v.key FROM unnest($3::text[], $4::int[]) AS v(key, upto)
          WHERE {BUCKET} < v.upto ORDER BY v.upto LIMIT 1)"
    )
}

/// Customers matching the campaign's audience (tags and/or segment), with whether they can be
/// reached on the channel, whether they opted out of it and whether they reached the frequency
/// cap. `$1` channel, `$2` campaign, `$3`, `$4` variants; the audience's own conditions (and
/// the cap's) bind from `$5` or `$6`.
pub(crate) fn audience_cte(audience: &Audience, tail: &str) -> String {
    format!(
        "WITH audience AS (
            SELECT c.id,
                   NULLIF(btrim(CASE $1 WHEN 'sms' THEN c.phone WHEN 'email' THEN c.email
                                       ELSE c.push_token END), '') IS NOT NULL AS reachable,
                   EXISTS (SELECT 1 FROM customer_opt_outs o
                           WHERE o.customer_id = c.id AND o.channel IN ($1, 'all')) AS opted_out,
                   {} AS capped
            FROM customers c
            WHERE {} {tail}
        )",
        audience.capped, audience.conditions
    )
}

/// Whether audience customer `c` already has `$max` messages on channel `$1` within the last
/// `$hours`: records created in the window that did not fail (pending ones count, so a campaign
/// triggered a minute ago counts before its messages go out). `EXISTS … OFFSET max - 1` stops
/// at the `max`-th record and, being a correlated subplan, is a range scan of the
/// `marketing_record (customer_id, channel, created_at)` index per customer, never a scan of the
/// table.
fn capped_sql(max: usize, hours: usize) -> String {
    format!(
        "EXISTS (SELECT 1 FROM marketing_record m
                 WHERE m.customer_id = c.id AND m.channel = $1 AND m.status <> 'failed'
                   AND m.created_at > now() - make_interval(hours => ${hours})
                 OFFSET ${max} - 1)"
    )
}

/// The same counts without writing anything (simulation).
fn count_sql(audience: &Audience) -> String {
    format!(
        "{}SELECT count(*) FILTER (WHERE a.reachable AND NOT a.opted_out AND NOT a.capped) AS planned,
                count(*) FILTER (WHERE a.opted_out) AS opted_out,
                count(*) FILTER (WHERE NOT a.opted_out AND NOT a.reachable) AS no_address,
                count(*) FILTER (WHERE NOT a.opted_out AND a.reachable AND a.capped) AS frequency_capped
         FROM audience a",
        audience_cte(audience, "")
    )
}

/// The first recipients (by id) with what rendering needs. `$5` limit.
fn sample_sql(audience: &Audience, has_variants: bool) -> String {
    format!(
        "{}SELECT c.id, c.name, c.email, c.phone, c.push_token, c.external_id, c.locale,
                c.time_zone, c.birthday, c.attributes, {} AS variant
         FROM audience a JOIN customers c ON c.id = a.id
         WHERE a.reachable AND NOT a.opted_out AND NOT a.capped
         ORDER BY c.id LIMIT $5",
        audience_cte(audience, ""),
        variant_sql(has_variants)
    )
}

/// One customer, whoever it is, with what rendering needs (preview). `$5` the customer.
fn one_customer_sql(has_variants: bool) -> String {
    format!(
        "WITH a AS (SELECT $5::uuid AS id, $1::text AS channel)
         SELECT c.id, c.name, c.email, c.phone, c.push_token, c.external_id, c.locale,
                c.time_zone, c.birthday, c.attributes, {} AS variant
         FROM a JOIN customers c ON c.id = a.id AND c.erased_at IS NULL",
        variant_sql(has_variants)
    )
}

/// Recipients and skipped customers by reason, as the audience statements count them.
#[derive(QueryableByName)]
pub(crate) struct Counts {
    #[diesel(sql_type = BigInt)]
    pub(crate) planned: i64,
    #[diesel(sql_type = BigInt)]
    opted_out: i64,
    #[diesel(sql_type = BigInt)]
    no_address: i64,
    #[diesel(sql_type = BigInt)]
    frequency_capped: i64,
}

impl Counts {
    pub(crate) fn skipped(&self) -> Skipped {
        Skipped {
            opted_out: self.opted_out as u64,
            no_address: self.no_address as u64,
            frequency_capped: self.frequency_capped as u64,
        }
    }
}

#[derive(QueryableByName)]
struct SampleRow {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = Nullable<Text>)]
    name: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    email: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    phone: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    push_token: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    external_id: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    locale: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    time_zone: Option<String>,
    #[diesel(sql_type = Nullable<diesel::sql_types::Date>)]
    birthday: Option<chrono::NaiveDate>,
    #[diesel(sql_type = diesel::sql_types::Jsonb)]
    attributes: serde_json::Value,
    #[diesel(sql_type = Nullable<Text>)]
    variant: Option<String>,
}

/// What a campaign sends, resolved from its content, template or variants, and compiled.
pub(crate) struct Plan {
    pub channel: Channel,
    pub contents: Vec<VariantContent>,
    compiled: HashMap<Option<String>, Content>,
    keys: Vec<String>,
    upto: Vec<i32>,
    /// What `{{ unsubscribe_url }}` shows in samples and previews (a real message gets its own
    /// signed link from the worker).
    pub sample_unsubscribe_url: String,
}

impl Plan {
    /// Resolves and compiles a campaign's content; refuses campaigns that cannot be sent.
    pub async fn resolve(conn: &mut AsyncPgConnection, campaign: &CampaignRow) -> Result<Self> {
        let channel = campaign.type_.parse::<Channel>().map_err(|e| {
            Error::Internal(anyhow::anyhow!("campaign {}: stored type {e}", campaign.id))
        })?;
        let variants = crate::domain::variant::stored(&campaign.variants)?;
        let template = async |conn: &mut AsyncPgConnection, field: &str, id: Uuid| {
            let t = find_template(conn, id).await.map_err(|e| match e {
                Error::NotFound { .. } => {
                    Error::Conflict(format!("{field}: template {id} no longer exists"))
                }
                e => e,
            })?;
            Ok::<_, Error>(MessageSource {
                subject: t.subject,
                body: t.body,
                html_body: t.html_body,
            })
        };
        let mut contents = Vec::new();
        for (i, v) in variants.iter().enumerate() {
            let source = match (&v.content, v.template_id) {
                (Some(body), _) => MessageSource {
                    body: body.clone(),
                    ..Default::default()
                },
                (None, Some(id)) => template(conn, &format!("variants[{i}]"), id).await?,
                (None, None) => {
                    return Err(Error::Internal(anyhow::anyhow!(
                        "campaign {}: variant {} without content",
                        campaign.id,
                        v.key
                    )));
                }
            };
            contents.push(VariantContent {
                variant: Some(v.key.clone()),
                source,
            });
        }
        if contents.is_empty() {
            let source = match campaign.content_template_id {
                Some(id) => template(conn, "content_template_id", id).await?,
                None if campaign.content.trim().is_empty() => {
                    return Err(Error::Conflict(
                        "the campaign has no content: set content, content_template_id or variants"
                            .into(),
                    ));
                }
                None => MessageSource {
                    body: campaign.content.clone(),
                    ..Default::default()
                },
            };
            contents.push(VariantContent {
                variant: None,
                source,
            });
        }
        let mut compiled = HashMap::new();
        for c in &contents {
            let field = match &c.variant {
                Some(k) => format!("variants[{k}]."),
                None => String::new(),
            };
            let content = Content::compile(&c.source).map_err(|e| render_error(&field, e))?;
            compiled.insert(c.variant.clone(), content);
        }
        let (keys, upto) = buckets(&variants);
        Ok(Plan {
            channel,
            contents,
            compiled,
            keys,
            upto,
            sample_unsubscribe_url: String::new(),
        })
    }

    pub fn has_variants(&self) -> bool {
        !self.keys.is_empty()
    }

    /// One content, no variants (a template's preview).
    pub fn single(channel: Channel, source: MessageSource) -> Result<Self> {
        let content = Content::compile(&source).map_err(|e| render_error("", e))?;
        Ok(Plan {
            channel,
            contents: vec![VariantContent {
                variant: None,
                source,
            }],
            compiled: HashMap::from([(None, content)]),
            keys: Vec::new(),
            upto: Vec::new(),
            sample_unsubscribe_url: String::new(),
        })
    }

    /// Renders the message a sample customer would get.
    fn render(&self, campaign: &CampaignRow, r: SampleRow) -> Result<Sample> {
        let to = match self.channel {
            Channel::Sms => r.phone.clone(),
            Channel::Email => r.email.clone(),
            Channel::PushNotification => r.push_token.clone(),
        }
        .unwrap_or_default();
        let content = self.compiled.get(&r.variant).ok_or_else(|| {
            Error::Internal(anyhow::anyhow!("no content for variant {:?}", r.variant))
        })?;
        let recipient = Recipient {
            name: r.name,
            email: r.email,
            phone: r.phone,
            external_id: r.external_id,
            locale: r.locale,
            time_zone: r.time_zone,
            birthday: r.birthday,
            attributes: r.attributes,
            unsubscribe_url: Some(self.sample_unsubscribe_url.clone()),
        };
        let vars = CampaignVars {
            id: campaign.id,
            name: campaign.name.clone(),
            channel: campaign.type_.clone(),
            start_time: campaign.start_time,
            end_time: campaign.end_time,
        };
        let m = content.render(&recipient, &vars).map_err(|e| {
            Error::Conflict(format!(
                "the content cannot be rendered for customer {}: {e}",
                r.id
            ))
        })?;
        Ok(Sample {
            customer_id: r.id,
            variant: r.variant,
            to,
            subject: m.subject,
            body: m.body,
            html_body: m.html_body,
        })
    }
}

/// The audience's conditions on `customers c`: tags (any of), segment rule, or both; and
/// whether a customer reached the frequency cap.
pub(crate) struct Audience {
    conditions: String,
    /// SQL of [`capped_sql`], or `false` without a cap.
    capped: String,
    pub(crate) binds: Vec<Bind>,
}

impl Audience {
    /// Builds the conditions with binds numbered from `$first`, then the cap's.
    pub(crate) async fn of(
        conn: &mut AsyncPgConnection,
        campaign: &CampaignRow,
        first: usize,
        cap: Option<FrequencyCap>,
    ) -> Result<Self> {
        let mut conditions = vec!["c.erased_at IS NULL".to_owned()];
        let mut binds = Vec::new();
        if campaign.target_tags.is_empty() && campaign.target_segment_id.is_none() {
            return Err(Error::Conflict(
                "the campaign has no audience: set target_tags or target_segment_id".into(),
            ));
        }
        if !campaign.target_tags.is_empty() {
            conditions.push(format!("c.tags && ${first}"));
            binds.push(Bind::TextArray(campaign.target_tags.clone()));
        }
        if let Some(id) = campaign.target_segment_id {
            let rule = super::segments::stored_rule(conn, id)
                .await
                .map_err(|e| match e {
                    Error::NotFound { .. } => {
                        Error::Conflict(format!("target_segment_id: segment {id} no longer exists"))
                    }
                    e => e,
                })?;
            let compiled = segment::compile(&rule, first + binds.len());
            conditions.push(format!("({})", compiled.sql));
            binds.extend(compiled.binds);
        }
        let capped = match cap {
            None => "false".to_owned(),
            Some(cap) => {
                let max = first + binds.len();
                binds.push(Bind::Int(i32::try_from(cap.max).unwrap_or(i32::MAX)));
                binds.push(Bind::Int(
                    i32::try_from(cap.window_hours).unwrap_or(i32::MAX),
                ));
                capped_sql(max, max + 1)
            }
        };
        Ok(Audience {
            conditions: conditions.join(" AND "),
            capped,
            binds,
        })
    }
}

/// The fixed binds `$1`–`$4` every audience query starts with.
fn base_query<'f>(
    sql: String,
    campaign: &CampaignRow,
    plan: &Plan,
) -> BoxedSqlQuery<'f, Pg, SqlQuery> {
    base_binds(
        sql,
        plan.channel,
        campaign.id,
        plan.keys.clone(),
        plan.upto.clone(),
    )
}

/// `$1` channel, `$2` campaign, `$3` variant keys, `$4` their cumulative bucket bounds.
pub(crate) fn base_binds<'f>(
    sql: String,
    channel: Channel,
    campaign: Uuid,
    keys: Vec<String>,
    upto: Vec<i32>,
) -> BoxedSqlQuery<'f, Pg, SqlQuery> {
    diesel::sql_query(sql)
        .into_boxed()
        .bind::<Text, _>(channel.as_str().to_owned())
        .bind::<SqlUuid, _>(campaign)
        .bind::<Array<Text>, _>(keys)
        .bind::<Array<Integer>, _>(upto)
}

/// Renders what the first `limit` recipients of the audience would get (leaving out those over
/// `cap`, when given).
pub(crate) async fn audience_samples(
    conn: &mut AsyncPgConnection,
    campaign: &CampaignRow,
    plan: &Plan,
    limit: i64,
    cap: Option<FrequencyCap>,
) -> Result<Vec<Sample>> {
    let audience = Audience::of(conn, campaign, 6, cap).await?;
    let query = base_query(sample_sql(&audience, plan.has_variants()), campaign, plan)
        .bind::<BigInt, _>(limit);
    let rows: Vec<SampleRow> = segment::bind_all(query, &audience.binds).load(conn).await?;
    rows.into_iter().map(|r| plan.render(campaign, r)).collect()
}

/// Renders what one customer would get, whether or not it is in the audience.
pub(crate) async fn customer_sample(
    conn: &mut AsyncPgConnection,
    campaign: &CampaignRow,
    plan: &Plan,
    customer_id: Uuid,
) -> Result<Sample> {
    let row: SampleRow = base_query(one_customer_sql(plan.has_variants()), campaign, plan)
        .bind::<SqlUuid, _>(customer_id)
        .get_result(conn)
        .await
        .optional()?
        .ok_or_else(|| Error::not_found("customer", customer_id))?;
    plan.render(campaign, row)
}

/// Wakes the relay when a trigger committed new records.
pub type RelayWaker = Arc<tokio::sync::Notify>;

impl MarketingService {
    /// Triggers a campaign for real (`actual`) or as a dry run (`simulation`). A real trigger
    /// returns once every record is written (the relay publishes them as they are written).
    pub async fn trigger_campaign(
        &self,
        caller: Option<Uuid>,
        id: Uuid,
        kind: ExecutionType,
    ) -> Result<TriggerOutcome> {
        let mut conn = self.pool.get().await?;
        let cap = self.settings().frequency_cap;
        match kind {
            ExecutionType::Actual => {
                let execution = conn
                    .transaction::<_, Error, _>(async |conn| {
                        let campaign = find_for_update(conn, id).await?;
                        trigger_locked(conn, &campaign, caller, cap, self.settings.lease).await
                    })
                    .await?;
                drop(conn);
                self.relay_waker.notify_one();
                // Its own task: a client that hangs up does not stop the freeze half-way (a
                // replica would resume it after the lease, but later).
                let service = self.clone();
                tokio::spawn(async move { service.freeze(execution).await })
                    .await
                    .map_err(|e| Error::Internal(anyhow::anyhow!("freezing the audience: {e}")))?
            }
            ExecutionType::Simulation => {
                let sample_unsubscribe = self.settings.signer.unsubscribe_url(Uuid::nil());
                simulate(&mut conn, id, caller, cap, sample_unsubscribe).await
            }
        }
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

/// Refuses campaigns past their end.
fn check_not_ended(campaign: &CampaignRow) -> Result<()> {
    if let Some(end) = campaign.end_time.filter(|e| *e <= Utc::now()) {
        return Err(Error::Conflict(format!("the campaign ended at {end}")));
    }
    Ok(())
}

/// The real trigger, inside the caller's transaction with the campaign row locked: used by the
/// API and by the scheduler, so a campaign is triggered once whoever gets there first. Checks
/// that the campaign can be sent, records the execution (with its content frozen) and makes the
/// campaign `active`; the caller then writes the records with
/// [`MarketingService::freeze`](super::MarketingService::freeze) once this transaction commits.
pub(crate) async fn trigger_locked(
    conn: &mut AsyncPgConnection,
    campaign: &CampaignRow,
    caller: Option<Uuid>,
    cap: Option<FrequencyCap>,
    lease: chrono::Duration,
) -> Result<Uuid> {
    let status = stored_status(campaign)?;
    if !matches!(status, CampaignStatus::Draft | CampaignStatus::Scheduled) {
        return Err(Error::Conflict(format!(
            "campaign {} is {status}; only draft or scheduled campaigns can be triggered",
            campaign.id
        )));
    }
    check_not_ended(campaign)?;
    let plan = Plan::resolve(conn, campaign).await?;
    // Refuses an audience that cannot be built (none set, segment gone) before anything is written.
    Audience::of(conn, campaign, 11, cap).await?;
    let execution_id = Uuid::now_v7();
    let now = Utc::now();
    diesel::insert_into(ce::campaign_executions)
        .values((
            ce::id.eq(execution_id),
            ce::campaign_id.eq(campaign.id),
            ce::execution_type.eq(ExecutionType::Actual.as_str()),
            ce::status.eq("running"),
            ce::triggered_by.eq(caller),
            ce::created_at.eq(now),
            ce::trace_context.eq(marketing_core::telemetry::current_traceparent()),
            ce::contents.eq(to_json(&plan.contents)?),
            ce::skipped.eq(to_json(Skipped::default())?),
            ce::materialize_done.eq(false),
            ce::materialize_lease_until.eq(Some(now + lease)),
        ))
        .execute(conn)
        .await?;
    diesel::update(mc::marketing_campaign.find(campaign.id))
        .set((
            mc::status.eq(CampaignStatus::Active.as_str()),
            mc::actual_start_time.eq(Some(now)),
            mc::updated_at.eq(now),
        ))
        .execute(conn)
        .await?;
    tracing::info!(campaign_id = %campaign.id, %execution_id, "campaign triggered");
    Ok(execution_id)
}

/// A dry run: same resolution and rendering, nothing sent, no status change, no records (so
/// it counts toward no frequency cap, though it counts who the cap leaves out).
async fn simulate(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    caller: Option<Uuid>,
    cap: Option<FrequencyCap>,
    sample_unsubscribe_url: String,
) -> Result<TriggerOutcome> {
    let campaign = super::campaigns::find(conn, id).await?;
    if stored_status(&campaign)? == CampaignStatus::Archived {
        return Err(Error::Conflict(format!("campaign {id} is archived")));
    }
    check_not_ended(&campaign)?;
    let mut plan = Plan::resolve(conn, &campaign).await?;
    plan.sample_unsubscribe_url = sample_unsubscribe_url;
    let audience = Audience::of(conn, &campaign, 5, cap).await?;
    let query = base_query(count_sql(&audience), &campaign, &plan);
    let counts: Counts = segment::bind_all(query, &audience.binds)
        .get_result(conn)
        .await?;
    let samples = audience_samples(conn, &campaign, &plan, SAMPLES, cap).await?;
    let skipped = counts.skipped();
    let execution_id = Uuid::now_v7();
    let now = Utc::now();
    diesel::insert_into(ce::campaign_executions)
        .values((
            ce::id.eq(execution_id),
            ce::campaign_id.eq(id),
            ce::execution_type.eq(ExecutionType::Simulation.as_str()),
            ce::status.eq("completed"),
            ce::planned.eq(counts.planned),
            ce::skipped.eq(to_json(skipped)?),
            ce::samples.eq(to_json(&samples)?),
            ce::contents.eq(to_json(&plan.contents)?),
            ce::triggered_by.eq(caller),
            ce::created_at.eq(now),
            ce::finished_at.eq(Some(now)),
            ce::publish_done.eq(true),
        ))
        .execute(conn)
        .await?;
    Ok(TriggerOutcome {
        execution_id,
        kind: ExecutionType::Simulation,
        planned: counts.planned as u64,
        skipped,
    })
}

fn to_json(v: impl serde::Serialize) -> Result<serde_json::Value> {
    serde_json::to_value(v).map_err(|e| Error::Internal(e.into()))
}
