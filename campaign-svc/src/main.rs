//! campaign-svc: parse config, build, run.

use campaign_svc::config::Config;
use campaign_svc::startup::{Application, shutdown_signal};
use clap::Parser as _;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    marketing_core::telemetry::init("info,campaign_svc=info", config.log_json);
    let app = Application::build(config).await?;
    app.run(shutdown_signal()).await
}
