//! Customer events as the CRM or the shop reports them (`POST /api/marketing/events`,
//! `EventService/TrackEvents`), each item checked on its own: a bad item is rejected with its
//! index, the rest of the batch is kept.
//!
//! Limits (see the README's "Customer events"): 1–[`MAX_BATCH`] events per call; `event_id`
//! 1–[`MAX_EVENT_ID_CHARS`] characters, not blank (the caller's idempotency key, compared
//! exactly); `name` as [`segment::event_name_problem`] says (1–100 characters, not blank, no
//! surrounding white space); `properties` a JSON object of at most [`MAX_PROPERTIES_BYTES`]
//! (serialised); `occurred_at` RFC 3339, default the time of receipt, at most
//! [`MAX_CLOCK_SKEW_SECS`] in the future and not older than the retention period; no string
//! anywhere may hold a NUL.

use chrono::{DateTime, Utc};
use marketing_core::segment;
use serde::Serialize;
use uuid::Uuid;

use super::conversion::MAX_CLOCK_SKEW_SECS;
use super::text::{NUL_MESSAGE, join_key, nul_in_json};
use super::{parse_time, parse_uuid};
use crate::error::{Error, Result};

/// Most events one call may carry.
pub const MAX_BATCH: usize = 1000;
/// Longest `event_id`.
pub const MAX_EVENT_ID_CHARS: usize = 200;
/// Largest `properties` object, serialised.
pub const MAX_PROPERTIES_BYTES: usize = 16 * 1024;

/// An event as a transport delivers it; every field unchecked.
#[derive(Debug, Clone, Default)]
pub struct EventFields {
    pub event_id: Option<String>,
    pub customer_id: Option<String>,
    pub external_id: Option<String>,
    pub name: Option<String>,
    pub properties: Option<serde_json::Value>,
    /// RFC 3339.
    pub occurred_at: Option<String>,
}

/// Who an event is about, as the caller named them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CustomerRef {
    Id(Uuid),
    External(String),
}

/// An event that passed every check but the customer's existence (the service looks that up).
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub event_id: String,
    pub customer: CustomerRef,
    pub name: String,
    pub properties: serde_json::Value,
    pub occurred_at: DateTime<Utc>,
}

/// One item of a batch that was not stored, and why.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Rejection {
    pub index: usize,
    /// `invalid_argument` or `unknown_customer`.
    pub code: &'static str,
    /// `events[3].name: must be …`: the field first.
    pub message: String,
    /// The field at fault (`events[3].name`).
    pub field: String,
}

impl Rejection {
    pub fn new(index: usize, code: &'static str, field: String, message: &str) -> Self {
        Rejection {
            index,
            code,
            message: format!("{field}: {message}"),
            field,
        }
    }

    /// The rejection of item `index` for a refused field.
    pub fn from_error(index: usize, e: &Error) -> Self {
        let field = e.field().unwrap_or("events").to_owned();
        let message = match e {
            Error::InvalidArgument { message, .. } => message.clone(),
            other => other.to_string(),
        };
        Rejection::new(index, "invalid_argument", field, &message)
    }
}

/// What a call did: `accepted + duplicates + rejected.len()` is the batch's size.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct TrackOutcome {
    /// Stored now.
    pub accepted: u64,
    /// Their `event_id` was stored before, or appears earlier in the same batch.
    pub duplicates: u64,
    pub rejected: Vec<Rejection>,
}

/// The settings events are checked with.
#[derive(Debug, Clone, Copy)]
pub struct EventLimits {
    pub now: DateTime<Utc>,
    /// Events older than this many days are refused (0: no limit).
    pub retention_days: u32,
}

