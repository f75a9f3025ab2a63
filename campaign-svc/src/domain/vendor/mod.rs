//! The vendors' own callback formats at the edge: each module reads one vendor's delivery
//! receipts (and inbound SMS, or WeChat's event pushes) into [`VendorReceipt`]s and [`InboundSms`]s, and checks how
//! that vendor authenticates its callbacks. Receipts name the message by the vendor's id, which
//! the service resolves to a record through `marketing_record.provider_message_id`.

pub mod aliyun;
pub mod sns;
pub mod tencent;
pub mod twilio;
pub mod wechat;

use chrono::{DateTime, NaiveDateTime, TimeZone as _, Utc};

use super::webhook::{MAX_EVENT_ID_CHARS, MAX_REASON_CHARS, Outcome, RejectedEvent};
use crate::error::{Error, Result};

pub use super::reply::{InboundBatch, InboundSms};

/// A vendor whose own callback format is accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vendor {
    Aliyun,
    Tencent,
    Twilio,
    Ses,
    Wechat,
}

impl Vendor {
    /// The name in metrics, logs, `webhook_events.provider` and `sms_replies.source`.
    pub fn as_str(self) -> &'static str {
        match self {
            Vendor::Aliyun => "aliyun",
            Vendor::Tencent => "tencent",
            Vendor::Twilio => "twilio",
            Vendor::Ses => "ses",
            Vendor::Wechat => "wechat",
        }
    }

    /// The channel of the vendor's messages.
    pub fn channel(self) -> marketing_core::vocabulary::Channel {
        match self {
            Vendor::Ses => marketing_core::vocabulary::Channel::Email,
            Vendor::Wechat => marketing_core::vocabulary::Channel::Wechat,
            _ => marketing_core::vocabulary::Channel::Sms,
        }
    }
}

/// One delivery receipt in a vendor's format, valid.
#[derive(Debug, Clone, PartialEq)]
pub struct VendorReceipt {
    /// Unique per vendor event (a redelivered callback repeats it).
    pub event_id: String,
    /// The vendor's message id (`marketing_record.provider_message_id`).
    pub provider_message_id: String,
    /// The record id, when the vendor echoes it (Aliyun `out_id`, the SES `record_id` tag):
    /// used when no record has the vendor's id yet (a receipt that overtook the worker's write).
    pub record_id: Option<uuid::Uuid>,
    pub outcome: Outcome,
    pub reason: Option<String>,
    pub occurred_at: Option<DateTime<Utc>>,
    /// An SES complaint: the recipient reported the e-mail as spam (delivered, and opted out).
    pub complaint: bool,
}

/// The receipts of a call; a report of no consequence (Twilio's `sent`, SES `Open`) is
/// `skipped`, an unreadable one rejected.
#[derive(Debug, Default)]
pub struct ReceiptBatch {
    pub receipts: Vec<VendorReceipt>,
    pub skipped: u64,
    pub rejected: Vec<RejectedEvent>,
}

impl ReceiptBatch {
    /// Adds what `read` made of report `index` (`at` names it: `[2]`).
    fn push(&mut self, index: usize, at: &str, read: Result<Option<VendorReceipt>>) {
        match read {
            Ok(Some(r)) => self.receipts.push(r),
            Ok(None) => self.skipped += 1,
            Err(e) => self.rejected.push(RejectedEvent {
                index,
                code: e.code(),
                field: e.field().unwrap_or(at).to_owned(),
                message: e.public_message(),
            }),
        }
    }
}

/// A required, non-blank id of at most [`MAX_EVENT_ID_CHARS`] characters.
fn id(field: &str, value: Option<String>) -> Result<String> {
    let v = value
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| Error::invalid(field, "is required"))?;
    if v.chars().count() > MAX_EVENT_ID_CHARS / 2 {
        return Err(Error::invalid(
            field,
            format!("must be at most {} characters", MAX_EVENT_ID_CHARS / 2),
        ));
    }
    Ok(v)
}

