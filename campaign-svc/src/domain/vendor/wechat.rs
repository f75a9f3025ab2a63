//! The WeChat official account's event pushes (`/webhooks/wechat/official-account`), in plain
//! text mode, as the Official Account guide documents (developers.weixin.qq.com/doc/offiaccount:
//! Basic_Information/Access_Overview, Message_Management/Receiving_event_pushes and the
//! template message interface's event push): WeChat signs each push (and the GET handshake that
//! proves the URL is ours) with `signature` = hex SHA-1 of the account's Token, `timestamp` and
//! `nonce` sorted and joined, in the query string; the body is a flat `<xml>` document.
//!
//! Two events matter: `unsubscribe` (取消关注: the follower `FromUserName` unfollowed, which
//! opts them out of `wechat`) and `TEMPLATESENDJOBFINISH` (`MsgID`'s template message reached
//! the follower, `Status` `success`, or did not: `failed:user block`, `failed: system failed`).
//! Every other push (follows, menu clicks, messages) is acknowledged and ignored. The
//! encrypted ("safe") mode is not supported: the account's message mode must be plain text.

use std::collections::HashMap;

use sha1::Digest as _;

use super::{ReceiptBatch, VendorReceipt, constant_time_eq, id};
use crate::domain::webhook::Outcome;
use crate::error::{Error, Result};

/// A push, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Push {
    /// The follower unfollowed the account.
    Unsubscribe { openid: String },
    /// A template message's delivery report.
    JobFinish {
        openid: String,
        msgid: String,
        status: String,
    },
    /// Anything else (named by its `MsgType`/`Event`), acknowledged.
    Other(String),
}

/// The answer WeChat expects to a push it need not show the follower anything for.
pub const ACKNOWLEDGED: &str = "success";

/// Checks WeChat's `signature` of a push (or of the URL handshake) with the account's Token;
/// an unset Token refuses every call.
pub fn verify_signature(configured: Option<&str>, query: &HashMap<String, String>) -> Result<()> {
    let token = configured.ok_or(Error::BadSignature(
        "WeChat callbacks are not configured (WECHAT_CALLBACK_TOKEN)",
    ))?;
    let field = |name: &'static str| {
        query
            .get(name)
            .map(String::as_str)
            .ok_or(Error::BadSignature(match name {
                "signature" => "missing `signature` query parameter",
                "timestamp" => "missing `timestamp` query parameter",
                _ => "missing `nonce` query parameter",
            }))
    };
    let (given, timestamp, nonce) = (field("signature")?, field("timestamp")?, field("nonce")?);
    let expected = signature(token, timestamp, nonce);
    if !constant_time_eq(expected.as_bytes(), given.to_ascii_lowercase().as_bytes()) {
        return Err(Error::BadSignature("wrong `signature`"));
    }
    Ok(())
}

