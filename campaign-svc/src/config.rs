//! The service's settings: every one an environment variable and a `--flag`.

use std::net::SocketAddr;

use clap::Parser;

/// campaign-svc: marketing campaigns over gRPC and REST.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "campaign-svc",
    version,
    about,
    long_about = None,
    after_help = "Traces are exported over OTLP/gRPC when OTEL_EXPORTER_OTLP_ENDPOINT is set."
)]
pub struct Config {
    /// Address of the REST API (and /healthz, /readyz, /metrics).
    #[arg(long, env = "HTTP_ADDR", default_value = "0.0.0.0:8080")]
    pub http_addr: SocketAddr,

    /// Address of the gRPC API (package crm.marketing.v1, health, reflection).
    #[arg(long, env = "GRPC_ADDR", default_value = "0.0.0.0:50051")]
    pub grpc_addr: SocketAddr,

    /// PostgreSQL URL; the database is created when missing and migrated at start-up.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/marketing"
    )]
    pub database_url: String,

    /// Maximum number of pooled database connections.
    #[arg(long, env = "DATABASE_POOL_SIZE", default_value_t = 16)]
    pub database_pool_size: usize,

    /// RabbitMQ URL (send jobs are published there).
    #[arg(
        long,
        env = "AMQP_URL",
        default_value = "amqp://guest:guest@127.0.0.1:5672/%2f"
    )]
    pub amqp_url: String,

    /// Prefix of the RabbitMQ queues and exchanges (`<prefix>.send`, `<prefix>.send.dlq`, ...).
    #[arg(long, env = "QUEUE_PREFIX", default_value = "marketing")]
    pub queue_prefix: String,

    /// Publisher confirms kept in flight while publishing send jobs.
    #[arg(long, env = "PUBLISH_WINDOW", default_value_t = 2000)]
    pub publish_window: usize,

    /// Seconds to wait for a publisher confirm; when one does not arrive in time, the relay
    /// publishes again from its cursor on a new connection.
    #[arg(long, env = "PUBLISH_TIMEOUT_SECS", default_value_t = 30)]
    pub publish_timeout_secs: u64,

    /// Audience customers a trigger writes records for per transaction (1 to 1,000,000); the
    /// relay publishes each chunk while the next one is written.
    #[arg(long, env = "FREEZE_CHUNK", default_value_t = 10_000)]
    pub freeze_chunk: i64,

    /// Records the relay reads and publishes per page.
    #[arg(long, env = "RELAY_PAGE_SIZE", default_value_t = 5000)]
    pub relay_page_size: i64,

    /// Seconds a replica's claim on freezing or publishing an execution lasts without progress;
    /// after that another replica resumes the trigger's freeze or the fan-out.
    #[arg(long, env = "RELAY_LEASE_SECS", default_value_t = 15)]
    pub relay_lease_secs: u64,

    /// Milliseconds between scheduler rounds (trigger due campaigns, complete finished ones).
    #[arg(long, env = "SCHEDULER_INTERVAL_MS", default_value_t = 1000)]
    pub scheduler_interval_ms: u64,

    /// Milliseconds between looks for due event sends and waiting messages when nothing wakes
    /// them (events stored by another replica, delays falling due): a message leaves at most this
    /// long after its time.
    #[arg(long, env = "EVENT_POLL_MS", default_value_t = 250)]
    pub event_poll_ms: u64,

    /// Milliseconds between looks at the segments of segment-entry journeys: a customer who
    /// starts to match enters at most this long after.
    #[arg(long, env = "JOURNEY_SEGMENT_POLL_MS", default_value_t = 30_000)]
    pub journey_segment_poll_ms: u64,

    /// Seconds between rollups of the hourly statistics (each change of a campaign's counters
    /// appends a row; a rollup makes one row per campaign and hour of them).
    #[arg(long, env = "STATS_ROLLUP_SECS", default_value_t = 60)]
    pub stats_rollup_secs: u64,

    /// Quiet hours of campaigns without their own, `HH:MM-HH:MM` on the customer's clock (e.g.
    /// 21:00-08:00): a message due inside waits for the end. Unset: none.
    #[arg(long, env = "QUIET_HOURS", value_parser = crate::domain::timing::QuietHours::parse_range)]
    pub quiet_hours: Option<crate::domain::timing::QuietHours>,

    /// Seconds two occurrences of a recurring campaign must at least be apart (a cron pattern
    /// firing more often is refused).
    #[arg(long, env = "MIN_RECURRENCE_SECS", default_value_t = 60)]
    pub min_recurrence_secs: u64,

    /// Seconds after which a record claimed by a worker that never reported back is failed.
    #[arg(long, env = "STALE_SENDING_SECS", default_value_t = 900)]
    pub stale_sending_secs: u64,

    /// Comma-separated bearer tokens accepted on both APIs. When unset, one is generated at
    /// start-up and logged once.
    #[arg(long, env = "API_TOKENS", hide_env_values = true)]
    pub api_tokens: Option<String>,

    /// Comma-separated bearer tokens of admins: valid as API tokens and, unlike those, allowed
    /// on the admin API (the dead-letter queue). Unset: nobody is an admin.
    #[arg(long, env = "ADMIN_TOKENS", hide_env_values = true)]
    pub admin_tokens: Option<String>,

    /// Largest accepted request body (REST) or message (gRPC), in bytes.
    #[arg(long, env = "MAX_BODY_BYTES", default_value_t = 8 * 1024 * 1024)]
    pub max_body_bytes: usize,

    /// Log one JSON object per line instead of plain text.
    #[arg(long, env = "LOG_JSON", default_value_t = false)]
    pub log_json: bool,

    #[command(flatten)]
    pub limits: crate::serve::ConnectionLimits,

    #[command(flatten)]
    pub tracking: marketing_core::tracking::TrackingArgs,

    #[command(flatten)]
    pub cost: marketing_core::cost::CostArgs,

    #[command(flatten)]
    pub primaries: PrimaryProviders,

    /// Secret of the provider webhooks' HMAC signatures (`X-Signature: t=<unix>,v1=<hex>`).
    /// Unset: webhooks are refused (401).
    #[arg(long, env = "WEBHOOK_SECRET", hide_env_values = true)]
    pub webhook_secret: Option<String>,

    #[command(flatten)]
    pub callbacks: crate::callbacks::CallbackArgs,

    /// Region (ISO 3166 code such as CN, US, DE) of phone numbers given without a country code;
    /// every number is checked against that region's numbering plan and stored as E.164.
    #[arg(long, env = "DEFAULT_PHONE_REGION", default_value = "CN", value_parser = parse_region)]
    pub default_phone_region: phonenumber::country::Id,

    /// A conversion is attributed to the campaign that last reached the customer within this
    /// many hours.
    #[arg(long, env = "CONVERSION_WINDOW_HOURS", default_value_t = 168)]
    pub conversion_window_hours: u32,

    /// Customer events are kept this many days (by `occurred_at`), then deleted by a background
    /// loop; older events are refused at ingest. 0: kept forever.
    #[arg(long, env = "EVENT_RETENTION_DAYS", default_value_t = 400)]
    pub event_retention_days: u32,

    /// Seconds between rounds of the event retention loop.
    #[arg(long, env = "EVENT_RETENTION_INTERVAL_SECS", default_value_t = 3600)]
    pub event_retention_interval_secs: u64,

    /// Expired events deleted per statement by the retention loop.
    #[arg(long, env = "EVENT_RETENTION_BATCH", default_value_t = 10_000)]
    pub event_retention_batch: i64,
    #[command(flatten)]
    pub console: crate::console::ConsoleArgs,
}

