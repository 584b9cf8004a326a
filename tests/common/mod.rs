//! The harness shared by the integration test binaries: a fresh, migrated database per test that
//! is dropped when its owner goes away, and a guard that kills a test's child processes first.
//!
//! Cargo does not build `tests/common/mod.rs` as a test target; each binary includes it
//! (`mod common;`, or `#[path = "../common/mod.rs"] mod common;` from `tests/api`) and uses only
//! part of it, hence `dead_code` is allowed here.

#![allow(dead_code)]

pub mod silent_proxy;

use std::process::Child;
use std::time::Duration;

use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, Executor, PgConnection, PgPool};
use uuid::Uuid;

/// The Postgres server the tests create their databases on, unless `TEST_DATABASE_URL` names
/// another.
pub const DEFAULT_TEST_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// Set (to anything) to keep the database of a failing test for inspection; by default every
/// test database is dropped, pass or fail, so a run leaves none behind.
pub const KEEP_FAILED_DATABASES: &str = "IVSP_KEEP_FAILED_TEST_DATABASES";

/// How long a drop may take before it is given up (and reported): a teardown must not hang the
/// run when Postgres is unreachable.
const DROP_TIMEOUT: Duration = Duration::from_secs(30);

/// The URL of the Postgres server that hosts the test databases.
pub fn server_url() -> String {
    std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_TEST_DATABASE_URL.to_owned())
}

/// The same server URL, naming another database.
pub fn with_database(url: &str, database: &str) -> String {
    let mut url = url::Url::parse(url).expect("TEST_DATABASE_URL is a valid URL");
    url.set_path(&format!("/{database}"));
    url.to_string()
}

/// A fresh name, `ivsp_test_<uuid>`: unique across concurrent tests and runs, and matched by the
/// leftover sweep of `scripts/test.sh` (`ivsp\_test\_%`).
fn fresh_name() -> String {
    format!("ivsp_test_{}", Uuid::new_v4().simple())
}

/// A freshly created and migrated database of its own, dropped when this value is dropped.
///
/// It implements `Drop`, so it cannot be destructured: moving `pool` or `url` out of a temporary
/// would drop the database at the end of that statement. Clone the fields and keep the value.
pub struct TestDatabase {
    pub pool: PgPool,
    /// The URL of this database, for processes and pools of their own (CLI, workers, replicas).
    pub url: String,
    pub name: String,
}

impl TestDatabase {
    /// Creates `ivsp_test_<uuid>` on the test server, connects `options` to it and migrates it.
    /// The options are the caller's, so each test binary keeps its pool settings
    /// (`PgPoolOptions::new()` is what `PgPool::connect` uses).
    pub async fn new(options: PgPoolOptions) -> TestDatabase {
        let server = server_url();
        let name = fresh_name();
        let mut admin = PgConnection::connect(&server)
            .await
            .unwrap_or_else(|e| panic!("cannot reach Postgres at {server}: {e} (is it running?)"));
        admin
            .execute(format!(r#"create database "{name}""#).as_str())
            .await
            .expect("create the test database");
        let _ = admin.close().await;
        let url = with_database(&server, &name);
        // Own the database before anything else can fail, so that a failed connect or migration
        // (a panic) drops it too: hence a lazy pool, connected just below.
        let database = TestDatabase {
            pool: options
                .connect_lazy(&url)
                .expect("the test database URL is valid"),
            url,
            name,
        };
        drop(
            database
                .pool
                .acquire()
                .await
                .expect("connect to the test database"),
        );
        ivs_provisioner::db::migrate(&database.pool)
            .await
            .expect("migrate the test database");
        database
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        drop_at_end(&self.name);
    }
}

/// A fresh database name (and URL) on the test server for a program under test that creates the
/// database itself (`ivs-provisioner dev`); the database, if it was created, is dropped when
/// this value is dropped.
pub struct ReservedDatabase {
    pub url: String,
    pub name: String,
}

impl ReservedDatabase {
    pub fn fresh() -> ReservedDatabase {
        let name = fresh_name();
        ReservedDatabase {
            url: with_database(&server_url(), &name),
            name,
        }
    }
}

impl Drop for ReservedDatabase {
    fn drop(&mut self) {
        drop_at_end(&self.name);
    }
}

/// Drops the database unless the test is failing and [`KEEP_FAILED_DATABASES`] asks to keep it.
fn drop_at_end(name: &str) {
    if std::thread::panicking() && std::env::var_os(KEEP_FAILED_DATABASES).is_some() {
        eprintln!("test database kept for inspection ({KEEP_FAILED_DATABASES} is set): {name}");
        return;
    }
    drop_database(name);
}

/// Drops the database `name` (terminating its remaining sessions) and returns once it is gone.
///
/// Called from `Drop`, usually inside the test's tokio runtime, which can neither be blocked on
/// nor asked to run a future from synchronous code: the drop runs on a thread of its own with a
/// small runtime of its own. The thread is joined, so the database is gone before the test is
/// reported and before the test process exits (a detached thread would die with the process).
/// Never panics, since a panic in `Drop` while the test is already panicking aborts the process:
/// failures are reported on stderr, and `scripts/test.sh` sweeps what is left at its next run.
pub fn drop_database(name: &str) {
    // Connect to the maintenance database: a session on the database being dropped would be
    // terminated by `with (force)`, and the server URL may name any database.
    let server = with_database(&server_url(), "postgres");
    let statement = format!(
        r#"drop database if exists "{}" with (force)"#,
        name.replace('"', r#""""#)
    );
    let dropper = std::thread::Builder::new()
        .name(format!("drop {name}"))
        .spawn(move || -> Result<(), String> {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| format!("cannot build a runtime: {e}"))?;
            runtime.block_on(async {
                let drop = async {
                    let mut admin = PgConnection::connect(&server).await?;
                    admin.execute(statement.as_str()).await?;
                    admin.close().await
                };
                match tokio::time::timeout(DROP_TIMEOUT, drop).await {
                    Ok(done) => done.map_err(|e| e.to_string()),
                    Err(_) => Err(format!("timed out after {DROP_TIMEOUT:?}")),
                }
            })
        });
    let outcome = match dropper {
        Ok(thread) => thread
            .join()
            .unwrap_or_else(|_| Err("the dropping thread panicked".to_owned())),
        Err(e) => Err(format!("cannot start a thread: {e}")),
    };
    if let Err(e) = outcome {
        eprintln!("could not drop test database {name}: {e}");
    }
}

/// A child process that is killed and reaped when this guard is dropped, panicking tests
/// included: a test's children must not outlive it, nor keep using its database while it is
/// dropped. Declare it after the database it uses, so that it is dropped first.
pub struct KillOnDrop(pub Child);

impl std::ops::Deref for KillOnDrop {
    type Target = Child;

    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for KillOnDrop {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        // Both fail harmlessly when the test already killed and reaped the child.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