/// A vendor's reason, cut to [`MAX_REASON_CHARS`]; blank parts are left out.
fn reason<'a>(parts: impl IntoIterator<Item = Option<&'a str>>) -> Option<String> {
    let joined = parts
        .into_iter()
        .flatten()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(": ");
    (!joined.is_empty()).then(|| joined.chars().take(MAX_REASON_CHARS).collect())
}

/// `yyyy-MM-dd HH:mm:ss` in China Standard Time (UTC+8), as Aliyun and Tencent Cloud write
/// times; an unreadable time is dropped (the receipt still counts), not refused.
fn china_time(s: Option<&str>) -> Option<DateTime<Utc>> {
    let t = NaiveDateTime::parse_from_str(s?.trim(), "%Y-%m-%d %H:%M:%S").ok()?;
    chrono::FixedOffset::east_opt(8 * 3600)?
        .from_local_datetime(&t)
        .single()
        .map(|t| t.with_timezone(&Utc))
}

/// Compares a callback URL's `token` with the configured one in constant time; an unset token
/// refuses every call.
pub fn verify_token(
    configured: Option<&str>,
    given: Option<&str>,
    vendor: &'static str,
) -> Result<()> {
    let configured = configured.ok_or(Error::BadSignature(match vendor {
        "aliyun" => "Aliyun callbacks are not configured (ALIYUN_CALLBACK_TOKEN)",
        _ => "Tencent Cloud callbacks are not configured (TENCENT_CALLBACK_TOKEN)",
    }))?;
    let given = given.ok_or(Error::BadSignature("missing `token` query parameter"))?;
    if !constant_time_eq(configured.as_bytes(), given.as_bytes()) {
        return Err(Error::BadSignature("wrong `token`"));
    }
    Ok(())
}

pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A JSON body that is one object or an array of them, as a list (Tencent sends either).
fn objects(body: serde_json::Value, what: &str) -> Result<Vec<serde_json::Value>> {
    let list = match body {
        serde_json::Value::Array(a) => a,
        o @ serde_json::Value::Object(_) => vec![o],
        _ => {
            return Err(Error::invalid(
                "body",
                format!("must be an array of {what}"),
            ));
        }
    };
    if list.is_empty() || list.len() > super::webhook::MAX_EVENTS {
        return Err(Error::invalid(
            "body",
            format!("must hold 1 to {} {what}", super::webhook::MAX_EVENTS),
        ));
    }
    Ok(list)
}

/// Reads report `index` as `T`, refusing NUL characters, naming the field at fault.
fn read<T: serde::de::DeserializeOwned>(value: serde_json::Value, at: &str) -> Result<T> {
    super::text::refuse_nul_in_json(&value, at)?;
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." {
            at.to_owned()
        } else {
            format!("{at}.{path}")
        };
        Error::invalid(field, e.inner().to_string())
    })
}

/// A string or a number as text (vendors write ids both ways).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(untagged)]
enum Loose {
    Text(String),
    Int(i64),
    Float(f64),
    Bool(bool),
}

impl Loose {
    fn text(&self) -> String {
        match self {
            Loose::Text(s) => s.clone(),
            Loose::Int(n) => n.to_string(),
            Loose::Float(n) => n.to_string(),
            Loose::Bool(b) => b.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn china_time_is_utc_plus_8() {
        assert_eq!(
            china_time(Some("2026-12-01 08:00:00"))
                .unwrap()
                .to_rfc3339(),
            "2026-12-01T00:00:00+00:00"
        );
        assert_eq!(china_time(Some("yesterday")), None);
    }

    #[test]
    fn tokens_are_compared_whole() {
        assert!(verify_token(Some("s3cret"), Some("s3cret"), "aliyun").is_ok());
        assert!(verify_token(Some("s3cret"), Some("s3cre"), "aliyun").is_err());
        assert!(verify_token(Some("s3cret"), None, "tencent").is_err());
        assert!(verify_token(None, Some(""), "tencent").is_err());
    }
}
