//! The worker's settings: every one an environment variable and a `--flag`.

use clap::{Parser, ValueEnum};
use marketing_core::vocabulary::Channel;

use crate::providers::{
    AliyunSettings, ApnsSettings, FcmSettings, SesSettings, TencentSettings, TwilioSettings,
    WechatSettings,
};

/// Which provider delivers a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProviderKind {
    /// Write each message as a JSON line to LOG_SINK_PATH (no vendor needed).
    Log,
    /// The vendor's HTTP JSON API (SMS, push and WeChat).
    Http,
    /// An SMTP server (e-mail).
    Smtp,
    /// Aliyun (Alibaba Cloud) SMS, SendSms with a template (SMS).
    Aliyun,
    /// Tencent Cloud SMS, SendSms API 3.0 with a template (SMS).
    Tencent,
    /// Twilio Programmable Messaging (SMS).
    Twilio,
    /// Firebase Cloud Messaging HTTP v1 (push).
    Fcm,
    /// Apple Push Notification service, token-based, HTTP/2 (push).
    Apns,
    /// Amazon SES API v2 (e-mail).
    Ses,
    /// WeChat official-account template messages (wechat).
    Wechat,
}

impl ProviderKind {
    /// The spelling of the setting.
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Log => "log",
            ProviderKind::Http => "http",
            ProviderKind::Smtp => "smtp",
            ProviderKind::Aliyun => "aliyun",
            ProviderKind::Tencent => "tencent",
            ProviderKind::Twilio => "twilio",
            ProviderKind::Fcm => "fcm",
            ProviderKind::Apns => "apns",
            ProviderKind::Ses => "ses",
            ProviderKind::Wechat => "wechat",
        }
    }
}

/// What a crash may do to the messages of a channel a worker was sending when it died.
///
/// A batch's messages go out before their outcomes are committed, so a worker killed in between
/// leaves up to a batch whose delivery nobody knows. Which way to err depends on the provider:
/// an HTTP vendor that honours `Idempotency-Key` absorbs a resend, SMTP and the `log` sink do
/// not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum DeliveryMode {
    /// Send again what a dead worker may have sent (same idempotency key): nothing is lost; a
    /// provider that ignores the key delivers up to the open batch twice per crash.
    #[default]
    #[value(name = "at_least_once", alias = "at-least-once")]
    AtLeastOnce,
    /// Commit each record's claim before sending it and never send a claimed record again: a
    /// crash leaves up to the open batch `failed` with "outcome unknown" (some of them may have
    /// been delivered), and nothing is delivered twice.
    #[value(name = "at_most_once", alias = "at-most-once")]
    AtMostOnce,
}

impl DeliveryMode {
    /// The spelling of the setting.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryMode::AtLeastOnce => "at_least_once",
            DeliveryMode::AtMostOnce => "at_most_once",
        }
    }
}

/// The delivery mode of each channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DeliveryModes {
    pub sms: DeliveryMode,
    pub email: DeliveryMode,
    pub push: DeliveryMode,
    pub wechat: DeliveryMode,
}

impl DeliveryModes {
    pub fn for_channel(&self, channel: Channel) -> DeliveryMode {
        match channel {
            Channel::Sms => self.sms,
            Channel::Email => self.email,
            Channel::PushNotification => self.push,
            Channel::Wechat => self.wechat,
        }
    }

    /// The environment variable that sets `channel`'s mode, for messages naming it.
    pub fn setting(channel: Channel) -> &'static str {
        match channel {
            Channel::Sms => "SMS_DELIVERY",
            Channel::Email => "EMAIL_DELIVERY",
            Channel::PushNotification => "PUSH_DELIVERY",
            Channel::Wechat => "WECHAT_DELIVERY",
        }
    }
}

/// How to secure the SMTP connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SmtpTls {
    None,
    Starttls,
    Tls,
}

