//! Amazon SES events delivered by Amazon SNS to an HTTPS subscription: the SNS message (`Type`
//! `Notification`, `SubscriptionConfirmation`, `UnsubscribeConfirmation`), its signature, and
//! the SES event inside `Message`.
//!
//! SNS signs the "canonical string" — `Key\nValue\n` for `Message`, `MessageId`, `Subject` (when
//! present), `Timestamp`, `TopicArn`, `Type` of a notification, and `Message`, `MessageId`,
//! `SubscribeURL`, `Timestamp`, `Token`, `TopicArn`, `Type` of a (un)subscription confirmation —
//! with RSA PKCS#1 v1.5 over SHA-1 (`SignatureVersion` 1) or SHA-256 (2), using the key of the
//! X.509 certificate at `SigningCertURL` (AWS's "Verifying the signatures of Amazon SNS
//! messages"). That URL must be AWS's own (`https://sns.<region>.amazonaws.com[.cn]/…pem`) or
//! start with a configured prefix, or anyone could sign with a certificate of their own.
//!
//! The SES event (`eventType` from a configuration set's event destination, `notificationType`
//! from identity notifications): `Delivery` is delivered, `Bounce` bounced (with type, subtype
//! and the diagnostic code), `Complaint` delivered and a complaint (the recipient is opted out
//! of e-mail), `Reject` failed; the others (`Send`, `Open`, `Click`, `DeliveryDelay`, …) change
//! nothing here. `mail.messageId` is the `MessageId` SendEmail answered.

use base64::Engine as _;
use serde::Deserialize;

use super::{ReceiptBatch, VendorReceipt, id};
use crate::domain::webhook::Outcome;
use crate::error::{Error, Result};

/// An SNS message as posted to an HTTP(S) endpoint.
#[derive(Debug, Clone, Deserialize)]
pub struct SnsMessage {
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(rename = "MessageId")]
    pub message_id: String,
    #[serde(rename = "TopicArn")]
    pub topic_arn: String,
    #[serde(rename = "Subject")]
    pub subject: Option<String>,
    #[serde(rename = "Message")]
    pub message: String,
    #[serde(rename = "Timestamp")]
    pub timestamp: String,
    #[serde(rename = "SignatureVersion")]
    pub signature_version: String,
    #[serde(rename = "Signature")]
    pub signature: String,
    #[serde(rename = "SigningCertURL")]
    pub signing_cert_url: String,
    #[serde(rename = "SubscribeURL")]
    pub subscribe_url: Option<String>,
    #[serde(rename = "Token")]
    pub token: Option<String>,
}

impl SnsMessage {
    /// Reads the body; what is not an SNS message is a 400.
    pub fn parse(body: &[u8]) -> Result<Self> {
        let value: serde_json::Value =
            serde_json::from_slice(body).map_err(|e| Error::MalformedJson(e.to_string()))?;
        crate::domain::text::refuse_nul_in_json(&value, "")?;
        serde_path_to_error::deserialize(value).map_err(|e| {
            Error::invalid(
                e.path().to_string().trim_start_matches('.'),
                e.inner().to_string(),
            )
        })
    }

    /// The string SNS signed.
    pub fn canonical_string(&self) -> Result<String> {
        let mut s = String::new();
        let mut add = |k: &str, v: &str| {
            s.push_str(k);
            s.push('\n');
            s.push_str(v);
            s.push('\n');
        };
        match self.kind.as_str() {
            "Notification" => {
                add("Message", &self.message);
                add("MessageId", &self.message_id);
                if let Some(subject) = &self.subject {
                    add("Subject", subject);
                }
                add("Timestamp", &self.timestamp);
                add("TopicArn", &self.topic_arn);
                add("Type", &self.kind);
            }
            "SubscriptionConfirmation" | "UnsubscribeConfirmation" => {
                let need = |v: &Option<String>, name: &str| {
                    v.clone()
                        .ok_or_else(|| Error::invalid(name, "is required for this Type"))
                };
                add("Message", &self.message);
                add("MessageId", &self.message_id);
                add("SubscribeURL", &need(&self.subscribe_url, "SubscribeURL")?);
                add("Timestamp", &self.timestamp);
                add("Token", &need(&self.token, "Token")?);
                add("TopicArn", &self.topic_arn);
                add("Type", &self.kind);
            }
            other => {
                return Err(Error::invalid(
                    "Type",
                    format!("`{other}` is not an SNS message type"),
                ));
            }
        }
        Ok(s)
    }

