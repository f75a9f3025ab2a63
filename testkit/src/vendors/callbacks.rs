//! The vendors' side of callbacks to campaign-svc, written from the vendors' documentation and
//! independently of the service's code: Twilio's `X-Twilio-Signature`, and an SNS stand-in
//! that signs SES notifications with a certificate it serves (as `SigningCertURL`), and counts
//! the subscription confirmations it receives at its `SubscribeURL`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::State;
use axum::routing::get;
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use num_bigint::BigUint;
use ring::signature::RsaKeyPair;
use serde_json::{Value, json};
use sha1::Digest as _;

/// Base64(HMAC-SHA1(auth token, URL + each parameter's name and value, sorted by name)).
pub fn twilio_signature(auth_token: &str, url: &str, params: &[(&str, &str)]) -> String {
    let mut sorted = params.to_vec();
    sorted.sort();
    let mut data = url.to_owned();
    for (k, v) in sorted {
        data.push_str(k);
        data.push_str(v);
    }
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(auth_token.as_bytes()).expect("any key");
    mac.update(data.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// `application/x-www-form-urlencoded` of `params`.
pub fn form(params: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish()
}

/// Signs SNS messages for one topic and serves its certificate.
#[derive(Clone)]
pub struct SnsStandIn {
    pub addr: std::net::SocketAddr,
    pub topic_arn: String,
    pub cert_pem: String,
    key: Arc<RsaKeyPair>,
    /// The same key's modulus and private exponent, for SHA-1 signatures.
    private: Arc<(BigUint, BigUint)>,
    confirmations: Arc<AtomicU64>,
}

impl SnsStandIn {
    pub async fn start() -> Self {
        let (listener, addr) = super::listen().await;
        let pem = super::fcm::OTHER_KEY;
        let key = RsaKeyPair::from_pkcs8(&super::pem_der(pem)).expect("the test RSA key");
        let signer = rcgen::KeyPair::from_pem(pem).expect("rcgen reads the test RSA key");
        let cert_pem = rcgen::CertificateParams::new(vec!["sns.stand-in.test".to_owned()])
            .expect("certificate parameters")
            .self_signed(&signer)
            .expect("self-signed certificate")
            .pem();
        let stand_in = SnsStandIn {
            addr,
            topic_arn: "arn:aws:sns:eu-west-1:123456789012:ses-events".into(),
            cert_pem,
            key: Arc::new(key),
            private: Arc::new(modulus_and_exponent(&super::pem_der(pem))),
            confirmations: Arc::default(),
        };
        let app = axum::Router::new()
            .route("/SimpleNotificationService-test.pem", get(certificate))
            .route("/confirm", get(confirm))
            .with_state(stand_in.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        stand_in
    }

    /// What campaign-svc's `SNS_CERT_URL_PREFIXES` must allow.
    pub fn prefix(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// Subscription confirmations received.
    pub fn confirmations(&self) -> u64 {
        self.confirmations.load(Ordering::SeqCst)
    }

    /// A `Notification` carrying `event` (an SES event), signed with `SignatureVersion`
    /// `version` (1: SHA-1, 2: SHA-256).
    pub fn notification(&self, message_id: &str, event: &Value, version: u8) -> Value {
        let mut m = json!({
            "Type": "Notification",
            "MessageId": message_id,
            "TopicArn": self.topic_arn,
            "Message": event.to_string(),
            "Timestamp": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
            "SignatureVersion": version.to_string(),
            "SigningCertURL": format!("{}SimpleNotificationService-test.pem", self.prefix()),
            "UnsubscribeURL": format!("{}unsubscribe", self.prefix()),
        });
        let fields = [
            "Message",
            "MessageId",
            "Subject",
            "Timestamp",
            "TopicArn",
            "Type",
        ];
        m["Signature"] = self.sign(&m, &fields, version).into();
        m
    }

    /// A `SubscriptionConfirmation` whose `SubscribeURL` is this stand-in's.
    pub fn subscription_confirmation(&self) -> Value {
        let mut m = json!({
            "Type": "SubscriptionConfirmation",
            "MessageId": uuid::Uuid::new_v4().to_string(),
            "Token": "2336412f37fb687f5d51e6e2425",
            "TopicArn": self.topic_arn,
            "Message": format!("You have chosen to subscribe to the topic {}.", self.topic_arn),
            "SubscribeURL": format!("{}confirm?Token=2336412f37fb687f5d51e6e2425", self.prefix()),
            "Timestamp": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
            "SignatureVersion": "1",
            "SigningCertURL": format!("{}SimpleNotificationService-test.pem", self.prefix()),
        });
        let fields = [
            "Message",
            "MessageId",
            "SubscribeURL",
            "Timestamp",
            "Token",
            "TopicArn",
            "Type",
        ];
        m["Signature"] = self.sign(&m, &fields, 1).into();
        m
    }

    /// "Key\nValue\n" for each present field, in the documented order, signed.
    fn sign(&self, m: &Value, fields: &[&str], version: u8) -> String {
        let mut canonical = String::new();
        for f in fields {
            if let Some(v) = m[*f].as_str() {
                canonical.push_str(&format!("{f}\n{v}\n"));
            }
        }
        let sig = if version == 1 {
            // ring signs with SHA-256 and up only; SNS's version 1 is SHA1withRSA.
            rsa_sha1_sign(&self.private, canonical.as_bytes())
        } else {
            let mut sig = vec![0; self.key.public().modulus_len()];
            self.key
                .sign(
                    &ring::signature::RSA_PKCS1_SHA256,
                    &ring::rand::SystemRandom::new(),
                    canonical.as_bytes(),
                    &mut sig,
                )
                .expect("RSA signing");
            sig
        };
        base64::engine::general_purpose::STANDARD.encode(sig)
    }
}

async fn certificate(State(s): State<SnsStandIn>) -> String {
    s.cert_pem.clone()
}

async fn confirm(State(s): State<SnsStandIn>) -> &'static str {
    s.confirmations.fetch_add(1, Ordering::SeqCst);
    "<ConfirmSubscriptionResponse/>"
}

/// `n` and `d` of a PKCS#8 RSA private key (RFC 5208 around RFC 8017's RSAPrivateKey).
fn modulus_and_exponent(pkcs8: &[u8]) -> (BigUint, BigUint) {
    let inner = yasna::parse_der(pkcs8, |r| {
        r.read_sequence(|r| {
            r.next().read_u8()?;
            r.next().read_sequence(|r| {
                r.next().read_oid()?;
                r.next().read_null()
            })?;
            r.next().read_bytes()
        })
    })
    .expect("a PKCS#8 key");
    yasna::parse_der(&inner, |r| {
        r.read_sequence(|r| {
            r.next().read_u8()?;
            let n = r.next().read_bigint_bytes()?.0;
            r.next().read_bigint_bytes()?;
            let d = r.next().read_bigint_bytes()?.0;
            for _ in 0..5 {
                r.next().read_bigint_bytes()?;
            }
            Ok((BigUint::from_bytes_be(&n), BigUint::from_bytes_be(&d)))
        })
    })
    .expect("an RSA private key")
}

/// RSASSA-PKCS1-v1_5 with SHA-1 (RFC 8017 §8.2.1): `EM = 00 01 FF…FF 00 DigestInfo`, `EM^d mod n`.
fn rsa_sha1_sign((n, d): &(BigUint, BigUint), message: &[u8]) -> Vec<u8> {
    const SHA1_DIGEST_INFO: [u8; 15] = [
        0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00, 0x04, 0x14,
    ];
    let k = n.to_bytes_be().len();
    let hash = sha1::Sha1::digest(message);
    let t_len = SHA1_DIGEST_INFO.len() + hash.len();
    let mut em = vec![0x00, 0x01];
    em.extend(std::iter::repeat_n(0xff, k - t_len - 3));
    em.push(0x00);
    em.extend_from_slice(&SHA1_DIGEST_INFO);
    em.extend_from_slice(&hash);
    let s = BigUint::from_bytes_be(&em).modpow(d, n).to_bytes_be();
    let mut out = vec![0; k - s.len()];
    out.extend(s);
    out
}
