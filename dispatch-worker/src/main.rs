//! dispatch-worker: parse config, run.

use clap::Parser as _;
use dispatch_worker::config::Config;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    // Delivered messages may go to stdout (log provider); logs go to stderr.
    let telemetry = marketing_core::telemetry::init("info", config.log_json, "dispatch-worker");
    let outcome = dispatch_worker::run(config, dispatch_worker::shutdown_signal()).await;
    telemetry.shutdown().await;
    outcome
}
