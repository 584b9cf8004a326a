//! Postgres session advisory locks that serialise work across workers and replicas without a
//! transaction held open across AWS calls.
//!
//! A session lock lives as long as its connection, so the guard owns the connection. When the
//! guard is released normally the lock is unlocked and the connection goes back to the pool;
//! when the guarded work panics or its future is dropped, the guard's `Drop` detaches the
//! connection from the pool and closes it, so the server ends the session and frees the lock.
//! A leaked lock would otherwise sit in the pool forever and defer every later attempt.
//!
//! A held lock pins one pooled connection for the length of its work (AWS calls included), so
//! the pool must be larger than the number of locks a process can hold at once (see
//! `db::DatabaseArgs` and the reconciler's concurrency).

use std::future::Future;

use sqlx::PgPool;
use sqlx::Postgres;
use sqlx::pool::PoolConnection;

/// A held session advisory lock. Release it with [`AdvisoryLock::release`]; dropping it
/// instead closes its connection, which frees the lock too.
pub struct AdvisoryLock {
    conn: Option<PoolConnection<Postgres>>,
    key: String,
}

impl AdvisoryLock {
    /// Takes the lock named `key` if no other session holds it.
    pub async fn try_acquire(pool: &PgPool, key: &str) -> sqlx::Result<Option<Self>> {
        let mut conn = pool.acquire().await?;
        let locked: bool =
            sqlx::query_scalar("select pg_try_advisory_lock(hashtextextended($1, 0))")
                .bind(key)
                .fetch_one(&mut *conn)
                .await?;
        Ok(locked.then(|| AdvisoryLock {
            conn: Some(conn),
            key: key.to_owned(),
        }))
    }

    /// The connection holding the lock, for statements that must run in its session.
    pub fn connection(&mut self) -> &mut sqlx::PgConnection {
        self.conn
            .as_mut()
            .expect("the connection is only taken by release or drop")
    }

    /// Unlocks and returns the connection to the pool. If the unlock fails the connection is
    /// closed instead, which frees the lock as well.
    pub async fn release(mut self) {
        let Some(mut conn) = self.conn.take() else {
            return;
        };
        let unlocked = sqlx::query("select pg_advisory_unlock(hashtextextended($1, 0))")
            .bind(&self.key)
            .execute(&mut *conn)
            .await;
        if unlocked.is_err() {
            close(conn);
        }
    }
}

impl Drop for AdvisoryLock {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            tracing::warn!(key = %self.key, "advisory lock dropped without release; closing its connection");
            close(conn);
        }
    }
}

/// Takes the connection out of the pool and ends its session: the server then frees every
/// session lock it held. Closing politely needs the runtime; without one the socket is dropped.
fn close(conn: PoolConnection<Postgres>) {
    let raw = conn.detach();
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => {
            runtime.spawn(async move {
                let _ = sqlx::Connection::close(raw).await;
            });
        }
        Err(_) => drop(raw),
    }
}

/// Runs `work` while holding the lock named `key`; `Ok(None)` when another session holds it.
/// A panic or cancellation inside `work` drops the guard, which frees the lock.
pub async fn with_lock<T, E: From<sqlx::Error>>(
    pool: &PgPool,
    key: &str,
    work: impl Future<Output = Result<T, E>>,
) -> Result<Option<T>, E> {
    let Some(lock) = AdvisoryLock::try_acquire(pool, key).await? else {
        return Ok(None);
    };
    let result = work.await;
    lock.release().await;
    result.map(Some)
}
