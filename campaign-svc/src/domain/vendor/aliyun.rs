//! Aliyun SMS callbacks (HTTP batch push, "消息推送"), both JSON arrays answered with
//! `{"code": 0, "msg": "成功"}` (anything else makes Aliyun push again):
//!
//! - `SmsReport`, delivery receipts: `[{"phone_number", "send_time", "report_time", "success",
//!   "err_code", "err_msg", "sms_size", "biz_id", "out_id"}]`. `biz_id` is the `BizId` SendSms
//!   answered (the record's provider message id); `success` true is delivered (`err_code`
//!   `DELIVERED`), false a failure named by `err_code`/`err_msg`. Times are Beijing time.
//! - `SmsUp`, replies: `[{"phone_number", "send_time", "content", "sign_name", "dest_code",
//!   "sequence_id"}]`; `sequence_id` identifies the message.

use serde::Deserialize;

use super::{InboundBatch, Loose, ReceiptBatch, VendorReceipt, china_time, id, objects, read};
use crate::domain::customer::PhoneRegion;
use crate::domain::webhook::Outcome;
use crate::error::{Error, Result};

/// The answer Aliyun expects from a callback it may consider done.
pub fn accepted() -> serde_json::Value {
    serde_json::json!({"code": 0, "msg": "成功"})
}

#[derive(Deserialize)]
struct Report {
    biz_id: Option<Loose>,
    success: Option<Loose>,
    err_code: Option<String>,
    err_msg: Option<String>,
    report_time: Option<String>,
    out_id: Option<Loose>,
}

#[derive(Deserialize)]
struct Up {
    phone_number: Option<Loose>,
    content: Option<String>,
    send_time: Option<String>,
    sequence_id: Option<Loose>,
}

/// Reads an `SmsReport` push.
pub fn receipts(body: serde_json::Value) -> Result<ReceiptBatch> {
    let mut batch = ReceiptBatch::default();
    for (index, report) in objects(body, "reports")?.into_iter().enumerate() {
        let at = format!("[{index}]");
        let parsed = read::<Report>(report, &at).and_then(|r| {
            let biz_id = id(&format!("{at}.biz_id"), r.biz_id.map(|b| b.text()))?;
            let success = match r.success.as_ref().map(Loose::text).as_deref() {
                Some("true") => true,
                Some("false") => false,
                _ => {
                    return Err(Error::invalid(
                        format!("{at}.success"),
                        "must be true or false",
                    ));
                }
            };
            let code = r.err_code.as_deref().map(str::trim).unwrap_or_default();
            Ok(Some(VendorReceipt {
                event_id: format!("{biz_id}:{}", if success { "DELIVERED" } else { code }),
                provider_message_id: biz_id,
                record_id: r
                    .out_id
                    .as_ref()
                    .and_then(|o| uuid::Uuid::try_parse(o.text().trim()).ok()),
                outcome: if success {
                    Outcome::Delivered
                } else {
                    Outcome::Failed
                },
                reason: if success {
                    None
                } else {
                    super::reason([r.err_code.as_deref(), r.err_msg.as_deref()])
                },
                occurred_at: china_time(r.report_time.as_deref()),
                complaint: false,
            }))
        });
        batch.push(index, &at, parsed);
    }
    Ok(batch)
}

/// Reads an `SmsUp` push; numbers without a country code are in `region`.
pub fn replies(body: serde_json::Value, region: PhoneRegion) -> Result<InboundBatch> {
    let mut batch = InboundBatch::default();
    for (index, up) in objects(body, "messages")?.into_iter().enumerate() {
        let at = format!("[{index}]");
        let parsed = read::<Up>(up, &at).and_then(|m| {
            crate::domain::reply::inbound(
                &format!("{at}.sequence_id"),
                m.sequence_id.map(|s| s.text()),
                &format!("{at}.phone_number"),
                m.phone_number.map(|p| p.text()).as_deref(),
                region,
                m.content,
                china_time(m.send_time.as_deref()),
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
    fn reads_the_documented_report() {
        let b = receipts(json!([
            {"phone_number": "1381111****", "send_time": "2017-01-01 11:11:11",
             "report_time": "2017-01-01 11:11:11", "success": true, "err_code": "DELIVERED",
             "err_msg": "用户接收成功", "sms_size": "1", "biz_id": "12345", "out_id": "67890"},
            {"biz_id": "12346", "success": false, "err_code": "MK:0001", "err_msg": "空号"},
            {"biz_id": "12347", "success": "maybe"},
        ]))
        .unwrap();
        assert_eq!(b.receipts.len(), 2);
        assert_eq!(b.receipts[0].event_id, "12345:DELIVERED");
        assert_eq!(b.receipts[0].outcome, Outcome::Delivered);
        assert_eq!(
            b.receipts[0].occurred_at.unwrap().to_rfc3339(),
            "2017-01-01T03:11:11+00:00"
        );
        assert_eq!(b.receipts[1].outcome, Outcome::Failed);
        assert_eq!(b.receipts[1].reason.as_deref(), Some("MK:0001: 空号"));
        assert_eq!(b.rejected[0].field, "[2].success");
        assert!(receipts(json!([])).is_err());
        assert!(receipts(json!("x")).is_err());
    }

    #[test]
    fn reads_the_documented_reply() {
        let region = "CN".parse().unwrap();
        let b = replies(
            json!([{"phone_number": "13800138000", "send_time": "2017-01-01 00:00:00",
                    "content": "TD", "sign_name": "签名", "dest_code": "1234",
                    "sequence_id": 1234567890}]),
            region,
        )
        .unwrap();
        assert_eq!(b.messages[0].message_id, "1234567890");
        assert_eq!(b.messages[0].phone, "+8613800138000");
        assert_eq!(b.messages[0].text, "TD");
    }
}
