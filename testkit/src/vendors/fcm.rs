//! FCM HTTP v1 and the Google OAuth 2.0 token endpoint it needs. `POST /token` takes the
//! `jwt-bearer` grant and verifies the RS256 assertion with the test service account's public
//! key (`kid`, `iss`, `aud`, `scope`, an hour at most), answering `{"access_token",
//! "expires_in", "token_type"}` or `400 invalid_grant`. `POST /v1/projects/{p}/messages:send`
//! wants a bearer token it issued and not expired (else `401 UNAUTHENTICATED`), and answers
//! `{"name": "projects/{p}/messages/…"}`, `429 RESOURCE_EXHAUSTED` with `FcmError`
//! `QUOTA_EXCEEDED` and `Retry-After: 1`, or `404 NOT_FOUND` with `UNREGISTERED`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use ring::signature::{KeyPair as _, RSA_PKCS1_2048_8192_SHA256, RsaKeyPair, UnparsedPublicKey};
use serde_json::{Value, json};

use super::{Books, Delivery, Mode, Verdict, header};

/// A 2048-bit RSA key made for these tests only (PKCS #8, as Google key files hold them).
const TEST_KEY: &str = include_str!("fcm_test_key.pem");
/// Another RSA key made for these tests: a key file holding it signs assertions FCM refuses.
pub const OTHER_KEY: &str = include_str!("other_rsa_key.pem");
const PROJECT: &str = "stand-in-project";
const CLIENT_EMAIL: &str = "marketing@stand-in-project.iam.gserviceaccount.com";
const KEY_ID: &str = "stand-in-key-1";

#[derive(Clone)]
pub struct FcmStandIn {
    pub addr: std::net::SocketAddr,
    pub books: Books,
    public_key: Arc<Vec<u8>>,
    /// Issued access tokens and when they expire.
    tokens: Arc<Mutex<HashMap<String, Instant>>>,
    lifetime: Arc<Mutex<Duration>>,
}

impl FcmStandIn {
    pub async fn start(mode: Mode) -> Self {
        let (listener, addr) = super::listen().await;
        let key = RsaKeyPair::from_pkcs8(&super::pem_der(TEST_KEY)).expect("the test RSA key");
        let stand_in = FcmStandIn {
            addr,
            books: Books::new(mode),
            public_key: Arc::new(key.public_key().as_ref().to_vec()),
            tokens: Default::default(),
            lifetime: Arc::new(Mutex::new(Duration::from_secs(3599))),
        };
        let app = axum::Router::new()
            .route("/token", post(token))
            .route("/v1/projects/{project}/messages:send", post(send))
            .with_state(stand_in.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        stand_in
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The service-account key file for this stand-in (its `token_uri` points here).
    pub fn service_account_json(&self) -> String {
        self.service_account_signed_with(TEST_KEY)
    }

    /// The same key file holding another private key (its assertions do not verify).
    pub fn service_account_signed_with(&self, private_key_pem: &str) -> String {
        json!({
            "type": "service_account",
            "project_id": PROJECT,
            "private_key_id": KEY_ID,
            "private_key": private_key_pem,
            "client_email": CLIENT_EMAIL,
            "client_id": "100000000000000000001",
            "token_uri": format!("http://{}/token", self.addr),
        })
        .to_string()
    }

    /// How long the access tokens issued from now on last (`expires_in`).
    pub fn set_token_lifetime(&self, lifetime: Duration) {
        *self.lifetime.lock().expect("stand-in lock") = lifetime;
    }

    /// Access tokens issued so far.
    pub fn tokens_issued(&self) -> usize {
        self.tokens.lock().expect("stand-in lock").len()
    }
}

fn invalid_grant(description: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({"error": "invalid_grant", "error_description": description})),
    )
        .into_response()
}

