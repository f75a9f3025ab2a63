//! Firebase Cloud Messaging HTTP v1: `POST {FCM_ENDPOINT}/v1/projects/{project}/messages:send`
//! with an OAuth 2.0 access token, as the FCM reference documents
//! (firebase.google.com/docs/reference/fcm/rest/v1/projects.messages/send). The token comes from
//! the service account: an RS256 JWT assertion (`iss` = client e-mail, `scope` =
//! firebase.messaging, `aud` = the key file's `token_uri`, one hour; header `kid` = the key id)
//! exchanged at `token_uri` with the `urn:ietf:params:oauth:grant-type:jwt-bearer` grant
//! (RFC 7523), as google-auth-library-python's `service_account` / `_client.jwt_grant` do. The
//! token is cached and fetched again shortly before it expires, or when FCM answers 401.
//!
//! Errors are google.rpc.Status bodies whose `details` carry an `FcmError.errorCode`, read as
//! firebase-admin-go's `messaging_errors.go` reads them: `UNREGISTERED`, `INVALID_ARGUMENT`,
//! `SENDER_ID_MISMATCH`, `THIRD_PARTY_AUTH_ERROR` are permanent; `QUOTA_EXCEEDED` (429),
//! `UNAVAILABLE` and `INTERNAL` are retried, after `Retry-After` when given. FCM has no
//! idempotency key: the record id travels in the message's `data` (`record_id`) so the app can
//! drop a copy resent after a worker crash. The answer's `name` is the provider message id.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde::Deserialize;

use super::jwt::Rs256;
use super::signing::rfc3986;
use super::{OutboundMessage, Provider, SendError, wire};

const SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// How long before its expiry a token is replaced (google-auth refreshes a few minutes early
/// too): a send never starts with a token about to lapse.
const REFRESH_MARGIN: Duration = Duration::from_secs(300);

/// Settings of `PUSH_PROVIDER=fcm`.
#[derive(Debug, Clone, clap::Args)]
pub struct FcmSettings {
    /// Firebase service-account key (the JSON file's path, or the JSON itself) (PUSH_PROVIDER=fcm).
    #[arg(long, env = "FCM_SERVICE_ACCOUNT", hide_env_values = true)]
    pub fcm_service_account: Option<String>,
    /// FCM API base URL (the token endpoint is the key file's `token_uri`).
    #[arg(
        long,
        env = "FCM_ENDPOINT",
        default_value = "https://fcm.googleapis.com"
    )]
    pub fcm_endpoint: String,
}

impl FcmSettings {
    pub fn redacted(&self) -> String {
        format!(
            "fcm_endpoint={} fcm_service_account={}",
            self.fcm_endpoint,
            if self.fcm_service_account.is_some() {
                "<set>"
            } else {
                "<unset>"
            }
        )
    }
}

/// The fields of a service-account key file that matter here.
#[derive(Deserialize)]
struct ServiceAccount {
    project_id: String,
    private_key_id: String,
    private_key: String,
    client_email: String,
    #[serde(default = "default_token_uri")]
    token_uri: String,
}

fn default_token_uri() -> String {
    "https://oauth2.googleapis.com/token".into()
}

struct AccessToken {
    value: String,
    replace_at: Instant,
}

pub struct Fcm {
    client: reqwest::Client,
    send_url: reqwest::Url,
    token_url: reqwest::Url,
    client_email: String,
    key_id: String,
    key: Rs256,
    /// One fetch at a time: sends waiting for a token wait for the same one.
    token: tokio::sync::Mutex<Option<AccessToken>>,
}

impl Fcm {
    pub fn new(s: &FcmSettings, timeout: Duration) -> anyhow::Result<Self> {
        let raw = s
            .fcm_service_account
            .as_deref()
            .context("FCM_SERVICE_ACCOUNT is required with PUSH_PROVIDER=fcm")?;
        let account: ServiceAccount =
            serde_json::from_str(&wire::inline_or_file(raw, "FCM_SERVICE_ACCOUNT")?)
                .context("FCM_SERVICE_ACCOUNT is not a service-account key file")?;
        let base = wire::base_url(&s.fcm_endpoint, "FCM_ENDPOINT")?;
        let send_url = base
            .join(&format!(
                "/v1/projects/{}/messages:send",
                rfc3986(&account.project_id)
            ))
            .context("FCM_ENDPOINT")?;
        Ok(Fcm {
            client: wire::client(timeout)?,
            send_url,
            token_url: wire::base_url(&account.token_uri, "FCM_SERVICE_ACCOUNT token_uri")?,
            key: Rs256::from_pem(&account.private_key, "FCM_SERVICE_ACCOUNT private_key")?,
            client_email: account.client_email,
            key_id: account.private_key_id,
            token: tokio::sync::Mutex::new(None),
        })
    }

    async fn access_token(&self) -> Result<String, SendError> {
        let mut cached = self.token.lock().await;
        if let Some(t) = cached.as_ref().filter(|t| Instant::now() < t.replace_at) {
            return Ok(t.value.clone());
        }
        let fresh = self.fetch_token().await?;
        let value = fresh.value.clone();
        *cached = Some(fresh);
        Ok(value)
    }

    async fn forget_token(&self) {
        *self.token.lock().await = None;
    }

