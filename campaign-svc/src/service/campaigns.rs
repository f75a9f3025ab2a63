//! Campaigns: create, list, read, update before start, archive.

use chrono::Utc;
use diesel::prelude::*;
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};
use marketing_core::models::CampaignRow;
use marketing_core::schema::marketing_campaign::dsl as mc;
use marketing_core::vocabulary::{CampaignStatus, Channel};
use uuid::Uuid;

use super::MarketingService;
use super::schedules::{editable, place};
use crate::auth::Caller;
use crate::domain::IfMatch;
use crate::domain::campaign::{Campaign, CampaignFilter, CampaignPatch, NewCampaign};
use crate::domain::trigger::CampaignTrigger;
use crate::domain::{Page, PageRequest};
use crate::error::{Error, Result};

/// Largest page of campaigns.
pub const MAX_CAMPAIGN_PAGE: u32 = 100;

impl MarketingService {
    pub async fn create_campaign(&self, caller: Caller, new: NewCampaign) -> Result<Campaign> {
        let row = new_row(Uuid::now_v7(), caller, new, Utc::now())?;
        let mut conn = self.pool.get().await?;
        check_references(&mut conn, &row).await?;
        let row = diesel::insert_into(mc::marketing_campaign)
            .values(&row)
            .returning(CampaignRow::as_returning())
            .get_result(&mut conn)
            .await?;
        tracing::info!(campaign_id = %row.id, status = %row.status, "campaign created");
        Ok(row.into())
    }

    pub async fn get_campaign(&self, id: Uuid) -> Result<Campaign> {
        let mut conn = self.pool.get().await?;
        find(&mut conn, id).await.map(Into::into)
    }

    /// Newest first; ties broken by id so pages never overlap.
    pub async fn list_campaigns(
        &self,
        filter: CampaignFilter,
        page: PageRequest,
    ) -> Result<Page<Campaign>> {
        let mut conn = self.pool.get().await?;
        let query = || {
            // A journey's send steps are listed with their journey, not here.
            let mut q = mc::marketing_campaign
                .filter(mc::trigger.retrieve_as_text("kind").ne("journey"))
                .into_boxed();
            if let Some(s) = filter.status {
                q = q.filter(mc::status.eq(s));
            }
            if let Some(c) = filter.channel {
                q = q.filter(mc::type_.eq(c));
            }
            if let Some(name) = filter.name.as_deref().filter(|n| !n.is_empty()) {
                q = q.filter(mc::name.ilike(format!("%{}%", escape_like(name))));
            }
            q
        };
        let total: i64 = query().count().get_result(&mut conn).await?;
        let rows = query()
            .order((mc::created_at.desc(), mc::id.desc()))
            .limit(page.limit())
            .offset(page.offset())
            .select(CampaignRow::as_select())
            .load(&mut conn)
            .await?;
        Ok(Page {
            items: rows.into_iter().map(Into::into).collect(),
            total: total as u64,
            request: page,
        })
    }

    /// Applies a partial update while the campaign is `draft` or `scheduled` (or a recurring one
    /// is paused); the status and next occurrence follow the (possibly new) trigger and window.
    pub async fn update_campaign(
        &self,
        caller: Caller,
        id: Uuid,
        patch: CampaignPatch,
        if_match: &IfMatch,
    ) -> Result<Campaign> {
        let mut conn = self.pool.get().await?;
        let row = conn
            .transaction::<_, Error, _>(async |conn| {
                let mut row = find_for_update(conn, id).await?;
                CampaignTrigger::stored(&row.trigger)?.check_not_journey(id)?;
                let read = Campaign::from(row.clone());
                let status = row.status;
                if !editable(&row) {
                    return Err(Error::Conflict(format!(
                        "campaign {id} is {status}; only draft or scheduled campaigns (or a paused recurring one) can be updated"
                    )));
                }
                patch.apply(&mut row)?;
                // After the input's own checks: bad input is a 400 whatever the version.
                if_match.check("campaign", &read)?;
                check_references(conn, &row).await?;
                let now = Utc::now();
                place(&mut row, now)?;
                row.updated_by = caller.id;
                row.updated_at = now;
                let row = diesel::update(mc::marketing_campaign.find(id))
                    .set((
                        mc::name.eq(&row.name),
                        mc::type_.eq(&row.type_),
                        mc::status.eq(&row.status),
                        mc::target_tags.eq(&row.target_tags),
                        mc::target_segment_id.eq(row.target_segment_id),
                        mc::content_template_id.eq(row.content_template_id),
                        mc::content.eq(&row.content),
                        mc::variants.eq(&row.variants),
                        mc::start_time.eq(row.start_time),
                        mc::end_time.eq(row.end_time),
                        mc::trigger.eq(&row.trigger),
                        mc::next_run_at.eq(row.next_run_at),
                        mc::send_at_local.eq(&row.send_at_local),
                        mc::time_zone.eq(&row.time_zone),
                        mc::quiet_hours.eq(&row.quiet_hours),
                        mc::spend_cap_micros.eq(row.spend_cap_micros),
                        mc::updated_by.eq(row.updated_by),
                        mc::updated_at.eq(row.updated_at),
                    ))
                    .returning(CampaignRow::as_returning())
                    .get_result(conn)
                    .await?;
                Ok(row)
            })
            .await?;
        Ok(row.into())
    }

