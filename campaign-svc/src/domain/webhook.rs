//! Provider webhooks at the edge: the `X-Signature` check and the delivery events, parsed into
//! values the service layer can apply without re-checking.
//!
//! The signature is `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`: signing
//! the timestamp with the body lets a receipt be refused when it is replayed later, and signing
//! the raw bytes (not re-serialised JSON) means what was verified is exactly what is parsed.

use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use uuid::Uuid;

use super::parse_time;
use crate::error::{Error, Result};

/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "x-signature";
/// How far a signature's timestamp may be from now, either way, before it counts as a replay.
pub const SIGNATURE_TOLERANCE_SECS: i64 = 5 * 60;
/// Most events in one webhook call.
pub const MAX_EVENTS: usize = 1000;
/// Longest provider event id.
pub const MAX_EVENT_ID_CHARS: usize = 200;
/// A provider's reason is kept up to this many characters (longer ones are cut, not refused:
/// a receipt must not be lost over a verbose vendor).
pub const MAX_REASON_CHARS: usize = 500;
/// The domain of the `Message-ID`s the e-mail provider sets (`<record id@marketing.crm>`).
const MESSAGE_ID_DOMAIN: &str = "@marketing.crm>";

/// Checks `header` against `body` signed with `secret` at `now`: a valid `v1` for a timestamp
/// within [`SIGNATURE_TOLERANCE_SECS`]. Several `v1` entries are accepted (secret rotation);
/// the comparison is constant-time.
pub fn verify_signature(
    secret: &[u8],
    header: Option<&str>,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<()> {
    let header = header.ok_or(Error::BadSignature("missing X-Signature header"))?;
    let mut timestamp: Option<&str> = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = Some(t),
            Some(("v1", v)) => signatures.push(v),
            _ => {}
        }
    }
    let malformed = Error::BadSignature("X-Signature must be `t=<unix seconds>,v1=<hex>`");
    let t = timestamp.ok_or(malformed)?;
    let seconds: i64 = t
        .parse()
        .map_err(|_| Error::BadSignature("X-Signature timestamp is not a number"))?;
    if signatures.is_empty() {
        return Err(Error::BadSignature(
            "X-Signature must be `t=<unix seconds>,v1=<hex>`",
        ));
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(t.as_bytes());
    mac.update(b".");
    mac.update(body);
    let valid = signatures
        .iter()
        .filter_map(|hex| decode_hex(hex))
        .any(|tag| mac.clone().verify_slice(&tag).is_ok());
    if !valid {
        return Err(Error::BadSignature("signature does not match"));
    }
    if (now.timestamp() - seconds).abs() > SIGNATURE_TOLERANCE_SECS {
        return Err(Error::BadSignature(
            "timestamp is more than 5 minutes away from now (replay?)",
        ));
    }
    Ok(())
}

/// The signature header value for `body` at `t` (for documentation, tests and tooling).
pub fn sign(secret: &[u8], t: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let tag = mac.finalize().into_bytes();
    let hex: String = tag.iter().map(|b| format!("{b:02x}")).collect();
    format!("t={t},v1={hex}")
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.is_ascii() {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

/// What the provider reports about one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    /// Not delivered (an SMS or push the vendor could not hand over).
    Failed,
    /// An e-mail bounce.
    Bounced,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Delivered => "delivered",
            Outcome::Failed => "failed",
            Outcome::Bounced => "bounced",
        }
    }
}

/// One delivery receipt, valid.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryEvent {
    pub event_id: String,
    pub record_id: Uuid,
    pub outcome: Outcome,
    pub reason: Option<String>,
    pub occurred_at: Option<DateTime<Utc>>,
}

/// One event of a signed batch that could not be read: reported back, the rest is applied (a
/// vendor retries a refused batch forever, so one bad event must not hold up the others).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RejectedEvent {
    /// Its position in `events`.
    pub index: usize,
    pub code: &'static str,
    /// The bad field (`events[2].status`).
    pub field: String,
    pub message: String,
}

