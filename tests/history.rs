//! Queries that do not grow with history: on a table that is mostly deleted rows, the claim, the
//! next-due query, every list filter, the metrics gauges and the console's overview read only the rows they return or
//! count (their plans, from EXPLAIN ANALYZE of the statements as the code runs them), and the
//! gauges stay exact.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use ivs_provisioner::db::{self, channels::ListFilter, explain};
use ivs_provisioner::domain::Phase;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use uuid::Uuid;

use common::TestDatabase;

const HISTORY: usize = 4000;
const TENANTS: usize = 4;
const READY: usize = 40;
const FAILED: usize = 4;
const PENDING: usize = 3;

/// History first (older ids, as UUIDv7 makes them), then the live rows: a list that walked the
/// ids from the start would read the whole history before its first live row.
async fn load(pool: &PgPool) {
    let ids = |n: usize| (0..n).map(|_| Uuid::now_v7()).collect::<Vec<_>>();
    let rows = [
        ("deleted", ids(HISTORY)),
        ("ready", ids(READY)),
        ("failed", ids(FAILED)),
        ("pending", ids(PENDING)),
    ];
    for (phase, ids) in rows {
        sqlx::query(
            "insert into channels (id, tenant, name, spec, phase, outputs, delete_after, deleted_at,
                                   attempts, next_attempt_at)
             select id, 'tenant-' || (n % $3), 'class-' || md5(id::text),
                    jsonb_build_object('tenant', 'tenant-' || (n % $3), 'name', 'class-' || md5(id::text),
                        'type', 'STANDARD', 'preset', null, 'latency_mode', 'LOW', 'authorized', false,
                        'insecure_ingest', false, 'playback_public_key_pem', null, 'recording', null,
                        'tags', '{}'::jsonb, 'delete_after', null),
                    $2, '{}'::jsonb,
                    case when $2 = 'deleted' then now() - interval '1 day' else now() + interval '7 days' end,
                    case when $2 = 'deleted' then now() - interval '1 day' end,
                    case when $2 = 'failed' then 3 else 0 end,
                    case when $2 = 'failed' then now() + interval '1 hour'
                         when $2 = 'deleted' then now() - interval '1 day' else now() end
               from unnest($1::uuid[]) with ordinality as t(id, n)",
        )
        .bind(ids)
        .bind(phase)
        .bind(TENANTS as i32)
        .execute(pool)
        .await
        .expect("insert rows");
    }
    sqlx::raw_sql("vacuum analyze channels")
        .execute(pool)
        .await
        .expect("vacuum analyze");
}

/// Every scan of `channels` in `plan` uses an index, and together they read (return or throw
/// away) at most `bound` rows.
fn assert_reads_at_most(what: &str, plan: &explain::Plan, bound: f64) {
    let scans: Vec<_> = plan
        .scans()
        .into_iter()
        .filter(|s| s.relation.as_deref() == Some("channels"))
        .collect();
    assert!(
        !scans.is_empty(),
        "{what}: no scan of channels in {:#}",
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
        "{what} read {read} rows (at most {bound} expected) on a table of {HISTORY} deleted rows: {}",
        plan.summary()
    );
}

async fn database() -> TestDatabase {
    TestDatabase::new(PgPoolOptions::new().acquire_timeout(Duration::from_secs(30))).await
}

#[tokio::test]
async fn the_claim_next_due_lists_and_gauges_read_only_what_they_return() {
    let database = database().await;
    let pool = database.pool.clone();
    load(&pool).await;
    let live = (READY + FAILED + PENDING) as f64;

    // The pending rows are due; the failed ones are backed off, the ready ones wait for a
    // delete_after a week away, and the history is done.
    // The claim finds the due rows, then updates each by its primary key.
    let claim = explain::claim(&pool, 8).await.unwrap();
    assert_reads_at_most("the claim", &claim, (2 * PENDING) as f64);
    assert_reads_at_most(
        "the next-due query",
        &explain::next_due(&pool).await.unwrap(),
        PENDING as f64,
    );
    let [by_phase, waiting] = explain::gauges(&pool).await.unwrap();
    assert_reads_at_most("the channels-by-phase gauge", &by_phase, live);
    assert_reads_at_most("the rows-waiting gauge", &waiting, PENDING as f64);
    // No loaded channel logs chat: releasing a chat logging configuration reads none of them.
    let chat_log_users = explain::chat_log_users(&pool, "chat-logs").await.unwrap();
    assert_reads_at_most("the chat-log users count", &chat_log_users, 1.0);

    let limit = 21; // a page of 20 and the row that says there is more
    let filters = [
        ("no filter", ListFilter::default()),
        (
            "phase failed",
            ListFilter {
                phase: Some(Phase::Failed),
                ..Default::default()
            },
        ),
        (
            "phase ready",
            ListFilter {
                phase: Some(Phase::Ready),
                ..Default::default()
            },
        ),
        (
            "tenant",
            ListFilter {
                tenant: Some("tenant-1"),
                ..Default::default()
            },
        ),
        (
            "name prefix",
            ListFilter {
                name_prefix: Some("class-a"),
                ..Default::default()
            },
        ),
        (
            "tenant and phase",
            ListFilter {
                tenant: Some("tenant-2"),
                phase: Some(Phase::Ready),
                ..Default::default()
            },
        ),
        (
            "history included",
            ListFilter {
                include_deleted: true,
                ..Default::default()
            },
        ),
        (
            "phase deleted",
            ListFilter {
                phase: Some(Phase::Deleted),
                ..Default::default()
            },
        ),
    ];
    for (what, filter) in filters {
        let filter = ListFilter { limit, ..filter };
        let plan = explain::list(&pool, &filter).await.unwrap();
        // A live filter reads at most every live row; a history page reads about a page.
        let bound = if filter.include_deleted || filter.phase == Some(Phase::Deleted) {
            2.0 * limit as f64
        } else {
            live
        };
        assert_reads_at_most(&format!("the list ({what})"), &plan, bound);
    }

    // The console's overview, for every tenant and for one.
    for tenant in [None, Some("tenant-1")] {
        let [by_phase, waiting, failing] = explain::console_overview(&pool, tenant).await.unwrap();
        assert_reads_at_most(
            &format!("the console's phases ({tenant:?})"),
            &by_phase,
            live,
        );
        let what = format!("the console's rows waiting ({tenant:?})");
        assert_reads_at_most(&what, &waiting, PENDING as f64);
        let what = format!("the console's failing channels ({tenant:?})");
        assert_reads_at_most(&what, &failing, FAILED as f64);
    }

    // A later page starts at its cursor instead of walking the rows before it.
    let first = db::channels::list(
        &pool,
        &ListFilter {
            limit: 10,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let next = ListFilter {
        limit: 10,
        after: first.last().map(|r| r.id),
        ..Default::default()
    };
    assert_reads_at_most(
        "the list's second page",
        &explain::list(&pool, &next).await.unwrap(),
        live - 10.0,
    );
}

/// The gauges' counts by phase name, phases with no row left out.
async fn gauge_counts(pool: &PgPool) -> BTreeMap<&'static str, i64> {
    db::channels::count_by_phase(pool)
        .await
        .unwrap()
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(phase, n)| (phase.as_str(), n))
        .collect()
}

