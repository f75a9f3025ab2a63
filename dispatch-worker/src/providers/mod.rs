//! Channel providers behind one trait: the `log` sink, the generic `http` contract, SMTP, and one
//! module per vendor API (each signing its requests as the vendor documents, see the module's top
//! comment for the source), and each channel's primary and optional secondary provider as the
//! configuration names them. Rate limits, throttling pauses and failover between the two are
//! [`crate::control`]'s.

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

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
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
    /// Worth retrying, but whether the provider took the message is unknown: a timeout, a
    /// connection lost after the request went out, a 5xx, an SMTP 4xx. Retried through the same
    /// provider only (with the same idempotency key), never through another.
    #[error("{0}")]
    Transient(String),
    /// Worth retrying, and the provider certainly did not take the message: no connection could
    /// be made, or it answered 503 Service Unavailable. Counts against the provider's breaker
    /// like a transient error, and the message may go to the channel's secondary provider.
    #[error("{0}")]
    Unavailable(String),
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

/// A provider as a channel uses it.
pub struct Configured {
    /// What records and the shared rate limit call it: the provider's kind (`aliyun`, `http`,
    /// …), or `<kind>-secondary` for a secondary of the same kind as its primary (two `http`
    /// vendors).
    pub label: Arc<str>,
    pub provider: Arc<dyn Provider>,
    /// Messages per second in total across all workers (0 = unlimited).
    pub rate_limit: u32,
}

impl Configured {
    /// Hands the message to the provider, without rate limit or failover (see
    /// [`crate::control`] for those).
    pub async fn send(&self, message: &OutboundMessage) -> Result<Option<String>, SendError> {
        self.provider.send(message).await
    }

    /// The provider's kind, for metrics.
    pub fn name(&self) -> &'static str {
        self.provider.name()
    }
}

/// A channel's providers: the primary, and the secondary that takes over while the primary
/// fails (see [`crate::control::Breaker`]).
pub struct ChannelProviders {
    pub primary: Configured,
    pub secondary: Option<Configured>,
}

/// The providers of each channel.
pub struct Providers {
    sms: ChannelProviders,
    email: ChannelProviders,
    push: ChannelProviders,
}

/// Which provider of a channel a setting describes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Primary,
    Secondary,
}

impl Providers {
    /// Builds the providers the configuration asks for; one log sink is shared.
    pub fn from_config(c: &Config) -> anyhow::Result<Self> {
        let timeout = Duration::from_millis(c.control.provider_timeout_ms.max(1));
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
                    setting: &str|
         -> anyhow::Result<Arc<dyn Provider>> {
            let url = url
                .clone()
                .with_context(|| format!("{setting} is required with the http provider"))?;
            Ok(Arc::new(HttpProvider::new(url, token.clone(), timeout)?))
        };
        let wrong = |setting: &str, kind: ProviderKind| {
            anyhow::anyhow!("{setting} cannot be {}", kind.as_str())
        };
        let mut sms = |kind: ProviderKind, role: Role| -> anyhow::Result<Arc<dyn Provider>> {
            let (setting, url, token) = match role {
                Role::Primary => ("SMS_PROVIDER", &c.sms_http_url, &c.sms_http_token),
                Role::Secondary => (
                    "SMS_SECONDARY_PROVIDER",
                    &c.sms_secondary_http_url,
                    &c.sms_secondary_http_token,
                ),
            };
            Ok(match kind {
                ProviderKind::Log => log_sink()?,
                ProviderKind::Http => http(url, token, &setting.replace("PROVIDER", "HTTP_URL"))?,
                ProviderKind::Aliyun => Arc::new(AliyunSms::new(&c.aliyun, timeout)?),
                ProviderKind::Tencent => Arc::new(TencentSms::new(&c.tencent, timeout)?),
                ProviderKind::Twilio => Arc::new(Twilio::new(&c.twilio, timeout)?),
                k => return Err(wrong(setting, k)),
            })
        };
        let sms = channel(
            Channel::Sms,
            (c.sms_provider, c.sms_rate_limit),
            c.sms_secondary_provider
                .map(|k| (k, c.sms_secondary_rate_limit)),
            &mut sms,
        )?;
        let mut push = |kind: ProviderKind, role: Role| -> anyhow::Result<Arc<dyn Provider>> {
            let (setting, url, token) = match role {
                Role::Primary => ("PUSH_PROVIDER", &c.push_http_url, &c.push_http_token),
                Role::Secondary => (
                    "PUSH_SECONDARY_PROVIDER",
                    &c.push_secondary_http_url,
                    &c.push_secondary_http_token,
                ),
            };
            Ok(match kind {
                ProviderKind::Log => log_sink()?,
                ProviderKind::Http => http(url, token, &setting.replace("PROVIDER", "HTTP_URL"))?,
                ProviderKind::Fcm => Arc::new(Fcm::new(&c.fcm, timeout)?),
                ProviderKind::Apns => Arc::new(Apns::new(&c.apns, timeout)?),
                k => return Err(wrong(setting, k)),
            })
        };
        let push = channel(
            Channel::PushNotification,
            (c.push_provider, c.push_rate_limit),
            c.push_secondary_provider
                .map(|k| (k, c.push_secondary_rate_limit)),
            &mut push,
        )?;
        let mut email = |kind: ProviderKind, role: Role| -> anyhow::Result<Arc<dyn Provider>> {
            let setting = match role {
                Role::Primary => "EMAIL_PROVIDER",
                Role::Secondary => "EMAIL_SECONDARY_PROVIDER",
            };
            Ok(match kind {
                ProviderKind::Log => log_sink()?,
                ProviderKind::Smtp => Arc::new(SmtpProvider::new(c)?),
                ProviderKind::Ses => Arc::new(Ses::new(&c.ses, &c.email_from, timeout)?),
                k => return Err(wrong(setting, k)),
            })
        };
        let email = channel(
            Channel::Email,
            (c.email_provider, c.email_rate_limit),
            c.email_secondary_provider
                .map(|k| (k, c.email_secondary_rate_limit)),
            &mut email,
        )?;
        Ok(Providers { sms, email, push })
    }

