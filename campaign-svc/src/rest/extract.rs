//! Request extraction that turns every malformed input into the API's error body, naming the field.

use axum::body::Bytes;
use std::collections::HashMap;

use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

/// A JSON body; malformed JSON, wrong types and oversized bodies become clear 400/413 errors.
pub struct JsonBody<T>(pub T);

/// Like [`JsonBody`], but an empty body (or `null`) means `T::default()`.
pub struct OptionalJsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self> {
        let bytes = read_body(req, state).await?;
        parse_json(&bytes).map(JsonBody)
    }
}

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for OptionalJsonBody<T> {
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self> {
        let bytes = read_body(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJsonBody(T::default()));
        }
        let value: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| Error::MalformedJson(e.to_string()))?;
        if value.is_null() {
            return Ok(OptionalJsonBody(T::default()));
        }
        crate::domain::text::refuse_nul_in_json(&value, "")?;
        from_value(value).map(OptionalJsonBody)
    }
}

/// A request's query parameters; a malformed query string or a NUL character in it is a 400.
pub struct QueryParams(pub HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for QueryParams {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self> {
        let Query(params) = Query::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|e| Error::invalid("query", e.body_text()))?;
        crate::domain::text::refuse_nul_in_query(&params)?;
        Ok(QueryParams(params))
    }
}

/// The whole body: 413 over `MAX_BODY_BYTES`, 408 when it does not arrive in time.
pub async fn read_body<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes> {
    Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Error::PayloadTooLarge
        } else if crate::serve::is_body_timeout(&rejection) {
            Error::RequestTimeout
        } else {
            Error::MalformedJson(rejection.body_text())
        }
    })
}

/// Parses JSON, naming the path of a value of the wrong type (`customers[3].tags`).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| Error::MalformedJson(e.to_string()))?;
    crate::domain::text::refuse_nul_in_json(&value, "")?;
    from_value(value)
}

/// Reads a JSON value as `T`, naming the path of a value of the wrong type.
pub fn from_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let message = e.inner().to_string();
        let path = e.path().to_string();
        // serde names an unknown field in the path already; only a root error has path ".".
        let field = if path == "." {
            message
                .strip_prefix("unknown field `")
                .and_then(|m| m.split('`').next())
                .unwrap_or("body")
                .to_owned()
        } else {
            path
        };
        Error::invalid(field, message)
    })
}

/// Deserialises `null` as `Some(None)` and absence (with `#[serde(default)]`) as `None`, so a
/// partial update can tell "clear this field" from "leave it".
pub fn double_option<'de, T, D>(d: D) -> std::result::Result<Option<Option<T>>, D::Error>
where
    T: serde::Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    serde::Deserialize::deserialize(d).map(Some)
}

/// Reads an optional integer query parameter, naming it when it is not a number (`?page=`
/// included: an empty value is not a number).
pub fn query_int(
    params: &std::collections::HashMap<String, String>,
    name: &str,
) -> Result<Option<i64>> {
    params
        .get(name)
        .map(|v| {
            v.trim()
                .parse::<i64>()
                .map_err(|_| Error::invalid(name, format!("`{v}` is not a whole number")))
        })
        .transpose()
}

/// An optional typed query parameter (a UUID, a time, a word of a closed set), empty or not:
/// `?since=` is refused as not a time rather than ignored, as the OpenAPI document says.
pub fn query_typed<'a>(
    params: &'a std::collections::HashMap<String, String>,
    name: &str,
) -> Option<&'a str> {
    params.get(name).map(String::as_str)
}

/// An optional non-empty text query parameter (a filter: empty filters nothing).
pub fn query_str<'a>(
    params: &'a std::collections::HashMap<String, String>,
    name: &str,
) -> Option<&'a str> {
    params
        .get(name)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
}

/// The `cursor` query parameter of a listing paged by cursor: `None` when absent,
/// `Some(None)` when empty (the first page: a client's loop may start with `cursor=`), else the
/// id after which the page starts (a `next` this API returned).
pub fn query_cursor(
    params: &std::collections::HashMap<String, String>,
) -> Result<Option<Option<uuid::Uuid>>> {
    params
        .get("cursor")
        .map(|c| {
            if c.is_empty() {
                return Ok(None);
            }
            uuid::Uuid::parse_str(c).map(Some).map_err(|_| {
                Error::invalid("cursor", "is not a cursor this API returned as `next`")
            })
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Item {
        name: Option<String>,
        tags: Option<Vec<String>>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Batch {
        items: Vec<Item>,
    }

    #[test]
    fn names_the_path_of_a_wrong_type() {
        let err = parse_json::<Batch>(br#"{"items":[{"name":"a"},{"tags":"x"}]}"#).unwrap_err();
        assert_eq!(err.field(), Some("items[1].tags"));
        let err = parse_json::<Item>(br#"{"nmae":"a"}"#).unwrap_err();
        assert_eq!(err.field(), Some("nmae"));
        assert!(matches!(
            parse_json::<Item>(b"{"),
            Err(Error::MalformedJson(_))
        ));
    }
}
