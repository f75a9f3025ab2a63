//! `Idempotency-Key` on the API's POSTs: a client that retries a POST with the key of the first
//! try gets the first answer again (status, body, `Location`) instead of a second campaign, a
//! second trigger or a second customer import. Keys are kept 24 hours.
//!
//! - The key is scoped to the caller (its token), the method and the path, so two clients, or
//!   one key sent to two routes, never meet.
//! - The request is identified by a SHA-256 of its query and body: the same key with another
//!   request is refused (422, naming `Idempotency-Key`), as it is almost certainly a client bug.
//! - The first request inserts the key (`in flight`) before the handler runs. A concurrent retry
//!   finds it in flight and waits for the answer (up to [`WAIT_FOR`], then 409), so concurrent
//!   retries create one resource. A request whose process died in flight leaves the key free
//!   again after 60 seconds: a retry then runs it.
//! - An answer worth repeating is stored: every 2xx and 4xx except 408 and 429. A 5xx, 408 or
//!   429 frees the key, so the retry the client is told to make runs again.
//! - A replay carries `Idempotent-Replayed: true`.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::header::{CONTENT_TYPE, LOCATION};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use diesel::QueryableByName;
use diesel::sql_types::{Bool, Bytea, Integer, Nullable, Text};
use diesel_async::RunQueryDsl;
use sha2::{Digest, Sha256};

use super::RestState;
use crate::auth::Caller;
use crate::error::Error;

/// The request header.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
/// Set on an answer that repeats a stored one.
pub const REPLAYED: &str = "idempotent-replayed";

/// How long a concurrent retry waits for the first request's answer.
const WAIT_FOR: Duration = Duration::from_secs(30);
/// Largest request or answer body held for a key (the API's bodies are far smaller).
const MAX_BODY: usize = 64 * 1024 * 1024;

