//! EXPLAIN of the statements the service repeats whatever the size of its history (on
//! `channels`: the claim, the next-due query, the list filters, the metrics gauges, the chat-log
//! users count, the console's overview; on the broadcast facts: the session and recording lists,
//! the event's channel lookup), run exactly as the code runs them: the history tests assert on
//! their plans and the history benchmark times them.

use serde_json::Value;
use sqlx::PgPool;

use super::broadcasts::{self, FactFilter};
use super::channels::{self, ListFilter};
use super::claims;
use super::shared_configurations::{self, SharedKind};

/// One statement's plan, from `EXPLAIN (ANALYZE, FORMAT JSON)`.
#[derive(Debug, Clone)]
pub struct Plan {
    pub json: Value,
}

/// A node of a plan that reads a relation.
#[derive(Debug, Clone, PartialEq)]
pub struct Scan {
    /// `Seq Scan`, `Index Scan`, `Index Only Scan`, `Bitmap Heap Scan`, ...
    pub node: String,
    pub relation: Option<String>,
    pub index: Option<String>,
    /// Rows the node returned, over all its loops.
    pub rows: f64,
    /// Rows the node read and threw away (filter and recheck).
    pub removed: f64,
}

impl Plan {
    fn new(json: Value) -> Plan {
        Plan { json }
    }

    fn root(&self) -> &Value {
        &self.json[0]
    }

    /// Milliseconds the statement ran (planning excluded).
    pub fn execution_ms(&self) -> f64 {
        self.root()["Execution Time"].as_f64().unwrap_or(f64::NAN)
    }

    /// Every node that reads a table or an index, depth first.
    pub fn scans(&self) -> Vec<Scan> {
        fn walk(node: &Value, out: &mut Vec<Scan>) {
            let name = node["Node Type"].as_str().unwrap_or_default();
            if name.ends_with("Scan") && name != "Subquery Scan" {
                let number = |key: &str| node[key].as_f64().unwrap_or(0.0);
                let loops = number("Actual Loops").max(1.0);
                out.push(Scan {
                    node: name.to_owned(),
                    relation: node["Relation Name"].as_str().map(str::to_owned),
                    index: node["Index Name"].as_str().map(str::to_owned),
                    rows: number("Actual Rows") * loops,
                    removed: (number("Rows Removed by Filter")
                        + number("Rows Removed by Index Recheck"))
                        * loops,
                });
            }
            for child in node["Plans"].as_array().into_iter().flatten() {
                walk(child, out);
            }
        }
        let mut out = Vec::new();
        walk(&self.root()["Plan"], &mut out);
        out
    }

    /// The plan as one line: each scan node, its index, rows returned and thrown away.
    pub fn summary(&self) -> String {
        self.scans()
            .iter()
            .map(|s| {
                format!(
                    "{}{} on {} ({} rows, {} removed)",
                    s.node,
                    s.index
                        .as_deref()
                        .map(|i| format!(" using {i}"))
                        .unwrap_or_default(),
                    s.relation.as_deref().unwrap_or("?"),
                    s.rows,
                    s.removed
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}

const EXPLAIN: &str = "explain (analyze, buffers, format json) ";

/// The claim statement as a worker runs it (its updates are rolled back).
pub async fn claim(pool: &PgPool, limit: i64) -> sqlx::Result<Plan> {
    let mut tx = pool.begin().await?;
    let json = claims::explain_claim(&mut *tx, EXPLAIN, limit).await?;
    tx.rollback().await?;
    Ok(Plan::new(json))
}

/// When the next row falls due.
pub async fn next_due(pool: &PgPool) -> sqlx::Result<Plan> {
    claims::explain_next_due(pool, EXPLAIN).await.map(Plan::new)
}

/// The broadcast sweep's choice of the next channels.
pub async fn broadcast_sweep(pool: &PgPool, limit: i64) -> sqlx::Result<Plan> {
    super::broadcast_sweep::explain_next(pool, EXPLAIN, limit)
        .await
        .map(Plan::new)
}

/// `GET /v1/channels` with this filter.
pub async fn list(pool: &PgPool, filter: &ListFilter<'_>) -> sqlx::Result<Plan> {
    channels::explain_list(pool, EXPLAIN, filter)
        .await
        .map(Plan::new)
}

/// The metrics gauges: channels by phase, rows waiting.
pub async fn gauges(pool: &PgPool) -> sqlx::Result<[Plan; 2]> {
    let [by_phase, waiting] = channels::explain_gauges(pool, EXPLAIN).await?;
    Ok([Plan::new(by_phase), Plan::new(waiting)])
}

/// The console overview's statements for `tenant` (or all): by phase, waiting, failing.
pub async fn console_overview(pool: &PgPool, tenant: Option<&str>) -> sqlx::Result<[Plan; 3]> {
    let [a, b, c] = super::console::explain_overview(pool, EXPLAIN, tenant).await?;
    Ok([Plan::new(a), Plan::new(b), Plan::new(c)])
}

/// `GET /v1/channels/{id}/sessions` (`recordings` false) or a recordings list with this filter.
pub async fn broadcast_page(
    pool: &PgPool,
    recordings: bool,
    filter: &FactFilter<'_>,
) -> sqlx::Result<Plan> {
    broadcasts::explain_page(pool, EXPLAIN, recordings, filter)
        .await
        .map(Plan::new)
}

/// The lookup of the channel an IVS event names by its ARN.
pub async fn channel_by_arn(pool: &PgPool, arn: &str) -> sqlx::Result<Plan> {
    broadcasts::explain_channel_by_arn(pool, EXPLAIN, arn)
        .await
        .map(Plan::new)
}

/// Counting the live channels that log chat to `bucket`, before its shared logging
/// configuration is released.
pub async fn chat_log_users(pool: &PgPool, bucket: &str) -> sqlx::Result<Plan> {
    shared_configurations::explain_count_users(pool, EXPLAIN, SharedKind::ChatLogging, &bucket)
        .await
        .map(Plan::new)
}
