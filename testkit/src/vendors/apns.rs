//! APNs, token-based, over HTTP/2 with TLS: the stand-in holds a certificate for `localhost`
//! signed by a CA of its own (generated with rcgen at start, written to a file the worker is told
//! to trust with APNS_CA_CERT) and speaks only HTTP/2 (ALPN `h2`). `POST /3/device/{token}`
//! verifies the `authorization: bearer` ES256 provider token with the test key's public key
//! (`alg` ES256, `kid`, `iss` = team, `iat` within the hour: `403 ExpiredProviderToken` after),
//! and the `apns-topic`, `apns-push-type`, `apns-id` (a UUID) and `apns-collapse-id` (≤ 64
//! bytes) headers, as "Sending notification requests to APNs" specifies. Answers 200 with the
//! `apns-id`, `429 {"reason":"TooManyRequests"}`, `400 {"reason":"BadDeviceToken"}`,
//! `403 {"reason":"InvalidProviderToken"}`.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Version};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine as _;
use hyper_util::rt::{TokioExecutor, TokioIo};
use ring::rand::SystemRandom;
use ring::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _,
    UnparsedPublicKey,
};
use serde_json::{Value, json};

use super::{Books, Delivery, Mode, Verdict, header};

/// A file deleted when the last stand-in handle goes.
struct TempFile(std::path::PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[derive(Clone)]
pub struct ApnsStandIn {
    pub addr: std::net::SocketAddr,
    pub key_id: String,
    pub team_id: String,
    pub topic: String,
    /// The ES256 auth key, PEM (PKCS #8) like Apple's .p8 files.
    pub key_pem: String,
    pub books: Books,
    ca: Arc<TempFile>,
    public_key: Arc<Vec<u8>>,
    provider_tokens: Arc<Mutex<HashSet<String>>>,
}

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).expect("base64 is ASCII"))
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

/// A CA and a certificate it signed for `localhost` and 127.0.0.1: (CA PEM, cert DER, key DER).
fn certificates() -> (String, Vec<u8>, Vec<u8>) {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "APNs stand-in test CA");
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("a CA key"))
        .expect("the CA certificate");
    let leaf_key = KeyPair::generate().expect("a server key");
    let leaf = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
        .expect("server parameters")
        .signed_by(&leaf_key, &ca)
        .expect("the server certificate");
    (ca.pem(), leaf.der().to_vec(), leaf_key.serialize_der())
}

/// A fresh ES256 key in PEM that the stand-in does not know (its tokens are refused).
pub fn other_key_pem() -> String {
    let pkcs8 =
        EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
            .expect("an ES256 key");
    pem("PRIVATE KEY", pkcs8.as_ref())
}

impl ApnsStandIn {
    pub async fn start(mode: Mode) -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let (listener, addr) = super::listen().await;
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .expect("an ES256 key");
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .expect("the ES256 key parses");
        let (ca_pem, cert, cert_key) = certificates();
        let ca_path =
            std::env::temp_dir().join(format!("apns-stand-in-ca-{}.pem", uuid::Uuid::new_v4()));
        std::fs::write(&ca_path, ca_pem).expect("write the stand-in CA");
        let stand_in = ApnsStandIn {
            addr,
            key_id: "ABC123DEFG".into(),
            team_id: "DEF123GHIJ".into(),
            topic: "com.example.marketing".into(),
            key_pem: pem("PRIVATE KEY", pkcs8.as_ref()),
            books: Books::new(mode),
            ca: Arc::new(TempFile(ca_path)),
            public_key: Arc::new(key.public_key().as_ref().to_vec()),
            provider_tokens: Default::default(),
        };
        let mut tls = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.into()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(cert_key.into()),
        )
        .expect("the server certificate and key");
        tls.alpn_protocols = vec![b"h2".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
        let app = axum::Router::new()
            .route("/3/device/{token}", post(push))
            .with_state(stand_in.clone());
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, app) = (acceptor.clone(), app.clone());
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .http2_only()
                        .serve_connection(
                            TokioIo::new(tls),
                            hyper_util::service::TowerToHyperService::new(app),
                        )
                        .await;
                });
            }
        });
        stand_in
    }

    /// `https://localhost:<port>`: the name the certificate is for.
    pub fn endpoint(&self) -> String {
        format!("https://localhost:{}", self.addr.port())
    }

    /// The PEM file of the CA that signed the stand-in's certificate (for APNS_CA_CERT).
    pub fn ca_cert_path(&self) -> String {
        self.ca.0.to_string_lossy().into_owned()
    }

    /// Distinct provider tokens seen (one per 50 minutes from a worker that caches them).
    pub fn provider_tokens_seen(&self) -> usize {
        self.provider_tokens.lock().expect("stand-in lock").len()
    }
}

