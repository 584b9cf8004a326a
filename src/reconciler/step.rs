//! How one reconcile attempt can end short of success, and the retry schedule for each case.

use std::time::Duration;

use backon::BackoffBuilder;

use crate::aws::AwsError;
use crate::db::claims::FenceError;

#[derive(Debug, thiserror::Error)]
pub enum StepError {
    /// An AWS call failed; its class says whether to retry.
    #[error(transparent)]
    Aws(#[from] AwsError),
    /// Waiting for something that will happen by itself (a recording configuration becoming
    /// ACTIVE, another worker creating a shared resource). Not a failure.
    #[error("waiting: {reason}")]
    Defer { reason: String, after: Duration },
    /// Something only a person can fix, found by the service itself.
    #[error("{code}: {message}")]
    Permanent { code: &'static str, message: String },
    /// Another worker took the row over: this attempt's result is dropped, nothing recorded.
    #[error("lost the lease on channel {0}")]
    LeaseLost(uuid::Uuid),
    /// The attempt ran past its deadline (AWS or the database stopped answering): try again
    /// after a backoff.
    #[error("the attempt took longer than {0:?} and was abandoned")]
    TimedOut(Duration),
    /// Database trouble: try again soon.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    /// Anything else unexpected: try again soon.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<FenceError> for StepError {
    fn from(e: FenceError) -> Self {
        match e {
            FenceError::LeaseLost(id) => StepError::LeaseLost(id),
            FenceError::Database(e) => StepError::Database(e),
        }
    }
}

/// How a reconcile attempt ended, as the metrics label it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum Outcome {
    Done,
    Deferred,
    Failed,
    Retry,
}

impl Outcome {
    pub fn of(result: &Result<(), StepError>) -> Outcome {
        match result {
            Ok(()) => Outcome::Done,
            Err(StepError::Defer { .. }) => Outcome::Deferred,
            Err(e) if e.is_permanent() => Outcome::Failed,
            Err(_) => Outcome::Retry,
        }
    }
}

impl StepError {
    pub fn defer(reason: impl Into<String>, after: Duration) -> Self {
        StepError::Defer {
            reason: reason.into(),
            after,
        }
    }

    pub fn permanent(code: &'static str, message: impl Into<String>) -> Self {
        StepError::Permanent {
            code,
            message: message.into(),
        }
    }

    pub fn is_permanent(&self) -> bool {
        match self {
            StepError::Aws(e) => !e.retryable(),
            StepError::Permanent { .. } => true,
            StepError::Defer { .. }
            | StepError::TimedOut(_)
            | StepError::LeaseLost(_)
            | StepError::Database(_)
            | StepError::Internal(_) => false,
        }
    }

    /// AWS's error code (or the service's own), for `last_error.code`.
    pub fn code(&self) -> String {
        match self {
            StepError::Aws(e) => e.code.clone(),
            StepError::Defer { .. } => "Waiting".into(),
            StepError::Permanent { code, .. } => (*code).into(),
            StepError::TimedOut(_) => "AttemptTimedOut".into(),
            StepError::LeaseLost(_) | StepError::Database(_) | StepError::Internal(_) => {
                "InternalError".into()
            }
        }
    }

    pub fn message(&self) -> String {
        match self {
            StepError::Aws(e) => format!("{}: {}", e.operation, e.message),
            other => other.to_string(),
        }
    }
}

/// Runs `work` under the advisory lock `key`, or defers briefly while another worker holds it.
pub async fn locked<T>(
    pool: &sqlx::PgPool,
    key: &str,
    work: impl Future<Output = Result<T, StepError>>,
) -> Result<T, StepError> {
    crate::db::locks::with_lock(pool, key, work)
        .await?
        .ok_or_else(|| {
            StepError::defer(
                format!("another worker is preparing {key}"),
                Duration::from_millis(250),
            )
        })
}

/// Exponential backoff with jitter for the `attempt`-th consecutive retryable failure:
/// about 1 s, 2 s, 4 s … capped at `max`.
pub fn retry_delay(attempt: u32, max: Duration) -> Duration {
    backon::ExponentialBuilder::default()
        .with_min_delay(Duration::from_secs(1))
        .with_max_delay(max)
        .with_factor(2.0)
        .with_jitter()
        .without_max_times()
        .build()
        .nth(attempt.min(30) as usize)
        .unwrap_or(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_and_stay_capped() {
        let max = Duration::from_secs(300);
        assert!(retry_delay(0, max) < Duration::from_secs(3));
        assert!(retry_delay(5, max) >= Duration::from_secs(32));
        for attempt in [20, 30, 1000] {
            assert!(
                retry_delay(attempt, max) <= max * 2,
                "jitter stays within one more max"
            );
        }
    }

    #[test]
    fn only_permanent_causes_are_permanent() {
        assert!(StepError::permanent("QuotaExceeded", "x").is_permanent());
        assert!(
            !StepError::defer(
                "recording configuration is CREATING",
                Duration::from_secs(1)
            )
            .is_permanent()
        );
        assert!(!StepError::Internal(anyhow::anyhow!("db down")).is_permanent());
    }
}
