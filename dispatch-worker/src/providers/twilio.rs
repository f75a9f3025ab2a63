//! Twilio Programmable Messaging: `POST /2010-04-01/Accounts/{AccountSid}/Messages.json`, a form
//! with `To`, `From` (or `MessagingServiceSid`) and `Body`, authenticated with HTTP Basic
//! (`AccountSid:AuthToken`) as the Messages API reference documents
//! (twilio.com/docs/messaging/api/message-resource#create-a-message-resource); Twilio signs only
//! the webhooks it sends, not the requests it receives. The answer is the Message resource:
//! `sid` (SM…) is the provider message id. Errors are `{"code", "message", "more_info",
//! "status"}`: 429 / code 20429 is throttling, 21211 and 21614 an invalid or non-mobile `To`.
//! The Messages API has no idempotency key: a message resent after a worker crash can arrive
//! twice (the record id is not sent; Twilio has no field echoed into receipts for it).

use std::time::Duration;

use serde::Deserialize;

use super::signing::rfc3986;
use super::{OutboundMessage, Provider, SendError, wire};

/// Settings of `SMS_PROVIDER=twilio`.
#[derive(Debug, Clone, clap::Args)]
pub struct TwilioSettings {
    /// Twilio Account SID, AC… (SMS_PROVIDER=twilio).
    #[arg(long, env = "TWILIO_ACCOUNT_SID")]
    pub twilio_account_sid: Option<String>,
    /// Twilio auth token.
    #[arg(long, env = "TWILIO_AUTH_TOKEN", hide_env_values = true)]
    pub twilio_auth_token: Option<String>,
    /// Sender: a Twilio phone number in E.164, or a Messaging Service SID (MG…).
    #[arg(long, env = "TWILIO_FROM")]
    pub twilio_from: Option<String>,
    /// Twilio REST API base URL.
    #[arg(
        long,
        env = "TWILIO_API_BASE",
        default_value = "https://api.twilio.com"
    )]
    pub twilio_api_base: String,
}

impl TwilioSettings {
    pub fn redacted(&self) -> String {
        format!(
            "twilio_api_base={} twilio_account_sid={} twilio_auth_token={} twilio_from={}",
            self.twilio_api_base,
            self.twilio_account_sid.as_deref().unwrap_or("<unset>"),
            if self.twilio_auth_token.is_some() {
                "<set>"
            } else {
                "<unset>"
            },
            self.twilio_from.as_deref().unwrap_or("<unset>"),
        )
    }
}

pub struct Twilio {
    client: reqwest::Client,
    url: reqwest::Url,
    account_sid: String,
    auth_token: String,
    /// `From=…` or `MessagingServiceSid=…`, encoded.
    sender: String,
}

impl Twilio {
    pub fn new(s: &TwilioSettings, timeout: Duration) -> anyhow::Result<Self> {
        let need = |v: &Option<String>, name: &str| {
            v.clone()
                .ok_or_else(|| anyhow::anyhow!("{name} is required with SMS_PROVIDER=twilio"))
        };
        let account_sid = need(&s.twilio_account_sid, "TWILIO_ACCOUNT_SID")?;
        let from = need(&s.twilio_from, "TWILIO_FROM")?;
        let base = wire::base_url(&s.twilio_api_base, "TWILIO_API_BASE")?;
        let url = base
            .join(&format!(
                "/2010-04-01/Accounts/{}/Messages.json",
                rfc3986(&account_sid)
            ))
            .map_err(|e| anyhow::anyhow!("TWILIO_API_BASE: {e}"))?;
        let sender = if from.starts_with("MG") {
            format!("MessagingServiceSid={}", rfc3986(&from))
        } else {
            format!("From={}", rfc3986(&from))
        };
        Ok(Twilio {
            client: wire::client(timeout)?,
            url,
            account_sid,
            auth_token: need(&s.twilio_auth_token, "TWILIO_AUTH_TOKEN")?,
            sender,
        })
    }
}

#[derive(Deserialize)]
struct Created {
    sid: Option<String>,
}

#[derive(Deserialize)]
struct Refused {
    code: Option<u32>,
    message: Option<String>,
}

/// 429 and 20429 are throttling, 5xx Twilio's trouble; every other refusal (21211 invalid `To`,
/// 21614 not a mobile number, 21610 unsubscribed recipient, 20003 bad credentials) is permanent.
fn refusal(status: u16, code: Option<u32>, message: &str) -> SendError {
    let reason = match code {
        Some(code) => format!("{code}: {message}"),
        None => format!("HTTP {status}: {message}"),
    };
    if status == 429 || code == Some(20429) {
        SendError::Throttled {
            reason,
            retry_after: None,
        }
    } else if status >= 500 {
        SendError::Transient(reason)
    } else {
        SendError::Permanent(reason)
    }
}

#[async_trait::async_trait]
impl Provider for Twilio {
    fn name(&self) -> &'static str {
        "twilio"
    }

    async fn send(&self, m: &OutboundMessage) -> Result<Option<String>, SendError> {
        let form = format!(
            "To={}&{}&Body={}",
            rfc3986(&m.to),
            self.sender,
            rfc3986(&m.body)
        );
        let resp = self
            .client
            .post(self.url.clone())
            .basic_auth(&self.account_sid, Some(&self.auth_token))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(form)
            .send()
            .await
            .map_err(|e| wire::unreachable("Twilio", e))?;
        let status = resp.status();
        let retry_after = wire::retry_after(resp.headers());
        let text = wire::body("Twilio", resp).await?;
        if status.is_success() {
            return Ok(serde_json::from_str::<Created>(&text)
                .ok()
                .and_then(|c| c.sid));
        }
        let refused: Option<Refused> = serde_json::from_str(&text).ok();
        let (code, message) = match refused {
            Some(r) => (r.code, r.message.unwrap_or_default()),
            None => (None, wire::excerpt(&text)),
        };
        Err(match refusal(status.as_u16(), code, &message) {
            SendError::Throttled { reason, .. } => SendError::Throttled {
                reason,
                retry_after,
            },
            other => other,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttling_is_retried_and_an_invalid_number_is_not() {
        assert!(matches!(
            refusal(429, Some(20429), "Too Many Requests"),
            SendError::Throttled { .. }
        ));
        assert!(matches!(
            refusal(503, None, "unavailable"),
            SendError::Transient(_)
        ));
        match refusal(
            400,
            Some(21211),
            "The 'To' number +1555 is not a valid phone number.",
        ) {
            SendError::Permanent(m) => assert!(m.starts_with("21211: The 'To' number")),
            other => panic!("{other:?}"),
        }
    }
}
