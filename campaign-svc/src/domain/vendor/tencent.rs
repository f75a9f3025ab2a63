//! Tencent Cloud SMS callbacks ("短信回调"), answered with `{"result": 0, "errmsg": "OK"}`:
//!
//! - Status reports: `[{"user_receive_time", "nationcode", "mobile", "report_status",
//!   "errmsg", "description", "sid"}]`; `sid` is the `SerialNo` SendSms answered (the record's
//!   provider message id); `report_status` `SUCCESS` is delivered, `FAIL` a failure named by
//!   `errmsg`/`description`. Times are Beijing time.
//! - Replies: `{"extend", "mobile", "nationcode", "reply_time", "sign", "text"}` (one object, or
//!   an array of them). A reply carries no id of its own, so its id is a digest of what it
//!   says: the same reply delivered twice is one message, as are two identical replies from one
//!   number within the same second.

use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::{InboundBatch, Loose, ReceiptBatch, VendorReceipt, china_time, id, objects, read};
use crate::domain::customer::PhoneRegion;
use crate::domain::webhook::Outcome;
use crate::error::{Error, Result};

/// The answer Tencent Cloud expects.
pub fn accepted() -> serde_json::Value {
    serde_json::json!({"result": 0, "errmsg": "OK"})
}

#[derive(Deserialize)]
struct Report {
    sid: Option<Loose>,
    report_status: Option<String>,
    errmsg: Option<String>,
    description: Option<String>,
    user_receive_time: Option<String>,
}

#[derive(Deserialize)]
struct Reply {
    mobile: Option<Loose>,
    nationcode: Option<Loose>,
    text: Option<String>,
    reply_time: Option<String>,
    /// Older callbacks: unix seconds.
    time: Option<Loose>,
    sign: Option<String>,
    extend: Option<Loose>,
}

/// Reads a status report callback.
pub fn receipts(body: serde_json::Value) -> Result<ReceiptBatch> {
    let mut batch = ReceiptBatch::default();
    for (index, report) in objects(body, "reports")?.into_iter().enumerate() {
        let at = format!("[{index}]");
        let parsed = read::<Report>(report, &at).and_then(|r| {
            let sid = id(&format!("{at}.sid"), r.sid.map(|s| s.text()))?;
            let status = r.report_status.as_deref().map(str::trim);
            let outcome = match status {
                Some("SUCCESS") => Outcome::Delivered,
                Some("FAIL") => Outcome::Failed,
                Some(other) => {
                    return Err(Error::invalid(
                        format!("{at}.report_status"),
                        format!("`{other}` is not SUCCESS or FAIL"),
                    ));
                }
                None => return Err(Error::invalid(format!("{at}.report_status"), "is required")),
            };
            Ok(Some(VendorReceipt {
                event_id: format!("{sid}:{}", status.unwrap_or_default()),
                provider_message_id: sid,
                record_id: None,
                outcome,
                reason: (outcome == Outcome::Failed)
                    .then(|| super::reason([r.errmsg.as_deref(), r.description.as_deref()]))
                    .flatten(),
                occurred_at: china_time(r.user_receive_time.as_deref()),
                complaint: false,
            }))
        });
        batch.push(index, &at, parsed);
    }
    Ok(batch)
}

/// Reads a reply callback; numbers without a `nationcode` are in `region`.
pub fn replies(body: serde_json::Value, region: PhoneRegion) -> Result<InboundBatch> {
    let mut batch = InboundBatch::default();
    for (index, reply) in objects(body, "replies")?.into_iter().enumerate() {
        let at = format!("[{index}]");
        let parsed = read::<Reply>(reply, &at).and_then(|m| {
            let text = |v: &Option<Loose>| v.as_ref().map(Loose::text).unwrap_or_default();
            let (mobile, nation) = (text(&m.mobile), text(&m.nationcode));
            let phone = match nation.trim() {
                "" => mobile.clone(),
                code => format!("+{code}{}", mobile.trim()),
            };
            let digest = Sha256::digest(
                [
                    nation.as_str(),
                    mobile.as_str(),
                    m.reply_time.as_deref().unwrap_or_default(),
                    &text(&m.time),
                    m.sign.as_deref().unwrap_or_default(),
                    &text(&m.extend),
                    m.text.as_deref().unwrap_or_default(),
                ]
                .join("\u{1f}")
                .as_bytes(),
            );
            let message_id: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
            let received_at = china_time(m.reply_time.as_deref()).or_else(|| {
                m.time
                    .as_ref()
                    .and_then(|t| t.text().parse::<i64>().ok())
                    .and_then(|t| chrono::DateTime::from_timestamp(t, 0))
            });
            crate::domain::reply::inbound(
                &format!("{at}.mobile"),
                Some(message_id),
                &format!("{at}.mobile"),
                (!mobile.trim().is_empty()).then_some(phone.as_str()),
                region,
                m.text,
                received_at,
            )
        });
        batch.push(index, &at, parsed);
    }
    Ok(batch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_the_documented_status_report() {
        let b = receipts(json!([
            {"user_receive_time": "2015-10-17 08:03:04", "nationcode": "86",
             "mobile": "13xxxxxxxxx", "report_status": "SUCCESS", "errmsg": "DELIVRD",
             "description": "用户短信送达成功", "sid": "xxxxxxx"},
            {"sid": "y", "report_status": "FAIL", "errmsg": "MN:0017",
             "description": "空号"},
            {"sid": "z", "report_status": "MAYBE"},
        ]))
        .unwrap();
        assert_eq!(b.receipts[0].event_id, "xxxxxxx:SUCCESS");
        assert_eq!(b.receipts[0].reason, None);
        assert_eq!(b.receipts[1].reason.as_deref(), Some("MN:0017: 空号"));
        assert_eq!(b.rejected[0].field, "[2].report_status");
    }

    #[test]
    fn a_reply_has_a_stable_id_of_its_content() {
        let region = "CN".parse().unwrap();
        let reply = json!({"extend": "", "mobile": "13800138000", "nationcode": "86",
                           "reply_time": "2019-12-31 10:00:00", "sign": "腾讯云", "text": "ＴＤ"});
        let a = replies(reply.clone(), region).unwrap();
        let b = replies(json!([reply]), region).unwrap();
        assert_eq!(a.messages, b.messages);
        assert_eq!(a.messages[0].phone, "+8613800138000");
        let other = replies(
            json!({"mobile": "13800138000", "nationcode": "86",
                   "reply_time": "2019-12-31 10:00:01", "text": "ＴＤ"}),
            region,
        )
        .unwrap();
        assert_ne!(a.messages[0].message_id, other.messages[0].message_id);
    }
}
