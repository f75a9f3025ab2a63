//! Apple Push Notification service, token-based: `POST {APNS_ENDPOINT}/3/device/{token}` over
//! HTTP/2 with `authorization: bearer <ES256 JWT>` (header `kid` = APNS_KEY_ID, claims `iss` =
//! APNS_TEAM_ID and `iat`), `apns-topic`, `apns-push-type: alert`, `apns-id`, as Apple documents
//! in "Sending notification requests to APNs" and "Establishing a token-based connection to
//! APNs" (developer.apple.com/documentation/usernotifications). Apple refuses tokens refreshed
//! more than once in 20 minutes and accepts them for an hour: one is made every 50 minutes, or
//! again after `403 ExpiredProviderToken`.
//!
//! The record id is the `apns-id` (APNs echoes it; it is the provider message id) and the
//! `apns-collapse-id`: a notification resent after a worker crash replaces the first on the
//! device instead of showing twice (APNs itself does not deduplicate). Errors are `{"reason"}`
//! ("Handling notification responses from APNs"): `400 BadDeviceToken`,
//! `DeviceTokenNotForTopic` and `410 Unregistered` are permanent, `429 TooManyRequests`, 500
//! and 503 are retried.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde::Deserialize;

use super::jwt::Es256;
use super::{OutboundMessage, Provider, SendError, wire};

/// A provider token's age before a new one is made (Apple: at most one per 20 minutes, none
/// older than an hour).
const TOKEN_LIFETIME: Duration = Duration::from_secs(50 * 60);

/// Settings of `PUSH_PROVIDER=apns`.
#[derive(Debug, Clone, clap::Args)]
pub struct ApnsSettings {
    /// APNs auth key: the .p8 file's path, or its PEM text (PUSH_PROVIDER=apns).
    #[arg(
        long,
        env = "APNS_KEY",
        hide_env_values = true,
        allow_hyphen_values = true
    )]
    pub apns_key: Option<String>,
    /// Key ID of that auth key (10 characters).
    #[arg(long, env = "APNS_KEY_ID")]
    pub apns_key_id: Option<String>,
    /// Apple Developer Team ID (10 characters).
    #[arg(long, env = "APNS_TEAM_ID")]
    pub apns_team_id: Option<String>,
    /// apns-topic: the app's bundle ID.
    #[arg(long, env = "APNS_TOPIC")]
    pub apns_topic: Option<String>,
    /// APNs base URL (https://api.sandbox.push.apple.com for development builds).
    #[arg(
        long,
        env = "APNS_ENDPOINT",
        default_value = "https://api.push.apple.com"
    )]
    pub apns_endpoint: String,
    /// PEM file of an extra root certificate to trust for APNS_ENDPOINT (a TLS-inspecting proxy,
    /// a test server); the system's roots are trusted as well.
    #[arg(long, env = "APNS_CA_CERT")]
    pub apns_ca_cert: Option<String>,
}

impl ApnsSettings {
    pub fn redacted(&self) -> String {
        format!(
            "apns_endpoint={} apns_key={} apns_key_id={} apns_team_id={} apns_topic={} \
             apns_ca_cert={}",
            self.apns_endpoint,
            if self.apns_key.is_some() {
                "<set>"
            } else {
                "<unset>"
            },
            self.apns_key_id.as_deref().unwrap_or("<unset>"),
            self.apns_team_id.as_deref().unwrap_or("<unset>"),
            self.apns_topic.as_deref().unwrap_or("<unset>"),
            self.apns_ca_cert.as_deref().unwrap_or("<unset>"),
        )
    }
}

pub struct Apns {
    client: reqwest::Client,
    endpoint: reqwest::Url,
    key: Es256,
    key_id: String,
    team_id: String,
    topic: String,
    token: Mutex<Option<(String, Instant)>>,
}

