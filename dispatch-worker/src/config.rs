//! The worker's settings: every one an environment variable and a `--flag`.

use clap::{Parser, ValueEnum};

/// Which provider delivers a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProviderKind {
    /// Write each message as a JSON line to LOG_SINK_PATH (no vendor needed).
    Log,
    /// The vendor's HTTP JSON API (SMS and push).
    Http,
    /// An SMTP server (e-mail).
    Smtp,
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

    /// Attempts for a transient provider error before the job is dead-lettered.
    #[arg(long, env = "MAX_ATTEMPTS", default_value_t = 4)]
    pub max_attempts: u32,

    /// First retry delay in milliseconds; doubles with each attempt.
    #[arg(long, env = "RETRY_BASE_MS", default_value_t = 200)]
    pub retry_base_ms: u64,

    /// Provider for SMS.
    #[arg(long, env = "SMS_PROVIDER", value_enum, default_value_t = ProviderKind::Log)]
    pub sms_provider: ProviderKind,
    /// SMS vendor endpoint (HTTP provider).
    #[arg(long, env = "SMS_HTTP_URL")]
    pub sms_http_url: Option<String>,
    /// SMS vendor bearer token (HTTP provider).
    #[arg(long, env = "SMS_HTTP_TOKEN", hide_env_values = true)]
    pub sms_http_token: Option<String>,
    /// SMS messages per second per worker (0 = unlimited).
    #[arg(long, env = "SMS_RATE_LIMIT", default_value_t = 0)]
    pub sms_rate_limit: u32,

    /// Provider for push notifications.
    #[arg(long, env = "PUSH_PROVIDER", value_enum, default_value_t = ProviderKind::Log)]
    pub push_provider: ProviderKind,
    /// Push vendor endpoint (HTTP provider).
    #[arg(long, env = "PUSH_HTTP_URL")]
    pub push_http_url: Option<String>,
    /// Push vendor bearer token (HTTP provider).
    #[arg(long, env = "PUSH_HTTP_TOKEN", hide_env_values = true)]
    pub push_http_token: Option<String>,
    /// Push notifications per second per worker (0 = unlimited).
    #[arg(long, env = "PUSH_RATE_LIMIT", default_value_t = 0)]
    pub push_rate_limit: u32,

    /// Provider for e-mail.
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
    /// E-mails per second per worker (0 = unlimited).
    #[arg(long, env = "EMAIL_RATE_LIMIT", default_value_t = 0)]
    pub email_rate_limit: u32,

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
}