/// dispatch-worker: delivers marketing messages from RabbitMQ send jobs.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "dispatch-worker",
    version,
    about,
    long_about = None,
    after_help = "Traces are exported over OTLP/gRPC when OTEL_EXPORTER_OTLP_ENDPOINT is set."
)]
pub struct Config {
    /// PostgreSQL URL (the database campaign-svc created and migrated).
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/marketing"
    )]
    pub database_url: String,

    /// Maximum number of pooled database connections.
    #[arg(long, env = "DATABASE_POOL_SIZE", default_value_t = 8)]
    pub database_pool_size: usize,

    /// RabbitMQ URL.
    #[arg(
        long,
        env = "AMQP_URL",
        default_value = "amqp://guest:guest@127.0.0.1:5672/%2f"
    )]
    pub amqp_url: String,

    /// Prefix of the RabbitMQ queues and exchanges (must match campaign-svc's).
    #[arg(long, env = "QUEUE_PREFIX", default_value = "marketing")]
    pub queue_prefix: String,

    /// Consumers (AMQP channels) per worker process, each processing one batch at a time. One
    /// is best for the `log` sink and fast vendors (larger batches, fewer database statements);
    /// more help when a vendor is slow and the database is not the limit.
    #[arg(long, env = "CONSUMERS", default_value_t = 1)]
    pub consumers: usize,

    /// Unacknowledged jobs the broker may push to each consumer.
    #[arg(long, env = "PREFETCH", default_value_t = 300)]
    pub prefetch: u16,

    /// Jobs claimed and written back per database round trip (half the prefetch, so the next
    /// batch is already on its way while one is processed).
    #[arg(long, env = "BATCH_SIZE", default_value_t = 150)]
    pub batch_size: usize,

    /// Milliseconds to wait for a batch to fill before processing what arrived.
    #[arg(long, env = "BATCH_WAIT_MS", default_value_t = 10)]
    pub batch_wait_ms: u64,

    /// Messages of one batch sent to providers at the same time.
    #[arg(long, env = "SEND_CONCURRENCY", default_value_t = 32)]
    pub send_concurrency: usize,

    /// Attempts for a transient provider error before the job is dead-lettered (per provider:
    /// a message the primary certainly did not take may then try the secondary; throttling
    /// answers count only beyond THROTTLE_RETRIES).
    #[arg(long, env = "MAX_ATTEMPTS", default_value_t = 4)]
    pub max_attempts: u32,

    /// First retry delay in milliseconds; doubles with each attempt.
    #[arg(long, env = "RETRY_BASE_MS", default_value_t = 200)]
    pub retry_base_ms: u64,

    /// Provider for SMS: log, http, aliyun, tencent or twilio.
    #[arg(long, env = "SMS_PROVIDER", value_enum, default_value_t = ProviderKind::Log)]
    pub sms_provider: ProviderKind,
    /// SMS vendor endpoint (HTTP provider).
    #[arg(long, env = "SMS_HTTP_URL")]
    pub sms_http_url: Option<String>,
    /// SMS vendor bearer token (HTTP provider).
    #[arg(long, env = "SMS_HTTP_TOKEN", hide_env_values = true)]
    pub sms_http_token: Option<String>,
    /// SMS messages per second through SMS_PROVIDER in total, across all workers (0 =
    /// unlimited). Held in PostgreSQL: give every worker the same value.
    #[arg(long, env = "SMS_RATE_LIMIT", default_value_t = 0)]
    pub sms_rate_limit: u32,
    /// Secondary SMS provider, used while SMS_PROVIDER fails (see BREAKER_THRESHOLD): log,
    /// http, aliyun, tencent or twilio; unset: none.
    #[arg(long, env = "SMS_SECONDARY_PROVIDER", value_enum)]
    pub sms_secondary_provider: Option<ProviderKind>,
    /// Secondary SMS vendor endpoint (HTTP provider).
    #[arg(long, env = "SMS_SECONDARY_HTTP_URL")]
    pub sms_secondary_http_url: Option<String>,
    /// Secondary SMS vendor bearer token (HTTP provider).
    #[arg(long, env = "SMS_SECONDARY_HTTP_TOKEN", hide_env_values = true)]
    pub sms_secondary_http_token: Option<String>,
    /// SMS messages per second through SMS_SECONDARY_PROVIDER in total, across all workers (0
    /// = unlimited).
    #[arg(long, env = "SMS_SECONDARY_RATE_LIMIT", default_value_t = 0)]
    pub sms_secondary_rate_limit: u32,
    /// What a worker crash may do to SMS: resend (at_least_once) or never resend and fail with
    /// "outcome unknown" (at_most_once). See docs/delivery.md, "Delivery guarantees".
    #[arg(long, env = "SMS_DELIVERY", value_enum, default_value_t = DeliveryMode::AtLeastOnce)]
    pub sms_delivery: DeliveryMode,

    /// Provider for push notifications: log, http, fcm or apns.
    #[arg(long, env = "PUSH_PROVIDER", value_enum, default_value_t = ProviderKind::Log)]
    pub push_provider: ProviderKind,
    /// Push vendor endpoint (HTTP provider).
    #[arg(long, env = "PUSH_HTTP_URL")]
    pub push_http_url: Option<String>,
    /// Push vendor bearer token (HTTP provider).
    #[arg(long, env = "PUSH_HTTP_TOKEN", hide_env_values = true)]
    pub push_http_token: Option<String>,
    /// Push notifications per second through PUSH_PROVIDER in total, across all workers (0 =
    /// unlimited).
    #[arg(long, env = "PUSH_RATE_LIMIT", default_value_t = 0)]
    pub push_rate_limit: u32,
    /// Secondary push provider, used while PUSH_PROVIDER fails: log, http, fcm or apns; unset:
    /// none.
    #[arg(long, env = "PUSH_SECONDARY_PROVIDER", value_enum)]
    pub push_secondary_provider: Option<ProviderKind>,
    /// Secondary push vendor endpoint (HTTP provider).
    #[arg(long, env = "PUSH_SECONDARY_HTTP_URL")]
    pub push_secondary_http_url: Option<String>,
    /// Secondary push vendor bearer token (HTTP provider).
    #[arg(long, env = "PUSH_SECONDARY_HTTP_TOKEN", hide_env_values = true)]
    pub push_secondary_http_token: Option<String>,
    /// Push notifications per second through PUSH_SECONDARY_PROVIDER in total (0 = unlimited).
    #[arg(long, env = "PUSH_SECONDARY_RATE_LIMIT", default_value_t = 0)]
    pub push_secondary_rate_limit: u32,
    /// What a worker crash may do to push notifications (see SMS_DELIVERY).
    #[arg(long, env = "PUSH_DELIVERY", value_enum, default_value_t = DeliveryMode::AtLeastOnce)]
    pub push_delivery: DeliveryMode,

    /// Provider for WeChat template messages: log, http or wechat.
    #[arg(long, env = "WECHAT_PROVIDER", value_enum, default_value_t = ProviderKind::Log)]
    pub wechat_provider: ProviderKind,
    /// WeChat vendor endpoint (HTTP provider).
    #[arg(long, env = "WECHAT_HTTP_URL")]
    pub wechat_http_url: Option<String>,
    /// WeChat vendor bearer token (HTTP provider).
    #[arg(long, env = "WECHAT_HTTP_TOKEN", hide_env_values = true)]
    pub wechat_http_token: Option<String>,
    /// WeChat messages per second through WECHAT_PROVIDER in total, across all workers (0 =
    /// unlimited).
    #[arg(long, env = "WECHAT_RATE_LIMIT", default_value_t = 0)]
    pub wechat_rate_limit: u32,
    /// Secondary WeChat provider, used while WECHAT_PROVIDER fails: log, http or wechat (not
    /// the primary's kind, but http); unset: none.
    #[arg(long, env = "WECHAT_SECONDARY_PROVIDER", value_enum)]
    pub wechat_secondary_provider: Option<ProviderKind>,
    /// Secondary WeChat vendor endpoint (HTTP provider).
    #[arg(long, env = "WECHAT_SECONDARY_HTTP_URL")]
    pub wechat_secondary_http_url: Option<String>,
    /// Secondary WeChat vendor bearer token (HTTP provider).
    #[arg(long, env = "WECHAT_SECONDARY_HTTP_TOKEN", hide_env_values = true)]
    pub wechat_secondary_http_token: Option<String>,
    /// WeChat messages per second through WECHAT_SECONDARY_PROVIDER in total (0 = unlimited).
    #[arg(long, env = "WECHAT_SECONDARY_RATE_LIMIT", default_value_t = 0)]
    pub wechat_secondary_rate_limit: u32,
    /// What a worker crash may do to WeChat messages (see SMS_DELIVERY). The wechat provider
    /// sends the record id as `client_msg_id`, which WeChat deduplicates for a while.
    #[arg(long, env = "WECHAT_DELIVERY", value_enum, default_value_t = DeliveryMode::AtLeastOnce)]
    pub wechat_delivery: DeliveryMode,

    /// Provider for e-mail: log, smtp or ses.
    #[arg(long, env = "EMAIL_PROVIDER", value_enum, default_value_t = ProviderKind::Log)]
    pub email_provider: ProviderKind,
    /// SMTP server host (SMTP provider).
    #[arg(long, env = "SMTP_HOST", default_value = "127.0.0.1")]
    pub smtp_host: String,
    /// SMTP server port.
    #[arg(long, env = "SMTP_PORT", default_value_t = 25)]
    pub smtp_port: u16,
    /// SMTP connection security.
    #[arg(long, env = "SMTP_TLS", value_enum, default_value_t = SmtpTls::None)]
    pub smtp_tls: SmtpTls,
    /// SMTP user name (optional).
    #[arg(long, env = "SMTP_USERNAME")]
    pub smtp_username: Option<String>,
    /// SMTP password (optional).
    #[arg(long, env = "SMTP_PASSWORD", hide_env_values = true)]
    pub smtp_password: Option<String>,
    /// Sender address of marketing e-mail.
    #[arg(
        long,
        env = "EMAIL_FROM",
        default_value = "Marketing <marketing@example.com>"
    )]
    pub email_from: String,
    /// E-mails per second through EMAIL_PROVIDER in total, across all workers (0 = unlimited).
    #[arg(long, env = "EMAIL_RATE_LIMIT", default_value_t = 0)]
    pub email_rate_limit: u32,
    /// Secondary e-mail provider, used while EMAIL_PROVIDER fails: log, smtp or ses (not the
    /// primary's kind); unset: none.
    #[arg(long, env = "EMAIL_SECONDARY_PROVIDER", value_enum)]
    pub email_secondary_provider: Option<ProviderKind>,
    /// E-mails per second through EMAIL_SECONDARY_PROVIDER in total (0 = unlimited).
    #[arg(long, env = "EMAIL_SECONDARY_RATE_LIMIT", default_value_t = 0)]
    pub email_secondary_rate_limit: u32,
    /// What a worker crash may do to e-mail (see SMS_DELIVERY). SMTP servers do not
    /// deduplicate by Message-ID: at_most_once is the choice that never mails twice.
    #[arg(long, env = "EMAIL_DELIVERY", value_enum, default_value_t = DeliveryMode::AtLeastOnce)]
    pub email_delivery: DeliveryMode,

    /// Where the `log` provider writes delivered messages, one JSON line each (`-` = stdout).
    #[arg(long, env = "LOG_SINK_PATH", default_value = "-")]
    pub log_sink_path: String,

    /// Address of the worker's HTTP endpoints: /healthz, /readyz (broker and database reachable)
    /// and /metrics.
    #[arg(long, env = "METRICS_ADDR", default_value = "0.0.0.0:9091")]
    pub metrics_addr: std::net::SocketAddr,

    /// Log one JSON object per line instead of plain text.
    #[arg(long, env = "LOG_JSON", default_value_t = false)]
    pub log_json: bool,

    #[command(flatten)]
    pub tracking: marketing_core::tracking::TrackingArgs,

    #[command(flatten)]
    pub control: crate::control::ControlSettings,

    #[command(flatten)]
    pub cost: marketing_core::cost::CostArgs,

    #[command(flatten)]
    pub aliyun: AliyunSettings,
    #[command(flatten)]
    pub tencent: TencentSettings,
    #[command(flatten)]
    pub twilio: TwilioSettings,
    #[command(flatten)]
    pub fcm: FcmSettings,
    #[command(flatten)]
    pub apns: ApnsSettings,
    #[command(flatten)]
    pub ses: SesSettings,
    #[command(flatten)]
    pub wechat: WechatSettings,
}