    /// Checks the signature with the certificate `cert_der` (DER X.509, currently valid).
    pub fn verify(&self, cert_der: &[u8]) -> Result<()> {
        let algorithm: &'static dyn ring::signature::VerificationAlgorithm =
            match self.signature_version.as_str() {
                "1" => &ring::signature::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
                "2" => &ring::signature::RSA_PKCS1_2048_8192_SHA256,
                _ => return Err(Error::BadSignature("SignatureVersion must be 1 or 2")),
            };
        let signature = base64::engine::general_purpose::STANDARD
            .decode(self.signature.trim())
            .map_err(|_| Error::BadSignature("Signature is not Base64"))?;
        let (_, cert) = x509_parser::parse_x509_certificate(cert_der)
            .map_err(|_| Error::BadSignature("the signing certificate does not parse"))?;
        if !cert.validity().is_valid() {
            return Err(Error::BadSignature("the signing certificate has expired"));
        }
        let key = ring::signature::UnparsedPublicKey::new(
            algorithm,
            cert.public_key().subject_public_key.data.as_ref(),
        );
        key.verify(self.canonical_string()?.as_bytes(), &signature)
            .map_err(|_| Error::BadSignature("SNS signature does not match"))
    }
}

/// The DER of the first certificate in `pem`.
pub fn certificate_der(pem: &[u8]) -> anyhow::Result<Vec<u8>> {
    let (_, pem) = x509_parser::pem::parse_x509_pem(pem)
        .map_err(|e| anyhow::anyhow!("not a PEM certificate: {e}"))?;
    x509_parser::parse_x509_certificate(&pem.contents)
        .map_err(|e| anyhow::anyhow!("not an X.509 certificate: {e}"))?;
    Ok(pem.contents)
}