/// A webhook batch: the events that can be applied and those that cannot.
#[derive(Debug, Default)]
pub struct WebhookBatch {
    pub events: Vec<DeliveryEvent>,
    pub rejected: Vec<RejectedEvent>,
}

/// One event as sent; unknown fields are tolerated (vendors add fields).
#[derive(Debug, Deserialize)]
struct EventBody {
    event_id: Option<String>,
    message_id: Option<String>,
    status: Option<String>,
    reason: Option<String>,
    occurred_at: Option<String>,
}

impl WebhookBatch {
    /// Reads a webhook body: `{"events": [...]}` with 1 to [`MAX_EVENTS`] events, or a 400. Each
    /// event is checked on its own (a NUL anywhere, a wrong type, a bad value); a bad one is
    /// rejected with its index and field, and the others are kept.
    pub fn parse(body: serde_json::Value) -> Result<Self> {
        let serde_json::Value::Object(mut body) = body else {
            return Err(Error::invalid(
                "body",
                "must be a JSON object with `events`",
            ));
        };
        let events = match body.remove("events") {
            Some(serde_json::Value::Array(events)) => events,
            Some(_) => return Err(Error::invalid("events", "must be an array of events")),
            None => return Err(Error::invalid("events", "is required")),
        };
        if events.is_empty() || events.len() > MAX_EVENTS {
            return Err(Error::invalid(
                "events",
                format!("must hold 1 to {MAX_EVENTS} events"),
            ));
        }
        let mut batch = WebhookBatch::default();
        for (index, event) in events.into_iter().enumerate() {
            let at = format!("events[{index}]");
            let parsed = super::text::refuse_nul_in_json(&event, &at)
                .and_then(|()| {
                    serde_path_to_error::deserialize::<_, EventBody>(event).map_err(|e| {
                        let path = e.path().to_string();
                        let field = if path == "." {
                            at.clone()
                        } else {
                            format!("{at}.{path}")
                        };
                        Error::invalid(field, e.inner().to_string())
                    })
                })
                .and_then(|e| e.parse(&format!("{at}.")));
            match parsed {
                Ok(event) => batch.events.push(event),
                Err(e) => batch.rejected.push(RejectedEvent {
                    index,
                    code: e.code(),
                    field: e.field().unwrap_or(&at).to_owned(),
                    message: e.public_message(),
                }),
            }
        }
        Ok(batch)
    }
}

impl EventBody {
    fn parse(self, at: &str) -> Result<DeliveryEvent> {
        let field = |name: &str| format!("{at}{name}");
        let event_id = self
            .event_id
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .ok_or_else(|| Error::invalid(field("event_id"), "is required"))?;
        if event_id.chars().count() > MAX_EVENT_ID_CHARS {
            return Err(Error::invalid(
                field("event_id"),
                format!("must be at most {MAX_EVENT_ID_CHARS} characters"),
            ));
        }
        let message_id = self
            .message_id
            .ok_or_else(|| Error::invalid(field("message_id"), "is required"))?;
        let record_id = parse_message_id(&message_id).ok_or_else(|| {
            Error::invalid(
                field("message_id"),
                format!("`{message_id}` is neither a record id nor <record id@marketing.crm>"),
            )
        })?;
        let outcome = match self.status.as_deref().map(str::trim) {
            Some("delivered") => Outcome::Delivered,
            Some("failed") => Outcome::Failed,
            Some("bounced") => Outcome::Bounced,
            Some(other) => {
                return Err(Error::invalid(
                    field("status"),
                    format!("`{other}` is not one of: delivered failed bounced"),
                ));
            }
            None => return Err(Error::invalid(field("status"), "is required")),
        };
        let reason = self
            .reason
            .map(|r| r.trim().chars().take(MAX_REASON_CHARS).collect::<String>())
            .filter(|r| !r.is_empty());
        let occurred_at = self
            .occurred_at
            .map(|t| parse_time(&field("occurred_at"), &t))
            .transpose()?;
        Ok(DeliveryEvent {
            event_id,
            record_id,
            outcome,
            reason,
            occurred_at,
        })
    }
}

