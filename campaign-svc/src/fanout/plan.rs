//! What a campaign sends and what it would look like: its content (its own, a template's or
//! its A/B variants') resolved and compiled once, and the messages rendered for sample customers
//! of the audience (a simulation's samples, a preview). A sample is finished exactly as the
//! worker finishes a real message (tracked links, unsubscribe link, e-mail pixel), for
//! [`PREVIEW_RECORD`](marketing_core::tracking::PREVIEW_RECORD): its links work and record nothing.

use std::collections::HashMap;

use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{BoxedSqlQuery, SqlQuery};
use diesel::sql_types::{BigInt, Nullable, Text, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use marketing_core::models::{CampaignRow, TemplateRow};
use marketing_core::render::{CampaignVars, Content, MessageSource, Recipient, VariantContent};
use marketing_core::segment;
use marketing_core::tracking::{FrequencyCap, Signer};
use marketing_core::vocabulary::Channel;
use uuid::Uuid;

use super::audience::{Audience, audience_cte, base_binds, variant_sql};
use crate::domain::execution::Sample;
use crate::domain::template::render_error;
use crate::domain::variant::buckets;
use crate::error::{Error, Result};

/// The first recipients (by id) with what rendering needs. `$5` limit.
fn sample_sql(audience: &Audience, has_variants: bool) -> String {
    format!(
        "{}SELECT c.id, c.name, c.email, c.phone, c.push_token, c.wechat_openid, c.external_id, c.locale,
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
         SELECT c.id, c.name, c.email, c.phone, c.push_token, c.wechat_openid, c.external_id, c.locale,
                c.time_zone, c.birthday, c.attributes, {} AS variant
         FROM a JOIN customers c ON c.id = a.id AND c.erased_at IS NULL",
        variant_sql(has_variants)
    )
}

/// Recipients and skipped customers by reason, as the audience statements count them.

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
    wechat_openid: Option<String>,
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
}

impl Plan {
    /// Resolves and compiles a campaign's content; refuses campaigns that cannot be sent.
    pub async fn resolve(conn: &mut AsyncPgConnection, campaign: &CampaignRow) -> Result<Self> {
        let channel = campaign.type_;
        let variants = crate::domain::variant::stored(&campaign.variants)?;
        let template = async |conn: &mut AsyncPgConnection, field: &str, id: Uuid| {
            let t = TemplateRow::find(conn, id).await?.ok_or_else(|| {
                Error::Conflict(format!("{field}: template {id} no longer exists"))
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
        })
    }

    /// The message a sample customer would get, as the worker would send it.
    fn render(&self, signer: &Signer, campaign: &CampaignRow, r: SampleRow) -> Result<Sample> {
        let to = match self.channel {
            Channel::Sms => r.phone.clone(),
            Channel::Email => r.email.clone(),
            Channel::PushNotification => r.push_token.clone(),
            Channel::Wechat => r.wechat_openid.clone(),
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
            unsubscribe_url: None,
        };
        let vars = CampaignVars {
            id: campaign.id,
            name: campaign.name.clone(),
            channel: campaign.type_,
            start_time: campaign.start_time,
            end_time: campaign.end_time,
        };
        // A customer whose own data breaks the content is a sample saying so, not a failed
        // simulation: at send time only their record fails.
        let (m, error) = match signer.finish_preview(self.channel, content, recipient, &vars) {
            Ok(m) => (m, None),
            Err(e) => (Default::default(), Some(e.to_string())),
        };
        Ok(Sample {
            customer_id: r.id,
            variant: r.variant,
            to,
            subject: m.subject,
            body: m.body,
            html_body: m.html_body,
            error,
        })
    }
}

/// The fixed binds `$1`–`$4` every audience query starts with.
pub(crate) fn base_query<'f>(
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

/// Renders what the first `limit` recipients of the audience would get (leaving out those over
/// `cap`, when given), links signed by `signer`.
pub(crate) async fn audience_samples(
    conn: &mut AsyncPgConnection,
    campaign: &CampaignRow,
    plan: &Plan,
    signer: &Signer,
    limit: i64,
    cap: Option<FrequencyCap>,
) -> Result<Vec<Sample>> {
    let audience = Audience::of(conn, campaign, 6, cap).await?;
    let query = base_query(sample_sql(&audience, plan.has_variants()), campaign, plan)
        .bind::<BigInt, _>(limit);
    let rows: Vec<SampleRow> = segment::bind_all(query, &audience.binds).load(conn).await?;
    rows.into_iter()
        .map(|r| plan.render(signer, campaign, r))
        .collect()
}

/// Renders what one customer would get, whether or not it is in the audience, links signed by
/// `signer`.
pub(crate) async fn customer_sample(
    conn: &mut AsyncPgConnection,
    campaign: &CampaignRow,
    plan: &Plan,
    signer: &Signer,
    customer_id: Uuid,
) -> Result<Sample> {
    let row: SampleRow = base_query(one_customer_sql(plan.has_variants()), campaign, plan)
        .bind::<SqlUuid, _>(customer_id)
        .get_result(conn)
        .await
        .optional()?
        .ok_or_else(|| Error::not_found("customer", customer_id))?;
    let sample = plan.render(signer, campaign, row)?;
    match sample.error {
        // Previewing one customer asks about that customer: their failure is the answer.
        Some(e) => Err(Error::Conflict(format!(
            "the content cannot be rendered for customer {customer_id}: {e}"
        ))),
        None => Ok(sample),
    }
}
