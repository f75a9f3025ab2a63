//! Amazon SES API v2 `SendEmail` (`POST /v2/email/outbound-emails`, the "Simple" content with
//! its text and HTML parts and the `List-Unsubscribe` headers), signed with SigV4 for service
//! `ses` (see `sigv4.rs`), as the SES v2 API reference documents
//! (docs.aws.amazon.com/ses/latest/APIReference-V2/API_SendEmail.html). The answer's `MessageId`
//! is the provider message id. Errors are named by the `x-amzn-ErrorType` header (restJson1, as
//! the AWS SDKs read it) with a JSON `message`: `TooManyRequestsException` (429) and 5xx are
//! retried; `MessageRejected`, `MailFromDomainNotVerifiedException`, `SendingPausedException`,
//! `AccountSuspendedException`, `BadRequestException` are permanent. SES has no idempotency
//! key: an e-mail resent after a worker crash can arrive twice. The record id goes as the
//! `record_id` message tag, which SES puts on its bounce and delivery events.

use std::time::Duration;

use serde::Deserialize;

use super::sigv4::{SigV4, Signable};
use super::{OutboundMessage, Provider, SendError, wire};

const PATH: &str = "/v2/email/outbound-emails";

/// Settings of `EMAIL_PROVIDER=ses` (the sender is EMAIL_FROM).
#[derive(Debug, Clone, clap::Args)]
pub struct SesSettings {
    /// AWS region of the SES account, e.g. eu-west-1 (EMAIL_PROVIDER=ses).
    #[arg(long, env = "SES_REGION", default_value = "us-east-1")]
    pub ses_region: String,
    /// AWS access key ID allowed ses:SendEmail.
    #[arg(long, env = "SES_ACCESS_KEY_ID")]
    pub ses_access_key_id: Option<String>,
    /// AWS secret access key.
    #[arg(long, env = "SES_SECRET_ACCESS_KEY", hide_env_values = true)]
    pub ses_secret_access_key: Option<String>,
    /// SES configuration set the e-mails are sent with (event publishing), if any.
    #[arg(long, env = "SES_CONFIGURATION_SET")]
    pub ses_configuration_set: Option<String>,
    /// SES API base URL (default: https://email.<SES_REGION>.amazonaws.com).
    #[arg(long, env = "SES_ENDPOINT")]
    pub ses_endpoint: Option<String>,
}

impl SesSettings {
    pub fn redacted(&self) -> String {
        format!(
            "ses_region={} ses_endpoint={} ses_access_key_id={} ses_secret_access_key={} \
             ses_configuration_set={}",
            self.ses_region,
            self.ses_endpoint.as_deref().unwrap_or("<default>"),
            self.ses_access_key_id.as_deref().unwrap_or("<unset>"),
            if self.ses_secret_access_key.is_some() {
                "<set>"
            } else {
                "<unset>"
            },
            self.ses_configuration_set.as_deref().unwrap_or("<unset>"),
        )
    }
}

pub struct Ses {
    client: reqwest::Client,
    url: reqwest::Url,
    host: String,
    signer: SigV4,
    from: String,
    configuration_set: Option<String>,
}