/// Hex SHA-1 of `token`, `timestamp` and `nonce`, sorted and joined.
fn signature(token: &str, timestamp: &str, nonce: &str) -> String {
    let mut parts = [token, timestamp, nonce];
    parts.sort_unstable();
    let digest = sha1::Sha1::digest(parts.concat().as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The child elements of a flat `<xml>` document, by name (text or CDATA).
fn fields(body: &[u8]) -> Result<HashMap<String, String>> {
    use quick_xml::events::Event;
    let bad = |e: String| Error::invalid("body", format!("is not a WeChat XML push: {e}"));
    let text = std::str::from_utf8(body).map_err(|e| bad(e.to_string()))?;
    let mut reader = quick_xml::Reader::from_str(text);
    reader.config_mut().trim_text(true);
    let mut out = HashMap::new();
    let mut depth = 0usize;
    let mut current: Option<String> = None;
    let mut value = String::new();
    let mut root_seen = false;
    loop {
        match reader.read_event().map_err(|e| bad(e.to_string()))? {
            Event::Start(e) => {
                depth += 1;
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                match depth {
                    1 if name == "xml" => root_seen = true,
                    1 => return Err(bad(format!("the root is <{name}>, not <xml>"))),
                    2 => {
                        current = Some(name);
                        value.clear();
                    }
                    // Nested elements (ScanCodeInfo, …) belong to pushes we ignore.
                    _ => {}
                }
            }
            Event::End(_) => {
                if depth == 2
                    && let Some(name) = current.take()
                {
                    out.insert(name, std::mem::take(&mut value));
                }
                depth = depth.saturating_sub(1);
            }
            Event::Text(t) if depth == 2 => {
                value.push_str(&t.xml10_content().map_err(|e| bad(e.to_string()))?)
            }
            Event::CData(t) if depth == 2 => {
                value.push_str(&t.decode().map_err(|e| bad(e.to_string()))?)
            }
            Event::GeneralRef(r) if depth == 2 => {
                let name = r.decode().map_err(|e| bad(e.to_string()))?;
                let reference = format!("&{name};");
                let resolved =
                    quick_xml::escape::unescape(&reference).map_err(|e| bad(e.to_string()))?;
                value.push_str(&resolved);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !root_seen {
        return Err(bad("no <xml> element".into()));
    }
    Ok(out)
}

impl Push {
    /// Reads a push's body.
    pub fn parse(body: &[u8]) -> Result<Self> {
        let mut f = fields(body)?;
        // PostgreSQL text cannot hold NUL: refused, naming the element.
        crate::domain::text::refuse_nul_in_query(&f)?;
        let msg_type = f.remove("MsgType").unwrap_or_default();
        let event = f.remove("Event").unwrap_or_default();
        if msg_type != "event" {
            return Ok(Push::Other(msg_type));
        }
        let openid = || id("FromUserName", f.get("FromUserName").cloned());
        match event.as_str() {
            "unsubscribe" => Ok(Push::Unsubscribe { openid: openid()? }),
            "TEMPLATESENDJOBFINISH" => Ok(Push::JobFinish {
                openid: openid()?,
                // WeChat spells it `MsgID` in this event (`MsgId` in messages).
                msgid: id("MsgID", f.get("MsgID").or(f.get("MsgId")).cloned())?,
                status: id("Status", f.get("Status").cloned())?,
            }),
            _ => Ok(Push::Other(format!("event {event}"))),
        }
    }
}

/// A `TEMPLATESENDJOBFINISH` report as a receipt: `success` delivered it, any `failed…` did not
/// (the status is the reason). WeChat pushes one per message, so the msgid names the event.
pub fn receipt(msgid: String, status: &str) -> ReceiptBatch {
    let outcome = if status.trim().eq_ignore_ascii_case("success") {
        Outcome::Delivered
    } else {
        Outcome::Failed
    };
    let reason = (outcome == Outcome::Failed)
        .then(|| super::reason([Some(status)]))
        .flatten();
    ReceiptBatch {
        receipts: vec![VendorReceipt {
            event_id: format!("templatesendjobfinish:{msgid}"),
            provider_message_id: msgid,
            record_id: None,
            outcome,
            reason,
            occurred_at: None,
            complaint: false,
        }],
        ..ReceiptBatch::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn the_signature_is_sha1_of_the_sorted_parts() {
        // sha1("1409304348" + "2021" + "xxxx") — the three sorted as strings.
        let sig = signature("xxxx", "1409304348", "2021");
        let q = query(&[
            ("signature", &sig),
            ("timestamp", "1409304348"),
            ("nonce", "2021"),
        ]);
        assert!(verify_signature(Some("xxxx"), &q).is_ok());
        assert!(verify_signature(Some("other"), &q).is_err());
        assert!(verify_signature(None, &q).is_err());
        let unsigned = query(&[("timestamp", "1409304348"), ("nonce", "2021")]);
        assert!(verify_signature(Some("xxxx"), &unsigned).is_err());
    }

    #[test]
    fn pushes_are_read_by_event() {
        let finish = br#"<xml><ToUserName><![CDATA[gh_7f083739789a]]></ToUserName>
<FromUserName><![CDATA[oia2TjuEGTNoeX76QEjQNrcURxG8]]></FromUserName>
<CreateTime>1395658920</CreateTime><MsgType><![CDATA[event]]></MsgType>
<Event><![CDATA[TEMPLATESENDJOBFINISH]]></Event><MsgID>200163836</MsgID>
<Status><![CDATA[failed:user block]]></Status></xml>"#;
        assert_eq!(
            Push::parse(finish).unwrap(),
            Push::JobFinish {
                openid: "oia2TjuEGTNoeX76QEjQNrcURxG8".into(),
                msgid: "200163836".into(),
                status: "failed:user block".into(),
            }
        );
        let gone = b"<xml><FromUserName><![CDATA[o1]]></FromUserName><MsgType>event</MsgType>\
                     <Event><![CDATA[unsubscribe]]></Event></xml>";
        assert_eq!(
            Push::parse(gone).unwrap(),
            Push::Unsubscribe {
                openid: "o1".into()
            }
        );
        let text = b"<xml><MsgType><![CDATA[text]]></MsgType><Content>hi &amp; bye</Content></xml>";
        assert_eq!(Push::parse(text).unwrap(), Push::Other("text".into()));
        assert!(Push::parse(b"{\"json\": true}").is_err());
        assert!(
            Push::parse(b"<xml><MsgType>event</MsgType><Event>unsubscribe</Event></xml>").is_err(),
            "no FromUserName"
        );
    }

    #[test]
    fn a_failed_report_carries_its_status() {
        let b = receipt("7".into(), "failed: system failed");
        assert_eq!(b.receipts[0].outcome, Outcome::Failed);
        assert_eq!(
            b.receipts[0].reason.as_deref(),
            Some("failed: system failed")
        );
        assert_eq!(
            receipt("7".into(), "success").receipts[0].outcome,
            Outcome::Delivered
        );
    }
}
