//! Tencent Cloud SMS: `SendSms` of API 3.0 (version 2021-01-11), signed with TC3-HMAC-SHA256 as
//! documented in "签名方法 v3" (cloud.tencent.com/document/api/382/52072; the same page for every
//! product) and implemented by the official SDKs (`tencentcloud/common/sign.py` of
//! tencentcloud-sdk-python: `HMAC("TC3" + key, date) → service → "tc3_request"`). The unit test
//! reproduces the document's worked example (`DescribeInstances`, signature `2230eefd…`).
//!
//! Tencent sends approved templates: the rendered message is the template's one parameter
//! (`TemplateParamSet = [message]`, a template reading `{1}`), under `TENCENT_SMS_SIGN_NAME`.
//! The record id goes as `SessionContext`, echoed back in the answer and in receipts; SendSms
//! has no idempotency key (`ExtendCode` is a reply-routing number, not one), so a message
//! resent after a worker crash can arrive twice. `SerialNo` is the provider message id. Errors
//! come with HTTP 200: a request-level `Response.Error.Code` or a per-number
//! `SendStatusSet[].Code` other than `Ok`.

use std::time::Duration;

use serde::Deserialize;

use super::signing::{hex, hmac_sha256, sha256_hex};
use super::{OutboundMessage, Provider, SendError, wire};

const CONTENT_TYPE: &str = "application/json; charset=utf-8";

/// Settings of `SMS_PROVIDER=tencent`.
#[derive(Debug, Clone, clap::Args)]
pub struct TencentSettings {
    /// Tencent Cloud SecretId (SMS_PROVIDER=tencent).
    #[arg(long, env = "TENCENT_SECRET_ID")]
    pub tencent_secret_id: Option<String>,
    /// Tencent Cloud SecretKey.
    #[arg(long, env = "TENCENT_SECRET_KEY", hide_env_values = true)]
    pub tencent_secret_key: Option<String>,
    /// SMS application id (SmsSdkAppId, 1400…).
    #[arg(long, env = "TENCENT_SMS_SDK_APP_ID")]
    pub tencent_sms_sdk_app_id: Option<String>,
    /// Approved SMS signature the messages are sent under.
    #[arg(long, env = "TENCENT_SMS_SIGN_NAME")]
    pub tencent_sms_sign_name: Option<String>,
    /// Approved template id whose one parameter ({1}) carries the rendered message.
    #[arg(long, env = "TENCENT_SMS_TEMPLATE_ID")]
    pub tencent_sms_template_id: Option<String>,
    /// Region sent as X-TC-Region.
    #[arg(long, env = "TENCENT_REGION", default_value = "ap-guangzhou")]
    pub tencent_region: String,
    /// SMS API endpoint.
    #[arg(
        long,
        env = "TENCENT_SMS_ENDPOINT",
        default_value = "https://sms.tencentcloudapi.com"
    )]
    pub tencent_sms_endpoint: String,
}

impl TencentSettings {
    pub fn redacted(&self) -> String {
        format!(
            "tencent_sms_endpoint={} tencent_secret_id={} tencent_secret_key={} \
             tencent_sms_sdk_app_id={} tencent_sms_sign_name={} tencent_sms_template_id={} \
             tencent_region={}",
            self.tencent_sms_endpoint,
            self.tencent_secret_id.as_deref().unwrap_or("<unset>"),
            if self.tencent_secret_key.is_some() {
                "<set>"
            } else {
                "<unset>"
            },
            self.tencent_sms_sdk_app_id.as_deref().unwrap_or("<unset>"),
            self.tencent_sms_sign_name.as_deref().unwrap_or("<unset>"),
            self.tencent_sms_template_id.as_deref().unwrap_or("<unset>"),
            self.tencent_region,
        )
    }
}

pub struct TencentSms {
    client: reqwest::Client,
    endpoint: reqwest::Url,
    host: String,
    secret_id: String,
    secret_key: String,
    app_id: String,
    sign_name: String,
    template_id: String,
    region: String,
}

