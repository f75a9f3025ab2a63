//! Customers pushed in by the CRM: upsert (one or up to 10,000 per call), read, erase, opt-outs.

use std::collections::HashMap;

use chrono::Utc;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Jsonb, Nullable, Text, Uuid as SqlUuid};
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};
use marketing_core::models::CustomerRow;
use marketing_core::schema::{
    customer_events::dsl as ev, customer_opt_outs::dsl as oo, customers::dsl as cu,
    sms_replies::dsl as sr,
};
use marketing_core::vocabulary::OptOutScope;
use uuid::Uuid;

use super::MarketingService;

/// Which customers `GET /customers` lists.
#[derive(Debug, Default)]
pub struct CustomerFilter {
    /// Only customers after this id (the cursor).
    pub after: Option<Uuid>,
    pub tag: Option<String>,
    pub external_id: Option<String>,
    /// Case-insensitive substring of name, e-mail, phone or external id.
    pub text: Option<String>,
}
use crate::domain::customer::{BulkOutcome, Customer, MAX_BULK, OptOut, ValidCustomer};
use crate::error::{Error, Result};

/// One statement for the whole batch: the customers travel as one JSONB document, so a call of
/// 10,000 customers is one round trip and stays far below PostgreSQL's bind-parameter limit.
/// Upsert replaces the stored fields with the pushed ones (the CRM is the source of truth).
///
/// Rows are written in `external_id` order: two calls upserting the same customers then lock
/// them in the same order, and one waits for the other instead of both waiting on each other
/// (a deadlock, which PostgreSQL breaks by failing one of them).
const UPSERT_SQL: &str = r#"
INSERT INTO customers AS c
    (id, external_id, name, email, phone, push_token, wechat_openid, tags, attributes, locale,
     time_zone, birthday)
SELECT x.id, x.external_id, x.name, x.email, x.phone, x.push_token, x.wechat_openid,
       COALESCE(x.tags, '{}'), COALESCE(x.attributes, '{}'::jsonb), x.locale, x.time_zone,
       x.birthday
FROM jsonb_to_recordset($1) AS x(
    id uuid, external_id text, name text, email text, phone text, push_token text,
    wechat_openid text, tags text[], attributes jsonb, locale text, time_zone text, birthday date)
ORDER BY x.external_id COLLATE "C"
ON CONFLICT (external_id) DO UPDATE SET
    name = EXCLUDED.name, email = EXCLUDED.email, phone = EXCLUDED.phone,
    push_token = EXCLUDED.push_token, wechat_openid = EXCLUDED.wechat_openid, tags = EXCLUDED.tags, attributes = EXCLUDED.attributes,
    locale = EXCLUDED.locale, time_zone = EXCLUDED.time_zone, birthday = EXCLUDED.birthday,
    updated_at = now()
RETURNING c.id, c.external_id, (c.xmax = 0) AS inserted
"#;

#[derive(QueryableByName)]
struct Upserted {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = Nullable<Text>)]
    external_id: Option<String>,
    #[diesel(sql_type = Bool)]
    inserted: bool,
}

#[derive(serde::Serialize)]
struct UpsertInput<'a> {
    id: Uuid,
    #[serde(flatten)]
    customer: &'a ValidCustomer,
}

/// Most customers one listing returns.
pub const MAX_CUSTOMER_PAGE: i64 = 1000;
/// Customers a listing returns when the caller gives no page size.
pub const DEFAULT_CUSTOMER_PAGE: i64 = 50;

impl MarketingService {
    /// Creates or updates one customer by `external_id`; `true` when it was created.
    pub async fn upsert_customer(&self, customer: ValidCustomer) -> Result<(Customer, bool)> {
        let outcome = self.bulk_upsert_customers(vec![customer]).await?;
        let id = outcome.ids[0];
        Ok((self.get_customer(id).await?, outcome.created == 1))
    }

