//! Aliyun (Alibaba Cloud) SMS: `SendSms` of the `dysmsapi` 2017-05-25 RPC API, signed with the
//! RPC signature version 1.0 (HMAC-SHA1 over the sorted, RFC 3986-encoded parameters, keyed with
//! `AccessKeySecret + "&"`), as documented in "签名机制" (help.aliyun.com/document_detail/28839,
//! whose worked example, `testid`/`testsecret`, is the unit test below) and the SendSms
//! reference (help.aliyun.com/document_detail/55284).
//!
//! Aliyun sends approved templates, not free text: the rendered message (its unsubscribe footer
//! included) is the value of one template variable, `ALIYUN_SMS_TEMPLATE_PARAM` (`content`:
//! a template reading `${content}`), signed with `ALIYUN_SMS_SIGN_NAME`. The record id goes as
//! `OutId`, which Aliyun returns in delivery receipts; SendSms has no idempotency ("不支持幂等"),
//! so a message resent after a worker crash can arrive twice. `BizId` is the provider message id.
//! A refusal comes as `Code` (HTTP 200 for business errors, 4xx/5xx from the gateway).

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;

use super::signing::{hmac_sha1, rfc3986};
use super::{OutboundMessage, Provider, SendError, wire};

/// Settings of `SMS_PROVIDER=aliyun`.
#[derive(Debug, Clone, clap::Args)]
pub struct AliyunSettings {
    /// Aliyun AccessKey ID (SMS_PROVIDER=aliyun).
    #[arg(long, env = "ALIYUN_ACCESS_KEY_ID")]
    pub aliyun_access_key_id: Option<String>,
    /// Aliyun AccessKey secret.
    #[arg(long, env = "ALIYUN_ACCESS_KEY_SECRET", hide_env_values = true)]
    pub aliyun_access_key_secret: Option<String>,
    /// Approved SMS signature (签名) the messages are sent under.
    #[arg(long, env = "ALIYUN_SMS_SIGN_NAME")]
    pub aliyun_sms_sign_name: Option<String>,
    /// Approved template code (SMS_…) whose one variable carries the rendered message.
    #[arg(long, env = "ALIYUN_SMS_TEMPLATE_CODE")]
    pub aliyun_sms_template_code: Option<String>,
    /// Name of that template variable (`${content}` in the template).
    #[arg(long, env = "ALIYUN_SMS_TEMPLATE_PARAM", default_value = "content")]
    pub aliyun_sms_template_param: String,
    /// RegionId sent with each call.
    #[arg(long, env = "ALIYUN_REGION_ID", default_value = "cn-hangzhou")]
    pub aliyun_region_id: String,
    /// SMS API endpoint.
    #[arg(
        long,
        env = "ALIYUN_SMS_ENDPOINT",
        default_value = "https://dysmsapi.aliyuncs.com"
    )]
    pub aliyun_sms_endpoint: String,
}

impl AliyunSettings {
    pub fn redacted(&self) -> String {
        format!(
            "aliyun_sms_endpoint={} aliyun_access_key_id={} aliyun_access_key_secret={} \
             aliyun_sms_sign_name={} aliyun_sms_template_code={} aliyun_sms_template_param={}",
            self.aliyun_sms_endpoint,
            self.aliyun_access_key_id.as_deref().unwrap_or("<unset>"),
            if self.aliyun_access_key_secret.is_some() {
                "<set>"
            } else {
                "<unset>"
            },
            self.aliyun_sms_sign_name.as_deref().unwrap_or("<unset>"),
            self.aliyun_sms_template_code
                .as_deref()
                .unwrap_or("<unset>"),
            self.aliyun_sms_template_param,
        )
    }
}

pub struct AliyunSms {
    client: reqwest::Client,
    endpoint: reqwest::Url,
    access_key_id: String,
    secret: String,
    sign_name: String,
    template_code: String,
    template_param: String,
    region_id: String,
}

impl AliyunSms {
    pub fn new(s: &AliyunSettings, timeout: Duration) -> anyhow::Result<Self> {
        let need = |v: &Option<String>, name: &str| {
            v.clone()
                .ok_or_else(|| anyhow::anyhow!("{name} is required with SMS_PROVIDER=aliyun"))
        };
        Ok(AliyunSms {
            client: wire::client(timeout)?,
            endpoint: wire::base_url(&s.aliyun_sms_endpoint, "ALIYUN_SMS_ENDPOINT")?,
            access_key_id: need(&s.aliyun_access_key_id, "ALIYUN_ACCESS_KEY_ID")?,
            secret: need(&s.aliyun_access_key_secret, "ALIYUN_ACCESS_KEY_SECRET")?,
            sign_name: need(&s.aliyun_sms_sign_name, "ALIYUN_SMS_SIGN_NAME")?,
            template_code: need(&s.aliyun_sms_template_code, "ALIYUN_SMS_TEMPLATE_CODE")?,
            template_param: s.aliyun_sms_template_param.clone(),
            region_id: s.aliyun_region_id.clone(),
        })
    }
}