impl NewEvent {
    /// Checks item `index` of a batch; errors name the field as `events[index].…`.
    pub fn parse(f: EventFields, index: usize, limits: EventLimits) -> Result<Self> {
        let prefix = format!("events[{index}]");
        let field = |name: &str| join_key(&prefix, name);
        let nul = |name: &str, s: &Option<String>| match s {
            Some(s) if s.contains('\0') => Err(Error::invalid(field(name), NUL_MESSAGE)),
            _ => Ok(()),
        };
        nul("event_id", &f.event_id)?;
        nul("customer_id", &f.customer_id)?;
        nul("external_id", &f.external_id)?;
        nul("name", &f.name)?;
        nul("occurred_at", &f.occurred_at)?;
        let event_id = f.event_id.unwrap_or_default();
        if event_id.trim().is_empty() {
            return Err(Error::invalid(field("event_id"), "is required"));
        }
        if event_id.chars().count() > MAX_EVENT_ID_CHARS {
            return Err(Error::invalid(
                field("event_id"),
                format!("must be at most {MAX_EVENT_ID_CHARS} characters"),
            ));
        }
        let given = |s: Option<String>| s.filter(|s| !s.trim().is_empty());
        let customer = match (given(f.customer_id), given(f.external_id)) {
            (Some(id), None) => CustomerRef::Id(parse_uuid(&field("customer_id"), &id)?),
            (None, Some(ext)) => {
                if ext.chars().count() > 200 {
                    return Err(Error::invalid(
                        field("external_id"),
                        "must be at most 200 characters",
                    ));
                }
                CustomerRef::External(ext.trim().to_owned())
            }
            (Some(_), Some(_)) => {
                return Err(Error::invalid(
                    field("customer_id"),
                    "give customer_id or external_id, not both",
                ));
            }
            (None, None) => {
                return Err(Error::invalid(
                    field("customer_id"),
                    "customer_id or external_id is required",
                ));
            }
        };
        let name = f.name.unwrap_or_default();
        if let Some(problem) = segment::event_name_problem(&name) {
            return Err(Error::invalid(field("name"), problem));
        }
        let properties = match f.properties {
            None | Some(serde_json::Value::Null) => serde_json::json!({}),
            Some(v @ serde_json::Value::Object(_)) => {
                if let Some(at) = nul_in_json(&v, &field("properties")) {
                    return Err(Error::invalid(at, NUL_MESSAGE));
                }
                if v.to_string().len() > MAX_PROPERTIES_BYTES {
                    return Err(Error::invalid(
                        field("properties"),
                        format!("must be at most {} KiB", MAX_PROPERTIES_BYTES / 1024),
                    ));
                }
                v
            }
            Some(_) => {
                return Err(Error::invalid(field("properties"), "must be a JSON object"));
            }
        };
        let occurred_at = match given(f.occurred_at) {
            Some(t) => parse_time(&field("occurred_at"), &t)?,
            None => limits.now,
        };
        if occurred_at > limits.now + chrono::Duration::seconds(MAX_CLOCK_SKEW_SECS) {
            return Err(Error::invalid(
                field("occurred_at"),
                "must not be more than 5 minutes in the future",
            ));
        }
        if limits.retention_days > 0
            && occurred_at < limits.now - chrono::Duration::days(i64::from(limits.retention_days))
        {
            return Err(Error::invalid(
                field("occurred_at"),
                format!(
                    "is older than the {} days events are kept (EVENT_RETENTION_DAYS)",
                    limits.retention_days
                ),
            ));
        }
        Ok(NewEvent {
            event_id,
            customer,
            name,
            properties,
            occurred_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> EventLimits {
        EventLimits {
            now: Utc::now(),
            retention_days: 400,
        }
    }

    fn fields() -> EventFields {
        EventFields {
            event_id: Some("e-1".into()),
            external_id: Some("crm-1".into()),
            name: Some("order_paid".into()),
            ..Default::default()
        }
    }

    fn refused(f: EventFields) -> String {
        match NewEvent::parse(f, 3, limits()) {
            Ok(e) => panic!("accepted {e:?}"),
            Err(e) => e.field().unwrap_or_default().to_owned(),
        }
    }

    #[test]
    fn defaults_and_refusals_name_the_field() {
        let l = limits();
        let e = NewEvent::parse(fields(), 0, l).unwrap();
        assert_eq!(e.occurred_at, l.now);
        assert_eq!(e.properties, serde_json::json!({}));
        assert_eq!(e.customer, CustomerRef::External("crm-1".into()));
        let cases = [
            (
                EventFields {
                    event_id: None,
                    ..fields()
                },
                "events[3].event_id",
            ),
            (
                EventFields {
                    event_id: Some("x".repeat(201)),
                    ..fields()
                },
                "events[3].event_id",
            ),
            (
                EventFields {
                    external_id: None,
                    ..fields()
                },
                "events[3].customer_id",
            ),
            (
                EventFields {
                    customer_id: Some("nope".into()),
                    external_id: None,
                    ..fields()
                },
                "events[3].customer_id",
            ),
            (
                EventFields {
                    customer_id: Some(Uuid::nil().to_string()),
                    ..fields()
                },
                "events[3].customer_id",
            ),
            (
                EventFields {
                    name: Some(" ".into()),
                    ..fields()
                },
                "events[3].name",
            ),
            (
                EventFields {
                    name: Some("a\0b".into()),
                    ..fields()
                },
                "events[3].name",
            ),
            (
                EventFields {
                    properties: Some(serde_json::json!([1])),
                    ..fields()
                },
                "events[3].properties",
            ),
            (
                EventFields {
                    properties: Some(serde_json::json!({"a": {"b": "x\u{0}"}})),
                    ..fields()
                },
                "events[3].properties.a.b",
            ),
            (
                EventFields {
                    properties: Some(serde_json::json!({"a": "x".repeat(17 * 1024)})),
                    ..fields()
                },
                "events[3].properties",
            ),
            (
                EventFields {
                    occurred_at: Some("yesterday".into()),
                    ..fields()
                },
                "events[3].occurred_at",
            ),
            (
                EventFields {
                    occurred_at: Some((Utc::now() + chrono::Duration::minutes(10)).to_rfc3339()),
                    ..fields()
                },
                "events[3].occurred_at",
            ),
            (
                EventFields {
                    occurred_at: Some("2001-01-01T00:00:00Z".into()),
                    ..fields()
                },
                "events[3].occurred_at",
            ),
        ];
        for (f, field) in cases {
            assert_eq!(refused(f.clone()), field, "{f:?}");
        }
    }
}