fn refuse(status: StatusCode, reason: &str) -> Response {
    (status, axum::Json(json!({ "reason": reason }))).into_response()
}

async fn push(
    State(s): State<ApnsStandIn>,
    Path(device): Path<String>,
    version: Version,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    s.books.request();
    if version != Version::HTTP_2 {
        return refuse(StatusCode::BAD_REQUEST, "BadPath");
    }
    let Some(token) = header(&headers, "authorization").and_then(|h| h.strip_prefix("bearer "))
    else {
        s.books.bad_signature();
        return refuse(StatusCode::FORBIDDEN, "MissingProviderToken");
    };
    let public = UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, s.public_key.as_slice());
    let verified = super::jwt_claims(token, |input, sig| public.verify(input, sig).is_ok());
    let Some((head, claims)) = verified.filter(|(h, c)| {
        h["alg"] == "ES256" && h["kid"] == s.key_id.as_str() && c["iss"] == s.team_id.as_str()
    }) else {
        s.books.bad_signature();
        return refuse(StatusCode::FORBIDDEN, "InvalidProviderToken");
    };
    let _ = head;
    let age = chrono::Utc::now().timestamp() - claims["iat"].as_i64().unwrap_or(0);
    if !(-60..3600).contains(&age) {
        return refuse(StatusCode::FORBIDDEN, "ExpiredProviderToken");
    }
    s.provider_tokens
        .lock()
        .expect("stand-in lock")
        .insert(token.to_owned());
    if header(&headers, "apns-topic") != Some(s.topic.as_str()) {
        return refuse(StatusCode::BAD_REQUEST, "DeviceTokenNotForTopic");
    }
    if header(&headers, "apns-push-type") != Some("alert") {
        return refuse(StatusCode::BAD_REQUEST, "InvalidPushType");
    }
    let apns_id = match header(&headers, "apns-id") {
        Some(id) if uuid::Uuid::parse_str(id).is_ok() => id.to_owned(),
        Some(_) => return refuse(StatusCode::BAD_REQUEST, "BadMessageId"),
        None => uuid::Uuid::new_v4().to_string(),
    };
    let collapse_id = header(&headers, "apns-collapse-id").map(str::to_owned);
    if collapse_id.as_ref().is_some_and(|c| c.len() > 64) {
        return refuse(StatusCode::BAD_REQUEST, "BadCollapseId");
    }
    let payload: Value = serde_json::from_slice(&body).unwrap_or_default();
    if !payload["aps"].is_object() {
        return refuse(StatusCode::BAD_REQUEST, "PayloadEmpty");
    }
    match s.books.verdict(&device) {
        Verdict::Throttle => refuse(StatusCode::TOO_MANY_REQUESTS, "TooManyRequests"),
        Verdict::Invalid => refuse(StatusCode::BAD_REQUEST, "BadDeviceToken"),
        Verdict::Accept => {
            s.books.deliver(Delivery {
                to: device,
                id: apns_id.clone(),
                fields: json!({ "payload": payload, "apns-collapse-id": collapse_id }),
            });
            (StatusCode::OK, [("apns-id", apns_id)]).into_response()
        }
    }
}
