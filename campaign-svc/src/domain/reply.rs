//! Inbound SMS at the edge: the opt-out keywords a reply is matched against, and the generic
//! signed form `{"messages": [{"message_id", "from", "text", "received_at"}]}`.
//!
//! A reply opts out when, trimmed of whitespace and punctuation and folded to half width and
//! upper case, it is exactly one of the keywords: `td`, ` ＴＤ。`, `退订!` and `Stop.` match;
//! `回复TD退订` and `TD please` do not (a sentence is kept as a response for a person to read).

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::parse_time;
use super::webhook::{MAX_EVENT_ID_CHARS, RejectedEvent};
use crate::error::{Error, Result};

/// Most messages in one call.
pub const MAX_MESSAGES: usize = 1000;
/// A reply is kept up to this many characters (a long one is cut, not refused).
pub const MAX_REPLY_CHARS: usize = 2000;

/// The replies that opt their sender out of SMS, normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptOutKeywords(Vec<String>);

impl OptOutKeywords {
    /// Keywords as configured; each must keep something after normalisation.
    pub fn new(words: &[String]) -> std::result::Result<Self, String> {
        let mut out = Vec::new();
        for w in words {
            let n = normalize(w);
            if n.is_empty() {
                if w.trim().is_empty() {
                    continue;
                }
                return Err(format!("`{w}` is only punctuation or spaces"));
            }
            if !out.contains(&n) {
                out.push(n);
            }
        }
        Ok(OptOutKeywords(out))
    }

    /// Whether `text` as a whole is one of the keywords.
    pub fn matches(&self, text: &str) -> bool {
        let n = normalize(text);
        !n.is_empty() && self.0.contains(&n)
    }
}

/// Full-width forms to their ASCII counterparts (U+FF01–U+FF5E, the ideographic space), outer
/// whitespace and punctuation trimmed, upper case.
pub fn normalize(text: &str) -> String {
    let folded: String = text
        .chars()
        .map(|c| match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            '\u{3000}' => ' ',
            c => c,
        })
        .collect();
    folded
        .trim_matches(|c: char| c.is_whitespace() || c.is_control() || is_punctuation(c))
        .to_uppercase()
}

/// ASCII punctuation and the CJK punctuation people type around a word.
fn is_punctuation(c: char) -> bool {
    c.is_ascii_punctuation()
        || matches!(c,
            '\u{3001}'..='\u{3003}' // 、。〃
            | '\u{3008}'..='\u{3011}' // 〈〉《》「」『』【】
            | '\u{3014}'..='\u{301F}' // 〔〕〖〗〘〙〚〛〜〝〞〟
            | '\u{2010}'..='\u{2027}' // dashes, quotes, bullets, …
            | '\u{00B7}' | '\u{00A1}' | '\u{00BF}' // · ¡ ¿
            | '\u{FF61}'..='\u{FF65}' // half-width CJK punctuation
            | '\u{FE50}'..='\u{FE6B}' // small forms
            | '\u{FE10}'..='\u{FE19}') // vertical forms
}

/// One inbound SMS, valid.
#[derive(Debug, Clone, PartialEq)]
pub struct InboundSms {
    /// The vendor's id of the message (the idempotency key).
    pub message_id: String,
    /// The sender, E.164.
    pub phone: String,
    pub text: String,
    pub received_at: Option<DateTime<Utc>>,
}

/// The messages of a call that can be acted on, and those that cannot.
#[derive(Debug, Default)]
pub struct InboundBatch {
    pub messages: Vec<InboundSms>,
    pub rejected: Vec<RejectedEvent>,
}

impl InboundBatch {
    /// Adds a message read by `read`, or its rejection named at `at` (`messages[2]`).
    pub fn push(&mut self, index: usize, at: &str, read: Result<InboundSms>) {
        match read {
            Ok(m) => self.messages.push(m),
            Err(e) => self.rejected.push(RejectedEvent {
                index,
                code: e.code(),
                field: e.field().unwrap_or(at).to_owned(),
                message: e.public_message(),
            }),
        }
    }

    /// Reads the generic form: `{"messages": [...]}` with 1 to [`MAX_MESSAGES`] messages, or a
    /// 400; each message on its own, like delivery events.
    pub fn parse(body: serde_json::Value, region: super::customer::PhoneRegion) -> Result<Self> {
        let serde_json::Value::Object(mut body) = body else {
            return Err(Error::invalid(
                "body",
                "must be a JSON object with `messages`",
            ));
        };
        let messages = match body.remove("messages") {
            Some(serde_json::Value::Array(m)) => m,
            Some(_) => return Err(Error::invalid("messages", "must be an array of messages")),
            None => return Err(Error::invalid("messages", "is required")),
        };
        if messages.is_empty() || messages.len() > MAX_MESSAGES {
            return Err(Error::invalid(
                "messages",
                format!("must hold 1 to {MAX_MESSAGES} messages"),
            ));
        }
        let mut batch = InboundBatch::default();
        for (index, m) in messages.into_iter().enumerate() {
            let at = format!("messages[{index}]");
            let read = super::text::refuse_nul_in_json(&m, &at)
                .and_then(|()| {
                    serde_json::from_value::<GenericMessage>(m)
                        .map_err(|e| Error::invalid(at.clone(), e.to_string()))
                })
                .and_then(|m| {
                    let field = |f: &str| format!("{at}.{f}");
                    let received_at = m
                        .received_at
                        .map(|t| parse_time(&field("received_at"), &t))
                        .transpose()?;
                    inbound(
                        &field("message_id"),
                        m.message_id,
                        &field("from"),
                        m.from.as_deref(),
                        region,
                        m.text,
                        received_at,
                    )
                });
            batch.push(index, &at, read);
        }
        Ok(batch)
    }
}

