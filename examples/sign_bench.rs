//! The raw ES384 signing rate on one thread, the ceiling for `POST /v1/channels/{id}/playback-tokens`:
//! the service's own signer (aws-lc-rs, key loaded once) signing the same claims the benchmark's
//! HTTP requests ask for. Used by `scripts/bench-tokens.sh`.
//!
//!     cargo run --release --example sign_bench -- [seconds] [channel-arn]
//!
//! Prints `RAW <tokens/s> <token length>`.

use std::time::{Duration, Instant};

use chrono::Utc;
use ivs_provisioner::tokens::{SigningKey, TokenLimits, TokenRequest, claims};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let seconds: f64 = args.next().map_or(Ok(5.0), |s| s.parse())?;
    let arn = args
        .next()
        .unwrap_or_else(|| "arn:aws:ivs:us-east-1:123456789012:channel/AbCdEfGhIjKl".into());
    let (key, _) = SigningKey::generate()?;
    // The body scripts/bench-tokens.sh sends.
    let request: TokenRequest = serde_json::from_str(
        r#"{"viewer_id":"member-4711","ttl_seconds":600,"allowed_origins":["https://classes.example.com"]}"#,
    )?;
    let limits = TokenLimits {
        default_ttl_secs: 300,
        max_ttl_secs: 3600,
    };
    let deadline = Duration::from_secs_f64(seconds);
    let start = Instant::now();
    let (mut count, mut length) = (0u64, 0);
    while start.elapsed() < deadline {
        for _ in 0..100 {
            let claims = claims::build(&request, &arn, Utc::now(), limits)
                .map_err(|e| anyhow::anyhow!("{e:?}"))?;
            length = key.sign(&claims)?.len();
        }
        count += 100;
    }
    println!(
        "RAW {:.0} {length}",
        count as f64 / start.elapsed().as_secs_f64()
    );
    Ok(())
}