impl Config {
    /// The settings as logged at start-up: secrets masked.
    pub fn redacted(&self) -> String {
        format!(
            "http_addr={} grpc_addr={} database_url={} database_pool_size={} amqp_url={} \
             queue_prefix={} api_tokens={} admin_tokens={} max_body_bytes={} max_connections={} \
             http_header_timeout_secs={} http_body_timeout_secs={} public_base_url={} \
             tracking_secret={} webhook_secret={} frequency_cap={}/{}h conversion_window_hours={} \
             default_phone_region={:?} event_retention_days={} event_retention_interval_secs={} \
             message_costs={} cost_currency={} primary_providers=sms:{},email:{},push_notification:{},wechat:{} {}",
            self.http_addr,
            self.grpc_addr,
            marketing_core::telemetry::mask_url_password(&self.database_url),
            self.database_pool_size,
            marketing_core::telemetry::mask_url_password(&self.amqp_url),
            self.queue_prefix,
            if self.api_tokens.is_some() {
                "<set>"
            } else {
                "<generated>"
            },
            if self.admin_tokens.is_some() {
                "<set>"
            } else {
                "<unset>"
            },
            self.max_body_bytes,
            self.limits.max_connections,
            self.limits.http_header_timeout_secs,
            self.limits.http_body_timeout_secs,
            self.tracking.public_base_url,
            if self.tracking.tracking_secret.is_some() {
                "<set>"
            } else {
                "<development>"
            },
            if self.webhook_secret.is_some() {
                "<set>"
            } else {
                "<unset>"
            },
            self.tracking.frequency_cap,
            self.tracking.frequency_cap_window_hours,
            self.conversion_window_hours,
            self.default_phone_region,
            self.event_retention_days,
            self.event_retention_interval_secs,
            self.cost.message_costs,
            self.cost.cost_currency,
            self.primaries.sms_provider,
            self.primaries.email_provider,
            self.primaries.push_provider,
            self.primaries.wechat_provider,
            crate::callbacks::VendorCallbacks::redacted(&self.callbacks),
        )
    }
}

/// Each channel's primary provider, as the workers are configured: the dry run estimates a
/// campaign's cost at that provider's price (MESSAGE_COSTS).
#[derive(Debug, Clone, clap::Args)]
pub struct PrimaryProviders {
    /// The workers' SMS provider (same value as theirs), for cost estimates.
    #[arg(long, env = "SMS_PROVIDER", default_value = "log")]
    pub sms_provider: String,
    /// The workers' e-mail provider (same value as theirs), for cost estimates.
    #[arg(long, env = "EMAIL_PROVIDER", default_value = "log")]
    pub email_provider: String,
    /// The workers' push provider (same value as theirs), for cost estimates.
    #[arg(long, env = "PUSH_PROVIDER", default_value = "log")]
    pub push_provider: String,
    /// The workers' WeChat provider (same value as theirs), for cost estimates.
    #[arg(long, env = "WECHAT_PROVIDER", default_value = "log")]
    pub wechat_provider: String,
}

fn parse_region(s: &str) -> Result<phonenumber::country::Id, String> {
    s.trim()
        .to_ascii_uppercase()
        .parse()
        .map_err(|_| format!("`{s}` is not an ISO 3166 region code such as CN or US"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_work_on_a_fresh_machine() {
        let c = Config::try_parse_from(["campaign-svc"]).unwrap();
        assert_eq!(c.http_addr.port(), 8080);
        assert_eq!(c.grpc_addr.port(), 50051);
    }
}