/// Takes the key for this request: inserts it, or takes over one expired or abandoned in flight
/// with the same request. `$1` scope, `$2` key, `$3` request hash.
const TAKE_SQL: &str = concat!(
    "INSERT INTO idempotency_keys (scope, key, request_hash, locked_until)
VALUES ($1, $2, $3, now() + interval '",
    "60 seconds",
    "')
ON CONFLICT (scope, key) DO UPDATE
SET request_hash = EXCLUDED.request_hash, created_at = now(), locked_until = EXCLUDED.locked_until,
    status = NULL, content_type = NULL, location = NULL, body = NULL
WHERE idempotency_keys.created_at < now() - interval '",
    "24 hours",
    "'
   OR (idempotency_keys.status IS NULL AND idempotency_keys.locked_until < now()
       AND idempotency_keys.request_hash = EXCLUDED.request_hash)
RETURNING true AS taken"
);

const FIND_SQL: &str = "SELECT request_hash, status, content_type, location, body
FROM idempotency_keys WHERE scope = $1 AND key = $2";

const STORE_SQL: &str = "UPDATE idempotency_keys
SET status = $3, content_type = $4, location = $5, body = $6
WHERE scope = $1 AND key = $2";

const FREE_SQL: &str = "DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2";

/// Deletes up to 10,000 keys past their 24 hours (see [`expire_now_and_then`]).
const EXPIRE_SQL: &str = concat!(
    "DELETE FROM idempotency_keys WHERE ctid = ANY(ARRAY(
    SELECT ctid FROM idempotency_keys WHERE created_at < now() - interval '",
    "24 hours",
    "' LIMIT 10000))"
);

/// Unix seconds of this process's last expiry of old keys.
static LAST_EXPIRY: AtomicI64 = AtomicI64::new(0);

/// At most every 5 minutes per process, deletes keys past their 24 hours in the background (a
/// key past its time is already treated as absent; this keeps the table small).
fn expire_now_and_then(state: &RestState) {
    let now = chrono::Utc::now().timestamp();
    let last = AtomicI64::load(&LAST_EXPIRY, Ordering::Relaxed);
    if now - last < 300
        || LAST_EXPIRY
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
    {
        return;
    }
    let pool = state.service.pool().clone();
    tokio::spawn(async move {
        let deleted = match pool.get().await {
            Ok(mut conn) => diesel::sql_query(EXPIRE_SQL).execute(&mut conn).await,
            Err(e) => {
                tracing::warn!(error = %e, "expiring idempotency keys: no connection");
                return;
            }
        };
        match deleted {
            Ok(0) => {}
            Ok(n) => tracing::debug!(deleted = n, "expired idempotency keys"),
            Err(e) => tracing::warn!(error = %e, "expiring idempotency keys failed"),
        }
    });
}

#[derive(QueryableByName)]
struct Taken {
    #[diesel(sql_type = Bool)]
    #[allow(dead_code)]
    taken: bool,
}

#[derive(QueryableByName)]
struct Stored {
    #[diesel(sql_type = Bytea)]
    request_hash: Vec<u8>,
    #[diesel(sql_type = Nullable<Integer>)]
    status: Option<i32>,
    #[diesel(sql_type = Nullable<Text>)]
    content_type: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    location: Option<String>,
    #[diesel(sql_type = Nullable<Bytea>)]
    body: Option<Vec<u8>>,
}

/// The middleware: POSTs with an `Idempotency-Key` go through the key's store; everything else
/// passes untouched.
pub async fn idempotent(State(state): State<RestState>, req: Request, next: Next) -> Response {
    if req.method() != Method::POST {
        return next.run(req).await;
    }
    let Some(raw) = req.headers().get(IDEMPOTENCY_KEY) else {
        return next.run(req).await;
    };
    let key = match parse_key(raw) {
        Ok(k) => k,
        Err(e) => return e.into_response(),
    };
    let caller = req
        .extensions()
        .get::<Caller>()
        .map(|c| c.id.to_string())
        .unwrap_or_default();
    let scope = format!("{caller} POST {}", req.uri().path());
    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        // Too large or cut off: answered as the handler would be.
        Err(_) => {
            return next.run(Request::from_parts(parts, Body::empty())).await;
        }
    };
    let hash = request_hash(parts.uri.query().unwrap_or(""), &bytes);
    expire_now_and_then(&state);
    match run(&state, &scope, &key, &hash, parts, bytes, next).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn run(
    state: &RestState,
    scope: &str,
    key: &str,
    hash: &[u8],
    parts: axum::http::request::Parts,
    bytes: Bytes,
    next: Next,
) -> Result<Response, Error> {
    let started = tokio::time::Instant::now();
    loop {
        let mut conn = state.service.pool().get().await?;
        let taken: Option<Taken> = diesel::sql_query(TAKE_SQL)
            .bind::<Text, _>(scope)
            .bind::<Text, _>(key)
            .bind::<Bytea, _>(hash)
            .get_result(&mut conn)
            .await
            .optional_row()?;
        if taken.is_some() {
            drop(conn);
            let response = next
                .run(Request::from_parts(parts, Body::from(bytes)))
                .await;
            return finish(state, scope, key, response).await;
        }
        let stored: Option<Stored> = diesel::sql_query(FIND_SQL)
            .bind::<Text, _>(scope)
            .bind::<Text, _>(key)
            .get_result(&mut conn)
            .await
            .optional_row()?;
        drop(conn);
        match stored {
            // Freed or expired between the two statements: take it again.
            None => continue,
            Some(s) if s.request_hash != hash => {
                return Err(Error::Unprocessable {
                    field: "Idempotency-Key".into(),
                    message: "this Idempotency-Key was used with another request in the last 24 \
                              hours; use a new key for a new request"
                        .into(),
                });
            }
            Some(Stored {
                status: Some(status),
                content_type,
                location,
                body,
                ..
            }) => return Ok(replay(status, content_type, location, body)),
            Some(_) => {
                if started.elapsed() > WAIT_FOR {
                    return Err(Error::Conflict(
                        "a request with this Idempotency-Key is still in progress; retry later"
                            .into(),
                    ));
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Stores the answer for the key (or frees the key when the answer says "try again"), then
/// returns it.
async fn finish(
    state: &RestState,
    scope: &str,
    key: &str,
    response: Response,
) -> Result<Response, Error> {
    let status = response.status();
    let repeatable = !(status.is_server_error()
        || status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS);
    let mut conn = state.service.pool().get().await?;
    if !repeatable {
        diesel::sql_query(FREE_SQL)
            .bind::<Text, _>(scope)
            .bind::<Text, _>(key)
            .execute(&mut conn)
            .await?;
        return Ok(response);
    }
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_BODY)
        .await
        .map_err(|e| Error::Internal(anyhow::anyhow!("reading an answer to store: {e}")))?;
    let header = |name: HeaderName| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    diesel::sql_query(STORE_SQL)
        .bind::<Text, _>(scope)
        .bind::<Text, _>(key)
        .bind::<Integer, _>(i32::from(parts.status.as_u16()))
        .bind::<Nullable<Text>, _>(header(CONTENT_TYPE))
        .bind::<Nullable<Text>, _>(header(LOCATION))
        .bind::<Bytea, _>(bytes.as_ref())
        .execute(&mut conn)
        .await?;
    Ok(Response::from_parts(parts, Body::from(bytes)))
}

fn replay(
    status: i32,
    content_type: Option<String>,
    location: Option<String>,
    body: Option<Vec<u8>>,
) -> Response {
    let status = u16::try_from(status)
        .ok()
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::OK);
    let mut response = Response::new(Body::from(body.unwrap_or_default()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    for (name, value) in [(CONTENT_TYPE, content_type), (LOCATION, location)] {
        if let Some(v) = value.and_then(|v| HeaderValue::from_str(&v).ok()) {
            headers.insert(name, v);
        }
    }
    headers.insert(REPLAYED, HeaderValue::from_static("true"));
    response
}

/// 1 to 255 visible ASCII characters.
fn parse_key(raw: &HeaderValue) -> Result<String, Error> {
    let bad = || Error::InvalidArgument {
        field: "Idempotency-Key".into(),
        message: "must be 1 to 255 visible ASCII characters (a UUID is a good key)".into(),
    };
    let key = raw.to_str().map_err(|_| bad())?.trim();
    if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(bad());
    }
    Ok(key.to_owned())
}

fn request_hash(query: &str, body: &[u8]) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update((query.len() as u64).to_be_bytes());
    h.update(query.as_bytes());
    h.update(body);
    h.finalize().to_vec()
}

/// `QueryResult<T>` → `Option<T>` for a statement that may return no row.
trait OptionalRow<T> {
    fn optional_row(self) -> diesel::QueryResult<Option<T>>;
}

impl<T> OptionalRow<T> for diesel::QueryResult<T> {
    fn optional_row(self) -> diesel::QueryResult<Option<T>> {
        match self {
            Ok(t) => Ok(Some(t)),
            Err(diesel::result::Error::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_visible_ascii_of_bounded_length() {
        assert_eq!(
            parse_key(&HeaderValue::from_static(" 7c1e-retry ")).ok(),
            Some("7c1e-retry".to_owned())
        );
        for bad in ["", "a b", &"k".repeat(256)] {
            assert!(
                parse_key(&HeaderValue::from_str(bad).unwrap()).is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn the_hash_tells_query_from_body() {
        assert_ne!(request_hash("a=1", b""), request_hash("", b"a=1"));
        assert_eq!(request_hash("", b"{}"), request_hash("", b"{}"));
    }

    #[test]
    fn the_sql_names_the_documented_periods() {
        assert!(TAKE_SQL.contains("interval '60 seconds'"));
        assert!(TAKE_SQL.contains("interval '24 hours'"));
        assert!(EXPIRE_SQL.contains("interval '24 hours'"));
    }
}
