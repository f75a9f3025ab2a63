//! Amazon SES API v2 `SendEmail` (`POST /v2/email/outbound-emails`): the SigV4 `Authorization`
//! is recomputed as AWS documents it (canonical request over the signed headers as received,
//! scope `<date>/<region>/ses/aws4_request`, key `AWS4+secret → date → region → service →
//! aws4_request`), `x-amz-date` within 15 minutes. Refusals name themselves in
//! `x-amzn-ErrorType` with a JSON `message`: `403 InvalidSignatureException`,
//! `429 TooManyRequestsException`, `400 MessageRejected`; success is `{"MessageId"}`.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

use super::{Books, Delivery, Mode, Verdict, header, hex, hmac_sha256, same, sha256_hex};

const PATH: &str = "/v2/email/outbound-emails";

#[derive(Clone)]
pub struct SesStandIn {
    pub addr: std::net::SocketAddr,
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    pub books: Books,
}

impl SesStandIn {
    pub async fn start(mode: Mode) -> Self {
        let (listener, addr) = super::listen().await;
        let stand_in = SesStandIn {
            addr,
            region: "eu-west-1".into(),
            access_key_id: "AKIASTANDIN000000001".into(),
            secret_access_key: "ses-test-secret-access-key".into(),
            books: Books::new(mode),
        };
        let app = axum::Router::new()
            .route(PATH, post(send_email))
            .with_state(stand_in.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        stand_in
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }
}

fn refuse(status: StatusCode, kind: &str, message: &str) -> Response {
    (
        status,
        [
            (
                "x-amzn-ErrorType",
                format!("{kind}:http://internal.amazon.com/coral/com.amazonaws.sesv2/"),
            ),
            ("x-amzn-RequestId", uuid::Uuid::new_v4().to_string()),
        ],
        axum::Json(json!({ "message": message })),
    )
        .into_response()
}

/// Checks the SigV4 signature of a POST to [`PATH`] with no query.
fn verify(
    s: &SesStandIn,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), (&'static str, &'static str)> {
    const MISMATCH: (&str, &str) = (
        "InvalidSignatureException",
        "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
    );
    let auth = header(headers, "authorization").ok_or((
        "MissingAuthenticationTokenException",
        "Missing Authentication Token",
    ))?;
    let rest = auth.strip_prefix("AWS4-HMAC-SHA256 ").ok_or(MISMATCH)?;
    let (mut credential, mut signed, mut signature) = ("", "", "");
    for part in rest.split(", ") {
        match part.split_once('=') {
            Some(("Credential", v)) => credential = v,
            Some(("SignedHeaders", v)) => signed = v,
            Some(("Signature", v)) => signature = v,
            _ => return Err(MISMATCH),
        }
    }
    let scope: Vec<&str> = credential.split('/').collect();
    if scope.len() != 5 || scope[0] != s.access_key_id {
        return Err((
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        ));
    }
    let amz_date = header(headers, "x-amz-date").ok_or(MISMATCH)?;
    let at =
        chrono::NaiveDateTime::parse_from_str(amz_date, "%Y%m%dT%H%M%SZ").map_err(|_| MISMATCH)?;
    if (chrono::Utc::now().naive_utc() - at).num_minutes().abs() > 15 {
        return Err(("InvalidSignatureException", "Signature expired."));
    }
    let names: Vec<&str> = signed.split(';').collect();
    if scope[1] != &amz_date[..8]
        || scope[2] != s.region
        || scope[3] != "ses"
        || scope[4] != "aws4_request"
        || !names.contains(&"host")
        || !names.contains(&"x-amz-date")
    {
        return Err(MISMATCH);
    }
    let canonical_headers: String = names
        .iter()
        .map(|n| {
            let v = header(headers, n).unwrap_or("");
            format!(
                "{n}:{}\n",
                v.split_whitespace().collect::<Vec<_>>().join(" ")
            )
        })
        .collect();
    let canonical = format!(
        "POST\n{PATH}\n\n{canonical_headers}\n{signed}\n{}",
        sha256_hex(body)
    );
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{}\n{}",
        scope[1..].join("/"),
        sha256_hex(canonical.as_bytes())
    );
    let mut key = format!("AWS4{}", s.secret_access_key).into_bytes();
    for part in &scope[1..] {
        key = hmac_sha256(&key, part.as_bytes());
    }
    if same(signature, &hex(&hmac_sha256(&key, to_sign.as_bytes()))) {
        Ok(())
    } else {
        Err(MISMATCH)
    }
}

async fn send_email(State(s): State<SesStandIn>, headers: HeaderMap, body: Bytes) -> Response {
    s.books.request();
    if let Err((kind, message)) = verify(&s, &headers, &body) {
        s.books.bad_signature();
        return refuse(StatusCode::FORBIDDEN, kind, message);
    }
    let req: Value = serde_json::from_slice(&body).unwrap_or_default();
    let to = req["Destination"]["ToAddresses"][0]
        .as_str()
        .unwrap_or("")
        .to_owned();
    if to.is_empty()
        || !req["FromEmailAddress"].is_string()
        || !req["Content"]["Simple"].is_object()
    {
        return refuse(
            StatusCode::BAD_REQUEST,
            "BadRequestException",
            "Missing required parameter.",
        );
    }
    match s.books.verdict(&to) {
        Verdict::Throttle => refuse(
            StatusCode::TOO_MANY_REQUESTS,
            "TooManyRequestsException",
            "Maximum sending rate exceeded.",
        ),
        Verdict::Invalid => refuse(
            StatusCode::BAD_REQUEST,
            "MessageRejected",
            &format!(
                "Email address is not verified. The following identities failed the check in region {}: {to}",
                s.region.to_uppercase()
            ),
        ),
        Verdict::Accept => {
            let id = format!("0100018c{}-000000", uuid::Uuid::new_v4().simple());
            s.books.deliver(Delivery {
                to,
                id: id.clone(),
                fields: req,
            });
            axum::Json(json!({ "MessageId": id })).into_response()
        }
    }
}
