//! All SQL: the Postgres pool and its settings, the migrations, one module of queries per table
//! or concern (the reconciler's claims and leases, advisory locks), and nothing else.

pub mod api_keys;
pub mod broadcast_sweep;
pub mod broadcasts;
pub mod channels;
pub mod claims;
pub mod console;
pub mod drift;
pub mod events;
pub mod explain;
pub mod locks;
pub mod playback_keys;
pub mod shared_configurations;
pub mod tenant_limits;
pub mod webhooks;

use std::time::Duration;

use anyhow::Context;
use sqlx::migrate::{MigrateDatabase, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres};

/// Where the database is and how the pool behaves.
#[derive(Debug, clap::Args, Clone)]
pub struct DatabaseArgs {
    /// Postgres connection URL.
    #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL, hide_env_values = true)]
    pub database_url: String,
    /// Most connections the pool opens. Each reconciler slot may hold two at once (one pins an
    /// advisory lock while it prepares a shared resource), and the API needs its own: the
    /// service refuses to start with fewer than 2 × RECONCILER_CONCURRENCY + 2, plus 4 when it
    /// serves the API. The LISTEN connections are opened outside the pool.
    #[arg(long, env = "DB_MAX_CONNECTIONS", default_value_t = 24, value_parser = clap::value_parser!(u32).range(1..))]
    pub db_max_connections: u32,
    /// Seconds to wait for a free connection before failing a request with 503.
    #[arg(long, env = "DB_ACQUIRE_TIMEOUT_SECS", default_value_t = 5)]
    pub db_acquire_timeout_secs: u64,
    /// Seconds one SQL statement may run before Postgres cancels it (a request then gets 503).
    #[arg(long, env = "DB_STATEMENT_TIMEOUT_SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub db_statement_timeout_secs: u64,
    /// Seconds a statement may wait for a row or table lock held by other work before it gives
    /// up (a request then gets 503 instead of waiting out the request timeout).
    #[arg(long, env = "DB_LOCK_TIMEOUT_SECS", default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..))]
    pub db_lock_timeout_secs: u64,
}

/// Connections the API needs besides the reconciler's: requests, the key ring, the caches.
pub const API_CONNECTIONS: u32 = 4;

impl DatabaseArgs {
    /// Refuses a pool too small for what this process runs, naming the settings.
    pub fn check_pool(
        &self,
        serves_api: bool,
        reconciler_concurrency: Option<u32>,
    ) -> anyhow::Result<()> {
        let reconciler = reconciler_concurrency.map_or(0, |c| 2 * c + 2);
        let needed = reconciler + if serves_api { API_CONNECTIONS } else { 0 };
        if self.db_max_connections < needed {
            anyhow::bail!(
                "DB_MAX_CONNECTIONS is {} but this process needs at least {needed}: {}{}; \
                 raise DB_MAX_CONNECTIONS or lower RECONCILER_CONCURRENCY",
                self.db_max_connections,
                reconciler_concurrency
                    .map(|c| format!("2 × RECONCILER_CONCURRENCY ({c}) + 2 for the reconciler"))
                    .unwrap_or_default(),
                if serves_api {
                    format!(
                        "{}{API_CONNECTIONS} for the API",
                        if reconciler_concurrency.is_some() {
                            ", "
                        } else {
                            ""
                        }
                    )
                } else {
                    String::new()
                },
            );
        }
        Ok(())
    }
}

pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/ivs_provisioner";

pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

pub async fn connect(args: &DatabaseArgs) -> anyhow::Result<PgPool> {
    let options: PgConnectOptions = args
        .database_url
        .parse::<PgConnectOptions>()
        .context("DATABASE_URL is not a valid Postgres URL")?
        .options([
            (
                "statement_timeout",
                format!("{}s", args.db_statement_timeout_secs),
            ),
            ("lock_timeout", format!("{}s", args.db_lock_timeout_secs)),
        ]);
    PgPoolOptions::new()
        .max_connections(args.db_max_connections)
        .acquire_timeout(Duration::from_secs(args.db_acquire_timeout_secs))
        .connect_with(options)
        .await
        .with_context(|| {
            format!(
                "cannot connect to the database at {}",
                redact(&args.database_url)
            )
        })
}

