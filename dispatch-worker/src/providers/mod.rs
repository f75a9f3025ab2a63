//! Channel providers behind one trait, and the per-worker rate limit in front of each: the
//! `log` sink, the generic `http` contract, SMTP, and one module per vendor API (each signing
//! its requests as the vendor documents, see the module's top comment for the source).

mod aliyun;
mod apns;
mod fcm;
mod http;
mod jwt;
mod log;
mod ses;
mod signing;
mod sigv4;
mod smtp;
mod tencent;
mod twilio;
mod wire;

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use marketing_core::vocabulary::Channel;
use uuid::Uuid;

use crate::config::{Config, ProviderKind};

pub use aliyun::{AliyunSettings, AliyunSms};
pub use apns::{Apns, ApnsSettings};
pub use fcm::{Fcm, FcmSettings};
pub use http::HttpProvider;
pub use log::LogProvider;
pub use ses::{Ses, SesSettings};
pub use smtp::SmtpProvider;
pub use tencent::{TencentSettings, TencentSms};
pub use twilio::{Twilio, TwilioSettings};

/// A rendered message for one recipient.
#[derive(Debug, Clone)]
pub struct OutboundMessage {
    /// Also the idempotency key the provider receives.
    pub record_id: Uuid,
    pub campaign_id: Uuid,
    pub channel: Channel,
    /// Phone number, e-mail address or push token.
    pub to: String,
    /// E-mail subject / push title.
    pub subject: String,
    pub body: String,
    /// E-mail only: the HTML alternative of `body`.
    pub html_body: Option<String>,
    /// The message's one-click unsubscribe link (e-mail `List-Unsubscribe`, vendor payloads).
    pub unsubscribe_url: Option<String>,
}

/// Why a provider did not take a message.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SendError {
    /// Worth retrying: timeouts, connection errors, 5xx, SMTP 4xx.
    #[error("{0}")]
    Transient(String),
    /// The vendor asked us to slow down (HTTP 429 or its own throttling code): retried like a
    /// transient error, not before `retry_after` when the vendor said how long to wait.
    #[error("{reason}")]
    Throttled {
        reason: String,
        retry_after: Option<Duration>,
    },
    /// Retrying cannot help: the vendor refused this message (invalid number, bad address).
    #[error("{0}")]
    Permanent(String),
}

/// Something that delivers messages of a channel.
#[async_trait::async_trait]
pub trait Provider: Send + Sync {
    /// Short name for logs and metrics.
    fn name(&self) -> &'static str;

    /// Hands the message over; returns the provider's message id when it gives one.
    async fn send(&self, message: &OutboundMessage) -> Result<Option<String>, SendError>;

    /// Makes what was sent durable (the log sink flushes its file) before statuses are written.
    async fn flush(&self) -> anyhow::Result<()> {
        Ok(())
    }
}

/// A provider with its rate limit.
pub struct Limited {
    provider: Arc<dyn Provider>,
    limiter: Option<DefaultDirectRateLimiter>,
}

impl Limited {
    pub fn new(provider: Arc<dyn Provider>, per_second: u32) -> Self {
        let limiter =
            NonZeroU32::new(per_second).map(|n| RateLimiter::direct(Quota::per_second(n)));
        Limited { provider, limiter }
    }

    pub async fn send(&self, message: &OutboundMessage) -> Result<Option<String>, SendError> {
        if let Some(l) = &self.limiter {
            l.until_ready().await;
        }
        self.provider.send(message).await
    }

    pub fn name(&self) -> &'static str {
        self.provider.name()
    }
}

/// The provider of each channel.
pub struct Providers {
    sms: Limited,
    email: Limited,
    push: Limited,
    all: Vec<Arc<dyn Provider>>,
}

impl Providers {
    pub fn new(sms: Limited, email: Limited, push: Limited) -> Self {
        let all = vec![
            sms.provider.clone(),
            email.provider.clone(),
            push.provider.clone(),
        ];
        Providers {
            sms,
            email,
            push,
            all,
        }
    }

    /// Builds the providers the configuration asks for; one log sink is shared.
    pub fn from_config(c: &Config) -> anyhow::Result<Self> {
        let mut log: Option<Arc<dyn Provider>> = None;
        let mut log_sink = || -> anyhow::Result<Arc<dyn Provider>> {
            if let Some(l) = &log {
                return Ok(l.clone());
            }
            let l: Arc<dyn Provider> = Arc::new(LogProvider::open(&c.log_sink_path)?);
            log = Some(l.clone());
            Ok(l)
        };
        let http = |url: &Option<String>,
                    token: &Option<String>,
                    what: &str|
         -> anyhow::Result<Arc<dyn Provider>> {
            let url = url
                .clone()
                .with_context(|| format!("{what}_HTTP_URL is required with the http provider"))?;
            Ok(Arc::new(HttpProvider::new(url, token.clone())?))
        };
        let wrong = |setting: &str, kind: ProviderKind| {
            anyhow::anyhow!("{setting} cannot be {}", kind.as_str())
        };
        let sms: Arc<dyn Provider> = match c.sms_provider {
            ProviderKind::Log => log_sink()?,
            ProviderKind::Http => http(&c.sms_http_url, &c.sms_http_token, "SMS")?,
            ProviderKind::Aliyun => Arc::new(AliyunSms::new(&c.aliyun)?),
            ProviderKind::Tencent => Arc::new(TencentSms::new(&c.tencent)?),
            ProviderKind::Twilio => Arc::new(Twilio::new(&c.twilio)?),
            k => return Err(wrong("SMS_PROVIDER", k)),
        };
        let push: Arc<dyn Provider> = match c.push_provider {
            ProviderKind::Log => log_sink()?,
            ProviderKind::Http => http(&c.push_http_url, &c.push_http_token, "PUSH")?,
            ProviderKind::Fcm => Arc::new(Fcm::new(&c.fcm)?),
            ProviderKind::Apns => Arc::new(Apns::new(&c.apns)?),
            k => return Err(wrong("PUSH_PROVIDER", k)),
        };
        let email: Arc<dyn Provider> = match c.email_provider {
            ProviderKind::Log => log_sink()?,
            ProviderKind::Smtp => Arc::new(SmtpProvider::new(c)?),
            ProviderKind::Ses => Arc::new(Ses::new(&c.ses, &c.email_from)?),
            k => return Err(wrong("EMAIL_PROVIDER", k)),
        };
        Ok(Providers::new(
            Limited::new(sms, c.sms_rate_limit),
            Limited::new(email, c.email_rate_limit),
            Limited::new(push, c.push_rate_limit),
        ))
    }

    pub fn for_channel(&self, channel: Channel) -> &Limited {
        match channel {
            Channel::Sms => &self.sms,
            Channel::Email => &self.email,
            Channel::PushNotification => &self.push,
        }
    }

    /// Flushes every provider.
    pub async fn flush(&self) -> anyhow::Result<()> {
        for p in &self.all {
            p.flush().await?;
        }
        Ok(())
    }
}
