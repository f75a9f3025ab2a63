//! campaign-svc: parse config, build, run.

use campaign_svc::config::Config;
use campaign_svc::startup::{Application, shutdown_signal};
use clap::Parser as _;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    let telemetry = marketing_core::telemetry::init("info", config.log_json, "campaign-svc");
    let outcome = match Application::build(config).await {
        Ok(app) => app.run(shutdown_signal()).await,
        Err(e) => Err(e),
    };
    telemetry.shutdown().await;
    outcome
}