impl Ses {
    pub fn new(s: &SesSettings, from: &str, timeout: Duration) -> anyhow::Result<Self> {
        let need = |v: &Option<String>, name: &str| {
            v.clone()
                .ok_or_else(|| anyhow::anyhow!("{name} is required with EMAIL_PROVIDER=ses"))
        };
        let base = match &s.ses_endpoint {
            Some(e) => wire::base_url(e, "SES_ENDPOINT")?,
            None => wire::base_url(
                &format!("https://email.{}.amazonaws.com", s.ses_region),
                "SES_REGION",
            )?,
        };
        let url = base
            .join(PATH)
            .map_err(|e| anyhow::anyhow!("SES_ENDPOINT: {e}"))?;
        Ok(Ses {
            client: wire::client(timeout)?,
            host: wire::host_header(&url)?,
            url,
            signer: SigV4 {
                access_key_id: need(&s.ses_access_key_id, "SES_ACCESS_KEY_ID")?,
                secret_access_key: need(&s.ses_secret_access_key, "SES_SECRET_ACCESS_KEY")?,
                region: s.ses_region.clone(),
                service: "ses".into(),
            },
            from: from.to_owned(),
            configuration_set: s.ses_configuration_set.clone(),
        })
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Sent {
    message_id: Option<String>,
}

#[derive(Deserialize)]
struct Refused {
    #[serde(alias = "Message")]
    message: Option<String>,
}

/// The error name of a restJson1 answer: `x-amzn-ErrorType` up to its first `:`.
fn error_type(headers: &reqwest::header::HeaderMap) -> Option<String> {
    let raw = headers.get("x-amzn-errortype")?.to_str().ok()?;
    Some(raw.split(':').next().unwrap_or(raw).to_owned())
}

fn refusal(
    status: u16,
    kind: &str,
    message: &str,
    retry_after: Option<std::time::Duration>,
) -> SendError {
    let reason = format!("{kind}: {message}");
    match kind {
        "TooManyRequestsException" | "ThrottlingException" | "Throttling" => SendError::Throttled {
            reason,
            retry_after,
        },
        _ if status == 429 => SendError::Throttled {
            reason,
            retry_after,
        },
        "InternalServiceErrorException" | "ServiceUnavailable" => SendError::Transient(reason),
        _ if status >= 500 => SendError::Transient(reason),
        _ => SendError::Permanent(reason),
    }
}

#[async_trait::async_trait]
impl Provider for Ses {
    fn name(&self) -> &'static str {
        "ses"
    }

    async fn send(&self, m: &OutboundMessage) -> Result<Option<String>, SendError> {
        let mut body = serde_json::json!({ "Text": { "Data": m.body, "Charset": "UTF-8" } });
        if let Some(html) = &m.html_body {
            body["Html"] = serde_json::json!({ "Data": html, "Charset": "UTF-8" });
        }
        let mut simple = serde_json::json!({
            "Subject": { "Data": m.subject, "Charset": "UTF-8" },
            "Body": body,
        });
        if let Some(url) = &m.unsubscribe_url {
            // RFC 2369 and RFC 8058, as the SMTP provider sends them.
            simple["Headers"] = serde_json::json!([
                { "Name": "List-Unsubscribe", "Value": format!("<{url}>") },
                { "Name": "List-Unsubscribe-Post", "Value": "List-Unsubscribe=One-Click" },
            ]);
        }
        let mut request = serde_json::json!({
            "FromEmailAddress": self.from,
            "Destination": { "ToAddresses": [m.to] },
            "Content": { "Simple": simple },
            "EmailTags": [{ "Name": "record_id", "Value": m.record_id.to_string() }],
        });
        if let Some(set) = &self.configuration_set {
            request["ConfigurationSetName"] = set.clone().into();
        }
        let payload = serde_json::to_vec(&request)
            .map_err(|e| SendError::Permanent(format!("cannot encode the request: {e}")))?;
        let amz_date = chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
        let authorization = self.signer.authorization(
            &Signable {
                method: "POST",
                path: PATH,
                query: &[],
                headers: &[
                    ("content-type", "application/json"),
                    ("host", &self.host),
                    ("x-amz-date", &amz_date),
                ],
                payload: &payload,
            },
            &amz_date,
        );
        let resp = self
            .client
            .post(self.url.clone())
            .header("Content-Type", "application/json")
            .header("X-Amz-Date", &amz_date)
            .header("Authorization", authorization)
            .body(payload)
            .send()
            .await
            .map_err(|e| wire::unreachable("SES", e))?;
        let status = resp.status();
        let retry_after = wire::retry_after(resp.headers());
        let kind = error_type(resp.headers());
        let text = wire::body("SES", resp).await?;
        if status.is_success() {
            return Ok(serde_json::from_str::<Sent>(&text)
                .ok()
                .and_then(|s| s.message_id));
        }
        let message = serde_json::from_str::<Refused>(&text)
            .ok()
            .and_then(|r| r.message)
            .unwrap_or_else(|| wire::excerpt(&text));
        let kind = kind.unwrap_or_else(|| format!("HTTP {status}"));
        Err(refusal(status.as_u16(), &kind, &message, retry_after))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttling_is_retried_and_a_rejected_message_is_not() {
        assert!(matches!(
            refusal(429, "TooManyRequestsException", "Too many requests", None),
            SendError::Throttled { .. }
        ));
        assert!(matches!(
            refusal(400, "MessageRejected", "Email address is not verified.", None),
            SendError::Permanent(m) if m == "MessageRejected: Email address is not verified."
        ));
        assert!(matches!(
            refusal(500, "InternalFailure", "x", None),
            SendError::Transient(_)
        ));
    }

    #[test]
    fn the_error_type_header_loses_its_namespace() {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert(
            "x-amzn-ErrorType",
            "MessageRejected:http://internal.amazon.com/coral/com.amazonaws.sesv2/"
                .parse()
                .unwrap(),
        );
        assert_eq!(error_type(&h).as_deref(), Some("MessageRejected"));
    }
}