    /// Archives a campaign in any state but `active`; archiving twice is a no-op.
    pub async fn archive_campaign(&self, caller: Caller, id: Uuid) -> Result<Campaign> {
        let mut conn = self.pool.get().await?;
        let row = conn
            .transaction::<_, Error, _>(async |conn| {
                let row = find_for_update(conn, id).await?;
                CampaignTrigger::stored(&row.trigger)?.check_not_journey(id)?;
                match row.status {
                    CampaignStatus::Active => Err(Error::Conflict(format!(
                        "campaign {id} is active; it must complete before it can be archived"
                    ))),
                    CampaignStatus::Archived => Ok(row),
                    _ => Ok(diesel::update(mc::marketing_campaign.find(id))
                        .set((
                            mc::status.eq(CampaignStatus::Archived),
                            mc::updated_by.eq(caller.id),
                            mc::updated_at.eq(Utc::now()),
                        ))
                        .returning(CampaignRow::as_returning())
                        .get_result(conn)
                        .await?),
                }
            })
            .await?;
        Ok(row.into())
    }
}

pub(crate) async fn find(conn: &mut AsyncPgConnection, id: Uuid) -> Result<CampaignRow> {
    CampaignRow::find(conn, id)
        .await?
        .ok_or_else(|| Error::not_found("campaign", id))
}

/// The campaign, row-locked until the transaction ends.
pub(crate) async fn find_for_update(conn: &mut AsyncPgConnection, id: Uuid) -> Result<CampaignRow> {
    CampaignRow::lock(conn, id)
        .await?
        .ok_or_else(|| Error::not_found("campaign", id))
}

/// The row a create would insert (status and next occurrence placed), not written: shared by
/// create and the preview of an unsaved campaign, so both check the same.
pub(crate) fn new_row(
    id: Uuid,
    caller: Caller,
    new: NewCampaign,
    now: chrono::DateTime<Utc>,
) -> Result<CampaignRow> {
    let mut row = CampaignRow {
        id,
        name: new.name.as_str().to_owned(),
        type_: new.channel,
        status: CampaignStatus::Draft,
        target_tags: new.target_tags,
        target_segment_id: new.target_segment_id,
        content_template_id: new.content_template_id,
        content: new.content,
        variants: serde_json::to_value(&new.variants).map_err(|e| Error::Internal(e.into()))?,
        start_time: new.start_time,
        end_time: new.end_time,
        actual_start_time: None,
        actual_end_time: None,
        created_by: caller.id,
        updated_by: caller.id,
        created_at: now,
        updated_at: now,
        trigger: new.trigger.to_json(),
        next_run_at: None,
        paused_at: None,
        send_at_local: None,
        time_zone: None,
        quiet_hours: None,
        spend_cap_micros: new.spend_cap.map(|c| c.micros()),
    };
    new.timing.apply(&mut row);
    place(&mut row, now)?;
    Ok(row)
}

/// Checks that the templates and the segment a campaign names exist, and that its templates
/// are for its channel.
pub(crate) async fn check_references(
    conn: &mut AsyncPgConnection,
    row: &CampaignRow,
) -> Result<()> {
    use marketing_core::schema::{content_templates::dsl as ct, segments::dsl as sg};
    let variants = crate::domain::variant::stored(&row.variants)?;
    let mut wanted: Vec<(String, Uuid)> = Vec::new();
    if let Some(t) = row.content_template_id {
        wanted.push(("content_template_id".into(), t));
    }
    for (i, v) in variants.iter().enumerate() {
        if let Some(t) = v.template_id {
            wanted.push((format!("variants[{i}].template_id"), t));
        }
    }
    for (field, id) in wanted {
        let channel: Option<Channel> = ct::content_templates
            .find(id)
            .select(ct::channel)
            .first(conn)
            .await
            .optional()?;
        match channel {
            None => {
                return Err(Error::invalid(
                    field,
                    format!("template {id} does not exist"),
                ));
            }
            Some(c) if c != row.type_ => {
                return Err(Error::invalid(
                    field,
                    format!("template {id} is for {c}, the campaign is {}", row.type_),
                ));
            }
            Some(_) => {}
        }
    }
    if let Some(s) = row.target_segment_id {
        let found: Option<Uuid> = sg::segments
            .find(s)
            .select(sg::id)
            .first(conn)
            .await
            .optional()?;
        if found.is_none() {
            return Err(Error::invalid(
                "target_segment_id",
                format!("segment {s} does not exist"),
            ));
        }
    }
    Ok(())
}

/// Makes `%`, `_` and `\` in a user's search text match literally.
pub(crate) fn escape_like(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
