//! `aws-sim`: the simulator as a standalone HTTP server (`aws-sim --port 4566`).

use std::net::{IpAddr, SocketAddr};

use clap::Parser;

#[derive(Parser, Debug)]
#[command(
    name = "aws-sim",
    version,
    about = "In-memory Amazon IVS + SSM Parameter Store simulator"
)]
struct Cli {
    /// Port to listen on (0 = any free port).
    #[arg(long, env = "AWS_SIM_PORT", default_value_t = 4566)]
    port: u16,
    /// Address to bind.
    #[arg(long, env = "AWS_SIM_HOST", default_value = "127.0.0.1")]
    host: IpAddr,
    #[command(flatten)]
    sim: aws_sim::SimConfig,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let cli = Cli::parse();
    let running = aws_sim::spawn_on(cli.sim, SocketAddr::new(cli.host, cli.port)).await?;
    println!("aws-sim listening on {}", running.endpoint());
    tokio::signal::ctrl_c().await?;
    running.shutdown().await;
    Ok(())
}
