//! Real servers standing in for the channel vendors in tests and benchmarks: an HTTP JSON API
//! like an SMS/push vendor's (honouring `Idempotency-Key`, as such APIs do) and an SMTP server.
//! They count what reached them, so tests check deliveries at the sink.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// How the stand-in vendor answers.
#[derive(Debug, Clone, Copy)]
pub enum VendorMode {
    /// Accept everything.
    Ok,
    /// Answer 503 to the first `n` attempts of each message, then accept.
    FailFirst(u32),
    /// Answer 503 forever.
    AlwaysUnavailable,
    /// Answer 400 (a permanent refusal, e.g. an invalid number).
    Reject,
    /// Accept the first `accepted` messages, then answer 429 with `Retry-After:
    /// retry_after_secs` to every request for `for_ms` milliseconds, then accept again (a
    /// vendor whose rate window overflowed once).
    ThrottleAfter {
        accepted: usize,
        for_ms: u64,
        retry_after_secs: u64,
    },
    /// Take each message (it counts as delivered) and never answer: the caller times out not
    /// knowing the vendor has it.
    Hang,
}

/// One request as the vendor saw it (authorised and keyed).
#[derive(Debug, Clone, Copy)]
pub struct Arrival {
    pub at: std::time::Instant,
    /// The status answered (0 for a request left unanswered).
    pub status: u16,
}

#[derive(Default)]
struct Ledger {
    requests: u64,
    attempts: HashMap<String, u32>,
    /// Accepted messages by idempotency key (a repeat of a key is not a second delivery).
    delivered: HashMap<String, serde_json::Value>,
    duplicates: u64,
    unauthorised: u64,
    arrivals: Vec<Arrival>,
    /// When [`VendorMode::ThrottleAfter`] began throttling.
    throttling_since: Option<std::time::Instant>,
}

/// An HTTP vendor listening on a random local port.
#[derive(Clone)]
pub struct HttpVendor {
    pub addr: SocketAddr,
    pub token: String,
    ledger: Arc<Mutex<Ledger>>,
    mode: Arc<Mutex<VendorMode>>,
}

impl HttpVendor {
    pub async fn start(mode: VendorMode) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind vendor");
        let vendor = HttpVendor {
            addr: listener.local_addr().expect("vendor address"),
            token: "vendor-secret".into(),
            ledger: Default::default(),
            mode: Arc::new(Mutex::new(mode)),
        };
        let app = axum::Router::new()
            .route("/send", post(receive))
            .with_state(vendor.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        vendor
    }

    pub fn url(&self) -> String {
        format!("http://{}/send", self.addr)
    }

    pub fn set_mode(&self, mode: VendorMode) {
        *self.mode.lock().expect("vendor lock") = mode;
    }

    /// Distinct messages accepted (by idempotency key).
    pub fn delivered_count(&self) -> usize {
        self.ledger.lock().expect("vendor lock").delivered.len()
    }

    pub fn delivered(&self) -> HashMap<String, serde_json::Value> {
        self.ledger.lock().expect("vendor lock").delivered.clone()
    }

    /// Requests that repeated an already accepted idempotency key.
    pub fn duplicates(&self) -> u64 {
        self.ledger.lock().expect("vendor lock").duplicates
    }

    pub fn requests(&self) -> u64 {
        self.ledger.lock().expect("vendor lock").requests
    }

    pub fn unauthorised(&self) -> u64 {
        self.ledger.lock().expect("vendor lock").unauthorised
    }

    /// Every authorised request, in order of arrival, with its answer.
    pub fn arrivals(&self) -> Vec<Arrival> {
        self.ledger.lock().expect("vendor lock").arrivals.clone()
    }
}

async fn receive(
    State(v): State<HttpVendor>,
    headers: HeaderMap,
    Json(body): Json<serde_json::Value>,
) -> (StatusCode, HeaderMap, Json<serde_json::Value>) {
    let answered = decide(&v, &headers, body);
    if answered.0.is_none() {
        // Hang: the caller's timeout ends the request.
        tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
    }
    let (status, answer_headers, json) = answered;
    (status.unwrap_or(StatusCode::OK), answer_headers, json)
}

