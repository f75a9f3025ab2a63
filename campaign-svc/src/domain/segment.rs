//! Saved segments: a name, a description and a rule (see `marketing_core::segment` for the
//! language), checked when saved.

use chrono::{DateTime, Utc};
use marketing_core::models::SegmentRow;
use marketing_core::segment::Rule;
use serde::Serialize;
use uuid::Uuid;

use super::bounded_text;
use super::campaign::CampaignName;
use crate::error::{Error, Result};

pub const MAX_DESCRIPTION_CHARS: usize = 2_000;

/// Segment fields as a transport delivers them (`None` = not given).
#[derive(Debug, Clone, Default)]
pub struct SegmentFields {
    pub name: Option<String>,
    pub description: Option<String>,
    pub rule: Option<serde_json::Value>,
}

/// A segment with every rule checked; `rule` is the canonical JSON of the parsed rule.
#[derive(Debug, Clone)]
pub struct ValidSegment {
    pub name: String,
    pub description: String,
    pub rule: serde_json::Value,
}

/// Parses a rule; errors name the path of the bad node (`rule.and[1].op`).
pub fn parse_rule(rule: &serde_json::Value) -> Result<Rule> {
    Rule::parse(rule).map_err(|e| Error::invalid(e.path, e.message))
}

fn validate(name: &str, description: &str, rule: &serde_json::Value) -> Result<ValidSegment> {
    Ok(ValidSegment {
        name: CampaignName::parse(name)?.as_str().to_owned(),
        description: bounded_text("description", description.trim(), MAX_DESCRIPTION_CHARS)?,
        rule: parse_rule(rule)?.to_json(),
    })
}

impl SegmentFields {
    pub fn into_new(self) -> Result<ValidSegment> {
        let rule = self
            .rule
            .ok_or_else(|| Error::invalid("rule", "is required"))?;
        validate(
            self.name.as_deref().unwrap_or(""),
            self.description.as_deref().unwrap_or(""),
            &rule,
        )
    }

    pub fn apply(self, row: &SegmentRow) -> Result<ValidSegment> {
        validate(
            self.name.as_deref().unwrap_or(&row.name),
            self.description.as_deref().unwrap_or(&row.description),
            self.rule.as_ref().unwrap_or(&row.rule),
        )
    }
}

/// A segment as both APIs return it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Segment {
    pub id: Uuid,
    pub name: String,
    pub description: String,
    pub rule: serde_json::Value,
    pub created_by: Uuid,
    pub updated_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<SegmentRow> for Segment {
    fn from(r: SegmentRow) -> Self {
        Segment {
            id: r.id,
            name: r.name,
            description: r.description,
            rule: r.rule,
            created_by: r.created_by,
            updated_by: r.updated_by,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_rules_name_the_node() {
        let f = SegmentFields {
            name: Some("vip".into()),
            rule: Some(
                serde_json::json!({"and": [{"tag": "vip"}, {"attribute": "x", "op": "~", "value": 1}]}),
            ),
            ..Default::default()
        };
        let err = f.into_new().unwrap_err();
        assert!(
            err.field().is_some_and(|p| p.starts_with("rule.and[1]")),
            "{err}"
        );
        let f = SegmentFields {
            name: Some("vip".into()),
            ..Default::default()
        };
        assert_eq!(f.into_new().unwrap_err().field(), Some("rule"));
    }
}
