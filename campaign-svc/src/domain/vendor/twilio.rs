//! Twilio callbacks, forms signed with `X-Twilio-Signature`: Base64(HMAC-SHA1(auth token, the
//! full URL Twilio requested + every POST parameter as name and value, sorted by name)), as
//! Twilio's "Webhooks security" page and its SDKs' `RequestValidator` define it (the SDKs also
//! accept the URL with the scheme's default port added or removed, since Twilio may sign either).
//!
//! - Status callbacks: `MessageSid`, `MessageStatus` (`queued`, `sent`, `delivered`,
//!   `undelivered`, `failed`, `read`, …), `ErrorCode`. `delivered` is delivered, `undelivered`
//!   and `failed` are failures; the other statuses change nothing here.
//! - Incoming messages: `MessageSid`, `From` (E.164), `Body`; answered with an empty TwiML
//!   `<Response/>` (no automatic reply).

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};

use super::{InboundBatch, ReceiptBatch, VendorReceipt, id};
use crate::domain::customer::PhoneRegion;
use crate::domain::webhook::Outcome;
use crate::error::{Error, Result};

/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "x-twilio-signature";

/// The empty TwiML answer to an incoming message.
pub const EMPTY_TWIML: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response></Response>";

/// A form body's parameters, in order.
pub fn form(body: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

/// The signature of `params` posted to `url` (for documentation, tests and tooling).
pub fn sign(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    sorted.dedup();
    let mut mac =
        Hmac::<sha1::Sha1>::new_from_slice(auth_token.as_bytes()).expect("HMAC takes any key");
    mac.update(url.as_bytes());
    for (k, v) in sorted {
        mac.update(k.as_bytes());
        mac.update(v.as_bytes());
    }
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Refuses a callback whose signature matches none of `url`'s forms (as given, with the
/// default port, without a port); constant-time comparison.
pub fn verify_signature(
    auth_token: Option<&str>,
    url: &str,
    params: &[(String, String)],
    header: Option<&str>,
) -> Result<()> {
    let token = auth_token.ok_or(Error::BadSignature(
        "Twilio callbacks are not configured (TWILIO_AUTH_TOKEN)",
    ))?;
    let header = header.ok_or(Error::BadSignature("missing X-Twilio-Signature header"))?;
    let valid = url_forms(url).iter().any(|u| {
        super::constant_time_eq(sign(token, u, params).as_bytes(), header.trim().as_bytes())
    });
    if !valid {
        return Err(Error::BadSignature("X-Twilio-Signature does not match"));
    }
    Ok(())
}

/// `url`, and the same with its port added (the scheme's default) or removed.
fn url_forms(url: &str) -> Vec<String> {
    let mut forms = vec![url.to_owned()];
    let Some((scheme, rest)) = url.split_once("://") else {
        return forms;
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((u, h)) => (format!("{u}@"), h),
        None => (String::new(), authority),
    };
    let port_at = hostport
        .rfind(':')
        .filter(|&i| !hostport[i + 1..].is_empty())
        .filter(|&i| hostport[i + 1..].bytes().all(|b| b.is_ascii_digit()));
    match port_at {
        Some(i) => forms.push(format!("{scheme}://{userinfo}{}{tail}", &hostport[..i])),
        None => {
            let port = if scheme.eq_ignore_ascii_case("https") {
                443
            } else {
                80
            };
            forms.push(format!("{scheme}://{userinfo}{hostport}:{port}{tail}"));
        }
    }
    forms
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Reads a status callback (one message per call).
pub fn receipts(params: &[(String, String)]) -> Result<ReceiptBatch> {
    let mut batch = ReceiptBatch::default();
    let read = (|| {
        let sid = id(
            "MessageSid",
            param(params, "MessageSid")
                .or(param(params, "SmsSid"))
                .map(str::to_owned),
        )?;
        let status = param(params, "MessageStatus")
            .or(param(params, "SmsStatus"))
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| Error::invalid("MessageStatus", "is required"))?;
        let outcome = match status {
            "delivered" => Outcome::Delivered,
            "undelivered" | "failed" => Outcome::Failed,
            _ => return Ok(None),
        };
        let code = param(params, "ErrorCode").filter(|c| !c.trim().is_empty());
        Ok(Some(VendorReceipt {
            event_id: format!("{sid}:{status}"),
            provider_message_id: sid,
            record_id: None,
            outcome,
            reason: (outcome == Outcome::Failed)
                .then(|| {
                    let code = code.map(|c| format!("error {c}"));
                    super::reason([Some(status), code.as_deref()])
                })
                .flatten(),
            occurred_at: None,
            complaint: false,
        }))
    })();
    batch.push(0, "body", read);
    Ok(batch)
}

/// Reads an incoming message.
pub fn replies(params: &[(String, String)], region: PhoneRegion) -> InboundBatch {
    let mut batch = InboundBatch::default();
    let read = crate::domain::reply::inbound(
        "MessageSid",
        param(params, "MessageSid")
            .or(param(params, "SmsSid"))
            .map(str::to_owned),
        "From",
        param(params, "From"),
        region,
        param(params, "Body").map(str::to_owned),
        None,
    );
    batch.push(0, "body", read);
    batch
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// The worked example of Twilio's "Validating requests" page (auth token `12345`), as the
    /// page has printed it over the years (two caller numbers).
    #[test]
    fn signs_the_documented_example() {
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        let example = |caller: &str| {
            params(&[
                ("CallSid", "CA1234567890ABCDE"),
                ("Caller", caller),
                ("Digits", "1234"),
                ("From", caller),
                ("To", "+18005551212"),
            ])
        };
        let p = example("+12349013030");
        assert_eq!(sign("12345", url, &p), "0/KCTR6DLpKmkAf8muzZqo1nDgQ=");
        assert_eq!(
            sign("12345", url, &example("+14158675310")),
            "GvWf1cFY/Q7PnoempGyD5oXAezc="
        );
        let good = Some("0/KCTR6DLpKmkAf8muzZqo1nDgQ=");
        assert!(verify_signature(Some("12345"), url, &p, good).is_ok());
        // Signed with the default port written out: still accepted.
        let with_port = sign(
            "12345",
            "https://mycompany.com:443/myapp.php?foo=1&bar=2",
            &p,
        );
        assert!(verify_signature(Some("12345"), url, &p, Some(&with_port)).is_ok());
        assert!(verify_signature(Some("12345"), url, &p[1..], good).is_err());
        assert!(verify_signature(Some("1234"), url, &p, good).is_err());
        assert!(verify_signature(None, url, &p, good).is_err());
    }

    #[test]
    fn url_forms_add_or_remove_the_port() {
        assert_eq!(
            url_forms("https://a.example/x?y=1"),
            ["https://a.example/x?y=1", "https://a.example:443/x?y=1"]
        );
        assert_eq!(
            url_forms("http://127.0.0.1:8080/x"),
            ["http://127.0.0.1:8080/x", "http://127.0.0.1/x"]
        );
    }

    #[test]
    fn statuses_map_to_outcomes() {
        let b = receipts(&params(&[
            ("MessageSid", "SM1"),
            ("MessageStatus", "undelivered"),
            ("ErrorCode", "30003"),
        ]))
        .unwrap();
        assert_eq!(b.receipts[0].outcome, Outcome::Failed);
        assert_eq!(
            b.receipts[0].reason.as_deref(),
            Some("undelivered: error 30003")
        );
        let sent = receipts(&params(&[("MessageSid", "SM1"), ("MessageStatus", "sent")])).unwrap();
        assert_eq!((sent.receipts.len(), sent.skipped), (0, 1));
        let bad = receipts(&params(&[("MessageStatus", "sent")])).unwrap();
        assert_eq!(bad.rejected[0].field, "MessageSid");
    }
}
