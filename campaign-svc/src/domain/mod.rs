//! Requests parsed into types that can only hold valid values ("parse, don't validate"). Both
//! transports call these parsers, so REST and gRPC refuse the same inputs with the same words.

pub mod campaign;
pub mod conversion;
pub mod customer;
pub mod event;
pub mod execution;
pub mod journey;
pub mod reply;
pub mod segment;
pub mod template;
pub mod text;
pub mod timing;
pub mod trigger;
pub mod variant;
pub mod vendor;
pub mod webhook;

use std::str::FromStr;

use chrono::{DateTime, Utc};
use marketing_core::vocabulary::UnknownWord;
use uuid::Uuid;

use crate::error::{Error, Result};

/// Parses a UUID, naming `field` when it is not one.
pub fn parse_uuid(field: &str, s: &str) -> Result<Uuid> {
    Uuid::try_parse(s.trim())
        .map_err(|_| Error::invalid(field, format!("`{s}` is not a valid UUID")))
}

/// Parses an RFC 3339 timestamp (`2024-06-10T09:00:00Z`), naming `field` when it is not one.
pub fn parse_time(field: &str, s: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            Error::invalid(
                field,
                format!("`{s}` is not an RFC 3339 timestamp such as 2024-06-10T09:00:00Z"),
            )
        })
}

/// Parses one of a closed set of words (channel, status, …).
pub fn parse_word<T: FromStr<Err = UnknownWord>>(field: &str, s: &str) -> Result<T> {
    s.parse::<T>()
        .map_err(|e| Error::invalid(field, e.to_string()))
}

/// A validated page request: `page` is 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub page: u32,
    pub page_size: u32,
}

/// Page size when the caller gives none.
pub const DEFAULT_PAGE_SIZE: u32 = 10;

impl PageRequest {
    /// `None` takes the defaults (page 1, size 10); sizes above `max_size` are refused.
    pub fn parse(page: Option<i64>, page_size: Option<i64>, max_size: u32) -> Result<Self> {
        let page = page.unwrap_or(1);
        if !(1..=i64::from(i32::MAX)).contains(&page) {
            return Err(Error::invalid("page", "must be a whole number from 1"));
        }
        let page_size = page_size.unwrap_or(i64::from(DEFAULT_PAGE_SIZE));
        if !(1..=i64::from(max_size)).contains(&page_size) {
            return Err(Error::invalid(
                "page_size",
                format!("must be between 1 and {max_size}"),
            ));
        }
        Ok(PageRequest {
            page: page as u32,
            page_size: page_size as u32,
        })
    }

    pub fn offset(self) -> i64 {
        (i64::from(self.page) - 1) * i64::from(self.page_size)
    }

    pub fn limit(self) -> i64 {
        i64::from(self.page_size)
    }
}

/// A page of results with the total across all pages.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: u64,
    pub request: PageRequest,
}

/// Checks a free-text field: trimmed non-empty when required, at most `max` characters.
pub fn bounded_text(field: &str, s: &str, max: usize) -> Result<String> {
    if s.chars().count() > max {
        return Err(Error::invalid(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    Ok(s.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_defaults_and_bounds() {
        assert_eq!(
            PageRequest::parse(None, None, 100).unwrap(),
            PageRequest {
                page: 1,
                page_size: 10
            }
        );
        assert_eq!(
            PageRequest::parse(Some(3), Some(100), 100)
                .unwrap()
                .offset(),
            200
        );
        assert_eq!(
            PageRequest::parse(None, Some(101), 100)
                .unwrap_err()
                .field(),
            Some("page_size")
        );
        assert_eq!(
            PageRequest::parse(Some(0), None, 100).unwrap_err().field(),
            Some("page")
        );
        assert_eq!(
            PageRequest::parse(None, Some(0), 100).unwrap_err().field(),
            Some("page_size")
        );
    }

    #[test]
    fn times_must_be_rfc3339() {
        assert!(parse_time("start_time", "2024-06-10T09:00:00Z").is_ok());
        assert!(parse_time("start_time", "2024-06-10T09:00:00+08:00").is_ok());
        let err = parse_time("start_time", "June 10th").unwrap_err();
        assert_eq!(err.field(), Some("start_time"));
    }
}

/// The entity tag of a resource's representation: a strong validator (a SHA-256 of its JSON),
/// sent as `ETag` on single-resource GETs and updates and checked against `If-Match`.
pub fn etag<T: serde::Serialize>(view: &T) -> String {
    use sha2::{Digest, Sha256};
    let json = serde_json::to_vec(view).unwrap_or_default();
    let digest = Sha256::digest(&json);
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}

/// An update's `If-Match` precondition: the entity tags the client last saw (`*`: any).
#[derive(Debug, Clone, Default)]
pub struct IfMatch(Option<Vec<String>>);

impl IfMatch {
    /// No precondition (the header was absent, or the call came over gRPC).
    pub fn none() -> Self {
        IfMatch(None)
    }

    /// From the header's value: a comma-separated list of entity tags, or `*`.
    pub fn parse(header: Option<&str>) -> Self {
        IfMatch(header.map(|h| {
            h.split(',')
                .map(|t| t.trim().trim_start_matches("W/").to_owned())
                .filter(|t| !t.is_empty())
                .collect()
        }))
    }

    /// Ok when there is no precondition or `current` (the resource as it is now, locked) still
    /// has one of the tags; else 412.
    pub fn check<T: serde::Serialize>(&self, what: &str, current: &T) -> crate::error::Result<()> {
        let Some(tags) = &self.0 else {
            return Ok(());
        };
        let now = etag(current);
        if tags.iter().any(|t| t == "*" || *t == now) {
            return Ok(());
        }
        Err(crate::error::Error::PreconditionFailed(format!(
            "the {what} changed since it was read (If-Match {}, now ETag {now}); read it again and \
             reapply the change",
            tags.join(", ")
        )))
    }
}

#[cfg(test)]
mod etag_tests {
    use super::*;

    #[test]
    fn if_match_holds_for_the_current_tag_or_a_star_only() {
        let v = serde_json::json!({"id": 1, "name": "双十一"});
        let tag = etag(&v);
        assert!(tag.starts_with('"') && tag.ends_with('"') && tag.len() == 34);
        assert!(IfMatch::none().check("campaign", &v).is_ok());
        assert!(IfMatch::parse(Some(&tag)).check("campaign", &v).is_ok());
        assert!(
            IfMatch::parse(Some(&format!("\"x\", W/{tag}")))
                .check("campaign", &v)
                .is_ok()
        );
        assert!(IfMatch::parse(Some("*")).check("campaign", &v).is_ok());
        let changed = serde_json::json!({"id": 1, "name": "双十二"});
        assert!(
            IfMatch::parse(Some(&tag))
                .check("campaign", &changed)
                .is_err()
        );
    }
}
