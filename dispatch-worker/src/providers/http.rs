//! SMS and push vendors reached over an HTTP JSON API: `POST {url}` with a bearer token and the
//! record id as `Idempotency-Key`, so a message retried after a crash is delivered once.

use std::time::Duration;

use super::{OutboundMessage, Provider, SendError};

pub struct HttpProvider {
    client: reqwest::Client,
    url: String,
    token: Option<String>,
}

impl HttpProvider {
    pub fn new(url: String, token: Option<String>, timeout: Duration) -> anyhow::Result<Self> {
        Ok(HttpProvider {
            client: super::wire::client(timeout)?,
            url,
            token,
        })
    }
}

#[derive(serde::Deserialize)]
struct VendorReply {
    id: Option<String>,
}

#[async_trait::async_trait]
impl Provider for HttpProvider {
    fn name(&self) -> &'static str {
        "http"
    }

    async fn send(&self, m: &OutboundMessage) -> Result<Option<String>, SendError> {
        let mut req = self
            .client
            .post(&self.url)
            .header("Idempotency-Key", m.record_id.to_string())
            .json(&serde_json::json!({
                "to": m.to,
                "title": m.subject,
                "body": m.body,
                "channel": m.channel.as_str(),
                "reference": m.record_id,
                "unsubscribe_url": m.unsubscribe_url,
            }));
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| super::wire::unreachable("vendor", e))?;
        let status = resp.status();
        let retry_after = super::wire::retry_after(resp.headers());
        if status.is_success() {
            let reply: Option<VendorReply> = resp.json().await.ok();
            return Ok(reply.and_then(|r| r.id));
        }
        let detail = resp.text().await.unwrap_or_default();
        let detail: String = detail.chars().take(300).collect();
        let message = format!("vendor answered {status}: {detail}");
        if status.as_u16() == 429 {
            Err(SendError::Throttled {
                reason: message,
                retry_after,
            })
        } else if status.as_u16() == 503 {
            // The vendor says it is not serving: it did not take the message.
            Err(SendError::Unavailable(message))
        } else if status.is_server_error() || status.as_u16() == 408 {
            Err(SendError::Transient(message))
        } else {
            Err(SendError::Permanent(message))
        }
    }
}
