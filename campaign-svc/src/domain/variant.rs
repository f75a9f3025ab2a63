//! A/B tests: a campaign may carry 2–5 variants, each with its own content or template and a
//! share of the audience (whole percentages adding up to 100). A recipient's variant is chosen
//! by hashing the campaign and customer ids, so it never changes across retries or re-runs, and
//! is recorded on the recipient's record.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::bounded_text;
use super::campaign::MAX_CONTENT_CHARS;
use crate::error::{Error, Result};

pub const MIN_VARIANTS: usize = 2;
pub const MAX_VARIANTS: usize = 5;
const MAX_KEY_CHARS: usize = 20;

/// One variant as stored (JSON in `marketing_campaign.variants`) and returned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Variant {
    pub key: String,
    /// Percentage of the audience, 1–99.
    pub weight: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_id: Option<Uuid>,
}

/// A variant as a transport delivers it.
#[derive(Debug, Clone, Default)]
pub struct VariantFields {
    pub key: Option<String>,
    pub weight: Option<i64>,
    pub content: Option<String>,
    pub template_id: Option<Uuid>,
}

/// Checks a list of variants: empty (no A/B test) or 2–5 with unique keys (A, B, … when not
/// given), weights adding up to 100, and exactly one of `content` / `template_id` each.
pub fn parse_variants(fields: Vec<VariantFields>) -> Result<Vec<Variant>> {
    if fields.is_empty() {
        return Ok(Vec::new());
    }
    if !(MIN_VARIANTS..=MAX_VARIANTS).contains(&fields.len()) {
        return Err(Error::invalid(
            "variants",
            format!("an A/B test has {MIN_VARIANTS} to {MAX_VARIANTS} variants (or none)"),
        ));
    }
    let mut out: Vec<Variant> = Vec::with_capacity(fields.len());
    for (i, f) in fields.into_iter().enumerate() {
        let at = |name: &str| format!("variants[{i}].{name}");
        let key = match f.key.map(|k| k.trim().to_owned()).filter(|k| !k.is_empty()) {
            Some(k) => {
                if k.chars().count() > MAX_KEY_CHARS
                    || !k
                        .chars()
                        .all(|c| c.is_alphanumeric() || c == '-' || c == '_')
                {
                    return Err(Error::invalid(
                        at("key"),
                        format!(
                            "use up to {MAX_KEY_CHARS} letters, digits, `-` or `_` (`A`, `short-copy`)"
                        ),
                    ));
                }
                k
            }
            None => char::from(b'A' + i as u8).to_string(),
        };
        if out.iter().any(|v| v.key == key) {
            return Err(Error::invalid(at("key"), format!("`{key}` is used twice")));
        }
        let weight = match f.weight {
            Some(w) if (1..=99).contains(&w) => w as u32,
            Some(_) => return Err(Error::invalid(at("weight"), "must be between 1 and 99")),
            None => return Err(Error::invalid(at("weight"), "is required")),
        };
        let content = f.content.filter(|c| !c.trim().is_empty());
        let content = match (content, f.template_id) {
            (Some(_), Some(_)) | (None, None) => {
                return Err(Error::invalid(
                    at("content"),
                    "give exactly one of content and template_id",
                ));
            }
            (Some(c), None) => Some(bounded_text(&at("content"), &c, MAX_CONTENT_CHARS)?),
            (None, Some(_)) => None,
        };
        out.push(Variant {
            key,
            weight,
            content,
            template_id: f.template_id,
        });
    }
    let total: u32 = out.iter().map(|v| v.weight).sum();
    if total != 100 {
        return Err(Error::invalid(
            "variants",
            format!("weights must add up to 100, not {total}"),
        ));
    }
    Ok(out)
}

/// Reads variants stored by [`parse_variants`].
pub fn stored(value: &serde_json::Value) -> Result<Vec<Variant>> {
    serde_json::from_value(value.clone())
        .map_err(|e| Error::Internal(anyhow::anyhow!("stored variants: {e}")))
}

/// Keys and cumulative upper bounds (`[50, 100]` for a 50/50 split) for the SQL that assigns a
/// recipient's variant from its hash bucket 0–99.
pub fn buckets(variants: &[Variant]) -> (Vec<String>, Vec<i32>) {
    let mut upto = 0;
    variants
        .iter()
        .map(|v| {
            upto += v.weight as i32;
            (v.key.clone(), upto)
        })
        .unzip()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(weight: i64, content: &str) -> VariantFields {
        VariantFields {
            weight: Some(weight),
            content: Some(content.into()),
            ..Default::default()
        }
    }

    #[test]
    fn keys_default_and_weights_add_up() {
        let vs = parse_variants(vec![v(30, "a"), v(70, "b")]).unwrap();
        assert_eq!(vs[0].key, "A");
        assert_eq!(vs[1].key, "B");
        assert_eq!(buckets(&vs), (vec!["A".into(), "B".into()], vec![30, 100]));
        let err = parse_variants(vec![v(30, "a"), v(60, "b")]).unwrap_err();
        assert_eq!(err.field(), Some("variants"));
        assert!(parse_variants(vec![]).unwrap().is_empty());
    }

    #[test]
    fn each_variant_is_checked() {
        assert_eq!(
            parse_variants(vec![v(100, "a")]).unwrap_err().field(),
            Some("variants")
        );
        assert_eq!(
            parse_variants(vec![v(50, "a"), v(50, " ")])
                .unwrap_err()
                .field(),
            Some("variants[1].content")
        );
        let mut both = v(50, "b");
        both.template_id = Some(Uuid::nil());
        assert_eq!(
            parse_variants(vec![v(50, "a"), both]).unwrap_err().field(),
            Some("variants[1].content")
        );
        assert_eq!(
            parse_variants(vec![v(0, "a"), v(100, "b")])
                .unwrap_err()
                .field(),
            Some("variants[0].weight")
        );
        let mut dup = v(50, "b");
        dup.key = Some("A".into());
        assert_eq!(
            parse_variants(vec![v(50, "a"), dup]).unwrap_err().field(),
            Some("variants[1].key")
        );
    }
}
