//! Content templates: create, list, read, update, delete (refused while a campaign uses one).

use chrono::Utc;
use diesel::prelude::*;
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};
use marketing_core::models::TemplateRow;
use marketing_core::schema::content_templates::dsl as ct;
use marketing_core::schema::marketing_campaign::dsl as mc;
use marketing_core::vocabulary::{CampaignStatus, Channel};
use uuid::Uuid;

use super::MarketingService;
use super::campaigns::escape_like;
use crate::auth::Caller;
use crate::domain::IfMatch;
use crate::domain::template::{Template, TemplateFields};
use crate::domain::{Page, PageRequest};
use crate::error::{Error, Result};

/// Largest page of templates.
pub const MAX_TEMPLATE_PAGE: u32 = 100;

/// Filters of a template listing.
#[derive(Debug, Clone, Default)]
pub struct TemplateFilter {
    pub channel: Option<Channel>,
    /// Case-insensitive substring of the name.
    pub name: Option<String>,
}

impl MarketingService {
    pub async fn create_template(
        &self,
        caller: Caller,
        fields: TemplateFields,
    ) -> Result<Template> {
        let t = fields.into_new()?;
        let now = Utc::now();
        let row = TemplateRow {
            id: Uuid::now_v7(),
            name: t.name,
            channel: t.channel,
            subject: t.source.subject,
            body: t.source.body,
            html_body: t.source.html_body,
            variables: t.variables,
            created_by: caller.id,
            updated_by: caller.id,
            created_at: now,
            updated_at: now,
        };
        let mut conn = self.pool.get().await?;
        let row = diesel::insert_into(ct::content_templates)
            .values(&row)
            .returning(TemplateRow::as_returning())
            .get_result(&mut conn)
            .await?;
        tracing::info!(template_id = %row.id, "template created");
        Ok(row.into())
    }

    pub async fn get_template(&self, id: Uuid) -> Result<Template> {
        let mut conn = self.pool.get().await?;
        find_template(&mut conn, id).await.map(Into::into)
    }

    /// Newest first, ties broken by id.
    pub async fn list_templates(
        &self,
        filter: TemplateFilter,
        page: PageRequest,
    ) -> Result<Page<Template>> {
        let mut conn = self.pool.get().await?;
        let query = || {
            let mut q = ct::content_templates.into_boxed();
            if let Some(c) = filter.channel {
                q = q.filter(ct::channel.eq(c));
            }
            if let Some(name) = filter.name.as_deref().filter(|n| !n.is_empty()) {
                q = q.filter(ct::name.ilike(format!("%{}%", escape_like(name))));
            }
            q
        };
        let total: i64 = query().count().get_result(&mut conn).await?;
        let rows = query()
            .order((ct::created_at.desc(), ct::id.desc()))
            .limit(page.limit())
            .offset(page.offset())
            .select(TemplateRow::as_select())
            .load(&mut conn)
            .await?;
        Ok(Page {
            items: rows.into_iter().map(Into::into).collect(),
            total: total as u64,
            request: page,
        })
    }

    /// Applies a partial update, checked as a whole. Campaigns already triggered keep the
    /// content frozen when they were; the channel cannot change while campaigns use it.
    pub async fn update_template(
        &self,
        caller: Caller,
        id: Uuid,
        fields: TemplateFields,
        if_match: &IfMatch,
    ) -> Result<Template> {
        let mut conn = self.pool.get().await?;
        let row = conn
            .transaction::<_, Error, _>(async |conn| {
                let row: TemplateRow = ct::content_templates
                    .find(id)
                    .for_update()
                    .select(TemplateRow::as_select())
                    .first(conn)
                    .await
                    .optional()?
                    .ok_or_else(|| Error::not_found("template", id))?;
                // After the input's own checks: bad input is a 400 whatever the version.
                let t = fields.apply(&row)?;
                if_match.check("template", &Template::from(row.clone()))?;
                if t.channel != row.channel
                    && let Some(user) = campaign_using(conn, id).await?
                {
                    return Err(Error::Conflict(format!(
                        "template {id} is used by campaign {user}; its channel cannot change"
                    )));
                }
                Ok(diesel::update(ct::content_templates.find(id))
                    .set((
                        ct::name.eq(t.name),
                        ct::channel.eq(t.channel),
                        ct::subject.eq(t.source.subject),
                        ct::body.eq(t.source.body),
                        ct::html_body.eq(t.source.html_body),
                        ct::variables.eq(t.variables),
                        ct::updated_by.eq(caller.id),
                        ct::updated_at.eq(Utc::now()),
                    ))
                    .returning(TemplateRow::as_returning())
                    .get_result(conn)
                    .await?)
            })
            .await?;
        Ok(row.into())
    }

    /// Deletes a template no campaign (other than archived ones) uses.
    pub async fn delete_template(&self, id: Uuid) -> Result<()> {
        let mut conn = self.pool.get().await?;
        conn.transaction::<_, Error, _>(async |conn| {
            // Locking the row first means a campaign created concurrently either sees the
            // template gone or is seen here.
            ct::content_templates
                .find(id)
                .for_update()
                .select(ct::id)
                .first::<Uuid>(conn)
                .await
                .optional()?
                .ok_or_else(|| Error::not_found("template", id))?;
            if let Some(user) = campaign_using(conn, id).await? {
                return Err(Error::Conflict(format!(
                    "template {id} is used by campaign {user}; archive the campaign or change its content first"
                )));
            }
            diesel::delete(ct::content_templates.find(id))
                .execute(conn)
                .await?;
            Ok(())
        })
        .await?;
        tracing::info!(template_id = %id, "template deleted");
        Ok(())
    }
}

pub(crate) async fn find_template(conn: &mut AsyncPgConnection, id: Uuid) -> Result<TemplateRow> {
    TemplateRow::find(conn, id)
        .await?
        .ok_or_else(|| Error::not_found("template", id))
}

/// A non-archived campaign using the template directly or in a variant.
async fn campaign_using(conn: &mut AsyncPgConnection, id: Uuid) -> Result<Option<Uuid>> {
    let in_variant = serde_json::json!([{ "template_id": id }]);
    Ok(mc::marketing_campaign
        .filter(mc::status.ne(CampaignStatus::Archived))
        .filter(
            mc::content_template_id
                .eq(id)
                .or(mc::variants.contains(in_variant)),
        )
        .select(mc::id)
        .first(conn)
        .await
        .optional()?)
}
