//! The database as a source of trouble: a lock held by other work or an unreachable database
//! gives a quick 503 with `Retry-After` (never a 500, never a wait for the request timeout); the
//! LISTEN sessions never take the pool's connections; a pool too small for the process is
//! refused at start-up with the settings named. And AWS falling silent: API reads that need it
//! answer within seconds, and SIGTERM ends the process within its grace period.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ivs_provisioner::aws::{Aws, RateSettings, TimeoutSettings};
use ivs_provisioner::db::{self, DatabaseArgs};
use ivs_provisioner::playback_keys::{KeyRing, KeySource, Tokens};
use reqwest::StatusCode;
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, PgPool};

use crate::common::KillOnDrop;
use crate::common::silent_proxy::SilentProxy;
use crate::helpers::{LIMITS, TestApp, channel, client, id_of, send, serve};

/// The application served on `pool` (no signing key: these tests need none).
async fn app_on(app: &TestApp, pool: PgPool) -> (String, tokio::sync::oneshot::Sender<()>) {
    let tokens = Tokens::new(Arc::new(KeyRing::new(KeySource::None)), LIMITS);
    serve(pool, app.aws.clone(), tokens).await
}

fn args(url: &str, max_connections: u32) -> DatabaseArgs {
    DatabaseArgs {
        database_url: url.to_owned(),
        db_max_connections: max_connections,
        db_acquire_timeout_secs: 1,
        db_statement_timeout_secs: 5,
        db_lock_timeout_secs: 1,
    }
}

fn assert_unavailable(reply: &crate::helpers::Reply, took: Duration) {
    let problem = reply.problem(StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        problem["type"], "urn:ivs-provisioner:problem:database-unavailable",
        "{problem}"
    );
    assert!(reply.header("retry-after").is_some(), "{:?}", reply.headers);
    assert!(took < Duration::from_secs(5), "answered after {took:?}");
}

