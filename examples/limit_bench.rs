//! What the request budget adds to every counted request, measured alone: finding the owner's
//! budget in the concurrent map, the GCRA check, and writing the two RateLimit fields. The
//! end-to-end view (tokens/s through HTTP with and without the budget) is `scripts/bench-tokens.sh`.
//!
//!     cargo run --release --example limit_bench -- [iterations]
//!
//! Prints nanoseconds per request for one busy tenant and for 10,000 tenants in turn.

use std::time::Instant;

use axum::http::HeaderMap;
use ivs_provisioner::api::rate_limit::{Budget, Decision, Owner, RateBudgets, add_headers};
use ivs_provisioner::domain::limits::RatePolicy;

fn main() -> anyhow::Result<()> {
    let iterations: u32 = std::env::args()
        .nth(1)
        .map_or(Ok(2_000_000), |s| s.parse())?;
    // Far above even this loop's pace: every request is checked and allowed, as on the token hot
    // path with a budget the load does not reach.
    let policy = RatePolicy {
        per_second: u32::MAX,
        burst: 1_000_000,
    };
    let tenants: Vec<String> = (0..10_000).map(|i| format!("tenant-{i}")).collect();
    for (label, spread) in [("one tenant", 1), ("10,000 tenants", tenants.len())] {
        let budgets = RateBudgets::default();
        let mut headers = HeaderMap::new();
        let mut allowed = 0u64;
        let start = Instant::now();
        for i in 0..iterations as usize {
            let owner = Owner::Tenant(tenants[i % spread].clone());
            if let Decision::Allowed { remaining } = budgets.spend(owner, Budget::Tokens, policy) {
                allowed += 1;
                add_headers(
                    &mut headers,
                    Budget::Tokens,
                    policy,
                    remaining,
                    policy.burst - remaining,
                );
            }
        }
        let per = start.elapsed().as_nanos() as f64 / f64::from(iterations);
        println!("{label}: {per:.0} ns per request ({allowed} of {iterations} allowed)");
    }
    Ok(())
}
