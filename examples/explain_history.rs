//! Times the reconciler's claim statement, its next-due query and the metrics gauges with
//! EXPLAIN ANALYZE, as the code runs them, on the database named by `DATABASE_URL`; used by
//! scripts/bench-history.sh. Prints one line per statement, tab-separated: its name, the median
//! execution time of N runs (the first argument, default 10) and what its plan read.

use ivs_provisioner::db::explain::{self, Plan};
use sqlx::PgPool;

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let runs: usize = std::env::args()
        .nth(1)
        .map(|n| n.parse())
        .transpose()?
        .unwrap_or(10);
    let url = std::env::var("DATABASE_URL")?;
    let pool = PgPool::connect(&url).await?;
    let mut plans: [Vec<Plan>; 4] = Default::default();
    for _ in 0..runs.max(1) {
        plans[0].push(explain::claim(&pool, 8).await?);
        plans[1].push(explain::next_due(&pool).await?);
        let [by_phase, waiting] = explain::gauges(&pool).await?;
        plans[2].push(by_phase);
        plans[3].push(waiting);
    }
    let names = [
        "claim statement",
        "next-due query",
        "gauge: channels by phase",
        "gauge: rows waiting",
    ];
    for (name, mut runs) in names.into_iter().zip(plans) {
        runs.sort_by(|a, b| a.execution_ms().total_cmp(&b.execution_ms()));
        let median = &runs[runs.len() / 2];
        println!(
            "{name}\t{:.3} ms\t{}",
            median.execution_ms(),
            median.summary()
        );
    }
    Ok(())
}
