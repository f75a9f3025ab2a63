//! Conversions reported by the CRM, attributed to the message that last reached the customer.
//!
//! Attribution is last-touch: the record the caller names, or else the customer's record with
//! the latest `sent_at` within the conversion window before the conversion that was actually
//! sent (found through the `marketing_record (customer_id)` index; no index on the columns the
//! worker updates, which keeps its updates HOT). The first conversion of a record sets its
//! `converted_at` and counts in `campaign_stats.converted`: the stats count converted
//! recipients, not purchases. Reporting the same `external_id` again returns the first
//! conversion and changes nothing.

use chrono::{DateTime, Utc};
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};
use serde::Serialize;
use uuid::Uuid;

use super::MarketingService;
use crate::domain::conversion::NewConversion;
use crate::error::{Error, Result};

const COLUMNS: &str = "id, customer_id, record_id, campaign_id, kind, value_cents, occurred_at";

/// `$1` customer, `$2` occurred_at, `$3` window start.
const LAST_TOUCH_SQL: &str = "
SELECT id, customer_id, campaign_id, true AS reached FROM marketing_record
WHERE customer_id = $1 AND sent_at BETWEEN $3 AND $2
  AND status IN ('sent', 'delivered', 'opened', 'clicked')
ORDER BY sent_at DESC, id DESC
LIMIT 1";

/// An explicitly named record, and whether its message reached the customer.
const RECORD_SQL: &str = "SELECT id, customer_id, campaign_id,
       status IN ('sent', 'delivered', 'opened', 'clicked') AS reached
FROM marketing_record WHERE id = $1";

/// Marks the record converted the first time only, and counts it. `$1` record, `$2` when.
const COUNT_SQL: &str = "
WITH first AS (
    UPDATE marketing_record SET converted_at = $2, updated_at = now()
    WHERE id = $1 AND converted_at IS NULL
    RETURNING execution_id, COALESCE(variant, '') AS variant
)
UPDATE campaign_stats s SET converted = s.converted + 1
FROM first WHERE s.execution_id = first.execution_id AND s.variant = first.variant";

#[derive(QueryableByName)]
struct Touch {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    customer_id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    campaign_id: Uuid,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    reached: bool,
}

/// A stored conversion, as both APIs return it.
#[derive(Debug, Clone, PartialEq, Serialize, QueryableByName, utoipa::ToSchema)]
pub struct Conversion {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    pub customer_id: Uuid,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub record_id: Option<Uuid>,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub campaign_id: Option<Uuid>,
    #[diesel(sql_type = Text)]
    pub kind: String,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub value_cents: Option<i64>,
    #[diesel(sql_type = Timestamptz)]
    pub occurred_at: DateTime<Utc>,
}

impl Conversion {
    /// Whether a campaign got the credit.
    pub fn attributed(&self) -> bool {
        self.campaign_id.is_some()
    }
}

impl MarketingService {
    /// Stores a conversion; `true` when it is new, `false` when its `external_id` was reported
    /// before (the first one is returned).
    pub async fn report_conversion(&self, new: NewConversion) -> Result<(Conversion, bool)> {
        let window = self.settings.conversion_window;
        let mut conn = self.pool.get().await?;
        let (conversion, created) = conn.transaction::<_, Error, _>(async |conn| {
            if let Some(existing) = by_external_id(conn, new.external_id.as_deref()).await? {
                return Ok((existing, false));
            }
            super::customers::find_live(conn, new.customer_id).await?;
            let touch = match new.record_id {
                Some(id) => {
                    let touch = diesel::sql_query(RECORD_SQL)
                        .bind::<SqlUuid, _>(id)
                        .get_result::<Touch>(conn)
                        .await
                        .map_err(|e| match e {
                            diesel::result::Error::NotFound => Error::not_found("record", id),
                            e => e.into(),
                        })?;
                    if touch.customer_id != new.customer_id {
                        return Err(Error::invalid(
                            "record_id",
                            "the record belongs to another customer",
                        ));
                    }
                    // A message that was never sent (or failed) earned no conversion.
                    if !touch.reached {
                        return Err(Error::Conflict(format!(
                            "record {id} was never delivered to the customer; report the conversion without record_id"
                        )));
                    }
                    Some(touch)
                }
                None => diesel::sql_query(LAST_TOUCH_SQL)
                    .bind::<SqlUuid, _>(new.customer_id)
                    .bind::<Timestamptz, _>(new.occurred_at)
                    .bind::<Timestamptz, _>(new.occurred_at - window)
                    .load::<Touch>(conn)
                    .await?
                    .into_iter()
                    .next(),
            };
            // A concurrent report of the same external_id waits here for the other transaction
            // and then finds the key taken: it returns the first conversion.
            let inserted = diesel::sql_query(format!(
                "INSERT INTO conversions (id, customer_id, record_id, campaign_id, external_id, kind,
                                          value_cents, occurred_at)
                 VALUES (uuid_v7(), $1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (external_id) DO NOTHING
                 RETURNING {COLUMNS}"
            ))
            .bind::<SqlUuid, _>(new.customer_id)
            .bind::<Nullable<SqlUuid>, _>(touch.as_ref().map(|t| t.id))
            .bind::<Nullable<SqlUuid>, _>(touch.as_ref().map(|t| t.campaign_id))
            .bind::<Nullable<Text>, _>(new.external_id.as_deref())
            .bind::<Text, _>(&new.kind)
            .bind::<Nullable<BigInt>, _>(new.value_cents)
            .bind::<Timestamptz, _>(new.occurred_at)
            .load::<Conversion>(conn)
            .await?
            .into_iter()
            .next();
            let Some(conversion) = inserted else {
                let existing = by_external_id(conn, new.external_id.as_deref()).await?;
                return existing.map(|c| (c, false)).ok_or_else(|| {
                    Error::Internal(anyhow::anyhow!(
                        "conversion insert conflicted but no conversion has its external_id"
                    ))
                });
            };
            if let Some(t) = &touch {
                diesel::sql_query(COUNT_SQL)
                    .bind::<SqlUuid, _>(t.id)
                    .bind::<Timestamptz, _>(new.occurred_at)
                    .execute(conn)
                    .await?;
            }
            Ok((conversion, true))
        })
        .await?;
        if created {
            tracing::info!(conversion_id = %conversion.id, customer_id = %conversion.customer_id,
                record_id = ?conversion.record_id, campaign_id = ?conversion.campaign_id,
                "conversion reported");
            let attributed = if conversion.attributed() {
                "true"
            } else {
                "false"
            };
            metrics::counter!("conversions_total", "attributed" => attributed).increment(1);
        }
        Ok((conversion, created))
    }
}

async fn by_external_id(
    conn: &mut AsyncPgConnection,
    external_id: Option<&str>,
) -> Result<Option<Conversion>> {
    let Some(external_id) = external_id else {
        return Ok(None);
    };
    Ok(diesel::sql_query(format!(
        "SELECT {COLUMNS} FROM conversions WHERE external_id = $1"
    ))
    .bind::<Text, _>(external_id)
    .load::<Conversion>(conn)
    .await?
    .into_iter()
    .next())
}
