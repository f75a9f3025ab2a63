//! Twilio's Messages API: `POST /2010-04-01/Accounts/{AccountSid}/Messages.json`, HTTP Basic
//! with the Account SID and auth token (Twilio's only request authentication), a form with
//! `To`, `From`/`MessagingServiceSid` and `Body`. Answers 201 with the Message resource
//! (`sid` SM…, `status` queued), 429 `{"code": 20429}` when throttling, 400 `{"code": 21211}`
//! for an invalid `To`, 401 `{"code": 20003}` for wrong credentials.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use base64::Engine as _;
use serde_json::{Value, json};

use super::{Books, Delivery, Mode, Verdict, header, same};

#[derive(Clone)]
pub struct TwilioStandIn {
    pub addr: std::net::SocketAddr,
    pub account_sid: String,
    pub auth_token: String,
    pub from: String,
    pub books: Books,
}

impl TwilioStandIn {
    pub async fn start(mode: Mode) -> Self {
        let (listener, addr) = super::listen().await;
        let stand_in = TwilioStandIn {
            addr,
            account_sid: "AC0123456789abcdef0123456789abcdef".into(),
            auth_token: "twilio-test-token".into(),
            from: "+15005550006".into(),
            books: Books::new(mode),
        };
        let app = axum::Router::new()
            .route("/2010-04-01/Accounts/{sid}/Messages.json", post(create))
            .with_state(stand_in.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        stand_in
    }

    pub fn api_base(&self) -> String {
        format!("http://{}", self.addr)
    }
}

fn error(status: StatusCode, code: u32, message: String) -> (StatusCode, axum::Json<Value>) {
    (
        status,
        axum::Json(json!({"code": code, "message": message,
            "more_info": format!("https://www.twilio.com/docs/errors/{code}"), "status": status.as_u16()})),
    )
}

async fn create(
    State(s): State<TwilioStandIn>,
    Path(sid): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, axum::Json<Value>) {
    s.books.request();
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", s.account_sid, s.auth_token))
    );
    if sid != s.account_sid || !same(header(&headers, "authorization").unwrap_or(""), &expected) {
        s.books.bad_signature();
        return error(StatusCode::UNAUTHORIZED, 20003, "Authenticate".into());
    }
    let form: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(&body).into_owned().collect();
    let (Some(to), Some(text)) = (form.get("To"), form.get("Body")) else {
        return error(
            StatusCode::BAD_REQUEST,
            21604,
            "A 'To' phone number and a 'Body' are required.".into(),
        );
    };
    let from = form
        .get("From")
        .or(form.get("MessagingServiceSid"))
        .cloned()
        .unwrap_or_default();
    if from.is_empty() {
        return error(
            StatusCode::BAD_REQUEST,
            21603,
            "A 'From' or 'MessagingServiceSid' parameter is required to send a message".into(),
        );
    }
    match s.books.verdict(to) {
        Verdict::Throttle => error(
            StatusCode::TOO_MANY_REQUESTS,
            20429,
            "Too Many Requests".into(),
        ),
        Verdict::Invalid => error(
            StatusCode::BAD_REQUEST,
            21211,
            format!("The 'To' number {to} is not a valid phone number."),
        ),
        Verdict::Accept => {
            let message_sid = format!("SM{}", uuid::Uuid::new_v4().simple());
            s.books.deliver(Delivery {
                to: to.to_owned(),
                id: message_sid.clone(),
                fields: json!({"From": from, "Body": text}),
            });
            (
                StatusCode::CREATED,
                axum::Json(json!({
                    "account_sid": s.account_sid, "api_version": "2010-04-01", "body": text,
                    "direction": "outbound-api", "error_code": null, "error_message": null,
                    "from": from, "num_segments": "1", "sid": message_sid, "status": "queued",
                    "to": to,
                    "uri": format!("/2010-04-01/Accounts/{}/Messages/{message_sid}.json", s.account_sid),
                })),
            )
        }
    }
}