impl Config {
    /// Checks what the parsers alone cannot: every provider MESSAGE_COSTS prices is one a worker
    /// can have (`<kind>` or `<kind>-secondary`), so a misspelt name is an error at start-up
    /// rather than messages silently costing 0.
    pub fn check(&self) -> anyhow::Result<()> {
        for (channel, provider) in self.cost.message_costs.providers() {
            let kind = provider.strip_suffix("-secondary").unwrap_or(provider);
            if ProviderKind::from_str(kind, false).is_err() {
                let kinds: Vec<&str> = ProviderKind::value_variants()
                    .iter()
                    .map(|k| k.as_str())
                    .collect();
                anyhow::bail!(
                    "MESSAGE_COSTS entry `{channel}:{provider}`: `{provider}` is not a provider \
                     (one of {}, or <kind>-secondary for a secondary of its primary's kind)",
                    kinds.join(", ")
                );
            }
        }
        Ok(())
    }

    pub fn delivery_modes(&self) -> DeliveryModes {
        DeliveryModes {
            sms: self.sms_delivery,
            email: self.email_delivery,
            push: self.push_delivery,
            wechat: self.wechat_delivery,
        }
    }

    /// The settings as logged at start-up: passwords and tokens masked.
    pub fn redacted(&self) -> String {
        let set = |v: &Option<String>| if v.is_some() { "<set>" } else { "<unset>" };
        let kind = ProviderKind::as_str;
        // Only the settings of the vendors in use, so the line stays readable.
        let mut vendors = String::new();
        let used: Vec<ProviderKind> = [
            self.sms_provider,
            self.push_provider,
            self.email_provider,
            self.wechat_provider,
        ]
        .into_iter()
        .chain(self.sms_secondary_provider)
        .chain(self.push_secondary_provider)
        .chain(self.email_secondary_provider)
        .chain(self.wechat_secondary_provider)
        .collect();
        let secondary = |kind: Option<ProviderKind>, rate: u32| match kind {
            Some(k) => format!("{}@{rate}/s", k.as_str()),
            None => "<unset>".to_owned(),
        };
        for (k, shown) in [
            (ProviderKind::Aliyun, self.aliyun.redacted()),
            (ProviderKind::Tencent, self.tencent.redacted()),
            (ProviderKind::Twilio, self.twilio.redacted()),
            (ProviderKind::Fcm, self.fcm.redacted()),
            (ProviderKind::Apns, self.apns.redacted()),
            (ProviderKind::Ses, self.ses.redacted()),
            (ProviderKind::Wechat, self.wechat.redacted()),
        ] {
            if used.contains(&k) {
                vendors.push(' ');
                vendors.push_str(&shown);
            }
        }
        format!(
            "database_url={} database_pool_size={} amqp_url={} queue_prefix={} consumers={} \
             prefetch={} batch_size={} batch_wait_ms={} send_concurrency={} max_attempts={} \
             retry_base_ms={} sms_provider={} sms_delivery={} sms_rate_limit={} push_provider={} \
             push_delivery={} push_rate_limit={} email_provider={} email_delivery={} \
             email_rate_limit={} wechat_provider={} wechat_delivery={} wechat_rate_limit={} \
             sms_secondary={} push_secondary={} email_secondary={} wechat_secondary={} \
             sms_http_url={} sms_http_token={} push_http_url={} push_http_token={} \
             sms_secondary_http_url={} sms_secondary_http_token={} \
             push_secondary_http_url={} push_secondary_http_token={} \
             wechat_http_url={} wechat_http_token={} wechat_secondary_http_url={} \
             wechat_secondary_http_token={} {} \
             smtp={}:{} smtp_tls={:?} smtp_username={} smtp_password={} log_sink_path={} \
             metrics_addr={} public_base_url={} tracking_secret={} frequency_cap={}/{}h \
             message_costs={} cost_currency={}{}",
            marketing_core::telemetry::mask_url_password(&self.database_url),
            self.database_pool_size,
            marketing_core::telemetry::mask_url_password(&self.amqp_url),
            self.queue_prefix,
            self.consumers,
            self.prefetch,
            self.batch_size,
            self.batch_wait_ms,
            self.send_concurrency,
            self.max_attempts,
            self.retry_base_ms,
            kind(self.sms_provider),
            self.sms_delivery.as_str(),
            self.sms_rate_limit,
            kind(self.push_provider),
            self.push_delivery.as_str(),
            self.push_rate_limit,
            kind(self.email_provider),
            self.email_delivery.as_str(),
            self.email_rate_limit,
            kind(self.wechat_provider),
            self.wechat_delivery.as_str(),
            self.wechat_rate_limit,
            secondary(self.sms_secondary_provider, self.sms_secondary_rate_limit),
            secondary(self.push_secondary_provider, self.push_secondary_rate_limit),
            secondary(
                self.email_secondary_provider,
                self.email_secondary_rate_limit
            ),
            secondary(
                self.wechat_secondary_provider,
                self.wechat_secondary_rate_limit
            ),
            self.sms_http_url.as_deref().map_or(
                "<unset>".into(),
                marketing_core::telemetry::mask_url_password
            ),
            set(&self.sms_http_token),
            self.push_http_url.as_deref().map_or(
                "<unset>".into(),
                marketing_core::telemetry::mask_url_password
            ),
            set(&self.push_http_token),
            self.sms_secondary_http_url.as_deref().map_or(
                "<unset>".into(),
                marketing_core::telemetry::mask_url_password
            ),
            set(&self.sms_secondary_http_token),
            self.push_secondary_http_url.as_deref().map_or(
                "<unset>".into(),
                marketing_core::telemetry::mask_url_password
            ),
            set(&self.push_secondary_http_token),
            self.wechat_http_url.as_deref().map_or(
                "<unset>".into(),
                marketing_core::telemetry::mask_url_password
            ),
            set(&self.wechat_http_token),
            self.wechat_secondary_http_url.as_deref().map_or(
                "<unset>".into(),
                marketing_core::telemetry::mask_url_password
            ),
            set(&self.wechat_secondary_http_token),
            self.control.redacted(),
            self.smtp_host,
            self.smtp_port,
            self.smtp_tls,
            self.smtp_username.as_deref().unwrap_or("<unset>"),
            set(&self.smtp_password),
            self.log_sink_path,
            self.metrics_addr,
            self.tracking.public_base_url,
            if self.tracking.tracking_secret.is_some() {
                "<set>"
            } else {
                "<development>"
            },
            self.tracking.frequency_cap,
            self.tracking.frequency_cap_window_hours,
            self.cost.message_costs,
            self.cost.cost_currency,
            vendors,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_channel_is_at_least_once_unless_told() {
        let c = Config::try_parse_from(["dispatch-worker"]).unwrap();
        assert_eq!(c.delivery_modes(), DeliveryModes::default());
        assert_eq!(
            c.delivery_modes().for_channel(Channel::Email),
            DeliveryMode::AtLeastOnce
        );
    }

    #[test]
    fn delivery_modes_are_chosen_per_channel() {
        let c = Config::try_parse_from([
            "dispatch-worker",
            "--email-delivery",
            "at_most_once",
            "--push-delivery",
            "at-most-once",
        ])
        .unwrap();
        let modes = c.delivery_modes();
        assert_eq!(modes.for_channel(Channel::Sms), DeliveryMode::AtLeastOnce);
        assert_eq!(modes.for_channel(Channel::Email), DeliveryMode::AtMostOnce);
        assert_eq!(
            modes.for_channel(Channel::PushNotification),
            DeliveryMode::AtMostOnce
        );
        assert!(
            Config::try_parse_from(["dispatch-worker", "--sms-delivery", "exactly_once"]).is_err()
        );
        assert!(
            c.redacted().contains("email_delivery=at_most_once"),
            "{}",
            c.redacted()
        );
    }

    #[test]
    fn message_costs_name_real_providers() {
        let c = Config::try_parse_from([
            "dispatch-worker",
            "--message-costs",
            "sms:aliyun=0.045,sms:http-secondary=0.05,email:ses=0.0001",
        ])
        .unwrap();
        c.check().unwrap();
        assert_eq!(
            c.cost.message_costs.price(Channel::Sms, "aliyun").micros(),
            45_000
        );
        let c = Config::try_parse_from(["dispatch-worker", "--message-costs", "sms:aliyn=0.045"])
            .unwrap();
        let err = c.check().unwrap_err().to_string();
        assert!(err.contains("MESSAGE_COSTS entry `sms:aliyn`"), "{err}");
        let err = Config::try_parse_from(["dispatch-worker", "--message-costs", "sms:aliyun=x"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("MESSAGE_COSTS"), "{err}");
    }

    #[test]
    fn the_logged_settings_hide_secrets() {
        let c = Config::try_parse_from([
            "dispatch-worker",
            "--amqp-url",
            "amqp://guest:s3cret@127.0.0.1:5672/%2f",
            "--sms-http-token",
            "t0ken",
            "--sms-secondary-provider",
            "http",
            "--sms-secondary-http-token",
            "s3condary",
            "--smtp-password",
            "pa55",
            "--sms-provider",
            "aliyun",
            "--aliyun-access-key-secret",
            "al1yun",
            "--push-provider",
            "apns",
            "--apns-key",
            "-----BEGIN PRIVATE KEY-----p8",
            "--email-provider",
            "ses",
            "--ses-secret-access-key",
            "s3s",
        ])
        .unwrap();
        let shown = c.redacted();
        assert!(shown.contains("aliyun_access_key_secret=<set>"), "{shown}");
        assert!(
            !shown.contains("tencent_"),
            "only the vendors in use: {shown}"
        );
        assert!(shown.contains("sms_secondary=http@0/s"), "{shown}");
        for secret in [
            "s3cret",
            "t0ken",
            "pa55",
            "al1yun",
            "p8",
            "s3s",
            "s3condary",
        ] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(
            shown.contains("amqp://guest:***@127.0.0.1:5672/%2f"),
            "{shown}"
        );
    }
}