#[tokio::test]
async fn a_table_locked_by_other_work_gives_a_quick_503_with_retry_after() {
    let app = TestApp::spawn().await;
    let admin = app.admin_key().await;
    let id = id_of(&app.create_channel(&admin, &channel("acme", "yoga")).await);
    let pool = db::connect(&args(&app.database_url, 8)).await.unwrap();
    let (address, _stop) = app_on(&app, pool).await;

    let mut locker = sqlx::PgConnection::connect(&app.database_url)
        .await
        .unwrap();
    sqlx::raw_sql("begin; lock table channels in access exclusive mode")
        .execute(&mut locker)
        .await
        .unwrap();
    for request in [
        client().get(format!("{address}/v1/channels/{id}")),
        client()
            .post(format!("{address}/v1/channels"))
            .json(&channel("acme", "pilates")),
    ] {
        let started = Instant::now();
        let reply = send(request.bearer_auth(&admin)).await;
        assert_unavailable(&reply, started.elapsed());
    }

    sqlx::query("rollback").execute(&mut locker).await.unwrap();
    let reply = send(
        client()
            .get(format!("{address}/v1/channels/{id}"))
            .bearer_auth(&admin),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
}

#[tokio::test]
async fn an_unreachable_database_gives_503_with_retry_after_not_500() {
    let app = TestApp::spawn().await;
    let admin = app.admin_key().await;
    // Nothing listens on port 1: every connection attempt is refused.
    let pool = PgPoolOptions::new()
        .acquire_timeout(Duration::from_secs(1))
        .connect_lazy("postgres://postgres@127.0.0.1:1/gone")
        .unwrap();
    let (address, _stop) = app_on(&app, pool).await;

    for request in [
        client().get(format!("{address}/v1/channels")),
        client()
            .post(format!("{address}/v1/channels"))
            .json(&channel("acme", "yoga")),
        client().get(format!("{address}/readyz")),
    ] {
        let started = Instant::now();
        let reply = send(request.bearer_auth(&admin)).await;
        assert_eq!(
            reply.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{}",
            reply.text
        );
        assert!(reply.header("retry-after").is_some(), "{:?}", reply.headers);
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}

/// Waits until a `LISTEN` session is open on the test database.
async fn listener_connected(app: &TestApp) -> bool {
    for _ in 0..50 {
        let listening: i64 = sqlx::query_scalar(
            "select count(*) from pg_stat_activity
              where datname = current_database() and query ilike 'listen%'",
        )
        .fetch_one(&app.pool)
        .await
        .unwrap();
        if listening > 0 {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test]
async fn the_listen_session_does_not_take_the_pools_only_connection() {
    let app = TestApp::spawn().await;
    let admin = app.admin_key().await;
    let pool = db::connect(&args(&app.database_url, 1)).await.unwrap();
    let (address, _stop) = app_on(&app, pool).await;
    assert!(
        listener_connected(&app).await,
        "the cache listener connects"
    );

    for i in 0..10 {
        let created = send(
            client()
                .post(format!("{address}/v1/channels"))
                .bearer_auth(&admin)
                .json(&channel("acme", &format!("class-{i}"))),
        )
        .await;
        assert_eq!(created.status, StatusCode::ACCEPTED, "{}", created.text);
        let listed = send(
            client()
                .get(format!("{address}/v1/channels"))
                .bearer_auth(&admin),
        )
        .await;
        assert_eq!(listed.status, StatusCode::OK, "{}", listed.text);
    }
}

#[tokio::test]
async fn a_pool_too_small_for_the_process_is_refused_at_start_up_naming_the_settings() {
    let app = TestApp::spawn().await;
    for (command, pool) in [("serve", "2"), ("worker", "3")] {
        let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_ivs-provisioner"))
            .arg(command)
            .kill_on_drop(true)
            .env("DATABASE_URL", &app.database_url)
            .env("DB_MAX_CONNECTIONS", pool)
            .env("RECONCILER_CONCURRENCY", "4")
            .env("AWS_REGION", "us-east-1")
            .env("RUST_LOG", "warn")
            .output();
        let output = tokio::time::timeout(Duration::from_secs(20), run)
            .await
            .unwrap_or_else(|_| panic!("{command} kept running with a pool of {pool}"))
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            !output.status.success(),
            "{command} started with a pool of {pool}"
        );
        assert!(
            stderr.contains("DB_MAX_CONNECTIONS") && stderr.contains("RECONCILER_CONCURRENCY"),
            "{stderr}"
        );
    }
}

/// The application served on the test's database, with AWS behind a proxy that can fall silent.
async fn app_behind_proxy(
    app: &TestApp,
) -> (String, SilentProxy, tokio::sync::oneshot::Sender<()>) {
    let proxy = SilentProxy::spawn(&app.sim.endpoint()).await;
    let timeouts = TimeoutSettings {
        aws_request_timeout_secs: 2,
        ..TimeoutSettings::default()
    };
    let aws = Aws::for_local_endpoint(&proxy.endpoint, "us-east-1", &RateSettings::unlimited())
        .await
        .with_timeouts(&timeouts)
        .for_requests();
    let tokens = Tokens::new(Arc::new(KeyRing::new(KeySource::None)), LIMITS);
    let (address, stop) = serve(app.pool.clone(), aws, tokens).await;
    (address, proxy, stop)
}

#[tokio::test]
async fn api_reads_that_need_a_silent_aws_answer_within_seconds() {
    let app = TestApp::spawn().await;
    let admin = app.admin_key().await;
    let id = id_of(&app.create_channel(&admin, &channel("acme", "yoga")).await);
    app.reconcile().await;
    let (address, proxy, _stop) = app_behind_proxy(&app).await;
    proxy.set_silent(true);

    let started = Instant::now();
    let key = send(
        client()
            .get(format!("{address}/v1/channels/{id}/stream-key"))
            .bearer_auth(&admin),
    )
    .await;
    let problem = key.problem(StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(problem["type"], "urn:ivs-provisioner:problem:aws-timeout");
    assert!(key.header("retry-after").is_some(), "{:?}", key.headers);
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "{:?}",
        started.elapsed()
    );

    // The channel itself still reads, with the live status unknown and why.
    let started = Instant::now();
    let read = send(
        client()
            .get(format!("{address}/v1/channels/{id}"))
            .bearer_auth(&admin),
    )
    .await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.text);
    assert_eq!(read.json()["stream"]["state"], "unknown", "{}", read.text);
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "{:?}",
        started.elapsed()
    );

    proxy.set_silent(false);
    let key = send(
        client()
            .get(format!("{address}/v1/channels/{id}/stream-key"))
            .bearer_auth(&admin),
    )
    .await;
    assert_eq!(key.status, StatusCode::OK, "{}", key.text);
}

#[tokio::test]
async fn sigterm_stops_the_service_within_its_grace_while_aws_is_silent() {
    let app = TestApp::spawn().await;
    let admin = app.admin_key().await;
    let id = id_of(&app.create_channel(&admin, &channel("acme", "yoga")).await);
    let proxy = SilentProxy::spawn(&app.sim.endpoint()).await;
    proxy.set_silent(true);
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_ivs-provisioner"))
        .arg("serve")
        .env("DATABASE_URL", &app.database_url)
        .env("BIND_ADDR", "127.0.0.1:0")
        .env("AWS_ENDPOINT_URL", &proxy.endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("SHUTDOWN_GRACE_SECS", "3")
        .env("RECONCILER_POLL_SECS", "1")
        .env("DRIFT_SWEEP_SECS", "0")
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut child = KillOnDrop(child);

    // The reconciler claims the channel and is stuck in a call to the silent AWS.
    let mut claimed = false;
    for _ in 0..100 {
        let phase: String = sqlx::query_scalar("select phase from channels where id = $1::uuid")
            .bind(&id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
        if phase == "provisioning" {
            claimed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(claimed, "the service claimed the channel");
    tokio::time::sleep(Duration::from_secs(1)).await;

    let pid = child.0.id().to_string();
    let stopping = Instant::now();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let mut exited = None;
    while stopping.elapsed() < Duration::from_secs(15) {
        if let Some(status) = child.0.try_wait().unwrap() {
            exited = Some(status);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let took = stopping.elapsed();
    assert!(exited.is_some(), "still running {took:?} after SIGTERM");
    assert!(took < Duration::from_secs(6), "took {took:?} (grace 3 s)");
}