    /// The providers of SMS, e-mail and push, in that order.
    pub fn into_channels(self) -> (ChannelProviders, ChannelProviders, ChannelProviders) {
        (self.sms, self.email, self.push)
    }

    /// The primary provider of a channel.
    pub fn for_channel(&self, channel: Channel) -> &Configured {
        &self.channel(channel).primary
    }

    /// A channel's providers.
    pub fn channel(&self, channel: Channel) -> &ChannelProviders {
        match channel {
            Channel::Sms => &self.sms,
            Channel::Email => &self.email,
            Channel::PushNotification => &self.push,
        }
    }

    /// Flushes every provider.
    pub async fn flush(&self) -> anyhow::Result<()> {
        for c in [&self.sms, &self.email, &self.push] {
            c.primary.provider.flush().await?;
            if let Some(s) = &c.secondary {
                s.provider.flush().await?;
            }
        }
        Ok(())
    }
}

/// Builds a channel's primary and secondary with `build`. A secondary of the primary's kind
/// would share its settings (the same account), except `http`, which has its own URL and token.
fn channel(
    channel: Channel,
    (primary, primary_rate): (ProviderKind, u32),
    secondary: Option<(ProviderKind, u32)>,
    build: &mut impl FnMut(ProviderKind, Role) -> anyhow::Result<Arc<dyn Provider>>,
) -> anyhow::Result<ChannelProviders> {
    let prefix = match channel {
        Channel::Sms => "SMS",
        Channel::Email => "EMAIL",
        Channel::PushNotification => "PUSH",
    };
    let secondary = match secondary {
        None => None,
        Some((kind, rate)) => {
            if kind == primary && kind != ProviderKind::Http {
                anyhow::bail!(
                    "{prefix}_SECONDARY_PROVIDER cannot be {} like {prefix}_PROVIDER: both would \
                     use the same settings (only http has its own, {prefix}_SECONDARY_HTTP_URL)",
                    kind.as_str()
                );
            }
            let label = if kind == primary {
                format!("{}-secondary", kind.as_str())
            } else {
                kind.as_str().to_owned()
            };
            Some(Configured {
                label: label.into(),
                provider: build(kind, Role::Secondary)?,
                rate_limit: rate,
            })
        }
    };
    Ok(ChannelProviders {
        primary: Configured {
            label: primary.as_str().into(),
            provider: build(primary, Role::Primary)?,
            rate_limit: primary_rate,
        },
        secondary,
    })
}
