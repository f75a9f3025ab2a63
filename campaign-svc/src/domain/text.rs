//! Text as PostgreSQL can store it: no string may hold the NUL character (U+0000), which
//! PostgreSQL refuses in `text` and `jsonb`. Both transports refuse it at the edge, naming the
//! field, before anything is written; this module finds it in JSON bodies and query strings (the
//! gRPC edge walks protobuf messages the same way, see `grpc::edge`).

use std::collections::HashMap;

use crate::error::{Error, Result};

/// What the caller is told about a NUL character.
pub const NUL_MESSAGE: &str = "must not contain the NUL character (U+0000)";

/// `prefix.key`, or `key` at the root: field paths as the API names them (`customers[3].name`).
pub fn join_key(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_owned()
    } else {
        format!("{prefix}.{key}")
    }
}

/// The path of the first string (or object key) holding a NUL in `value`, below `prefix`.
pub fn nul_in_json(value: &serde_json::Value, prefix: &str) -> Option<String> {
    match value {
        serde_json::Value::String(s) => s.contains('\0').then(|| prefix.to_owned()),
        serde_json::Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| nul_in_json(v, &format!("{prefix}[{i}]"))),
        serde_json::Value::Object(fields) => fields.iter().find_map(|(k, v)| {
            if k.contains('\0') {
                Some(if prefix.is_empty() {
                    "body".to_owned()
                } else {
                    prefix.to_owned()
                })
            } else {
                nul_in_json(v, &join_key(prefix, k))
            }
        }),
        _ => None,
    }
}

/// Refuses a JSON document holding a NUL anywhere, naming where.
pub fn refuse_nul_in_json(value: &serde_json::Value, prefix: &str) -> Result<()> {
    match nul_in_json(value, prefix) {
        Some(field) => Err(Error::invalid(field, NUL_MESSAGE)),
        None => Ok(()),
    }
}

/// Refuses query parameters holding a NUL in a name or a value, naming the parameter.
pub fn refuse_nul_in_query(params: &HashMap<String, String>) -> Result<()> {
    match params
        .iter()
        .find(|(k, v)| k.contains('\0') || v.contains('\0'))
    {
        Some((k, _)) if k.contains('\0') => Err(Error::invalid("query", NUL_MESSAGE)),
        Some((k, _)) => Err(Error::invalid(k.clone(), NUL_MESSAGE)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_path_of_a_nul() {
        let v = serde_json::json!({"customers": [{"name": "a"}, {"attributes": {"city": "上\u{0}海"}}]});
        assert_eq!(
            nul_in_json(&v, "").as_deref(),
            Some("customers[1].attributes.city")
        );
        let v = serde_json::json!({"attributes": {"ci\u{0}ty": 1}});
        assert_eq!(nul_in_json(&v, "").as_deref(), Some("attributes"));
        let v = serde_json::json!({"events": ["ok"]});
        assert_eq!(nul_in_json(&v, ""), None);
        let q = HashMap::from([("name".to_owned(), "a\0".to_owned())]);
        assert_eq!(refuse_nul_in_query(&q).unwrap_err().field(), Some("name"));
    }
}
