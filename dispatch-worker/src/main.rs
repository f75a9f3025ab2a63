//! dispatch-worker: consumes send jobs and delivers them. For now it connects to PostgreSQL and
//! RabbitMQ and idles until it is told to stop.

use clap::Parser;

/// dispatch-worker: delivers marketing messages from RabbitMQ send jobs.
#[derive(Debug, Parser)]
#[command(name = "dispatch-worker", version, about, long_about = None)]
struct Config {
    /// PostgreSQL URL (the database campaign-svc created and migrated).
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/marketing"
    )]
    database_url: String,
    /// RabbitMQ URL.
    #[arg(
        long,
        env = "AMQP_URL",
        default_value = "amqp://guest:guest@127.0.0.1:5672/%2f"
    )]
    amqp_url: String,
    /// Log one JSON object per line instead of plain text.
    #[arg(long, env = "LOG_JSON", default_value_t = false)]
    log_json: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    marketing_core::telemetry::init("info", config.log_json);
    let conn = lapin::Connection::connect(&config.amqp_url, lapin::ConnectionProperties::default())
        .await?;
    tracing::info!("dispatch-worker connected; waiting for work");
    tokio::signal::ctrl_c().await?;
    conn.close(200, "shutdown".into()).await?;
    Ok(())
}
