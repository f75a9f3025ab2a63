//! Aliyun SMS `SendSms` (dysmsapi 2017-05-25, RPC style): the parameters come as a form body (or
//! query); the signature is recomputed as "签名机制" documents it (HMAC-SHA1 keyed with
//! `secret&` over `METHOD&%2F&percentEncode(sorted, encoded parameters)`, Base64), the nonce
//! must be new and the timestamp recent. Answers: `{"Code":"OK","BizId",…}`, and for refusals
//! HTTP 200 with `isv.BUSINESS_LIMIT_CONTROL` (throttling) or `isv.MOBILE_NUMBER_ILLEGAL`, and
//! the gateway's HTTP 400 `SignatureDoesNotMatch` for a wrong signature.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{Method, StatusCode};
use axum::routing::any;
use base64::Engine as _;
use serde_json::{Value, json};

use super::{Books, Delivery, Mode, Verdict, rfc3986, same};

#[derive(Clone)]
pub struct AliyunStandIn {
    pub addr: std::net::SocketAddr,
    pub access_key_id: String,
    pub access_key_secret: String,
    pub books: Books,
    /// Where accepted messages' delivery reports are pushed, as Aliyun's console configures it.
    report_url: std::sync::Arc<std::sync::Mutex<Option<String>>>,
}