/// The answer to one request (no status: leave it unanswered), with the ledger updated.
fn decide(
    v: &HttpVendor,
    headers: &HeaderMap,
    body: serde_json::Value,
) -> (Option<StatusCode>, HeaderMap, Json<serde_json::Value>) {
    let mode = *v.mode.lock().expect("vendor lock");
    let mut ledger = v.ledger.lock().expect("vendor lock");
    ledger.requests += 1;
    let none = HeaderMap::new();
    let authorised = headers
        .get("authorization")
        .and_then(|h| h.to_str().ok())
        .is_some_and(|h| h == format!("Bearer {}", v.token));
    if !authorised {
        ledger.unauthorised += 1;
        return (
            Some(StatusCode::UNAUTHORIZED),
            none,
            Json(serde_json::json!({"error": "bad credentials"})),
        );
    }
    let Some(key) = headers
        .get("idempotency-key")
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
    else {
        return (
            Some(StatusCode::BAD_REQUEST),
            none,
            Json(serde_json::json!({"error": "Idempotency-Key required"})),
        );
    };
    let attempt = {
        let n = ledger.attempts.entry(key.clone()).or_default();
        *n += 1;
        *n
    };
    let now = std::time::Instant::now();
    let refuse = match mode {
        VendorMode::Ok | VendorMode::Hang => None,
        VendorMode::FailFirst(n) if attempt <= n => Some(StatusCode::SERVICE_UNAVAILABLE),
        VendorMode::FailFirst(_) => None,
        VendorMode::AlwaysUnavailable => Some(StatusCode::SERVICE_UNAVAILABLE),
        VendorMode::Reject => Some(StatusCode::BAD_REQUEST),
        VendorMode::ThrottleAfter {
            accepted, for_ms, ..
        } if ledger.delivered.len() >= accepted => {
            let since = *ledger.throttling_since.get_or_insert(now);
            (now < since + std::time::Duration::from_millis(for_ms))
                .then_some(StatusCode::TOO_MANY_REQUESTS)
        }
        VendorMode::ThrottleAfter { .. } => None,
    };
    if let Some(status) = refuse {
        ledger.arrivals.push(Arrival {
            at: now,
            status: status.as_u16(),
        });
        let mut answer = HeaderMap::new();
        if let VendorMode::ThrottleAfter {
            retry_after_secs, ..
        } = mode
        {
            answer.insert(
                "retry-after",
                retry_after_secs
                    .to_string()
                    .parse()
                    .expect("a header value"),
            );
        }
        return (
            Some(status),
            answer,
            Json(serde_json::json!({"error": format!("vendor says {status}")})),
        );
    }
    if ledger.delivered.contains_key(&key) {
        ledger.duplicates += 1;
    } else {
        ledger.delivered.insert(key.clone(), body);
    }
    let hang = matches!(mode, VendorMode::Hang);
    ledger.arrivals.push(Arrival {
        at: now,
        status: if hang { 0 } else { 200 },
    });
    (
        (!hang).then_some(StatusCode::OK),
        none,
        Json(serde_json::json!({"id": format!("vendor-{key}")})),
    )
}

/// One e-mail as the SMTP server received it.
#[derive(Debug, Clone)]
pub struct ReceivedMail {
    pub from: String,
    pub to: Vec<String>,
    /// The raw message (headers and body), dot-unstuffed.
    pub data: String,
}

/// A minimal but real SMTP server (RFC 5321 subset) on a random local port.
#[derive(Clone)]
pub struct SmtpServer {
    pub addr: SocketAddr,
    received: Arc<Mutex<Vec<ReceivedMail>>>,
}

impl SmtpServer {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind smtp");
        let server = SmtpServer {
            addr: listener.local_addr().expect("smtp address"),
            received: Default::default(),
        };
        let received = server.received.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let received = received.clone();
                tokio::spawn(async move {
                    let _ = session(stream, received).await;
                });
            }
        });
        server
    }

    pub fn received(&self) -> Vec<ReceivedMail> {
        self.received.lock().expect("smtp lock").clone()
    }
}

async fn session(
    stream: tokio::net::TcpStream,
    received: Arc<Mutex<Vec<ReceivedMail>>>,
) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    write.write_all(b"220 localhost test SMTP\r\n").await?;
    let (mut from, mut to) = (String::new(), Vec::new());
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let upper = line.to_ascii_uppercase();
        if upper.starts_with("EHLO") {
            write
                .write_all(b"250-localhost\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n")
                .await?;
        } else if upper.starts_with("HELO")
            || upper.starts_with("RSET")
            || upper.starts_with("NOOP")
        {
            if upper.starts_with("RSET") {
                from.clear();
                to.clear();
            }
            write.write_all(b"250 OK\r\n").await?;
        } else if upper.starts_with("MAIL FROM:") {
            from = line[10..].trim().trim_matches(['<', '>']).to_owned();
            write.write_all(b"250 OK\r\n").await?;
        } else if upper.starts_with("RCPT TO:") {
            to.push(line[8..].trim().trim_matches(['<', '>']).to_owned());
            write.write_all(b"250 OK\r\n").await?;
        } else if upper.starts_with("DATA") {
            write.write_all(b"354 end with <CRLF>.<CRLF>\r\n").await?;
            let mut data = String::new();
            loop {
                line.clear();
                if lines.read_line(&mut line).await? == 0 {
                    return Ok(());
                }
                if line == ".\r\n" || line == ".\n" {
                    break;
                }
                data.push_str(line.strip_prefix('.').unwrap_or(&line));
            }
            received.lock().expect("smtp lock").push(ReceivedMail {
                from: std::mem::take(&mut from),
                to: std::mem::take(&mut to),
                data,
            });
            write.write_all(b"250 OK queued\r\n").await?;
        } else if upper.starts_with("QUIT") {
            write.write_all(b"221 bye\r\n").await?;
            return Ok(());
        } else {
            write.write_all(b"502 not implemented\r\n").await?;
        }
    }
}
