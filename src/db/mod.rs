//! All SQL: the Postgres pool and its settings, the migrations, one module of queries per table
//! or concern (the reconciler's claims and leases, advisory locks), and nothing else.

pub mod api_keys;
pub mod channels;
pub mod claims;
pub mod drift;
pub mod events;
pub mod locks;
pub mod playback_keys;
pub mod recording_configurations;

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
    /// Most connections the pool opens. Each reconciler slot can hold one more connection while it
    /// prepares a shared resource under an advisory lock, so keep it above
    /// RECONCILER_CONCURRENCY plus the API's own needs.
    #[arg(long, env = "DB_MAX_CONNECTIONS", default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..))]
    pub db_max_connections: u32,
    /// Seconds to wait for a free connection before failing a request with 503.
    #[arg(long, env = "DB_ACQUIRE_TIMEOUT_SECS", default_value_t = 5)]
    pub db_acquire_timeout_secs: u64,
}

pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/ivs_provisioner";

pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

pub async fn connect(args: &DatabaseArgs) -> anyhow::Result<PgPool> {
    let options: PgConnectOptions = args
        .database_url
        .parse()
        .context("DATABASE_URL is not a valid Postgres URL")?;
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

pub async fn migrate(pool: &PgPool) -> anyhow::Result<()> {
    MIGRATOR
        .run(pool)
        .await
        .context("running database migrations")
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