impl AliyunStandIn {
    pub async fn start(mode: Mode) -> Self {
        let (listener, addr) = super::listen().await;
        let stand_in = AliyunStandIn {
            addr,
            access_key_id: "LTAI-stand-in".into(),
            access_key_secret: "aliyun-test-secret".into(),
            books: Books::new(mode),
            report_url: Default::default(),
        };
        let app = axum::Router::new()
            .route("/", any(send_sms))
            .with_state(stand_in.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        stand_in
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// Pushes an `SmsReport` (delivered) to `url` for each message accepted from now on, as
    /// Aliyun's HTTP batch push does (`[{"biz_id", "success": true, "err_code": "DELIVERED",
    /// …}]`, retried until answered `{"code": 0}`).
    pub fn push_reports_to(&self, url: &str) {
        *self.report_url.lock().expect("stand-in lock") = Some(url.to_owned());
    }
}

/// Pushes one delivery report, trying again (a few times) until campaign-svc answers code 0.
async fn push_report(url: String, report: Value) {
    let client = crate::http_client();
    for _ in 0..20 {
        let answer = client.post(&url).json(&json!([report])).send().await;
        if let Ok(r) = answer
            && r.json::<Value>().await.is_ok_and(|v| v["code"] == 0)
        {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
}

fn request_id() -> String {
    uuid::Uuid::new_v4().to_string().to_uppercase()
}

fn answer(status: StatusCode, body: Value) -> (StatusCode, axum::Json<Value>) {
    (status, axum::Json(body))
}

/// `Base64(HMAC-SHA1(secret&, METHOD&%2F&enc(k=v&…)))` over every parameter but `Signature`.
fn expected_signature(method: &str, params: &BTreeMap<String, String>, secret: &str) -> String {
    use hmac::{Hmac, KeyInit, Mac};
    let canonical = params
        .iter()
        .filter(|(k, _)| k.as_str() != "Signature")
        .map(|(k, v)| format!("{}={}", rfc3986(k), rfc3986(v)))
        .collect::<Vec<_>>()
        .join("&");
    let to_sign = format!("{method}&{}&{}", rfc3986("/"), rfc3986(&canonical));
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(format!("{secret}&").as_bytes())
        .expect("HMAC takes keys of any length");
    mac.update(to_sign.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

async fn send_sms(
    State(s): State<AliyunStandIn>,
    method: Method,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> (StatusCode, axum::Json<Value>) {
    s.books.request();
    let mut params: BTreeMap<String, String> = BTreeMap::new();
    for source in [query.unwrap_or_default().as_bytes(), &body[..]] {
        params.extend(url::form_urlencoded::parse(source).into_owned());
    }
    let get = |k: &str| params.get(k).cloned().unwrap_or_default();
    let expected = expected_signature(method.as_str(), &params, &s.access_key_secret);
    if get("AccessKeyId") != s.access_key_id {
        s.books.bad_signature();
        return answer(
            StatusCode::NOT_FOUND,
            json!({"RequestId": request_id(), "HostId": "dysmsapi.aliyuncs.com",
                   "Code": "InvalidAccessKeyId.NotFound", "Message": "Specified access key is not found."}),
        );
    }
    if get("SignatureMethod") != "HMAC-SHA1"
        || get("SignatureVersion") != "1.0"
        || !same(&get("Signature"), &expected)
    {
        s.books.bad_signature();
        return answer(
            StatusCode::BAD_REQUEST,
            json!({"RequestId": request_id(), "HostId": "dysmsapi.aliyuncs.com",
                   "Code": "SignatureDoesNotMatch",
                   "Message": "Specified signature is not matched with our calculation.",
                   "Recommend": "https://api.aliyun.com/troubleshoot?q=SignatureDoesNotMatch"}),
        );
    }
    let fresh = chrono::DateTime::parse_from_rfc3339(&get("Timestamp"))
        .is_ok_and(|t| (chrono::Utc::now() - t.to_utc()).num_minutes().abs() <= 15);
    if !fresh {
        return answer(
            StatusCode::BAD_REQUEST,
            json!({"RequestId": request_id(), "Code": "InvalidTimeStamp.Expired",
                   "Message": "Specified time stamp or date value is expired."}),
        );
    }
    if !s.books.fresh_nonce(&get("SignatureNonce")) {
        return answer(
            StatusCode::BAD_REQUEST,
            json!({"RequestId": request_id(), "Code": "SignatureNonceUsed",
                   "Message": "Specified signature nonce was used already."}),
        );
    }
    let template_param: Option<Value> = serde_json::from_str(&get("TemplateParam")).ok();
    if get("Action") != "SendSms"
        || get("Version") != "2017-05-25"
        || get("SignName").is_empty()
        || get("TemplateCode").is_empty()
        || get("PhoneNumbers").is_empty()
        || !template_param
            .as_ref()
            .and_then(Value::as_object)
            .is_some_and(|o| o.values().all(Value::is_string))
    {
        return answer(
            StatusCode::OK,
            json!({"RequestId": request_id(), "Code": "isv.INVALID_PARAMETERS", "Message": "参数异常"}),
        );
    }
    let to = get("PhoneNumbers");
    match s.books.verdict(&to) {
        Verdict::Throttle => answer(
            StatusCode::OK,
            json!({"RequestId": request_id(), "Code": "isv.BUSINESS_LIMIT_CONTROL",
                   "Message": "触发分钟级流控Permits:1"}),
        ),
        Verdict::Invalid => answer(
            StatusCode::OK,
            json!({"RequestId": request_id(), "Code": "isv.MOBILE_NUMBER_ILLEGAL", "Message": "非法手机号"}),
        ),
        Verdict::Accept => {
            // Unique per message (a count of requests could repeat under concurrency).
            let biz_id = format!("{}^0", uuid::Uuid::new_v4().as_u64_pair().0 >> 4);
            s.books.deliver(Delivery {
                to,
                id: biz_id.clone(),
                fields: json!({
                    "SignName": get("SignName"),
                    "TemplateCode": get("TemplateCode"),
                    "TemplateParam": template_param,
                    "OutId": get("OutId"),
                }),
            });
            let report_url = s.report_url.lock().expect("stand-in lock").clone();
            if let Some(url) = report_url {
                let now = chrono::Utc::now() + chrono::Duration::hours(8);
                let report = json!({
                    "phone_number": get("PhoneNumbers"), "send_time": now.format("%Y-%m-%d %H:%M:%S").to_string(),
                    "report_time": now.format("%Y-%m-%d %H:%M:%S").to_string(), "success": true,
                    "err_code": "DELIVERED", "err_msg": "用户接收成功", "sms_size": "1",
                    "biz_id": biz_id, "out_id": get("OutId"),
                });
                // After answering: the worker stores the BizId once it has the answer, and the
                // report may arrive before that (it is then pushed again).
                tokio::spawn(push_report(url, report));
            }
            answer(
                StatusCode::OK,
                json!({"RequestId": request_id(), "Code": "OK", "Message": "OK", "BizId": biz_id}),
            )
        }
    }
}
