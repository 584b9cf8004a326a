//! The session and recording lists and the event's channel lookup read only what they return,
//! however much history there is: their plans (EXPLAIN ANALYZE of the statements as the code
//! runs them) use an index and read about a page. `BROADCAST_HISTORY_ROWS=1000000` runs the same
//! at a year's scale and prints each plan's time (`--nocapture`).

mod common;

use std::time::Duration;

use chrono::{TimeZone, Utc};
use ivs_provisioner::db::{broadcasts::FactFilter, explain};
use ivs_provisioner::domain::broadcast::RecordingStatus;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use uuid::Uuid;

use common::TestDatabase;

const TENANTS: i64 = 4;
const CHANNELS: i64 = 200;
const LIMIT: i64 = 21; // a page of 20 and the row that says there is more

fn rows() -> i64 {
    std::env::var("BROADCAST_HISTORY_ROWS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(20_000)
}

/// `rows` recordings and as many sessions over `CHANNELS` channels of `TENANTS` tenants, one a
/// minute back from now; one recording in 500 failed, the latest few still recording.
async fn load(pool: &PgPool, rows: i64) {
    sqlx::query(
        "insert into channels (id, tenant, name, spec, phase, outputs)
         select ('00000000-0000-7000-8000-' || lpad(to_hex(c), 12, '0'))::uuid, 'tenant-' || (c % $1),
                'class-' || c, '{}'::jsonb, 'ready',
                jsonb_build_object('channel_arn', 'arn:aws:ivs:us-east-1:123456789012:channel/c' || c)
           from generate_series(0, $2 - 1) c",
    )
    .bind(TENANTS)
    .bind(CHANNELS)
    .execute(pool)
    .await
    .unwrap();
    let common = "select gen_random_uuid(), ('00000000-0000-7000-8000-' || lpad(to_hex(n % $2), 12, '0'))::uuid,
                'tenant-' || (n % $2 % $3), 'arn:aws:ivs:us-east-1:123456789012:channel/c' || (n % $2)";
    sqlx::query(&format!(
        "insert into recordings (id, channel_id, tenant, channel_arn, recording_id, status, started_at, ended_at, duration_ms)
         {common}, 'rec-' || n,
                case when n < 5 then 'recording' when n % 500 = 0 then 'failed' else 'ready' end,
                now() - n * interval '1 minute', now() - n * interval '1 minute' + interval '50 minutes', 3000000
           from generate_series(0, $1 - 1) n"
    ))
    .bind(rows)
    .bind(CHANNELS)
    .bind(TENANTS)
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(&format!(
        "insert into stream_sessions (id, channel_id, tenant, channel_arn, stream_id, started_at, ended_at)
         {common}, 'st-' || n, now() - n * interval '1 minute', now() - n * interval '1 minute' + interval '50 minutes'
           from generate_series(0, $1 - 1) n"
    ))
    .bind(rows)
    .bind(CHANNELS)
    .bind(TENANTS)
    .execute(pool)
    .await
    .unwrap();
    sqlx::raw_sql("vacuum analyze channels, recordings, stream_sessions")
        .execute(pool)
        .await
        .unwrap();
}

/// Every scan of `table` uses an index and all of them read at most `bound` rows.
fn assert_reads_at_most(what: &str, table: &str, plan: &explain::Plan, bound: f64) {
    let scans: Vec<_> = plan
        .scans()
        .into_iter()
        .filter(|s| s.relation.as_deref() == Some(table))
        .collect();
    assert!(
        !scans.is_empty(),
        "{what}: no scan of {table}: {:#}",
        plan.json
    );
    for scan in &scans {
        assert!(
            scan.index.is_some(),
            "{what}: {} reads the whole table: {}",
            scan.node,
            plan.summary()
        );
    }
    let read: f64 = scans.iter().map(|s| s.rows + s.removed).sum();
    assert!(
        read <= bound,
        "{what} read {read} rows (at most {bound}): {}",
        plan.summary()
    );
    println!("{what}: {:.3} ms, {}", plan.execution_ms(), plan.summary());
}

#[tokio::test]
async fn broadcast_lists_and_the_channel_lookup_read_about_a_page() {
    let database =
        TestDatabase::new(PgPoolOptions::new().acquire_timeout(Duration::from_secs(30))).await;
    let pool = database.pool.clone();
    let rows = rows();
    load(&pool, rows).await;
    let channel = Uuid::parse_str("00000000-0000-7000-8000-000000000007").unwrap();
    let since = Utc::now() - chrono::Duration::days(1);
    let page = 2.0 * LIMIT as f64;
    // With a tenant in four, reading the newest rows and skipping other tenants' is as good a
    // plan as the tenant's index: either reads at most a few pages.
    let tenant_pages = TENANTS as f64 * page;
    let recording_filters = [
        ("all recordings", FactFilter::default(), page),
        (
            "a channel's recordings",
            FactFilter {
                channel_id: Some(channel),
                ..Default::default()
            },
            page,
        ),
        (
            "a tenant's",
            FactFilter {
                tenant: Some("tenant-1"),
                ..Default::default()
            },
            tenant_pages,
        ),
        (
            "failed ones (rare)",
            FactFilter {
                status: Some(RecordingStatus::Failed),
                ..Default::default()
            },
            page,
        ),
        (
            "a tenant's ready ones",
            FactFilter {
                tenant: Some("tenant-2"),
                status: Some(RecordingStatus::Ready),
                ..Default::default()
            },
            tenant_pages,
        ),
        (
            "a tenant's since yesterday",
            FactFilter {
                tenant: Some("tenant-3"),
                since: Some(since),
                ..Default::default()
            },
            tenant_pages,
        ),
        (
            "a later page",
            FactFilter {
                before: Some((
                    Utc.timestamp_opt(Utc::now().timestamp() - 86_400, 0)
                        .unwrap(),
                    Uuid::max(),
                )),
                ..Default::default()
            },
            page,
        ),
    ];
    for (what, filter, bound) in recording_filters {
        let filter = FactFilter {
            limit: LIMIT,
            ..filter
        };
        let plan = explain::broadcast_page(&pool, true, &filter).await.unwrap();
        assert_reads_at_most(what, "recordings", &plan, bound);
    }
    let sessions = FactFilter {
        channel_id: Some(channel),
        limit: LIMIT,
        ..Default::default()
    };
    let plan = explain::broadcast_page(&pool, false, &sessions)
        .await
        .unwrap();
    assert_reads_at_most("a channel's sessions", "stream_sessions", &plan, page);
    let plan = explain::channel_by_arn(&pool, "arn:aws:ivs:us-east-1:123456789012:channel/c7")
        .await
        .unwrap();
    assert_reads_at_most("the event's channel lookup", "channels", &plan, 1.0);
    println!("{rows} recordings and {rows} sessions");
}
