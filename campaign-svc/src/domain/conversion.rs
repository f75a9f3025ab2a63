//! A reported conversion (a purchase, a sign-up, …), parsed at the edge.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{parse_time, parse_uuid};
use crate::error::{Error, Result};

/// Longest caller idempotency key.
pub const MAX_EXTERNAL_ID_CHARS: usize = 200;
/// Longest conversion kind.
pub const MAX_KIND_CHARS: usize = 50;
/// The kind when the caller names none.
pub const DEFAULT_KIND: &str = "conversion";
/// How far in the future `occurred_at` may lie (clock skew between the CRM and us).
pub const MAX_CLOCK_SKEW_SECS: i64 = 5 * 60;

/// The fields as both transports receive them (strings, not yet checked).
#[derive(Debug, Default, Clone)]
pub struct ConversionFields {
    pub customer_id: Option<String>,
    pub record_id: Option<String>,
    pub external_id: Option<String>,
    pub kind: Option<String>,
    pub value_cents: Option<i64>,
    pub occurred_at: Option<String>,
}

/// A conversion that can be stored.
#[derive(Debug, Clone, PartialEq)]
pub struct NewConversion {
    pub customer_id: Uuid,
    /// The message the caller says led to it; otherwise the service attributes it.
    pub record_id: Option<Uuid>,
    pub external_id: Option<String>,
    pub kind: String,
    pub value_cents: Option<i64>,
    pub occurred_at: DateTime<Utc>,
}

impl NewConversion {
    /// Checks the fields at `now`; empty strings count as absent.
    pub fn parse(f: ConversionFields, now: DateTime<Utc>) -> Result<Self> {
        let given = |s: Option<String>| s.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
        let customer_id = given(f.customer_id)
            .ok_or_else(|| Error::invalid("customer_id", "is required"))
            .and_then(|s| parse_uuid("customer_id", &s))?;
        let record_id = given(f.record_id)
            .map(|s| parse_uuid("record_id", &s))
            .transpose()?;
        let external_id = given(f.external_id);
        if external_id
            .as_ref()
            .is_some_and(|s| s.chars().count() > MAX_EXTERNAL_ID_CHARS)
        {
            return Err(Error::invalid(
                "external_id",
                format!("must be at most {MAX_EXTERNAL_ID_CHARS} characters"),
            ));
        }
        let kind = given(f.kind).unwrap_or_else(|| DEFAULT_KIND.to_owned());
        if kind.chars().count() > MAX_KIND_CHARS {
            return Err(Error::invalid(
                "kind",
                format!("must be at most {MAX_KIND_CHARS} characters"),
            ));
        }
        if f.value_cents.is_some_and(|v| v < 0) {
            return Err(Error::invalid("value_cents", "must not be negative"));
        }
        let occurred_at = match given(f.occurred_at) {
            Some(t) => parse_time("occurred_at", &t)?,
            None => now,
        };
        if occurred_at > now + chrono::Duration::seconds(MAX_CLOCK_SKEW_SECS) {
            return Err(Error::invalid(
                "occurred_at",
                "must not be more than 5 minutes in the future",
            ));
        }
        Ok(NewConversion {
            customer_id,
            record_id,
            external_id,
            kind,
            value_cents: f.value_cents,
            occurred_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields() -> ConversionFields {
        ConversionFields {
            customer_id: Some(Uuid::nil().to_string()),
            ..Default::default()
        }
    }

    #[test]
    fn defaults_and_refusals_name_the_field() {
        let now = Utc::now();
        let c = NewConversion::parse(fields(), now).unwrap();
        assert_eq!((c.kind.as_str(), c.occurred_at), (DEFAULT_KIND, now));
        let field = |f: ConversionFields| {
            NewConversion::parse(f, now)
                .unwrap_err()
                .field()
                .map(str::to_owned)
        };
        assert_eq!(
            field(ConversionFields::default()).as_deref(),
            Some("customer_id")
        );
        assert_eq!(
            field(ConversionFields {
                value_cents: Some(-1),
                ..fields()
            })
            .as_deref(),
            Some("value_cents")
        );
        assert_eq!(
            field(ConversionFields {
                kind: Some("k".repeat(51)),
                ..fields()
            })
            .as_deref(),
            Some("kind")
        );
        assert_eq!(
            field(ConversionFields {
                record_id: Some("x".into()),
                ..fields()
            })
            .as_deref(),
            Some("record_id")
        );
        let later = (now + chrono::Duration::minutes(10)).to_rfc3339();
        assert_eq!(
            field(ConversionFields {
                occurred_at: Some(later),
                ..fields()
            })
            .as_deref(),
            Some("occurred_at")
        );
    }
}
