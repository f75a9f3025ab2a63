//! Each channel's primary and optional secondary provider, built from the configuration, with
//! the names records and rate limits know them by.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use marketing_core::vocabulary::Channel;

use super::{
    AliyunSms, Apns, Fcm, HttpProvider, LogProvider, OutboundMessage, Provider, SendError, Ses,
    SmtpProvider, TencentSms, Twilio, Wechat,
};
use crate::config::{Config, ProviderKind};

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
    wechat: ChannelProviders,
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
        let mut wechat = |kind: ProviderKind, role: Role| -> anyhow::Result<Arc<dyn Provider>> {
            let (setting, url, token) = match role {
                Role::Primary => ("WECHAT_PROVIDER", &c.wechat_http_url, &c.wechat_http_token),
                Role::Secondary => (
                    "WECHAT_SECONDARY_PROVIDER",
                    &c.wechat_secondary_http_url,
                    &c.wechat_secondary_http_token,
                ),
            };
            Ok(match kind {
                ProviderKind::Log => log_sink()?,
                ProviderKind::Http => http(url, token, &setting.replace("PROVIDER", "HTTP_URL"))?,
                ProviderKind::Wechat => Arc::new(Wechat::new(&c.wechat, timeout)?),
                k => return Err(wrong(setting, k)),
            })
        };
        let wechat = channel(
            Channel::Wechat,
            (c.wechat_provider, c.wechat_rate_limit),
            c.wechat_secondary_provider
                .map(|k| (k, c.wechat_secondary_rate_limit)),
            &mut wechat,
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
        Ok(Providers {
            sms,
            email,
            push,
            wechat,
        })
    }

    /// The providers of SMS, e-mail, push and WeChat, in that order.
    pub fn into_channels(
        self,
    ) -> (
        ChannelProviders,
        ChannelProviders,
        ChannelProviders,
        ChannelProviders,
    ) {
        (self.sms, self.email, self.push, self.wechat)
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
            Channel::Wechat => &self.wechat,
        }
    }

    /// Flushes every provider.
    pub async fn flush(&self) -> anyhow::Result<()> {
        for c in [&self.sms, &self.email, &self.push, &self.wechat] {
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
        Channel::Wechat => "WECHAT",
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

#[cfg(test)]
mod tests {
    use clap::Parser as _;
    use uuid::Uuid;

    use super::*;

    fn providers(args: &[&str]) -> anyhow::Result<Providers> {
        let args = std::iter::once("dispatch-worker").chain(args.iter().copied());
        Providers::from_config(&Config::try_parse_from(args)?)
    }

    #[test]
    fn a_secondary_of_the_primarys_kind_must_be_an_http_endpoint_of_its_own() {
        let refused = providers(&["--sms-secondary-provider", "log"]).err();
        assert!(
            refused.is_some_and(|e| e
                .to_string()
                .contains("SMS_SECONDARY_PROVIDER cannot be log")),
            "the same log sink twice"
        );
        let http = [
            "--sms-provider",
            "http",
            "--sms-http-url",
            "http://a.example/send",
            "--sms-secondary-provider",
            "http",
        ];
        let refused = providers(&http).err();
        assert!(
            refused.is_some_and(|e| e.to_string().contains("SMS_SECONDARY_HTTP_URL")),
            "its own URL"
        );
        let both = providers(
            &[
                &http[..],
                &["--sms-secondary-http-url", "http://b.example/send"],
            ]
            .concat(),
        )
        .expect("two http vendors");
        let sms = both.channel(Channel::Sms);
        assert_eq!(&*sms.primary.label, "http");
        assert_eq!(
            sms.secondary.as_ref().map(|s| &*s.label),
            Some("http-secondary")
        );
        let other = providers(&[
            "--sms-secondary-provider",
            "http",
            "--sms-secondary-http-url",
            "http://b.example/send",
            "--sms-secondary-rate-limit",
            "50",
        ])
        .expect("log, then http");
        let secondary = other.channel(Channel::Sms).secondary.as_ref();
        assert_eq!(
            secondary.map(|s| (&*s.label, s.rate_limit)),
            Some(("http", 50))
        );
        assert!(other.channel(Channel::Email).secondary.is_none());
        let wechat = providers(&[
            "--wechat-secondary-provider",
            "http",
            "--wechat-secondary-http-url",
            "http://b.example/wechat",
        ])
        .expect("WeChat has a secondary too");
        let lanes = wechat.channel(Channel::Wechat);
        assert_eq!(&*lanes.primary.label, "log");
        assert_eq!(lanes.secondary.as_ref().map(|s| &*s.label), Some("http"));
        let refused = providers(&["--wechat-provider", "wechat"]).err();
        assert!(
            refused.is_some_and(|e| e.to_string().contains("WECHAT_APP_ID")),
            "the wechat provider needs its app"
        );
    }

    #[tokio::test]
    async fn no_connection_is_unavailable_a_timeout_is_unknown() {
        // Nothing listens on the port a just-closed listener had: the connection is refused,
        // so the vendor cannot have the message.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        let port = closed.local_addr().expect("its address").port();
        drop(closed);
        let refused = HttpProvider::new(
            format!("http://127.0.0.1:{port}/send"),
            None,
            Duration::from_secs(1),
        )
        .expect("a client");
        let message = OutboundMessage {
            record_id: Uuid::new_v4(),
            campaign_id: Uuid::new_v4(),
            channel: Channel::Sms,
            to: "+8613800138000".into(),
            subject: String::new(),
            body: "hi".into(),
            html_body: None,
            unsubscribe_url: None,
        };
        assert!(
            matches!(refused.send(&message).await, Err(SendError::Unavailable(_))),
            "refused"
        );
        // A server that accepts the connection and never answers: the request went out.
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a listener");
        let url = format!("http://{}/send", silent.local_addr().expect("its address"));
        let _held = tokio::spawn(async move {
            let mut open = Vec::new();
            while let Ok((socket, _)) = silent.accept().await {
                open.push(socket);
            }
        });
        let timing_out =
            HttpProvider::new(url, None, Duration::from_millis(200)).expect("a client");
        assert!(
            matches!(
                timing_out.send(&message).await,
                Err(SendError::Transient(_))
            ),
            "timed out after sending: unknown"
        );
    }
}
