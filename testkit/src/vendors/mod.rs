//! Stand-ins for the vendors' real APIs (Aliyun and Tencent Cloud SMS, Twilio, FCM, APNs, SES,
//! WeChat official-account template messages),
//! each a real server on a random local port. Like its vendor, each one checks the request's
//! signature by recomputing it from the vendor's documented algorithm with a test secret (an
//! implementation of its own, not the worker's, so a mistake in one shows against the other),
//! refuses a wrong one with the vendor's documented error, and answers the vendor's documented
//! success, throttling and invalid-recipient bodies as its [`Mode`] says. Accepted messages are
//! recorded, so tests check deliveries at the vendor.

pub mod aliyun;
pub mod apns;
pub mod callbacks;
pub mod fcm;
pub mod ses;
pub mod tencent;
pub mod twilio;
pub mod wechat;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

/// How a stand-in answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Accept every message.
    Ok,
    /// Answer the vendor's throttling error to the first `n` attempts for each recipient, then
    /// accept.
    Throttle(u32),
    /// Refuse every recipient with the vendor's invalid-number (or invalid-token) error.
    InvalidRecipient,
}

/// A message the stand-in accepted.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// Phone number, device token or e-mail address.
    pub to: String,
    /// The message id the stand-in answered (the provider message id).
    pub id: String,
    /// What the vendor received, in its own field names.
    pub fields: serde_json::Value,
}

#[derive(Default)]
struct Ledger {
    requests: u64,
    bad_signatures: u64,
    attempts: HashMap<String, u32>,
    deliveries: Vec<Delivery>,
    nonces: HashSet<String>,
}

/// What a stand-in decided for one recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Accept,
    Throttle,
    Invalid,
}

/// A stand-in's mode and ledger, shared by its handlers and the test.
#[derive(Clone)]
pub struct Books {
    inner: Arc<Mutex<(Mode, Ledger)>>,
}

impl Books {
    fn new(mode: Mode) -> Self {
        Books {
            inner: Arc::new(Mutex::new((mode, Ledger::default()))),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Mode, &mut Ledger) -> T) -> T {
        let mut guard = self.inner.lock().expect("stand-in lock");
        let (mode, ledger) = &mut *guard;
        f(mode, ledger)
    }

    pub fn set_mode(&self, mode: Mode) {
        self.with(|m, _| *m = mode);
    }

    /// Messages accepted, in order.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.with(|_, l| l.deliveries.clone())
    }

    /// Requests received (signed or not, accepted or not).
    pub fn requests(&self) -> u64 {
        self.with(|_, l| l.requests)
    }

    /// Requests refused because their signature (or credentials) did not verify.
    pub fn bad_signatures(&self) -> u64 {
        self.with(|_, l| l.bad_signatures)
    }

    /// Attempts seen for one recipient.
    pub fn attempts(&self, to: &str) -> u32 {
        self.with(|_, l| l.attempts.get(to).copied().unwrap_or(0))
    }

    pub(crate) fn request(&self) {
        self.with(|_, l| l.requests += 1);
    }

    pub(crate) fn bad_signature(&self) {
        self.with(|_, l| l.bad_signatures += 1);
    }

    /// False when `nonce` was seen before (a replayed request).
    pub(crate) fn fresh_nonce(&self, nonce: &str) -> bool {
        self.with(|_, l| l.nonces.insert(nonce.to_owned()))
    }

    /// Counts an attempt for `to` and decides it by the mode.
    pub(crate) fn verdict(&self, to: &str) -> Verdict {
        self.with(|mode, l| {
            let n = l.attempts.entry(to.to_owned()).or_default();
            *n += 1;
            match *mode {
                Mode::Ok => Verdict::Accept,
                Mode::Throttle(k) if *n <= k => Verdict::Throttle,
                Mode::Throttle(_) => Verdict::Accept,
                Mode::InvalidRecipient => Verdict::Invalid,
            }
        })
    }

    pub(crate) fn deliver(&self, d: Delivery) {
        self.with(|_, l| l.deliveries.push(d));
    }
}

/// A listener on a random local port.
async fn listen() -> (tokio::net::TcpListener, std::net::SocketAddr) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind stand-in");
    let addr = listener.local_addr().expect("stand-in address");
    (listener, addr)
}

// The primitives the vendors' schemes are built from, written here independently of the
// worker's.

pub(crate) fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

pub(crate) fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// RFC 3986 percent-encoding: only `A-Z a-z 0-9 - _ . ~` stay as they are.
pub(crate) fn rfc3986(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Constant-time comparison of a received signature with the expected one.
pub(crate) fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The DER of the first PEM block of `pem`.
pub(crate) fn pem_der(pem: &str) -> Vec<u8> {
    use base64::Engine as _;
    let body: String = pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<Vec<_>>()
        .concat();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .expect("PEM body is base64")
}

/// The headers a request carried, by lower-case name.
pub(crate) fn header<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The claims of a compact JWS whose signature `verify(signing input, signature)` accepts.
pub(crate) fn jwt_claims(
    token: &str,
    verify: impl FnOnce(&[u8], &[u8]) -> bool,
) -> Option<(serde_json::Value, serde_json::Value)> {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut parts = token.split('.');
    let (h, c, s) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let signature = b64.decode(s).ok()?;
    if !verify(format!("{h}.{c}").as_bytes(), &signature) {
        return None;
    }
    let header = serde_json::from_slice(&b64.decode(h).ok()?).ok()?;
    let claims = serde_json::from_slice(&b64.decode(c).ok()?).ok()?;
    Some((header, claims))
}
