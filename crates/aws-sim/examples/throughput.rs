//! Throughput of the simulator with rates off, driven by the real `aws-sdk-ivs` over HTTP.
//!
//! `cargo run -p aws-sim --example throughput [--release] -- [concurrency] [seconds]`

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aws_sdk_ivs::config::{BehaviorVersion, Credentials, Region};
use aws_sim::SimConfig;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let concurrency: usize = args.next().map_or(Ok(32), |a| a.parse())?;
    let seconds: u64 = args.next().map_or(Ok(5), |a| a.parse())?;
    let mut config = SimConfig::for_tests();
    config.quotas.channels = usize::MAX;
    let running = aws_sim::spawn(config).await?;
    let client = aws_sdk_ivs::Client::from_conf(
        aws_sdk_ivs::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("a", "b", None, None, "bench"))
            .endpoint_url(running.endpoint())
            .build(),
    );
    let arn = client
        .create_channel()
        .name("probe")
        .send()
        .await?
        .channel
        .and_then(|c| c.arn)
        .unwrap_or_default();
    for op in ["CreateChannel", "GetChannel"] {
        let done = Arc::new(AtomicU64::new(0));
        let deadline = Instant::now() + Duration::from_secs(seconds);
        let tasks: Vec<_> = (0..concurrency)
            .map(|_| {
                let (client, done, arn) = (client.clone(), done.clone(), arn.clone());
                tokio::spawn(async move {
                    while Instant::now() < deadline {
                        let ok = match op {
                            "CreateChannel" => {
                                client.create_channel().name("bench").send().await.is_ok()
                            }
                            _ => client.get_channel().arn(&arn).send().await.is_ok(),
                        };
                        if ok {
                            done.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await?;
        }
        let total = done.load(Ordering::Relaxed);
        println!(
            "{op}: {total} ok in {seconds}s with {concurrency} tasks = {:.0} req/s",
            total as f64 / seconds as f64
        );
    }
    running.shutdown().await;
    Ok(())
}