/// A record id, bare or as the e-mail `Message-ID` `<uuid@marketing.crm>`.
fn parse_message_id(s: &str) -> Option<Uuid> {
    let s = s.trim();
    let bare = s
        .strip_prefix('<')
        .and_then(|m| m.strip_suffix(MESSAGE_ID_DOMAIN))
        .unwrap_or(s);
    Uuid::try_parse(bare).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"whsec";

    fn at(t: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(t, 0).unwrap()
    }

    #[test]
    fn accepts_a_fresh_valid_signature_only() {
        let body = br#"{"events":[]}"#;
        let header = sign(SECRET, 1_000_000, body);
        assert!(verify_signature(SECRET, Some(&header), body, at(1_000_000 + 299)).is_ok());
        assert!(verify_signature(SECRET, Some(&header), body, at(1_000_000 - 299)).is_ok());
        let refused = |h: Option<&str>, b: &[u8], now: i64| {
            matches!(
                verify_signature(SECRET, h, b, at(now)),
                Err(Error::BadSignature(_))
            )
        };
        assert!(refused(Some(&header), body, 1_000_000 + 301), "replayed");
        assert!(
            refused(Some(&header), body, 1_000_000 - 301),
            "from the future"
        );
        assert!(
            refused(Some(&header), br#"{"events":[1]}"#, 1_000_000),
            "tampered"
        );
        assert!(refused(None, body, 1_000_000));
        assert!(refused(Some("t=1000000"), body, 1_000_000));
        assert!(refused(Some("v1=00"), body, 1_000_000));
        assert!(refused(Some("garbage"), body, 1_000_000));
        let other = sign(b"other", 1_000_000, body);
        assert!(refused(Some(&other), body, 1_000_000), "another secret");
        // Rotation: any matching v1 passes.
        let rotated = format!("{},v1=abcd", header);
        assert!(verify_signature(SECRET, Some(&rotated), body, at(1_000_000)).is_ok());
    }

    #[test]
    fn message_ids_in_both_forms() {
        let id = Uuid::now_v7();
        assert_eq!(parse_message_id(&id.to_string()), Some(id));
        assert_eq!(parse_message_id(&format!("<{id}@marketing.crm>")), Some(id));
        assert_eq!(parse_message_id(&format!("<{id}@elsewhere>")), None);
        assert_eq!(parse_message_id("nope"), None);
    }

    #[test]
    fn rejects_bad_events_one_by_one_naming_the_field() {
        let batch = WebhookBatch::parse(serde_json::json!({"events": [
            {"event_id": "1", "message_id": Uuid::nil().to_string(), "status": "delivered"},
            {"event_id": "2", "message_id": Uuid::nil().to_string(), "status": "read"},
            {"event_id": "3\u{0}", "message_id": Uuid::nil().to_string(), "status": "failed"},
            {"event_id": "4", "message_id": Uuid::nil().to_string(), "status": "failed", "reason": 7},
            {"event_id": "5", "message_id": Uuid::nil().to_string(), "status": "failed", "reason": "x\u{0}"}
        ]}))
        .unwrap();
        assert_eq!(batch.events.len(), 1);
        let fields: Vec<(usize, &str)> = batch
            .rejected
            .iter()
            .map(|r| (r.index, r.field.as_str()))
            .collect();
        assert_eq!(
            fields,
            vec![
                (1, "events[1].status"),
                (2, "events[2].event_id"),
                (3, "events[3].reason"),
                (4, "events[4].reason")
            ]
        );
        let empty = WebhookBatch::parse(serde_json::json!({"events": []}));
        assert_eq!(empty.unwrap_err().field(), Some("events"));
        let not_array = WebhookBatch::parse(serde_json::json!({"events": 1}));
        assert_eq!(not_array.unwrap_err().field(), Some("events"));
    }
}
