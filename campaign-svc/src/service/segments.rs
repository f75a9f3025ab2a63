//! Segments: create, list, read, update, delete (refused while a campaign targets one), and
//! count (the rule compiled to one parameterised query).

use chrono::Utc;
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};
use marketing_core::models::SegmentRow;
use marketing_core::schema::marketing_campaign::dsl as mc;
use marketing_core::schema::segments::dsl as sg;
use marketing_core::segment::{self, Rule};
use marketing_core::vocabulary::CampaignStatus;
use uuid::Uuid;

use super::MarketingService;
use super::campaigns::escape_like;
use crate::auth::Caller;
use crate::domain::IfMatch;
use crate::domain::segment::{Segment, SegmentFields, parse_rule};
use crate::domain::{Page, PageRequest};
use crate::error::{Error, Result};

/// Largest page of segments.
pub const MAX_SEGMENT_PAGE: u32 = 100;

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

impl MarketingService {
    pub async fn create_segment(&self, caller: Caller, fields: SegmentFields) -> Result<Segment> {
        let s = fields.into_new()?;
        let now = Utc::now();
        let row = SegmentRow {
            id: Uuid::now_v7(),
            name: s.name,
            description: s.description,
            rule: s.rule,
            created_by: caller.id,
            updated_by: caller.id,
            created_at: now,
            updated_at: now,
        };
        let mut conn = self.pool.get().await?;
        let row = diesel::insert_into(sg::segments)
            .values(&row)
            .returning(SegmentRow::as_returning())
            .get_result(&mut conn)
            .await?;
        tracing::info!(segment_id = %row.id, "segment created");
        Ok(row.into())
    }

    pub async fn get_segment(&self, id: Uuid) -> Result<Segment> {
        let mut conn = self.pool.get().await?;
        find(&mut conn, id).await.map(Into::into)
    }

    /// Newest first, ties broken by id; `name` filters by case-insensitive substring.
    pub async fn list_segments(
        &self,
        name: Option<String>,
        page: PageRequest,
    ) -> Result<Page<Segment>> {
        let mut conn = self.pool.get().await?;
        let query = || {
            let mut q = sg::segments.into_boxed();
            if let Some(name) = name.as_deref().filter(|n| !n.is_empty()) {
                q = q.filter(sg::name.ilike(format!("%{}%", escape_like(name))));
            }
            q
        };
        let total: i64 = query().count().get_result(&mut conn).await?;
        let rows = query()
            .order((sg::created_at.desc(), sg::id.desc()))
            .limit(page.limit())
            .offset(page.offset())
            .select(SegmentRow::as_select())
            .load(&mut conn)
            .await?;
        Ok(Page {
            items: rows.into_iter().map(Into::into).collect(),
            total: total as u64,
            request: page,
        })
    }

    /// Applies a partial update; campaigns already triggered keep the audience they froze.
    pub async fn update_segment(
        &self,
        caller: Caller,
        id: Uuid,
        fields: SegmentFields,
        if_match: &IfMatch,
    ) -> Result<Segment> {
        let mut conn = self.pool.get().await?;
        let row = conn
            .transaction::<_, Error, _>(async |conn| {
                let row: SegmentRow = sg::segments
                    .find(id)
                    .for_update()
                    .select(SegmentRow::as_select())
                    .first(conn)
                    .await
                    .optional()?
                    .ok_or_else(|| Error::not_found("segment", id))?;
                // After the input's own checks: bad input is a 400 whatever the version.
                let s = fields.apply(&row)?;
                if_match.check("segment", &Segment::from(row.clone()))?;
                Ok(diesel::update(sg::segments.find(id))
                    .set((
                        sg::name.eq(s.name),
                        sg::description.eq(s.description),
                        sg::rule.eq(s.rule),
                        sg::updated_by.eq(caller.id),
                        sg::updated_at.eq(Utc::now()),
                    ))
                    .returning(SegmentRow::as_returning())
                    .get_result(conn)
                    .await?)
            })
            .await?;
        Ok(row.into())
    }

    /// Deletes a segment no campaign (other than archived ones) targets.
    pub async fn delete_segment(&self, id: Uuid) -> Result<()> {
        let mut conn = self.pool.get().await?;
        conn.transaction::<_, Error, _>(async |conn| {
            sg::segments
                .find(id)
                .for_update()
                .select(sg::id)
                .first::<Uuid>(conn)
                .await
                .optional()?
                .ok_or_else(|| Error::not_found("segment", id))?;
            let user: Option<Uuid> = mc::marketing_campaign
                .filter(mc::status.ne(CampaignStatus::Archived))
                .filter(mc::target_segment_id.eq(id))
                .select(mc::id)
                .first(conn)
                .await
                .optional()?;
            if let Some(user) = user {
                return Err(Error::Conflict(format!(
                    "segment {id} is targeted by campaign {user}; archive the campaign or change its audience first"
                )));
            }
            diesel::delete(sg::segments.find(id)).execute(conn).await?;
            Ok(())
        })
        .await?;
        tracing::info!(segment_id = %id, "segment deleted");
        Ok(())
    }

    /// How many customers (not erased) a saved segment matches now.
    pub async fn count_segment(&self, id: Uuid) -> Result<u64> {
        let mut conn = self.pool.get().await?;
        let rule = stored_rule(&mut conn, id).await?;
        count(&mut conn, &rule).await
    }

    /// How many customers a rule matches, before saving it.
    pub async fn count_rule(&self, rule: &serde_json::Value) -> Result<u64> {
        let rule = parse_rule(rule)?;
        let mut conn = self.pool.get().await?;
        count(&mut conn, &rule).await
    }
}

async fn count(conn: &mut AsyncPgConnection, rule: &Rule) -> Result<u64> {
    let compiled = segment::compile(rule, 1);
    let query = diesel::sql_query(format!(
        "SELECT count(*) AS n FROM customers c WHERE c.erased_at IS NULL AND ({})",
        compiled.sql
    ))
    .into_boxed();
    let n: Count = segment::bind_all(query, &compiled.binds)
        .get_result(conn)
        .await?;
    Ok(n.n as u64)
}

async fn find(conn: &mut AsyncPgConnection, id: Uuid) -> Result<SegmentRow> {
    SegmentRow::find(conn, id)
        .await?
        .ok_or_else(|| Error::not_found("segment", id))
}

/// A saved segment's parsed rule.
pub(crate) async fn stored_rule(conn: &mut AsyncPgConnection, id: Uuid) -> Result<Rule> {
    let row = find(conn, id).await?;
    row.parsed_rule()
        .map_err(|e| Error::Internal(anyhow::anyhow!("segment {id}: stored rule: {e}")))
}
