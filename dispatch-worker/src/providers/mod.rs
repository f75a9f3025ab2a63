//! Channel providers behind one trait: the `log` sink, the generic `http` contract, SMTP, and one
//! module per vendor API (each signing its requests as the vendor documents, see the module's top
//! comment for the source), and each channel's primary and optional secondary provider as the
//! configuration names them. Rate limits, throttling pauses and failover between the two are
//! [`crate::control`]'s.

mod aliyun;
mod apns;
mod channels;
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
mod wechat;
mod wire;

use std::time::Duration;

use marketing_core::vocabulary::Channel;
use uuid::Uuid;

pub use aliyun::{AliyunSettings, AliyunSms};
pub use apns::{Apns, ApnsSettings};
pub use channels::{ChannelProviders, Configured, Providers};
pub use fcm::{Fcm, FcmSettings};
pub use http::HttpProvider;
pub use log::LogProvider;
pub use ses::{Ses, SesSettings};
pub use smtp::SmtpProvider;
pub use tencent::{TencentSettings, TencentSms};
pub use twilio::{Twilio, TwilioSettings};
pub use wechat::{Wechat, WechatSettings};

/// A rendered message for one recipient.
#[derive(Debug, Clone)]
pub struct OutboundMessage {
    /// Also the idempotency key the provider receives.
    pub record_id: Uuid,
    pub campaign_id: Uuid,
    pub channel: Channel,
    /// Phone number, e-mail address, push token or WeChat openid.
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