impl Apns {
    pub fn new(s: &ApnsSettings, timeout: Duration) -> anyhow::Result<Self> {
        let need = |v: &Option<String>, name: &str| {
            v.clone()
                .ok_or_else(|| anyhow::anyhow!("{name} is required with PUSH_PROVIDER=apns"))
        };
        let key = Es256::from_pem(
            &wire::inline_or_file(&need(&s.apns_key, "APNS_KEY")?, "APNS_KEY")?,
            "APNS_KEY",
        )?;
        // APNs speaks HTTP/2 only.
        let mut builder = wire::builder(timeout).http2_prior_knowledge();
        if let Some(path) = &s.apns_ca_cert {
            let pem =
                std::fs::read(path).with_context(|| format!("reading APNS_CA_CERT {path}"))?;
            let cert = reqwest::Certificate::from_pem(&pem)
                .with_context(|| format!("APNS_CA_CERT {path} is not a PEM certificate"))?;
            builder = builder.add_root_certificate(cert);
        }
        Ok(Apns {
            client: builder.build().context("building the APNs client")?,
            endpoint: wire::base_url(&s.apns_endpoint, "APNS_ENDPOINT")?,
            key,
            key_id: need(&s.apns_key_id, "APNS_KEY_ID")?,
            team_id: need(&s.apns_team_id, "APNS_TEAM_ID")?,
            topic: need(&s.apns_topic, "APNS_TOPIC")?,
            token: Mutex::new(None),
        })
    }

    fn provider_token(&self) -> Result<String, SendError> {
        let mut cached = self
            .token
            .lock()
            .map_err(|_| SendError::Transient("APNs token cache poisoned".into()))?;
        if let Some((token, made)) = cached.as_ref()
            && made.elapsed() < TOKEN_LIFETIME
        {
            return Ok(token.clone());
        }
        let token = self
            .key
            .sign(
                serde_json::json!({ "kid": self.key_id }),
                &serde_json::json!({ "iss": self.team_id, "iat": chrono::Utc::now().timestamp() }),
            )
            .map_err(|e| SendError::Permanent(format!("APNs provider token: {e}")))?;
        *cached = Some((token.clone(), Instant::now()));
        Ok(token)
    }

    fn forget_token(&self) {
        if let Ok(mut cached) = self.token.lock() {
            *cached = None;
        }
    }
}

#[derive(Deserialize)]
struct Refused {
    reason: Option<String>,
}

fn refusal(status: u16, reason: &str, retry_after: Option<Duration>) -> SendError {
    let text = format!("{status} {reason}");
    match (status, reason) {
        (429, _) => SendError::Throttled {
            reason: text,
            retry_after,
        },
        (403, "ExpiredProviderToken") => SendError::Transient(text),
        (s, _) if s >= 500 => SendError::Transient(text),
        _ => SendError::Permanent(text),
    }
}

#[async_trait::async_trait]
impl Provider for Apns {
    fn name(&self) -> &'static str {
        "apns"
    }

    async fn send(&self, m: &OutboundMessage) -> Result<Option<String>, SendError> {
        let url = self
            .endpoint
            .join(&format!("/3/device/{}", m.to.trim()))
            .map_err(|e| SendError::Permanent(format!("`{}` is not a device token: {e}", m.to)))?;
        let id = m.record_id.to_string();
        let mut payload = serde_json::json!({
            "aps": { "alert": { "title": m.subject, "body": m.body } },
            "record_id": id,
        });
        if let Some(u) = &m.unsubscribe_url {
            payload["unsubscribe_url"] = u.clone().into();
        }
        let resp = self
            .client
            .post(url)
            .header(
                "authorization",
                format!("bearer {}", self.provider_token()?),
            )
            .header("apns-topic", &self.topic)
            .header("apns-push-type", "alert")
            .header("apns-id", &id)
            .header("apns-collapse-id", &id)
            .json(&payload)
            .send()
            .await
            .map_err(|e| wire::unreachable("APNs", e))?;
        let status = resp.status();
        let retry_after = wire::retry_after(resp.headers());
        let apns_id = resp
            .headers()
            .get("apns-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let text = wire::body("APNs", resp).await?;
        if status.is_success() {
            return Ok(apns_id.or(Some(id)));
        }
        let reason = serde_json::from_str::<Refused>(&text)
            .ok()
            .and_then(|r| r.reason)
            .unwrap_or_else(|| wire::excerpt(&text));
        if reason == "ExpiredProviderToken" {
            self.forget_token();
        }
        Err(refusal(status.as_u16(), &reason, retry_after))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dead_tokens_are_permanent_and_throttling_is_retried() {
        assert!(matches!(
            refusal(410, "Unregistered", None),
            SendError::Permanent(m) if m == "410 Unregistered"
        ));
        assert!(matches!(
            refusal(400, "BadDeviceToken", None),
            SendError::Permanent(_)
        ));
        assert!(matches!(
            refusal(429, "TooManyRequests", None),
            SendError::Throttled { .. }
        ));
        assert!(matches!(
            refusal(403, "ExpiredProviderToken", None),
            SendError::Transient(_)
        ));
        assert!(matches!(
            refusal(403, "InvalidProviderToken", None),
            SendError::Permanent(_)
        ));
    }
}