/// The same, counted over the whole table.
async fn true_counts(pool: &PgPool) -> BTreeMap<&'static str, i64> {
    let rows: Vec<(Phase, i64)> =
        sqlx::query_as("select phase, count(*) from channels group by phase")
            .fetch_all(pool)
            .await
            .unwrap();
    rows.into_iter()
        .map(|(phase, n)| (phase.as_str(), n))
        .collect()
}

#[tokio::test]
async fn the_deleted_gauge_stays_exact_through_inserts_deletions_and_removals() {
    let database = database().await;
    let pool = database.pool.clone();
    load(&pool).await;
    assert_eq!(gauge_counts(&pool).await, true_counts(&pool).await);
    assert_eq!(gauge_counts(&pool).await["deleted"], HISTORY as i64);

    // Channels deleted the way the reconciler finishes a delete, several in one statement.
    sqlx::query(
        "update channels set phase = 'deleted', deleted_at = now()
          where id in (select id from channels where phase = 'ready' order by id limit 5)",
    )
    .execute(&pool)
    .await
    .unwrap();
    // History pruned, and a row that never was deleted removed.
    sqlx::query(
        "delete from channels where id in (select id from channels where phase = 'deleted' order by id limit 7)",
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query("delete from channels where id = (select id from channels where phase = 'failed' order by id limit 1)")
        .execute(&pool)
        .await
        .unwrap();
    // An update that leaves deleted rows deleted changes nothing.
    sqlx::query("update channels set updated_at = now() where phase = 'deleted'")
        .execute(&pool)
        .await
        .unwrap();

    let counts = gauge_counts(&pool).await;
    assert_eq!(counts, true_counts(&pool).await);
    assert_eq!(counts["deleted"], (HISTORY + 5 - 7) as i64);
}

/// Ready channels waiting for their live window's edge are found like those waiting for their
/// delete_after: the claim reads only the rows whose edge has come, and the next-due query only
/// the earliest edge, however long the history and however many windows lie ahead.
#[tokio::test]
async fn window_edges_fall_due_without_reading_history_or_windows_ahead() {
    let database = database().await;
    let pool = database.pool.clone();
    load(&pool).await;
    const EDGE_DUE: i64 = 3;
    // Every ready row has a window edge an hour ahead, a few have reached theirs.
    sqlx::query(
        "update channels set window_due_at = now() + interval '1 hour', ingest_open = false
          where phase = 'ready'",
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "update channels set window_due_at = now() - interval '1 second'
          where id in (select id from channels where phase = 'ready' order by id limit $1)",
    )
    .bind(EDGE_DUE)
    .execute(&pool)
    .await
    .unwrap();
    sqlx::raw_sql("vacuum analyze channels")
        .execute(&pool)
        .await
        .unwrap();

    let due = (PENDING as i64 + EDGE_DUE) as f64;
    assert_reads_at_most(
        "the claim",
        &explain::claim(&pool, 8).await.unwrap(),
        2.0 * due,
    );
    assert_reads_at_most(
        "the next-due query",
        &explain::next_due(&pool).await.unwrap(),
        (PENDING + 1) as f64,
    );
    let claimed = db::claims::claim(&pool, "test", Duration::from_secs(30), 100)
        .await
        .unwrap();
    assert_eq!(claimed.len() as i64, PENDING as i64 + EDGE_DUE);
}

/// The broadcast sweep picks its next channels from the live rows in sweep order and the rows
/// deleted within its lookback, never walking the history.
#[tokio::test]
async fn the_broadcast_sweep_picks_its_channels_without_reading_history() {
    let database = database().await;
    let pool = database.pool.clone();
    load(&pool).await;
    sqlx::query(
        "update channels set outputs = jsonb_build_object('channel_arn', 'arn:aws:ivs:us-east-1:1:channel/' || id)",
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::raw_sql("vacuum analyze channels")
        .execute(&pool)
        .await
        .unwrap();
    let plan = explain::broadcast_sweep(&pool, 10).await.unwrap();
    // At most the live rows (on a table this small the planner may read them all and sort),
    // and the (here: no) rows deleted within the lookback; never the history.
    let live = (READY + FAILED + PENDING) as f64;
    assert_reads_at_most("the broadcast sweep's pick", &plan, live);
}