    async fn fetch_token(&self) -> Result<AccessToken, SendError> {
        let now = chrono::Utc::now().timestamp();
        let assertion = self
            .key
            .sign(
                serde_json::json!({ "kid": self.key_id }),
                &serde_json::json!({
                    "iss": self.client_email,
                    "scope": SCOPE,
                    "aud": self.token_url.as_str(),
                    "iat": now,
                    "exp": now + 3600,
                }),
            )
            .map_err(|e| SendError::Permanent(format!("FCM assertion: {e}")))?;
        let started = Instant::now();
        let resp = self
            .client
            .post(self.token_url.clone())
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(format!(
                "grant_type={}&assertion={}",
                rfc3986(JWT_BEARER),
                rfc3986(&assertion)
            ))
            .send()
            .await
            .map_err(|e| wire::unreachable("the FCM token endpoint", e))?;
        let status = resp.status();
        let text = wire::body("the FCM token endpoint", resp).await?;
        #[derive(Deserialize)]
        struct Granted {
            access_token: String,
            expires_in: u64,
        }
        if status.is_success() {
            let g: Granted = serde_json::from_str(&text).map_err(|e| {
                SendError::Transient(format!("FCM token endpoint answered {e}: {text}"))
            })?;
            let lifetime = Duration::from_secs(g.expires_in);
            let margin = REFRESH_MARGIN.min(lifetime / 2);
            return Ok(AccessToken {
                value: g.access_token,
                replace_at: started + lifetime - margin,
            });
        }
        let reason = format!(
            "FCM token endpoint refused the service account ({status}): {}",
            wire::excerpt(&text)
        );
        if status.is_server_error() || status.as_u16() == 429 {
            Err(SendError::Transient(reason))
        } else {
            Err(SendError::Permanent(reason))
        }
    }
}

#[derive(Deserialize)]
struct Sent {
    name: Option<String>,
}

#[derive(Deserialize)]
struct Failure {
    error: RpcStatus,
}

#[derive(Deserialize)]
struct RpcStatus {
    #[serde(default)]
    message: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    details: Vec<Detail>,
}

#[derive(Deserialize)]
struct Detail {
    #[serde(rename = "@type", default)]
    kind: String,
    #[serde(rename = "errorCode")]
    error_code: Option<String>,
}

/// The FCM error code of a refusal (`FcmError.errorCode`, else the Status), and what it means.
fn refusal(status: u16, body: &str, retry_after: Option<Duration>) -> SendError {
    let (code, message) = match serde_json::from_str::<Failure>(body) {
        Ok(f) => {
            let fcm = f.error.details.iter().find_map(|d| {
                d.kind
                    .ends_with("google.firebase.fcm.v1.FcmError")
                    .then(|| d.error_code.clone())
                    .flatten()
            });
            (fcm.unwrap_or(f.error.status), f.error.message)
        }
        Err(_) => (format!("HTTP {status}"), wire::excerpt(body)),
    };
    let reason = format!("{code}: {message}");
    match code.as_str() {
        "QUOTA_EXCEEDED" | "RESOURCE_EXHAUSTED" | "UNAVAILABLE" => SendError::Throttled {
            reason,
            retry_after,
        },
        "INTERNAL" | "UNAUTHENTICATED" => SendError::Transient(reason),
        _ if status == 429 => SendError::Throttled {
            reason,
            retry_after,
        },
        _ if status >= 500 => SendError::Transient(reason),
        _ => SendError::Permanent(reason),
    }
}

#[async_trait::async_trait]
impl Provider for Fcm {
    fn name(&self) -> &'static str {
        "fcm"
    }

    async fn send(&self, m: &OutboundMessage) -> Result<Option<String>, SendError> {
        let token = self.access_token().await?;
        let mut data = serde_json::json!({ "record_id": m.record_id.to_string() });
        if let Some(url) = &m.unsubscribe_url {
            data["unsubscribe_url"] = url.clone().into();
        }
        let resp = self
            .client
            .post(self.send_url.clone())
            .bearer_auth(token)
            .json(&serde_json::json!({
                "message": {
                    "token": m.to,
                    "notification": { "title": m.subject, "body": m.body },
                    "data": data,
                }
            }))
            .send()
            .await
            .map_err(|e| wire::unreachable("FCM", e))?;
        let status = resp.status();
        let retry_after = wire::retry_after(resp.headers());
        let text = wire::body("FCM", resp).await?;
        if status.is_success() {
            return Ok(serde_json::from_str::<Sent>(&text)
                .ok()
                .and_then(|s| s.name));
        }
        if status.as_u16() == 401 {
            // A token revoked or expired early: the retry fetches a new one.
            self.forget_token().await;
        }
        Err(refusal(status.as_u16(), &text, retry_after))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fcm_error_code_decides() {
        let unregistered = r#"{"error": {"code": 404, "message": "Requested entity was not found.",
            "status": "NOT_FOUND", "details": [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
            "errorCode": "UNREGISTERED"}]}}"#;
        match refusal(404, unregistered, None) {
            SendError::Permanent(m) => {
                assert_eq!(m, "UNREGISTERED: Requested entity was not found.")
            }
            other => panic!("{other:?}"),
        }
        let quota = r#"{"error": {"code": 429, "message": "Quota exceeded", "status": "RESOURCE_EXHAUSTED",
            "details": [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": "QUOTA_EXCEEDED"}]}}"#;
        assert!(matches!(
            refusal(429, quota, Some(Duration::from_secs(2))),
            SendError::Throttled { retry_after: Some(d), .. } if d == Duration::from_secs(2)
        ));
        assert!(matches!(
            refusal(503, "upstream connect error", None),
            SendError::Transient(_)
        ));
    }
}