impl TencentSms {
    pub fn new(s: &TencentSettings, timeout: Duration) -> anyhow::Result<Self> {
        let need = |v: &Option<String>, name: &str| {
            v.clone()
                .ok_or_else(|| anyhow::anyhow!("{name} is required with SMS_PROVIDER=tencent"))
        };
        let endpoint = wire::base_url(&s.tencent_sms_endpoint, "TENCENT_SMS_ENDPOINT")?;
        Ok(TencentSms {
            client: wire::client(timeout)?,
            host: wire::host_header(&endpoint)?,
            endpoint,
            secret_id: need(&s.tencent_secret_id, "TENCENT_SECRET_ID")?,
            secret_key: need(&s.tencent_secret_key, "TENCENT_SECRET_KEY")?,
            app_id: need(&s.tencent_sms_sdk_app_id, "TENCENT_SMS_SDK_APP_ID")?,
            sign_name: need(&s.tencent_sms_sign_name, "TENCENT_SMS_SIGN_NAME")?,
            template_id: need(&s.tencent_sms_template_id, "TENCENT_SMS_TEMPLATE_ID")?,
            region: s.tencent_region.clone(),
        })
    }
}

/// The `Authorization` header of a TC3-HMAC-SHA256 POST to `/` with `content-type;host` signed.
pub fn authorization(
    secret_id: &str,
    secret_key: &str,
    service: &str,
    host: &str,
    payload: &[u8],
    timestamp: i64,
) -> String {
    let canonical_request = format!(
        "POST\n/\n\ncontent-type:{CONTENT_TYPE}\nhost:{host}\n\ncontent-type;host\n{}",
        sha256_hex(payload)
    );
    let date = chrono::DateTime::from_timestamp(timestamp, 0)
        .unwrap_or_default()
        .format("%Y-%m-%d")
        .to_string();
    let scope = format!("{date}/{service}/tc3_request");
    let string_to_sign = format!(
        "TC3-HMAC-SHA256\n{timestamp}\n{scope}\n{}",
        sha256_hex(canonical_request.as_bytes())
    );
    let secret_date = hmac_sha256(format!("TC3{secret_key}").as_bytes(), date.as_bytes());
    let secret_service = hmac_sha256(&secret_date, service.as_bytes());
    let secret_signing = hmac_sha256(&secret_service, b"tc3_request");
    let signature = hex(&hmac_sha256(&secret_signing, string_to_sign.as_bytes()));
    format!(
        "TC3-HMAC-SHA256 Credential={secret_id}/{scope}, SignedHeaders=content-type;host, Signature={signature}"
    )
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Envelope {
    response: Answer,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Answer {
    error: Option<Status>,
    #[serde(default)]
    send_status_set: Vec<Status>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Status {
    code: String,
    #[serde(default)]
    message: String,
    serial_no: Option<String>,
}

/// Frequency limits are retried (`LimitExceeded.*`, `RequestLimitExceeded*`), as are Tencent's
/// own failures; a wrong number, a blocked one, a template or signature not approved, no
/// package left (`InvalidParameterValue.*`, `FailedOperation.*`, `AuthFailure.*`) are not.
fn refusal(code: &str, message: &str) -> SendError {
    let reason = format!("{code}: {message}");
    if code.starts_with("LimitExceeded") || code.starts_with("RequestLimitExceeded") {
        SendError::Throttled {
            reason,
            retry_after: None,
        }
    } else if code.starts_with("InternalError") || code.starts_with("ResourceUnavailable") {
        SendError::Transient(reason)
    } else {
        SendError::Permanent(reason)
    }
}

#[async_trait::async_trait]
impl Provider for TencentSms {
    fn name(&self) -> &'static str {
        "tencent"
    }

    async fn send(&self, m: &OutboundMessage) -> Result<Option<String>, SendError> {
        let payload = serde_json::to_vec(&serde_json::json!({
            "PhoneNumberSet": [m.to],
            "SmsSdkAppId": self.app_id,
            "SignName": self.sign_name,
            "TemplateId": self.template_id,
            "TemplateParamSet": [m.body],
            "SessionContext": m.record_id.to_string(),
        }))
        .map_err(|e| SendError::Permanent(format!("cannot encode the request: {e}")))?;
        let timestamp = chrono::Utc::now().timestamp();
        let auth = authorization(
            &self.secret_id,
            &self.secret_key,
            "sms",
            &self.host,
            &payload,
            timestamp,
        );
        let resp = self
            .client
            .post(self.endpoint.clone())
            .header("Authorization", auth)
            .header("Content-Type", CONTENT_TYPE)
            .header("X-TC-Action", "SendSms")
            .header("X-TC-Version", "2021-01-11")
            .header("X-TC-Timestamp", timestamp.to_string())
            .header("X-TC-Region", &self.region)
            .body(payload)
            .send()
            .await
            .map_err(|e| wire::unreachable("Tencent Cloud", e))?;
        let status = resp.status();
        let text = wire::body("Tencent Cloud", resp).await?;
        let answer = match serde_json::from_str::<Envelope>(&text) {
            Ok(envelope) => envelope.response,
            Err(_) if status.is_server_error() => {
                return Err(SendError::Transient(format!(
                    "Tencent Cloud answered {status}: {}",
                    wire::excerpt(&text)
                )));
            }
            Err(e) => {
                return Err(SendError::Permanent(format!(
                    "Tencent Cloud answered {status} ({e}): {}",
                    wire::excerpt(&text)
                )));
            }
        };
        if let Some(e) = answer.error {
            return Err(refusal(&e.code, &e.message));
        }
        match answer.send_status_set.into_iter().next() {
            Some(s) if s.code == "Ok" => Ok(s.serial_no),
            Some(s) => Err(refusal(&s.code, &s.message)),
            None => Err(SendError::Transient(format!(
                "Tencent Cloud answered without a send status: {}",
                wire::excerpt(&text)
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked example of "签名方法 v3" (keys masked with `*` exactly as the page prints them).
    #[test]
    fn signs_the_documented_example() {
        let payload = br#"{"Limit": 1, "Filters": [{"Values": ["\u672a\u547d\u540d"], "Name": "instance-name"}]}"#;
        assert_eq!(
            sha256_hex(payload),
            "35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064"
        );
        assert_eq!(
            authorization(
                "AKIDz8krbsJ5yKBZQpn74WFkmLPx3*******",
                "Gu5t9xGARNpq86cd98joQYCN3*******",
                "cvm",
                "cvm.tencentcloudapi.com",
                payload,
                1551113065,
            ),
            "TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3*******/2019-02-25/cvm/tc3_request, \
             SignedHeaders=content-type;host, \
             Signature=2230eefd229f582d8b1b891af7107b91597240707d778ab3738f756258d7652c"
        );
    }

    #[test]
    fn limits_are_retried_and_a_wrong_number_is_not() {
        assert!(matches!(
            refusal("LimitExceeded.PhoneNumberThirtySecondLimit", "30秒内"),
            SendError::Throttled { .. }
        ));
        assert!(matches!(
            refusal("RequestLimitExceeded", "请求的次数超过了频率限制"),
            SendError::Throttled { .. }
        ));
        assert!(matches!(
            refusal("InternalError.Timeout", "timeout"),
            SendError::Transient(_)
        ));
        for code in [
            "InvalidParameterValue.IncorrectPhoneNumber",
            "FailedOperation.PhoneNumberInBlacklist",
            "AuthFailure.SignatureFailure",
        ] {
            assert!(
                matches!(refusal(code, "x"), SendError::Permanent(_)),
                "{code}"
            );
        }
    }
}
