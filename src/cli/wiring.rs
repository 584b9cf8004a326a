//! Where one engine needs another, the process wires them here, so that neither imports the
//! other: the reconciler learns the managed signing key's IVS fingerprint from the playback-key
//! engine.

use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;

use crate::aws::Aws;
use crate::playback_keys::{KeyError, lifecycle};
use crate::reconciler::step::StepError;
use crate::reconciler::{FingerprintFuture, ManagedKey};

struct ManagedKeyLookup {
    pool: PgPool,
    aws: Aws,
}

impl ManagedKey for ManagedKeyLookup {
    fn ivs_fingerprint(&self) -> FingerprintFuture<'_> {
        Box::pin(async move {
            lifecycle::managed_fingerprint(&self.pool, &self.aws)
                .await
                .map_err(step_error)
        })
    }
}

/// The managed key as the reconciler sees it.
pub fn managed_key(pool: PgPool, aws: Aws) -> Arc<dyn ManagedKey> {
    Arc::new(ManagedKeyLookup { pool, aws })
}

/// A key error in the reconciler's terms: what it retries, defers or gives up on.
fn step_error(error: KeyError) -> StepError {
    match error {
        KeyError::Aws(e) => StepError::Aws(e),
        KeyError::Busy => StepError::defer(
            "another worker is importing the managed signing key",
            Duration::from_millis(250),
        ),
        KeyError::Database(e) => StepError::Database(e),
        KeyError::Internal(e) => StepError::Internal(e),
        refused @ (KeyError::ImportRefused { .. }
        | KeyError::QuotaFull(_)
        | KeyError::NotRotatable(_)) => {
            let code = match &refused {
                KeyError::ImportRefused { code, .. } => code,
                _ => "PlaybackKeyRefused",
            };
            StepError::permanent(code, refused.message())
        }
    }
}
