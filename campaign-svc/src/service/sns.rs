//! SES events through SNS: which topics are ours, the certificate a message is checked with
//! (configured, or fetched from its trusted `SigningCertURL` once and kept), and subscription
//! confirmations (the `SubscribeURL` is visited when it is AWS's own or under a configured
//! prefix, so subscribing the endpoint to the topic needs no manual step).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::MarketingService;
use super::webhooks::WebhookOutcome;
use crate::domain::vendor::Vendor;
use crate::domain::vendor::sns::{SnsMessage, certificate_der, receipts, trusted_url};
use crate::error::{Error, Result};

/// Certificates kept at most (SNS uses one per region at a time; more is someone probing).
const MAX_CACHED_CERTS: usize = 16;

/// The fetched certificates and the client that fetches them.
#[derive(Default)]
pub struct SnsCertificates {
    client: Mutex<Option<reqwest::Client>>,
    cache: Mutex<HashMap<String, Arc<Vec<u8>>>>,
}

impl SnsCertificates {
    fn client(&self) -> Result<reqwest::Client> {
        let mut guard = self
            .client
            .lock()
            .expect("SNS client lock is never poisoned");
        if let Some(c) = &*guard {
            return Ok(c.clone());
        }
        let _ = rustls::crypto::ring::default_provider().install_default();
        let c = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(3))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| Error::Internal(anyhow::anyhow!("building the SNS HTTP client: {e}")))?;
        *guard = Some(c.clone());
        Ok(c)
    }

    async fn get(&self, url: &str) -> Result<Vec<u8>> {
        let resp = self
            .client()?
            .get(url)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| Error::Internal(anyhow::anyhow!("fetching {url}: {e}")))?;
        let body = resp
            .bytes()
            .await
            .map_err(|e| Error::Internal(anyhow::anyhow!("reading {url}: {e}")))?;
        Ok(body.to_vec())
    }

    async fn certificate(&self, url: &str) -> Result<Arc<Vec<u8>>> {
        if let Some(c) = self.cache.lock().expect("SNS cache lock").get(url) {
            return Ok(c.clone());
        }
        let pem = self.get(url).await?;
        let der = Arc::new(
            certificate_der(&pem)
                .map_err(|_| Error::BadSignature("SigningCertURL is not a certificate"))?,
        );
        let mut cache = self.cache.lock().expect("SNS cache lock");
        if cache.len() >= MAX_CACHED_CERTS {
            cache.clear();
        }
        cache.insert(url.to_owned(), der.clone());
        Ok(der)
    }
}

/// What an SNS message did.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum SnsOutcome {
    Receipts(WebhookOutcome),
    Subscription { subscription: &'static str },
}

impl MarketingService {
    /// Checks that `m` comes from one of our topics, signed by SNS.
    pub async fn verify_sns(&self, m: &SnsMessage) -> Result<()> {
        let cb = &self.settings.callbacks;
        if cb.sns_topic_arns.is_empty() {
            return Err(Error::BadSignature(
                "SES notifications are not configured (SNS_TOPIC_ARNS)",
            ));
        }
        if !cb.sns_topic_arns.contains(&m.topic_arn) {
            return Err(Error::BadSignature("TopicArn is not one of SNS_TOPIC_ARNS"));
        }
        let cert = match &cb.sns_signing_cert {
            Some(der) => Arc::new(der.clone()),
            None => {
                if !trusted_url(&m.signing_cert_url, &cb.sns_cert_url_prefixes) {
                    return Err(Error::BadSignature(
                        "SigningCertURL is not an Amazon SNS certificate URL",
                    ));
                }
                self.sns.certificate(&m.signing_cert_url).await?
            }
        };
        m.verify(&cert)
    }

    /// Acts on a verified SNS message: SES events become receipts; a subscription is confirmed.
    pub async fn apply_sns(&self, m: SnsMessage) -> Result<SnsOutcome> {
        match m.kind.as_str() {
            "Notification" => Ok(SnsOutcome::Receipts(
                self.apply_vendor_receipts(Vendor::Ses, receipts(&m)?)
                    .await?,
            )),
            "SubscriptionConfirmation" => {
                let url = m.subscribe_url.unwrap_or_default();
                if !trusted_url(&url, &self.settings.callbacks.sns_cert_url_prefixes) {
                    tracing::warn!(
                        topic = m.topic_arn,
                        "SNS SubscribeURL is not AWS's; not visited"
                    );
                    return Err(Error::invalid("SubscribeURL", "is not an Amazon SNS URL"));
                }
                self.sns.get(&url).await?;
                tracing::info!(topic = m.topic_arn, "SNS subscription confirmed");
                Ok(SnsOutcome::Subscription {
                    subscription: "confirmed",
                })
            }
            _ => {
                tracing::warn!(topic = m.topic_arn, "SNS subscription removed");
                Ok(SnsOutcome::Subscription {
                    subscription: "removed",
                })
            }
        }
    }
}
