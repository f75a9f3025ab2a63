//! Campaign requests as validated domain values, and the campaign as callers see it.

use chrono::{DateTime, Utc};
use marketing_core::cost::Amount;
use marketing_core::models::CampaignRow;
use marketing_core::vocabulary::{CampaignStatus, Channel};
use serde::Serialize;
use uuid::Uuid;

use super::timing::TimingPatch;
use super::trigger::CampaignTrigger;
use super::variant::{Variant, VariantFields, parse_variants};
use super::{bounded_text, parse_word};
use crate::error::{Error, Result};

pub const MAX_NAME_CHARS: usize = 200;
pub const MAX_TAGS: usize = 100;
pub const MAX_TAG_CHARS: usize = 100;
pub const MAX_CONTENT_CHARS: usize = 100_000;

/// A campaign's name: not blank, at most 200 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CampaignName(String);

impl CampaignName {
    pub fn parse(s: &str) -> Result<Self> {
        if s.trim().is_empty() {
            return Err(Error::invalid("name", "must not be empty"));
        }
        Ok(CampaignName(bounded_text(
            "name",
            s.trim(),
            MAX_NAME_CHARS,
        )?))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Audience tags: each non-blank and short, de-duplicated in order.
pub fn parse_tags(field: &str, tags: Vec<String>) -> Result<Vec<String>> {
    if tags.len() > MAX_TAGS {
        return Err(Error::invalid(field, format!("at most {MAX_TAGS} tags")));
    }
    let mut out: Vec<String> = Vec::with_capacity(tags.len());
    for (i, tag) in tags.into_iter().enumerate() {
        let tag = tag.trim().to_owned();
        if tag.is_empty() {
            return Err(Error::invalid(format!("{field}[{i}]"), "must not be empty"));
        }
        if tag.chars().count() > MAX_TAG_CHARS {
            return Err(Error::invalid(
                format!("{field}[{i}]"),
                format!("must be at most {MAX_TAG_CHARS} characters"),
            ));
        }
        if !out.contains(&tag) {
            out.push(tag);
        }
    }
    Ok(out)
}

/// Campaign fields as a transport delivers them, already typed (UUIDs, times) but not yet
/// checked against the campaign rules. `None` = not given; `Some(None)` = explicitly cleared.
#[derive(Debug, Clone, Default)]
pub struct CampaignFields {
    pub name: Option<String>,
    pub channel: Option<String>,
    pub target_tags: Option<Vec<String>>,
    pub target_segment_id: Option<Option<Uuid>>,
    pub content_template_id: Option<Option<Uuid>>,
    pub content: Option<String>,
    pub variants: Option<Vec<VariantFields>>,
    pub start_time: Option<Option<DateTime<Utc>>>,
    pub end_time: Option<Option<DateTime<Utc>>>,
    /// `{"kind": …}` as sent (see [`CampaignTrigger::parse`]).
    pub trigger: Option<serde_json::Value>,
    /// `HH:MM[:SS]`: each message leaves at that local time (see `domain::timing`).
    pub send_at_local: Option<Option<String>>,
    /// IANA zone of customers without one.
    pub time_zone: Option<Option<String>>,
    /// `{"start", "end"}` as sent.
    pub quiet_hours: Option<Option<serde_json::Value>>,
    /// The spend cap as decimal text (`"500.00"`).
    pub spend_cap: Option<Option<String>>,
}

/// A spend cap: a decimal amount of the service's currency, greater than 0, at most 6 decimals.
pub fn parse_spend_cap(text: &str) -> Result<Amount> {
    let cap = Amount::parse(text).map_err(|e| Error::invalid("spend_cap", e.to_string()))?;
    if cap.is_zero() {
        return Err(Error::invalid(
            "spend_cap",
            "must be greater than 0 (null: no cap)",
        ));
    }
    Ok(cap)
}

fn parse_optional_spend_cap(v: Option<Option<String>>) -> Result<Option<Option<Amount>>> {
    v.map(|o| o.map(|t| parse_spend_cap(&t)).transpose())
        .transpose()
}

/// Checks inline content: size, syntax and variables.
pub fn parse_content(field: &str, content: &str) -> Result<String> {
    let content = bounded_text(field, content, MAX_CONTENT_CHARS)?;
    if !content.trim().is_empty() {
        marketing_core::render::check(&marketing_core::render::MessageSource {
            body: content.clone(),
            ..Default::default()
        })
        .map_err(|e| Error::invalid(field, e.message))?;
    }
    Ok(content)
}

fn parse_all_variants(fields: Vec<VariantFields>) -> Result<Vec<Variant>> {
    let variants = parse_variants(fields)?;
    for (i, v) in variants.iter().enumerate() {
        if let Some(c) = &v.content {
            parse_content(&format!("variants[{i}].content"), c)?;
        }
    }
    Ok(variants)
}

/// A campaign to create: every rule checked.
#[derive(Debug, Clone)]
pub struct NewCampaign {
    pub name: CampaignName,
    pub channel: Channel,
    pub target_tags: Vec<String>,
    pub target_segment_id: Option<Uuid>,
    pub content_template_id: Option<Uuid>,
    pub content: String,
    pub variants: Vec<Variant>,
    pub start_time: Option<DateTime<Utc>>,
    pub end_time: Option<DateTime<Utc>>,
    pub trigger: CampaignTrigger,
    pub timing: TimingPatch,
    pub spend_cap: Option<Amount>,
}

impl NewCampaign {
    /// `min_recurrence_secs`: the closest two occurrences of a recurring trigger may be.
    pub fn parse(f: CampaignFields, min_recurrence_secs: u64) -> Result<Self> {
        let name = CampaignName::parse(f.name.as_deref().unwrap_or(""))?;
        let channel = match f.channel.as_deref() {
            None | Some("") => return Err(Error::invalid("type", "is required")),
            Some(t) => parse_word::<Channel>("type", t)?,
        };
        let timing = TimingPatch::parse(&f)?;
        let start_time = f.start_time.flatten();
        let end_time = f.end_time.flatten();
        check_window(start_time, end_time)?;
        Ok(NewCampaign {
            name,
            channel,
            target_tags: parse_tags("target_tags", f.target_tags.unwrap_or_default())?,
            target_segment_id: f.target_segment_id.flatten(),
            content_template_id: f.content_template_id.flatten(),
            content: parse_content("content", &f.content.unwrap_or_default())?,
            variants: parse_all_variants(f.variants.unwrap_or_default())?,
            start_time,
            end_time,
            trigger: f
                .trigger
                .map(|t| CampaignTrigger::parse(&t, min_recurrence_secs))
                .transpose()?
                .unwrap_or(CampaignTrigger::Once),
            timing,
            spend_cap: parse_optional_spend_cap(f.spend_cap)?.flatten(),
        })
    }
}

/// A partial update: only the given fields change.
#[derive(Debug, Clone, Default)]
pub struct CampaignPatch {
    pub name: Option<CampaignName>,
    pub channel: Option<Channel>,
    pub target_tags: Option<Vec<String>>,
    pub target_segment_id: Option<Option<Uuid>>,
    pub content_template_id: Option<Option<Uuid>>,
    pub content: Option<String>,
    pub variants: Option<Vec<Variant>>,
    pub start_time: Option<Option<DateTime<Utc>>>,
    pub end_time: Option<Option<DateTime<Utc>>>,
    pub trigger: Option<CampaignTrigger>,
    pub timing: TimingPatch,
    pub spend_cap: Option<Option<Amount>>,
}

impl CampaignPatch {
    pub fn parse(f: CampaignFields, min_recurrence_secs: u64) -> Result<Self> {
        let timing = TimingPatch::parse(&f)?;
        Ok(CampaignPatch {
            timing,
            spend_cap: parse_optional_spend_cap(f.spend_cap)?,
            name: f.name.as_deref().map(CampaignName::parse).transpose()?,
            channel: f
                .channel
                .as_deref()
                .map(|t| parse_word::<Channel>("type", t))
                .transpose()?,
            target_tags: f
                .target_tags
                .map(|t| parse_tags("target_tags", t))
                .transpose()?,
            target_segment_id: f.target_segment_id,
            content_template_id: f.content_template_id,
            content: f
                .content
                .map(|c| parse_content("content", &c))
                .transpose()?,
            variants: f.variants.map(parse_all_variants).transpose()?,
            start_time: f.start_time,
            end_time: f.end_time,
            trigger: f
                .trigger
                .map(|t| CampaignTrigger::parse(&t, min_recurrence_secs))
                .transpose()?,
        })
    }

    /// Applies the patch to a stored campaign, checking the rules that span fields.
    pub fn apply(self, row: &mut CampaignRow) -> Result<()> {
        if let Some(v) = self.name {
            row.name = v.0;
        }
        if let Some(v) = self.channel {
            row.type_ = v;
        }
        if let Some(v) = self.target_tags {
            row.target_tags = v;
        }
        if let Some(v) = self.target_segment_id {
            row.target_segment_id = v;
        }
        if let Some(v) = self.content_template_id {
            row.content_template_id = v;
        }
        if let Some(v) = self.content {
            row.content = v;
        }
        if let Some(v) = self.variants {
            row.variants = serde_json::to_value(v).map_err(|e| Error::Internal(e.into()))?;
        }
        if let Some(v) = self.start_time {
            row.start_time = v;
        }
        if let Some(v) = self.end_time {
            row.end_time = v;
        }
        if let Some(v) = self.trigger {
            row.trigger = v.to_json();
        }
        if let Some(v) = self.spend_cap {
            row.spend_cap_micros = v.map(Amount::micros);
        }
        self.timing.apply(row);
        check_window(row.start_time, row.end_time)
    }
}

fn check_window(start: Option<DateTime<Utc>>, end: Option<DateTime<Utc>>) -> Result<()> {
    match (start, end) {
        (Some(s), Some(e)) if e <= s => Err(Error::invalid("end_time", "must be after start_time")),
        _ => Ok(()),
    }
}

/// Status before the campaign runs: `scheduled` when it starts in the future, else `draft`.
pub fn initial_status(start_time: Option<DateTime<Utc>>, now: DateTime<Utc>) -> CampaignStatus {
    match start_time {
        Some(t) if t > now => CampaignStatus::Scheduled,
        _ => CampaignStatus::Draft,
    }
}

/// Filters of a campaign listing.
#[derive(Debug, Clone, Default)]
pub struct CampaignFilter {
    pub status: Option<CampaignStatus>,
    pub channel: Option<Channel>,
    /// Case-insensitive substring of the name.
    pub name: Option<String>,
}

/// A campaign as both APIs return it (the seed's field names).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Campaign {
    pub id: Uuid,
    pub name: String,
    #[serde(rename = "type")]
    pub channel: Channel,
    pub status: CampaignStatus,
    pub target_tags: Vec<String>,
    pub target_segment_id: Option<Uuid>,
    pub content_template_id: Option<Uuid>,
    pub content: String,
    pub variants: Vec<Variant>,
    pub start_time: Option<DateTime<Utc>>,
    pub end_time: Option<DateTime<Utc>>,
    pub actual_start_time: Option<DateTime<Utc>>,
    pub actual_end_time: Option<DateTime<Utc>>,
    pub created_by: Uuid,
    pub updated_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// When it sends: `{"kind": "once"}` or `{"kind": "recurring", "cron", "time_zone"}`.
    pub trigger: serde_json::Value,
    /// A recurring campaign's next occurrence (`null` when none is coming).
    pub next_run_at: Option<DateTime<Utc>>,
    /// A paused recurring campaign runs no occurrence until resumed.
    pub paused: bool,
    /// Each message leaves at this local time of day on the customer's clock.
    pub send_at_local: Option<String>,
    /// The clock of customers without a time zone.
    pub time_zone: Option<String>,
    /// `{"start", "end"}` on the customer's clock (the service default applies when none).
    pub quiet_hours: Option<serde_json::Value>,
    /// The most its messages may cost in all (decimal text in `COST_CURRENCY`); `null`: no cap.
    pub spend_cap: Option<Amount>,
}

impl From<CampaignRow> for Campaign {
    fn from(r: CampaignRow) -> Self {
        Campaign {
            id: r.id,
            name: r.name,
            channel: r.type_,
            status: r.status,
            target_tags: r.target_tags,
            target_segment_id: r.target_segment_id,
            content_template_id: r.content_template_id,
            content: r.content,
            variants: serde_json::from_value(r.variants).unwrap_or_default(),
            start_time: r.start_time,
            end_time: r.end_time,
            actual_start_time: r.actual_start_time,
            actual_end_time: r.actual_end_time,
            created_by: r.created_by,
            updated_by: r.updated_by,
            created_at: r.created_at,
            updated_at: r.updated_at,
            trigger: r.trigger,
            next_run_at: r.next_run_at,
            paused: r.paused_at.is_some(),
            send_at_local: r.send_at_local,
            time_zone: r.time_zone,
            quiet_hours: r.quiet_hours,
            spend_cap: r.spend_cap_micros.map(Amount::from_micros),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields() -> CampaignFields {
        CampaignFields {
            name: Some("六月会员关怀短信".into()),
            channel: Some("sms".into()),
            ..Default::default()
        }
    }

    #[test]
    fn name_rules() {
        assert_eq!(CampaignName::parse("  ").unwrap_err().field(), Some("name"));
        assert!(CampaignName::parse(&"名".repeat(200)).is_ok());
        assert_eq!(
            CampaignName::parse(&"x".repeat(201)).unwrap_err().field(),
            Some("name")
        );
    }

    #[test]
    fn type_is_required_and_closed() {
        let mut f = fields();
        f.channel = None;
        assert_eq!(NewCampaign::parse(f, 60).unwrap_err().field(), Some("type"));
        let mut f = fields();
        f.channel = Some("fax".into());
        assert_eq!(NewCampaign::parse(f, 60).unwrap_err().field(), Some("type"));
    }

    #[test]
    fn end_must_follow_start() {
        let mut f = fields();
        let t = Utc::now();
        f.start_time = Some(Some(t));
        f.end_time = Some(Some(t));
        assert_eq!(
            NewCampaign::parse(f, 60).unwrap_err().field(),
            Some("end_time")
        );
    }

    #[test]
    fn spend_cap_rules() {
        let mut f = fields();
        f.spend_cap = Some(Some("12.5".into()));
        let new = NewCampaign::parse(f, 60).unwrap();
        assert_eq!(new.spend_cap.map(Amount::micros), Some(12_500_000));
        for bad in ["0", "-1", "abc", "0.0000001", ""] {
            let mut f = fields();
            f.spend_cap = Some(Some(bad.into()));
            assert_eq!(
                NewCampaign::parse(f, 60).unwrap_err().field(),
                Some("spend_cap"),
                "{bad}"
            );
        }
        let mut f = fields();
        f.spend_cap = Some(None);
        let patch = CampaignPatch::parse(f, 60).unwrap();
        assert_eq!(patch.spend_cap, Some(None));
    }

    #[test]
    fn tags_are_trimmed_and_deduplicated() {
        let tags = parse_tags(
            "target_tags",
            vec![" VIP".into(), "VIP".into(), "新用户".into()],
        );
        assert_eq!(tags.unwrap(), vec!["VIP".to_string(), "新用户".to_string()]);
        let err = parse_tags("target_tags", vec!["a".into(), " ".into()]).unwrap_err();
        assert_eq!(err.field(), Some("target_tags[1]"));
    }
}