/// Whether `url` may be fetched for a certificate or a subscription: AWS's SNS host over
/// HTTPS, or a URL under one of `prefixes`.
pub fn trusted_url(url: &str, prefixes: &[String]) -> bool {
    if prefixes.iter().any(|p| url.starts_with(p.as_str())) {
        return true;
    }
    let Ok(u) = url::Url::parse(url) else {
        return false;
    };
    let host = u.host_str().unwrap_or_default();
    let region = host
        .strip_prefix("sns.")
        .and_then(|h| {
            h.strip_suffix(".amazonaws.com")
                .or(h.strip_suffix(".amazonaws.com.cn"))
        })
        .unwrap_or_default();
    u.scheme() == "https"
        && u.port().is_none()
        && u.username().is_empty()
        && !region.is_empty()
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SesEvent {
    event_type: Option<String>,
    notification_type: Option<String>,
    mail: Option<Mail>,
    bounce: Option<Bounce>,
    delivery: Option<Stamped>,
    complaint: Option<Stamped>,
    reject: Option<Reject>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Mail {
    message_id: Option<String>,
    /// Event publishing's message tags: the worker's `record_id`.
    #[serde(default)]
    tags: std::collections::HashMap<String, Vec<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Bounce {
    bounce_type: Option<String>,
    bounce_sub_type: Option<String>,
    #[serde(default)]
    bounced_recipients: Vec<BouncedRecipient>,
    timestamp: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BouncedRecipient {
    diagnostic_code: Option<String>,
}

#[derive(Deserialize)]
struct Stamped {
    timestamp: Option<String>,
}

#[derive(Deserialize)]
struct Reject {
    reason: Option<String>,
}

fn time(s: &Option<String>) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(s.as_deref()?.trim())
        .ok()
        .map(|t| t.to_utc())
}

/// Reads the SES event of a verified notification; `event_id` is the SNS `MessageId`.
pub fn receipts(notification: &SnsMessage) -> Result<ReceiptBatch> {
    let mut batch = ReceiptBatch::default();
    let read = (|| {
        let value: serde_json::Value = serde_json::from_str(&notification.message)
            .map_err(|e| Error::invalid("Message", format!("is not an SES event: {e}")))?;
        let event: SesEvent = super::read(value, "Message")?;
        let kind = event
            .event_type
            .or(event.notification_type)
            .ok_or_else(|| Error::invalid("Message.eventType", "is required"))?;
        let mail = event
            .mail
            .ok_or_else(|| Error::invalid("Message.mail", "is required"))?;
        let record_id = mail
            .tags
            .get("record_id")
            .and_then(|v| v.first())
            .and_then(|r| uuid::Uuid::try_parse(r).ok());
        let message_id = id("Message.mail.messageId", mail.message_id)?;
        let (outcome, reason, occurred_at, complaint) = match kind.as_str() {
            "Delivery" => (
                Outcome::Delivered,
                None,
                event.delivery.and_then(|d| time(&d.timestamp)),
                false,
            ),
            "Bounce" => {
                let b = event
                    .bounce
                    .ok_or_else(|| Error::invalid("Message.bounce", "is required"))?;
                let kind = [b.bounce_type.as_deref(), b.bounce_sub_type.as_deref()]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join("/");
                let diagnostic = b
                    .bounced_recipients
                    .iter()
                    .find_map(|r| r.diagnostic_code.as_deref());
                (
                    Outcome::Bounced,
                    super::reason([Some(kind.as_str()), diagnostic]),
                    time(&b.timestamp),
                    false,
                )
            }
            "Complaint" => (
                Outcome::Delivered,
                None,
                event.complaint.and_then(|c| time(&c.timestamp)),
                true,
            ),
            "Reject" => (
                Outcome::Failed,
                super::reason([
                    Some("rejected by SES"),
                    event.reject.and_then(|r| r.reason).as_deref(),
                ]),
                None,
                false,
            ),
            _ => return Ok(None),
        };
        Ok(Some(VendorReceipt {
            event_id: notification.message_id.clone(),
            provider_message_id: message_id,
            record_id,
            outcome,
            reason,
            occurred_at,
            complaint,
        }))
    })();
    batch.push(0, "Message", read);
    Ok(batch)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(kind: &str) -> SnsMessage {
        SnsMessage {
            kind: kind.into(),
            message_id: "m-1".into(),
            topic_arn: "arn:aws:sns:eu-west-1:123456789012:ses".into(),
            subject: None,
            message: "{}".into(),
            timestamp: "2026-12-01T00:00:00.000Z".into(),
            signature_version: "1".into(),
            signature: String::new(),
            signing_cert_url: String::new(),
            subscribe_url: Some(
                "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription".into(),
            ),
            token: Some("tok".into()),
        }
    }

    #[test]
    fn canonical_strings_follow_the_type() {
        assert_eq!(
            message("Notification").canonical_string().unwrap(),
            "Message\n{}\nMessageId\nm-1\nTimestamp\n2026-12-01T00:00:00.000Z\n\
             TopicArn\narn:aws:sns:eu-west-1:123456789012:ses\nType\nNotification\n"
        );
        let c = message("SubscriptionConfirmation")
            .canonical_string()
            .unwrap();
        assert!(c.contains("SubscribeURL\nhttps://sns.eu-west-1") && c.contains("Token\ntok\n"));
        assert!(message("Other").canonical_string().is_err());
    }

    #[test]
    fn only_aws_sns_hosts_or_configured_prefixes_are_trusted() {
        let none: Vec<String> = vec![];
        assert!(trusted_url(
            "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem",
            &none
        ));
        assert!(trusted_url(
            "https://sns.cn-north-1.amazonaws.com.cn/x.pem",
            &none
        ));
        for bad in [
            "http://sns.us-east-1.amazonaws.com/x.pem",
            "https://sns.us-east-1.amazonaws.com.evil.example/x.pem",
            "https://evil.example/sns.us-east-1.amazonaws.com/x.pem",
            "https://sns.us-east-1.amazonaws.com:8443/x.pem",
            "https://user@sns.us-east-1.amazonaws.com/x.pem",
            "https://sns..amazonaws.com/x.pem",
        ] {
            assert!(!trusted_url(bad, &none), "{bad}");
        }
        assert!(trusted_url(
            "http://127.0.0.1:9/c.pem",
            &["http://127.0.0.1:9/".into()]
        ));
    }

    #[test]
    fn ses_events_map_to_outcomes() {
        let mut n = message("Notification");
        n.message = serde_json::json!({"notificationType": "Bounce",
            "bounce": {"bounceType": "Permanent", "bounceSubType": "General",
                       "bouncedRecipients": [{"emailAddress": "a@b.c",
                           "diagnosticCode": "smtp; 550 5.1.1 user unknown"}],
                       "timestamp": "2026-12-01T00:00:01.000Z"},
            "mail": {"messageId": "0100-abc"}})
        .to_string();
        let b = receipts(&n).unwrap();
        assert_eq!(b.receipts[0].outcome, Outcome::Bounced);
        assert_eq!(
            b.receipts[0].reason.as_deref(),
            Some("Permanent/General: smtp; 550 5.1.1 user unknown")
        );
        n.message =
            serde_json::json!({"eventType": "Open", "mail": {"messageId": "x"}}).to_string();
        assert_eq!(receipts(&n).unwrap().skipped, 1);
        n.message =
            serde_json::json!({"eventType": "Complaint", "mail": {"messageId": "x"}}).to_string();
        assert!(receipts(&n).unwrap().receipts[0].complaint);
        n.message = "not json".into();
        assert_eq!(receipts(&n).unwrap().rejected[0].field, "Message");
    }
}