/// `name=value&…` sorted by name, both RFC 3986-encoded: the canonicalized query string.
fn canonical_query(params: &BTreeMap<&str, String>) -> String {
    params
        .iter()
        .map(|(k, v)| format!("{}={}", rfc3986(k), rfc3986(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// `METHOD&%2F&percentEncode(canonicalized query)`.
pub fn string_to_sign(method: &str, params: &BTreeMap<&str, String>) -> String {
    format!(
        "{method}&{}&{}",
        rfc3986("/"),
        rfc3986(&canonical_query(params))
    )
}

/// `Base64(HMAC-SHA1(secret + "&", string to sign))`.
pub fn signature(method: &str, params: &BTreeMap<&str, String>, secret: &str) -> String {
    let key = format!("{secret}&");
    STANDARD.encode(hmac_sha1(
        key.as_bytes(),
        string_to_sign(method, params).as_bytes(),
    ))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Reply {
    code: Option<String>,
    message: Option<String>,
    biz_id: Option<String>,
}

/// Which refusals are worth retrying: flow control and Aliyun's own failures; everything else
/// (an illegal number, a template or signature not approved, no balance) is permanent.
fn refusal(code: &str, message: &str, status: u16) -> SendError {
    let reason = format!("{code}: {message}");
    if code == "isv.BUSINESS_LIMIT_CONTROL" || code.starts_with("Throttling") {
        SendError::Throttled {
            reason,
            retry_after: None,
        }
    } else if matches!(
        code,
        "isp.SYSTEM_ERROR" | "ServiceUnavailable" | "InternalError" | "SignatureNonceUsed"
    ) || status >= 500
    {
        SendError::Transient(reason)
    } else {
        SendError::Permanent(reason)
    }
}

#[async_trait::async_trait]
impl Provider for AliyunSms {
    fn name(&self) -> &'static str {
        "aliyun"
    }

    async fn send(&self, m: &OutboundMessage) -> Result<Option<String>, SendError> {
        let mut vars = serde_json::Map::new();
        vars.insert(self.template_param.clone(), m.body.clone().into());
        let template_param = serde_json::Value::Object(vars).to_string();
        let params: BTreeMap<&str, String> = [
            ("AccessKeyId", self.access_key_id.clone()),
            ("Action", "SendSms".into()),
            ("Format", "JSON".into()),
            ("OutId", m.record_id.to_string()),
            // Aliyun takes numbers with a country code and no `+` (86… in the Chinese mainland).
            ("PhoneNumbers", m.to.trim_start_matches('+').to_owned()),
            ("RegionId", self.region_id.clone()),
            ("SignName", self.sign_name.clone()),
            ("SignatureMethod", "HMAC-SHA1".into()),
            ("SignatureNonce", uuid::Uuid::new_v4().to_string()),
            ("SignatureVersion", "1.0".into()),
            ("TemplateCode", self.template_code.clone()),
            ("TemplateParam", template_param),
            (
                "Timestamp",
                chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            ),
            ("Version", "2017-05-25".into()),
        ]
        .into_iter()
        .collect();
        let body = format!(
            "{}&Signature={}",
            canonical_query(&params),
            rfc3986(&signature("POST", &params, &self.secret))
        );
        let resp = self
            .client
            .post(self.endpoint.clone())
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .map_err(|e| wire::unreachable("Aliyun", e))?;
        let status = resp.status().as_u16();
        let text = wire::body("Aliyun", resp).await?;
        match serde_json::from_str::<Reply>(&text) {
            Ok(Reply {
                code: Some(code),
                biz_id,
                ..
            }) if code == "OK" && (200..300).contains(&status) => Ok(biz_id),
            Ok(Reply {
                code: Some(code),
                message,
                ..
            }) => Err(refusal(&code, message.as_deref().unwrap_or(""), status)),
            _ if status >= 500 => Err(SendError::Transient(format!(
                "Aliyun answered {status}: {}",
                wire::excerpt(&text)
            ))),
            _ => Err(SendError::Permanent(format!(
                "Aliyun answered {status} without a Code: {}",
                wire::excerpt(&text)
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked example of Aliyun's "签名机制": DescribeRegions signed with `testsecret`.
    fn documented(timestamp_name: &'static str) -> BTreeMap<&'static str, String> {
        [
            (timestamp_name, "2016-02-23T12:46:24Z"),
            ("Format", "XML"),
            ("AccessKeyId", "testid"),
            ("Action", "DescribeRegions"),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureNonce", "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf"),
            ("Version", "2014-05-26"),
            ("SignatureVersion", "1.0"),
        ]
        .into_iter()
        .map(|(k, v)| (k, v.to_owned()))
        .collect()
    }

    #[test]
    fn signs_the_documented_example() {
        let params = documented("TimeStamp");
        assert_eq!(
            string_to_sign("GET", &params),
            "GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions%26Format%3DXML\
             %26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf\
             %26SignatureVersion%3D1.0%26TimeStamp%3D2016-02-23T12%253A46%253A24Z\
             %26Version%3D2014-05-26"
        );
        assert_eq!(
            signature("GET", &params, "testsecret"),
            "CT9X0VtwR86fNWSnsc6v8YGOjuE="
        );
        // The same example as the English pages spell the parameter.
        assert_eq!(
            signature("GET", &documented("Timestamp"), "testsecret"),
            "OLeaidS1JvxuMvnyHOwuJ+uX5qY="
        );
    }

    #[test]
    fn flow_control_is_retried_and_an_illegal_number_is_not() {
        assert!(matches!(
            refusal("isv.BUSINESS_LIMIT_CONTROL", "触发分钟级流控Permits:1", 200),
            SendError::Throttled { .. }
        ));
        assert!(matches!(
            refusal(
                "Throttling.User",
                "Request was denied due to user flow control.",
                400
            ),
            SendError::Throttled { .. }
        ));
        assert!(matches!(
            refusal("isp.SYSTEM_ERROR", "系统错误", 200),
            SendError::Transient(_)
        ));
        match refusal("isv.MOBILE_NUMBER_ILLEGAL", "非法手机号", 200) {
            SendError::Permanent(m) => assert_eq!(m, "isv.MOBILE_NUMBER_ILLEGAL: 非法手机号"),
            other => panic!("{other:?}"),
        }
    }
}
