//! Rows as stored. Enum-like columns are `TEXT` with CHECK constraints, read and written as the
//! [`crate::vocabulary`] types.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use crate::schema::{content_templates, customers, marketing_campaign, marketing_record, segments};
use crate::vocabulary::{CampaignStatus, Channel, RecordStatus};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = marketing_campaign)]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub struct CampaignRow {
    pub id: Uuid,
    pub name: String,
    pub type_: Channel,
    pub status: CampaignStatus,
    pub target_tags: Vec<String>,
    pub target_segment_id: Option<Uuid>,
    pub content_template_id: Option<Uuid>,
    pub content: String,
    /// A/B variants (`[]` when none); see campaign-svc's `domain::variant`.
    pub variants: serde_json::Value,
    pub start_time: Option<DateTime<Utc>>,
    pub end_time: Option<DateTime<Utc>>,
    pub actual_start_time: Option<DateTime<Utc>>,
    pub actual_end_time: Option<DateTime<Utc>>,
    pub created_by: Uuid,
    pub updated_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// When it sends: `{"kind": "once"}` or a recurring schedule; see campaign-svc's
    /// `domain::trigger`.
    pub trigger: serde_json::Value,
    /// A recurring campaign's next occurrence (none when it has no more).
    pub next_run_at: Option<DateTime<Utc>>,
    /// A paused recurring campaign runs no occurrence until resumed.
    pub paused_at: Option<DateTime<Utc>>,
    /// Each message leaves at this local time of day (`HH:MM[:SS]`) on the customer's clock.
    pub send_at_local: Option<String>,
    /// The clock of customers without a time zone (IANA name).
    pub time_zone: Option<String>,
    /// `{"start", "end"}`: messages due inside wait for the end (the service default when none).
    pub quiet_hours: Option<serde_json::Value>,
    /// The most its messages may cost in all, in micro-units (see [`crate::cost`]).
    pub spend_cap_micros: Option<i64>,
}

impl CampaignRow {
    /// The campaign, if it exists.
    pub async fn find(
        conn: &mut diesel_async::AsyncPgConnection,
        id: Uuid,
    ) -> QueryResult<Option<Self>> {
        let query = marketing_campaign::table.find(id).select(Self::as_select());
        diesel_async::RunQueryDsl::first(query, conn)
            .await
            .optional()
    }

    /// The campaign, row-locked until the caller's transaction ends (`FOR NO KEY UPDATE`: lockers
    /// take turns, but rows that merely reference the campaign, such as the event-trigger queue
    /// filled while events are stored, are not held up; `FOR UPDATE` made every event ingest
    /// wait for the event dispatcher's transaction).
    pub async fn lock(
        conn: &mut diesel_async::AsyncPgConnection,
        id: Uuid,
    ) -> QueryResult<Option<Self>> {
        let query = marketing_campaign::table
            .find(id)
            .for_no_key_update()
            .select(Self::as_select());
        diesel_async::RunQueryDsl::first(query, conn)
            .await
            .optional()
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = customers)]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub struct CustomerRow {
    pub id: Uuid,
    pub external_id: Option<String>,
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub push_token: Option<String>,
    /// The customer's `openid` with the WeChat official account (the `wechat` channel).
    pub wechat_openid: Option<String>,
    pub tags: Vec<String>,
    pub attributes: serde_json::Value,
    pub locale: Option<String>,
    pub time_zone: Option<String>,
    pub birthday: Option<chrono::NaiveDate>,
    pub erased_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = marketing_record)]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub struct RecordRow {
    pub id: Uuid,
    pub campaign_id: Uuid,
    pub execution_id: Uuid,
    pub customer_id: Uuid,
    pub channel: Channel,
    pub status: RecordStatus,
    pub error_message: Option<String>,
    pub response: Option<serde_json::Value>,
    pub provider_message_id: Option<String>,
    pub attempts: i32,
    pub sent_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub opened_at: Option<DateTime<Utc>>,
    pub clicked_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub claimed_at: Option<DateTime<Utc>>,
    pub variant: Option<String>,
    pub unsubscribed_at: Option<DateTime<Utc>>,
    pub converted_at: Option<DateTime<Utc>>,
    /// A message that waits (local send time, quiet hours) leaves at this instant.
    pub not_before: Option<DateTime<Utc>>,
    /// When the timed publisher published a waiting record (the relay's are not marked).
    pub published_at: Option<DateTime<Utc>>,
    /// The customer event that made this record (event-triggered campaigns).
    pub event_id: Option<String>,
    /// The provider that took (or refused) the message, as the worker names it.
    pub provider: Option<String>,
    /// What sending it cost (its provider's price), in micro-units; none while not sent.
    pub cost_micros: Option<i64>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = content_templates)]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub struct TemplateRow {
    pub id: Uuid,
    pub name: String,
    pub channel: Channel,
    pub subject: Option<String>,
    pub body: String,
    pub html_body: Option<String>,
    pub variables: Vec<String>,
    pub created_by: Uuid,
    pub updated_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl TemplateRow {
    /// The template, if it exists.
    pub async fn find(
        conn: &mut diesel_async::AsyncPgConnection,
        id: Uuid,
    ) -> QueryResult<Option<Self>> {
        let query = content_templates::table.find(id).select(Self::as_select());
        diesel_async::RunQueryDsl::first(query, conn)
            .await
            .optional()
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = segments)]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub struct SegmentRow {
    pub id: Uuid,
    pub name: String,
    pub description: String,
    pub rule: serde_json::Value,
    pub created_by: Uuid,
    pub updated_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl SegmentRow {
    /// The segment, if it exists.
    pub async fn find(
        conn: &mut diesel_async::AsyncPgConnection,
        id: Uuid,
    ) -> QueryResult<Option<Self>> {
        let query = segments::table.find(id).select(Self::as_select());
        diesel_async::RunQueryDsl::first(query, conn)
            .await
            .optional()
    }

    /// Its rule, parsed (a stored rule passed the parser when it was saved).
    pub fn parsed_rule(&self) -> Result<crate::segment::Rule, crate::segment::RuleError> {
        crate::segment::Rule::parse(&self.rule)
    }
}