    /// Creates or updates up to [`MAX_BULK`] customers in one statement.
    pub async fn bulk_upsert_customers(&self, batch: Vec<ValidCustomer>) -> Result<BulkOutcome> {
        if batch.is_empty() {
            return Err(Error::invalid(
                "customers",
                "must hold at least one customer",
            ));
        }
        if batch.len() > MAX_BULK {
            return Err(Error::invalid(
                "customers",
                format!("at most {MAX_BULK} customers per call, got {}", batch.len()),
            ));
        }
        let mut seen: HashMap<&str, usize> = HashMap::with_capacity(batch.len());
        for (i, c) in batch.iter().enumerate() {
            if let Some(first) = seen.insert(&c.external_id, i) {
                return Err(Error::invalid(
                    format!("customers[{i}].external_id"),
                    format!("`{}` also appears at customers[{first}]", c.external_id),
                ));
            }
        }
        let input: Vec<UpsertInput> = batch
            .iter()
            .map(|customer| UpsertInput {
                id: Uuid::now_v7(),
                customer,
            })
            .collect();
        let doc = serde_json::to_value(&input).map_err(|e| Error::Internal(e.into()))?;
        let mut conn = self.pool.get().await?;
        let mut attempt = 1;
        let rows: Vec<Upserted> = loop {
            match diesel::sql_query(UPSERT_SQL)
                .bind::<Jsonb, _>(&doc)
                .load(&mut conn)
                .await
            {
                // The statement is atomic and idempotent: running it again is safe.
                Err(e) if attempt < UPSERT_ATTEMPTS && is_transient_conflict(&e) => {
                    tracing::warn!(error = %e, attempt, "customer upsert lost a lock conflict; retrying");
                    tokio::time::sleep(std::time::Duration::from_millis(20 * attempt)).await;
                    attempt += 1;
                }
                other => break other?,
            }
        };
        let created = rows.iter().filter(|r| r.inserted).count() as u64;
        let by_external: HashMap<String, Uuid> = rows
            .into_iter()
            .filter_map(|r| r.external_id.map(|e| (e, r.id)))
            .collect();
        let ids = batch
            .iter()
            .map(|c| {
                by_external.get(&c.external_id).copied().ok_or_else(|| {
                    Error::Internal(anyhow::anyhow!(
                        "upsert returned no row for {}",
                        c.external_id
                    ))
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(BulkOutcome {
            created,
            updated: batch.len() as u64 - created,
            ids,
        })
    }

    /// A customer with their opt-outs; erased customers are gone (404).
    pub async fn get_customer(&self, id: Uuid) -> Result<Customer> {
        let mut conn = self.pool.get().await?;
        let row = find_live(&mut conn, id).await?;
        let opt_outs = oo::customer_opt_outs
            .filter(oo::customer_id.eq(id))
            .order(oo::channel)
            .select(oo::channel)
            .load::<String>(&mut conn)
            .await?;
        Ok(Customer::from_row(row, opt_outs))
    }

    /// Live customers in id order after `filter.after` (keyset paging: a page never repeats or
    /// skips a customer because others were added or erased meanwhile), at most `limit`, with
    /// their opt-outs; plus whether more follow.
    pub async fn list_customers(
        &self,
        filter: CustomerFilter,
        limit: i64,
    ) -> Result<(Vec<Customer>, bool)> {
        if !(1..=MAX_CUSTOMER_PAGE).contains(&limit) {
            return Err(Error::invalid(
                "page_size",
                format!("must be 1 to {MAX_CUSTOMER_PAGE}"),
            ));
        }
        let mut conn = self.pool.get().await?;
        let mut q = cu::customers.filter(cu::erased_at.is_null()).into_boxed();
        if let Some(after) = filter.after {
            q = q.filter(cu::id.gt(after));
        }
        if let Some(tag) = filter.tag {
            q = q.filter(cu::tags.contains(vec![tag]));
        }
        if let Some(x) = filter.external_id {
            q = q.filter(cu::external_id.eq(x));
        }
        if let Some(text) = filter.text.filter(|t| !t.is_empty()) {
            let like = format!("%{}%", super::campaigns::escape_like(&text));
            q = q.filter(
                cu::name
                    .ilike(like.clone())
                    .or(cu::email.ilike(like.clone()))
                    .or(cu::phone.ilike(like.clone()))
                    .or(cu::external_id.ilike(like)),
            );
        }
        let mut rows: Vec<CustomerRow> = q
            .order(cu::id)
            .limit(limit + 1)
            .select(CustomerRow::as_select())
            .load(&mut conn)
            .await?;
        let more = rows.len() as i64 > limit;
        rows.truncate(limit.max(0) as usize);
        let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
        let mut opt_outs: HashMap<Uuid, Vec<String>> = HashMap::new();
        for (customer, channel) in oo::customer_opt_outs
            .filter(oo::customer_id.eq_any(&ids))
            .order((oo::customer_id, oo::channel))
            .select((oo::customer_id, oo::channel))
            .load::<(Uuid, String)>(&mut conn)
            .await?
        {
            opt_outs.entry(customer).or_default().push(channel);
        }
        let customers = rows
            .into_iter()
            .map(|r| {
                let o = opt_outs.remove(&r.id).unwrap_or_default();
                Customer::from_row(r, o)
            })
            .collect();
        Ok((customers, more))
    }

    /// Erases personal data (GDPR/CCPA). The row stays as an anonymous tombstone so that records
    /// and campaign statistics keep adding up; the customer can no longer be read or targeted.
    pub async fn erase_customer(&self, id: Uuid) -> Result<()> {
        let mut conn = self.pool.get().await?;
        let now = Utc::now();
        let events = conn
            .transaction::<_, Error, _>(async |conn| {
                let erased = diesel::update(cu::customers.find(id).filter(cu::erased_at.is_null()))
                    .set((
                        cu::external_id.eq(None::<String>),
                        cu::name.eq(None::<String>),
                        cu::email.eq(None::<String>),
                        cu::phone.eq(None::<String>),
                        cu::push_token.eq(None::<String>),
                        cu::wechat_openid.eq(None::<String>),
                        cu::tags.eq(Vec::<String>::new()),
                        cu::attributes.eq(serde_json::json!({})),
                        cu::locale.eq(None::<String>),
                        cu::time_zone.eq(None::<String>),
                        cu::birthday.eq(None::<chrono::NaiveDate>),
                        cu::erased_at.eq(Some(now)),
                        cu::updated_at.eq(now),
                    ))
                    .execute(conn)
                    .await?;
                if erased == 0 {
                    return Err(Error::not_found("customer", id));
                }
                // Events and SMS replies are personal data too (their properties and text may
                // name anything): they go with the customer, in the same transaction.
                diesel::delete(sr::sms_replies.filter(sr::customer_id.eq(id)))
                    .execute(conn)
                    .await?;
                Ok(
                    diesel::delete(ev::customer_events.filter(ev::customer_id.eq(id)))
                        .execute(conn)
                        .await?,
                )
            })
            .await?;
        tracing::info!(customer_id = %id, events, "customer erased");
        Ok(())
    }

    /// Records an opt-out; `true` when it is new (repeating one is harmless).
    pub async fn add_opt_out(
        &self,
        customer_id: Uuid,
        scope: OptOutScope,
    ) -> Result<(OptOut, bool)> {
        let mut conn = self.pool.get().await?;
        conn.transaction::<_, Error, _>(async |conn| {
            find_live(conn, customer_id).await?;
            let inserted = diesel::insert_into(oo::customer_opt_outs)
                .values((oo::customer_id.eq(customer_id), oo::channel.eq(scope)))
                .on_conflict_do_nothing()
                .execute(conn)
                .await?;
            let created_at = oo::customer_opt_outs
                .find((customer_id, scope))
                .select(oo::created_at)
                .first(conn)
                .await?;
            let opt_out = OptOut {
                customer_id,
                channel: scope.as_str().to_owned(),
                created_at,
            };
            Ok((opt_out, inserted == 1))
        })
        .await
    }
}

/// Tries of an upsert that PostgreSQL aborted to resolve a lock conflict.
const UPSERT_ATTEMPTS: u64 = 5;

/// A deadlock victim or a serialization failure: the statement may simply run again.
pub(super) fn is_transient_conflict(e: &diesel::result::Error) -> bool {
    use diesel::result::{DatabaseErrorKind, Error as DbError};
    match e {
        DbError::DatabaseError(DatabaseErrorKind::SerializationFailure, _) => true,
        DbError::DatabaseError(_, info) => info.message().starts_with("deadlock detected"),
        _ => false,
    }
}

pub(crate) async fn find_live(conn: &mut AsyncPgConnection, id: Uuid) -> Result<CustomerRow> {
    cu::customers
        .find(id)
        .filter(cu::erased_at.is_null())
        .select(CustomerRow::as_select())
        .first(conn)
        .await
        .optional()?
        .ok_or_else(|| Error::not_found("customer", id))
}