async fn token(State(s): State<FcmStandIn>, body: Bytes) -> Response {
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    if form.get("grant_type").map(String::as_str)
        != Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
    {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": "unsupported_grant_type", "error_description": "Invalid grant_type: "})),
        )
            .into_response();
    }
    let public = UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, s.public_key.as_slice());
    let assertion = form.get("assertion").map(String::as_str).unwrap_or("");
    let Some((head, claims)) =
        super::jwt_claims(assertion, |input, sig| public.verify(input, sig).is_ok())
    else {
        s.books.bad_signature();
        return invalid_grant("Invalid JWT Signature.");
    };
    let now = chrono::Utc::now().timestamp();
    let (iat, exp) = (
        claims["iat"].as_i64().unwrap_or(0),
        claims["exp"].as_i64().unwrap_or(0),
    );
    let aud = format!("http://{}/token", s.addr);
    if head["alg"] != "RS256"
        || head["kid"] != KEY_ID
        || claims["iss"] != CLIENT_EMAIL
        || claims["aud"] != aud.as_str()
        || !claims["scope"].as_str().is_some_and(|sc| {
            sc.split(' ')
                .any(|x| x == "https://www.googleapis.com/auth/firebase.messaging")
        })
    {
        return invalid_grant("Invalid JWT: claims do not match the service account.");
    }
    if exp - iat > 3600 || iat > now + 60 || exp < now {
        return invalid_grant(
            "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.",
        );
    }
    let lifetime = *s.lifetime.lock().expect("stand-in lock");
    let access_token = format!("ya29.stand-in-{}", uuid::Uuid::new_v4().simple());
    s.tokens
        .lock()
        .expect("stand-in lock")
        .insert(access_token.clone(), Instant::now() + lifetime);
    axum::Json(
        json!({"access_token": access_token, "expires_in": lifetime.as_secs(),
                      "token_type": "Bearer"}),
    )
    .into_response()
}

fn fcm_error(status: StatusCode, rpc: &str, message: &str, fcm_code: Option<&str>) -> Response {
    let details: Vec<Value> = fcm_code
        .map(|c| json!({"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": c}))
        .into_iter()
        .collect();
    (
        status,
        axum::Json(
            json!({"error": {"code": status.as_u16(), "message": message, "status": rpc,
                                    "details": details}}),
        ),
    )
        .into_response()
}

async fn send(
    State(s): State<FcmStandIn>,
    Path(project): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    s.books.request();
    let bearer = header(&headers, "authorization")
        .and_then(|h| h.strip_prefix("Bearer "))
        .unwrap_or("");
    let valid = s
        .tokens
        .lock()
        .expect("stand-in lock")
        .get(bearer)
        .is_some_and(|expires| Instant::now() < *expires);
    if !valid {
        s.books.bad_signature();
        return fcm_error(
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
            "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.",
            None,
        );
    }
    if project != PROJECT {
        return fcm_error(
            StatusCode::FORBIDDEN,
            "PERMISSION_DENIED",
            "Permission denied.",
            Some("SENDER_ID_MISMATCH"),
        );
    }
    let message = serde_json::from_slice::<Value>(&body).unwrap_or_default()["message"].clone();
    let Some(to) = message["token"].as_str().map(str::to_owned) else {
        return fcm_error(
            StatusCode::BAD_REQUEST,
            "INVALID_ARGUMENT",
            "Recipient of the message is not set.",
            Some("INVALID_ARGUMENT"),
        );
    };
    match s.books.verdict(&to) {
        Verdict::Throttle => {
            let mut r = fcm_error(
                StatusCode::TOO_MANY_REQUESTS,
                "RESOURCE_EXHAUSTED",
                "Quota exceeded for quota metric 'Send requests' of service 'fcm.googleapis.com'.",
                Some("QUOTA_EXCEEDED"),
            );
            r.headers_mut()
                .insert("retry-after", "1".parse().expect("a header value"));
            r
        }
        Verdict::Invalid => fcm_error(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "Requested entity was not found.",
            Some("UNREGISTERED"),
        ),
        Verdict::Accept => {
            let name = format!(
                "projects/{PROJECT}/messages/0:{}",
                uuid::Uuid::new_v4().simple()
            );
            s.books.deliver(Delivery {
                to,
                id: name.clone(),
                fields: message,
            });
            axum::Json(json!({ "name": name })).into_response()
        }
    }
}