/// Why a database error means "unavailable for now" rather than a fault of the request or the
/// code: no free connection in time, no connection at all, or a statement stopped by
/// `statement_timeout`/`lock_timeout` or a server shutting down. `None` for any other error.
pub fn unavailable_reason(error: &sqlx::Error) -> Option<&'static str> {
    match error {
        sqlx::Error::PoolTimedOut => {
            Some("no database connection became free in time (DB_ACQUIRE_TIMEOUT_SECS)")
        }
        sqlx::Error::PoolClosed => Some("the database pool is closed"),
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::Protocol(_) => {
            Some("the database is unreachable")
        }
        sqlx::Error::Database(e) => match e.code().as_deref() {
            // query_canceled: statement_timeout (or a cancel request).
            Some("57014") => {
                Some("the database statement took too long (DB_STATEMENT_TIMEOUT_SECS)")
            }
            // lock_not_available: lock_timeout.
            Some("55P03") => Some("the data is locked by other work (DB_LOCK_TIMEOUT_SECS)"),
            // admin_shutdown, crash_shutdown, cannot_connect_now, too_many_connections.
            Some("57P01" | "57P02" | "57P03" | "53300") => {
                Some("the database is restarting or refusing connections")
            }
            Some(code) if code.starts_with("08") => Some("the database connection failed"),
            _ => None,
        },
        _ => None,
    }
}

/// One round trip to the database (readiness).
pub async fn ping(pool: &PgPool) -> sqlx::Result<()> {
    sqlx::query("select 1").execute(pool).await.map(drop)
}

/// Runs the migrations on a connection of their own, outside the pool and without the pool's
/// statement and lock timeouts (an index build on a large table may take minutes).
pub async fn migrate(pool: &PgPool) -> anyhow::Result<()> {
    let mut conn = pool.acquire().await?.detach();
    sqlx::raw_sql("set statement_timeout = 0; set lock_timeout = 0")
        .execute(&mut conn)
        .await
        .context("preparing the migration connection")?;
    let result = MIGRATOR
        .run(&mut conn)
        .await
        .context("running database migrations");
    let _ = sqlx::Connection::close(conn).await;
    result
}

/// Wakes `wake` on every notification on `channel` until `stop`; while the session is lost it
/// reconnects every second, and the caller's polling covers the gap.
pub async fn forward_notifications(
    pool: PgPool,
    channel: &'static str,
    wake: std::sync::Arc<tokio::sync::Notify>,
    stop: tokio_util::sync::CancellationToken,
) {
    while !stop.is_cancelled() {
        // Ends only with the error that lost the session.
        let forward = async {
            let mut listener = match listen(&pool, channel).await {
                Ok(listener) => listener,
                Err(error) => return error,
            };
            loop {
                if let Err(error) = listener.recv().await {
                    return error;
                }
                wake.notify_one();
            }
        };
        tokio::select! {
            error = forward => {
                tracing::warn!(%error, channel, "LISTEN connection lost; polling until it is back");
            }
            () = stop.cancelled() => return,
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// A `LISTEN` session on a connection of its own, outside `pool` (whose settings it copies): a
/// listener holds its connection for the life of the process and must not take one from the
/// requests and the reconciler.
pub async fn listen(pool: &PgPool, channel: &str) -> sqlx::Result<sqlx::postgres::PgListener> {
    let own = PgPoolOptions::new()
        .max_connections(1)
        .connect_lazy_with((*pool.connect_options()).clone());
    let mut listener = sqlx::postgres::PgListener::connect_with(&own).await?;
    listener.listen(channel).await?;
    Ok(listener)
}

/// Creates the database named in the URL if it does not exist yet (dev mode's first run).
pub async fn create_if_missing(url: &str) -> anyhow::Result<bool> {
    let exists = Postgres::database_exists(url)
        .await
        .with_context(|| format!("cannot reach Postgres at {}", redact(url)))?;
    if !exists {
        Postgres::create_database(url)
            .await
            .context("creating the database")?;
    }
    Ok(!exists)
}

/// The URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}