#[derive(Deserialize)]
struct GenericMessage {
    message_id: Option<String>,
    from: Option<String>,
    text: Option<String>,
    received_at: Option<String>,
}

/// Checks and builds one message: an id, a phone number valid in `region`'s plan (or with its
/// country code), any text (missing is empty, long is cut).
pub fn inbound(
    id_field: &str,
    message_id: Option<String>,
    from_field: &str,
    from: Option<&str>,
    region: super::customer::PhoneRegion,
    text: Option<String>,
    received_at: Option<DateTime<Utc>>,
) -> Result<InboundSms> {
    let message_id = message_id
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| Error::invalid(id_field, "is required"))?;
    if message_id.chars().count() > MAX_EVENT_ID_CHARS || message_id.contains('\0') {
        return Err(Error::invalid(
            id_field,
            format!("must be at most {MAX_EVENT_ID_CHARS} characters, without NUL"),
        ));
    }
    let from = from
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| Error::invalid(from_field, "is required"))?;
    let phone = super::customer::parse_phone(from_field, from, region)?;
    let text: String = text
        .unwrap_or_default()
        .replace('\0', "")
        .chars()
        .take(MAX_REPLY_CHARS)
        .collect();
    Ok(InboundSms {
        message_id,
        phone,
        text,
        received_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn defaults() -> OptOutKeywords {
        OptOutKeywords::new(&["TD", "T", "退订", "STOP", "UNSUBSCRIBE"].map(String::from)).unwrap()
    }

    #[test]
    fn keywords_match_whole_across_case_width_and_punctuation() {
        let k = defaults();
        for yes in [
            "TD",
            "td",
            " Td\n",
            "ＴＤ",
            "ｔｄ",
            "\u{3000}ＴＤ。",
            "退订",
            "退订！",
            "【退订】",
            "stop.",
            "Unsubscribe!!",
            "t",
            "\"TD\"",
        ] {
            assert!(k.matches(yes), "{yes:?}");
        }
        for no in [
            "回复TD退订",
            "TD please",
            "T D",
            "",
            "。",
            "好的",
            "stopp",
            "不要退订",
        ] {
            assert!(!k.matches(no), "{no:?}");
        }
    }

    #[test]
    fn configured_keywords_are_normalised_and_empty_ones_refused() {
        let k = OptOutKeywords::new(&["ｎ".into(), " 取消 ".into(), "".into()]).unwrap();
        assert!(k.matches("N") && k.matches("取消。"));
        assert!(OptOutKeywords::new(&["!!".into()]).is_err());
    }

    proptest! {
        /// Any keyword in any mix of case and width, wrapped in whitespace and punctuation,
        /// matches; with a letter added inside it does not.
        #[test]
        fn wrapped_keywords_match(
            word in prop::sample::select(vec!["TD", "T", "STOP", "UNSUBSCRIBE"]),
            cases in prop::collection::vec((any::<bool>(), any::<bool>()), 11),
            before in "[ \t\n。，！？、【】（）.!?\u{3000}]{0,4}",
            after in "[ \t\n。，！？、【】（）.!?\u{3000}]{0,4}",
        ) {
            let varied: String = word.chars().zip(cases.iter().cycle()).map(|(c, (lower, wide))| {
                let c = if *lower { c.to_ascii_lowercase() } else { c };
                if *wide { char::from_u32(c as u32 + 0xFEE0).unwrap() } else { c }
            }).collect();
            let k = defaults();
            let wrapped = format!("{before}{varied}{after}");
            prop_assert!(k.matches(&wrapped), "{:?}", wrapped);
            let spoiled = format!("{before}{varied}X{after}");
            prop_assert!(!k.matches(&spoiled), "{:?}", spoiled);
        }
    }

    #[test]
    fn generic_messages_are_read_one_by_one() {
        let region: super::super::customer::PhoneRegion = "CN".parse().unwrap();
        let b = InboundBatch::parse(
            serde_json::json!({"messages": [
                {"message_id": "m1", "from": "13800138000", "text": "TD",
                 "received_at": "2026-12-01T08:00:00Z"},
                {"message_id": "m2", "from": "12ab", "text": "hi"},
                {"from": "+8613800138000", "text": "hi"},
            ]}),
            region,
        )
        .unwrap();
        assert_eq!(b.messages.len(), 1);
        assert_eq!(b.messages[0].phone, "+8613800138000");
        let fields: Vec<&str> = b.rejected.iter().map(|r| r.field.as_str()).collect();
        assert_eq!(fields, ["messages[1].from", "messages[2].message_id"]);
        assert!(InboundBatch::parse(serde_json::json!({"messages": []}), region).is_err());
    }
}
