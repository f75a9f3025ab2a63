//! Conversions between protobuf well-known types and the domain's (times, JSON, pages).

use chrono::{DateTime, Utc};
use prost_types::value::Kind;
use prost_types::{ListValue, Struct, Timestamp, Value};

use crate::domain::{Page, PageRequest};
use crate::error::{Error, Result};

pub fn timestamp(t: DateTime<Utc>) -> Timestamp {
    Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    }
}

pub fn opt_timestamp(t: Option<DateTime<Utc>>) -> Option<Timestamp> {
    t.map(timestamp)
}

pub fn from_timestamp(field: &str, t: Timestamp) -> Result<DateTime<Utc>> {
    u32::try_from(t.nanos)
        .ok()
        .and_then(|n| DateTime::from_timestamp(t.seconds, n))
        .ok_or_else(|| Error::invalid(field, "is not a valid timestamp"))
}

/// gRPC uses 0 for "not given": page 0 is page 1, page_size 0 the default.
pub fn page_request(page: u32, page_size: u32, max: u32) -> Result<PageRequest> {
    let opt = |v: u32| (v != 0).then_some(i64::from(v));
    PageRequest::parse(opt(page), opt(page_size), max)
}

/// A `page_token`: empty for the first page, else a `next_page_token` this API returned.
pub fn page_token(token: &str) -> Result<Option<uuid::Uuid>> {
    if token.is_empty() {
        return Ok(None);
    }
    uuid::Uuid::parse_str(token).map(Some).map_err(|_| {
        crate::error::Error::invalid(
            "page_token",
            "is not a token this API returned as `next_page_token`",
        )
    })
}

/// The `next_page_token` of a page whose following page starts after `next` (empty: the last).
pub fn next_page_token(next: Option<uuid::Uuid>) -> String {
    next.map(|id| id.to_string()).unwrap_or_default()
}

pub fn pagination<T>(p: &Page<T>) -> crm_proto::v1::Pagination {
    crm_proto::v1::Pagination {
        total: p.total,
        page: p.request.page,
        page_size: p.request.page_size,
    }
}

pub fn json_to_value(v: serde_json::Value) -> Value {
    let kind = match v {
        serde_json::Value::Null => Kind::NullValue(0),
        serde_json::Value::Bool(b) => Kind::BoolValue(b),
        serde_json::Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or(0.0)),
        serde_json::Value::String(s) => Kind::StringValue(s),
        serde_json::Value::Array(a) => Kind::ListValue(ListValue {
            values: a.into_iter().map(json_to_value).collect(),
        }),
        serde_json::Value::Object(o) => Kind::StructValue(json_to_struct(o)),
    };
    Value { kind: Some(kind) }
}

pub fn json_to_struct(o: serde_json::Map<String, serde_json::Value>) -> Struct {
    Struct {
        fields: o.into_iter().map(|(k, v)| (k, json_to_value(v))).collect(),
    }
}

pub fn value_to_json(v: Value) -> serde_json::Value {
    match v.kind {
        None | Some(Kind::NullValue(_)) => serde_json::Value::Null,
        Some(Kind::BoolValue(b)) => b.into(),
        // Whole numbers stay integers, so `{"age": 30}` does not come back as 30.0.
        Some(Kind::NumberValue(n)) if n.fract() == 0.0 && n.abs() < 9.0e15 => (n as i64).into(),
        Some(Kind::NumberValue(n)) => serde_json::Number::from_f64(n)
            .map(serde_json::Value::Number)
            .unwrap_or(serde_json::Value::Null),
        Some(Kind::StringValue(s)) => s.into(),
        Some(Kind::ListValue(l)) => l.values.into_iter().map(value_to_json).collect(),
        Some(Kind::StructValue(s)) => struct_to_json(s),
    }
}

pub fn struct_to_json(s: Struct) -> serde_json::Value {
    serde_json::Value::Object(
        s.fields
            .into_iter()
            .map(|(k, v)| (k, value_to_json(v)))
            .collect(),
    )
}

/// An update's field mask (AIP-134): with a mask exactly the listed paths change (a listed path
/// whose field is absent is cleared); without one, every field present in the message changes.
pub struct UpdateMask(Option<Vec<String>>);

impl UpdateMask {
    /// Refuses paths that are not in `updatable`, naming `update_mask`.
    pub fn parse(
        mask: Option<prost_types::FieldMask>,
        updatable: &[&str],
    ) -> crate::error::Result<Self> {
        let paths = mask.map(|m| m.paths);
        if let Some(bad) = paths
            .iter()
            .flatten()
            .find(|p| !updatable.contains(&p.as_str()))
        {
            return Err(crate::error::Error::invalid(
                "update_mask",
                format!("`{bad}` is not an updatable field"),
            ));
        }
        Ok(UpdateMask(paths))
    }

    /// Whether the field at `path` changes, given whether the message carries it.
    pub fn wants(&self, path: &str, present: bool) -> bool {
        match &self.0 {
            Some(paths) => paths.iter().any(|p| p == path),
            None => present,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_survives_a_round_trip() {
        let v = serde_json::json!({"age": 30, "score": 1.5, "vip": true, "tags": ["a"], "x": null});
        let back = value_to_json(json_to_value(v.clone()));
        assert_eq!(back, v);
    }

    #[test]
    fn timestamps_round_trip_and_refuse_garbage() {
        let t = DateTime::from_timestamp(1_718_010_000, 123_000).unwrap();
        assert_eq!(from_timestamp("t", timestamp(t)).unwrap(), t);
        let bad = Timestamp {
            seconds: 0,
            nanos: -1,
        };
        assert_eq!(
            from_timestamp("start_time", bad).unwrap_err().field(),
            Some("start_time")
        );
    }
}
