//! Entry point: parse the command line, set up logging, run the chosen command.

use clap::Parser;
use ivs_provisioner::cli::{Cli, commands};
use ivs_provisioner::telemetry;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    telemetry::init(&cli.log);
    match commands::run(cli.command).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
