//! The Postgres pool, the migrations, and one module of queries per table.

pub mod api_keys;
pub mod channels;
pub mod events;
pub mod playback_keys;

use std::time::Duration;

use anyhow::Context;
use sqlx::migrate::{MigrateDatabase, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres};

use crate::cli::DatabaseArgs;

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
