//! Tencent Cloud SMS `SendSms` (API 3.0, version 2021-01-11): the `Authorization` header is
//! recomputed as "签名方法 v3" documents TC3-HMAC-SHA256 (canonical request over the signed
//! headers as received, `HMAC("TC3"+key, date) → service → "tc3_request"`), the timestamp must
//! be within five minutes. Answers with HTTP 200 in the `{"Response": …}` envelope: a
//! `SendStatusSet` entry per number (`Ok`, `LimitExceeded.PhoneNumberThirtySecondLimit`,
//! `InvalidParameterValue.IncorrectPhoneNumber`) or a request-level `Error`
//! (`AuthFailure.SignatureFailure`).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use serde_json::{Value, json};

use super::{Books, Delivery, Mode, Verdict, header, hex, hmac_sha256, same, sha256_hex};

#[derive(Clone)]
pub struct TencentStandIn {
    pub addr: std::net::SocketAddr,
    pub secret_id: String,
    pub secret_key: String,
    pub sdk_app_id: String,
    pub books: Books,
}

impl TencentStandIn {
    pub async fn start(mode: Mode) -> Self {
        let (listener, addr) = super::listen().await;
        let stand_in = TencentStandIn {
            addr,
            secret_id: "AKID-stand-in".into(),
            secret_key: "tencent-test-secret".into(),
            sdk_app_id: "1400006666".into(),
            books: Books::new(mode),
        };
        let app = axum::Router::new()
            .route("/", post(send_sms))
            .with_state(stand_in.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        stand_in
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}/", self.addr)
    }
}

fn error(code: &str, message: &str) -> axum::Json<Value> {
    axum::Json(
        json!({"Response": {"Error": {"Code": code, "Message": message},
                                   "RequestId": uuid::Uuid::new_v4().to_string()}}),
    )
}

/// Checks the TC3-HMAC-SHA256 `Authorization` of a POST to `/`; the error code when it fails.
fn verify(s: &TencentStandIn, headers: &HeaderMap, body: &[u8]) -> Result<(), &'static str> {
    let auth = header(headers, "authorization").ok_or("AuthFailure.InvalidAuthorization")?;
    let rest = auth
        .strip_prefix("TC3-HMAC-SHA256 ")
        .ok_or("AuthFailure.InvalidAuthorization")?;
    let mut credential = "";
    let mut signed_headers = "";
    let mut signature = "";
    for part in rest.split(", ") {
        match part.split_once('=') {
            Some(("Credential", v)) => credential = v,
            Some(("SignedHeaders", v)) => signed_headers = v,
            Some(("Signature", v)) => signature = v,
            _ => return Err("AuthFailure.InvalidAuthorization"),
        }
    }
    let mut scope = credential.split('/');
    let (id, date, service, terminator) = (
        scope.next().unwrap_or(""),
        scope.next().unwrap_or(""),
        scope.next().unwrap_or(""),
        scope.next().unwrap_or(""),
    );
    if id != s.secret_id {
        return Err("AuthFailure.SecretIdNotFound");
    }
    let timestamp: i64 = header(headers, "x-tc-timestamp")
        .and_then(|t| t.parse().ok())
        .ok_or("AuthFailure.InvalidAuthorization")?;
    if (chrono::Utc::now().timestamp() - timestamp).abs() > 300 {
        return Err("AuthFailure.SignatureExpire");
    }
    let day = chrono::DateTime::from_timestamp(timestamp, 0)
        .map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_default();
    if terminator != "tc3_request" || date != day || !signed_headers.contains("content-type") {
        return Err("AuthFailure.SignatureFailure");
    }
    let canonical_headers: String = signed_headers
        .split(';')
        .map(|name| {
            format!(
                "{name}:{}\n",
                header(headers, name)
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase()
            )
        })
        .collect();
    let canonical_request = format!(
        "POST\n/\n\n{canonical_headers}\n{signed_headers}\n{}",
        sha256_hex(body)
    );
    let string_to_sign = format!(
        "TC3-HMAC-SHA256\n{timestamp}\n{date}/{service}/tc3_request\n{}",
        sha256_hex(canonical_request.as_bytes())
    );
    let mut key = hmac_sha256(format!("TC3{}", s.secret_key).as_bytes(), date.as_bytes());
    key = hmac_sha256(&key, service.as_bytes());
    key = hmac_sha256(&key, b"tc3_request");
    if same(
        signature,
        &hex(&hmac_sha256(&key, string_to_sign.as_bytes())),
    ) {
        Ok(())
    } else {
        Err("AuthFailure.SignatureFailure")
    }
}

async fn send_sms(
    State(s): State<TencentStandIn>,
    headers: HeaderMap,
    body: Bytes,
) -> axum::Json<Value> {
    s.books.request();
    if let Err(code) = verify(&s, &headers, &body) {
        s.books.bad_signature();
        return error(
            code,
            "The provided credentials could not be validated. Please check your signature is correct.",
        );
    }
    if header(&headers, "x-tc-action") != Some("SendSms")
        || header(&headers, "x-tc-version") != Some("2021-01-11")
    {
        return error(
            "InvalidAction",
            "The action requested is invalid for this version.",
        );
    }
    let Ok(req) = serde_json::from_slice::<Value>(&body) else {
        return error("FailedOperation.FailResolvePacket", "请求包解析失败");
    };
    if req["SmsSdkAppId"] != s.sdk_app_id.as_str() {
        return error("InvalidParameterValue.SdkAppIdNotExist", "SdkAppId不存在。");
    }
    let Some(numbers) = req["PhoneNumberSet"].as_array() else {
        return error(
            "MissingParameter",
            "The request is missing a required parameter `PhoneNumberSet`.",
        );
    };
    let mut statuses = Vec::new();
    for number in numbers {
        let to = number.as_str().unwrap_or_default().to_owned();
        let status = match s.books.verdict(&to) {
            Verdict::Throttle => json!({"SerialNo": "", "PhoneNumber": to, "Fee": 0,
                "SessionContext": req["SessionContext"], "Code": "LimitExceeded.PhoneNumberThirtySecondLimit",
                "Message": "单个手机号30秒内下发短信条数超过设定的上限，可自行到控制台调整短信频率限制策略。", "IsoCode": "CN"}),
            Verdict::Invalid => json!({"SerialNo": "", "PhoneNumber": to, "Fee": 0,
                "SessionContext": req["SessionContext"], "Code": "InvalidParameterValue.IncorrectPhoneNumber",
                "Message": "手机号格式错误。", "IsoCode": ""}),
            Verdict::Accept => {
                // Unique per message (a count of requests could repeat under concurrency).
                let serial = format!("5000:{}", uuid::Uuid::new_v4().as_u128());
                s.books.deliver(Delivery {
                    to: to.clone(),
                    id: serial.clone(),
                    fields: json!({
                        "SignName": req["SignName"], "TemplateId": req["TemplateId"],
                        "TemplateParamSet": req["TemplateParamSet"], "SessionContext": req["SessionContext"],
                    }),
                });
                json!({"SerialNo": serial, "PhoneNumber": to, "Fee": 1,
                    "SessionContext": req["SessionContext"], "Code": "Ok", "Message": "send success", "IsoCode": "CN"})
            }
        };
        statuses.push(status);
    }
    axum::Json(json!({"Response": {"SendStatusSet": statuses,
                                   "RequestId": uuid::Uuid::new_v4().to_string()}}))
}
