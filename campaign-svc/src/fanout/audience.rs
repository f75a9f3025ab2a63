//! Who a campaign reaches: the audience as set-based SQL (customers having any of the target tags
//! or matching the segment, minus opt-outs, missing addresses and the frequency cap) and each
//! recipient's A/B variant. What they are sent is [`super::plan`].

use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{BoxedSqlQuery, SqlQuery};
use diesel::sql_types::{Array, BigInt, Integer, Text, Uuid as SqlUuid};
use diesel_async::AsyncPgConnection;
use marketing_core::models::{CampaignRow, SegmentRow};
use marketing_core::segment::{self, Bind};
use marketing_core::tracking::FrequencyCap;
use marketing_core::vocabulary::Channel;
use uuid::Uuid;

use crate::domain::execution::Skipped;
use crate::error::{Error, Result};

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
    format!("WITH {}", audience_def(audience, tail))
}

/// [`audience_cte`] without its `WITH`, to follow other common table expressions.
pub(crate) fn audience_def(audience: &Audience, tail: &str) -> String {
    format!(
        "audience AS (
            SELECT c.id, c.time_zone,
                   NULLIF(btrim(CASE $1 WHEN 'sms' THEN c.phone WHEN 'email' THEN c.email
                                       WHEN 'wechat' THEN c.wechat_openid
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
pub(crate) fn count_sql(audience: &Audience) -> String {
    format!(
        "{}SELECT count(*) FILTER (WHERE a.reachable AND NOT a.opted_out AND NOT a.capped) AS planned,
                count(*) FILTER (WHERE a.opted_out) AS opted_out,
                count(*) FILTER (WHERE NOT a.opted_out AND NOT a.reachable) AS no_address,
                count(*) FILTER (WHERE NOT a.opted_out AND a.reachable AND a.capped) AS frequency_capped
         FROM audience a",
        audience_cte(audience, "")
    )
}

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
        // An event-triggered campaign without targeting reaches whoever the event is about.
        // So does a journey's send step.
        let event_triggered = matches!(
            campaign.trigger.get("kind").and_then(|k| k.as_str()),
            Some("event" | "journey")
        );
        if campaign.target_tags.is_empty()
            && campaign.target_segment_id.is_none()
            && !event_triggered
        {
            return Err(Error::Conflict(
                "the campaign has no audience: set target_tags or target_segment_id".into(),
            ));
        }
        if !campaign.target_tags.is_empty() {
            conditions.push(format!("c.tags && ${first}"));
            binds.push(Bind::TextArray(campaign.target_tags.clone()));
        }
        if let Some(id) = campaign.target_segment_id {
            let rule = SegmentRow::find(conn, id)
                .await?
                .ok_or_else(|| {
                    Error::Conflict(format!("target_segment_id: segment {id} no longer exists"))
                })?
                .parsed_rule()
                .map_err(|e| Error::Internal(anyhow::anyhow!("segment {id}: stored rule: {e}")))?;
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
