//! `marketingctl`: the operator's command-line tool, speaking campaign-svc's gRPC API.

mod campaigns;
mod cli;
mod client;
mod customers;
mod dlq;
mod events;
mod output;

use std::process::ExitCode;

use clap::Parser as _;

use crate::cli::{Cli, Command};
use crate::client::Failure;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    ExitCode::SUCCESS
                }
                _ => ExitCode::from(client::EXIT_USAGE),
            };
        }
    };
    match run(cli).await {
        Ok(code) => ExitCode::from(code),
        Err(failure) => {
            eprintln!("marketingctl: {}", failure.message);
            ExitCode::from(failure.exit_code)
        }
    }
}

async fn run(cli: Cli) -> Result<u8, Failure> {
    let ctx = client::Context::new(&cli.global)?;
    match cli.command {
        Command::Campaigns(c) => campaigns::run(&ctx, c).await,
        Command::Executions(c) => campaigns::run_executions(&ctx, c).await,
        Command::Customers(c) => customers::run(&ctx, c).await,
        Command::Events(c) => events::run(&ctx, c).await,
        Command::Dlq(c) => dlq::run(&ctx, c).await,
    }
}
