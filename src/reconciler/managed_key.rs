//! What the reconciler needs from the playback-key engine: the IVS fingerprint of the managed
//! signing key, importing it first when it is waiting. The reconciler does not own that key and
//! does not depend on the engine that does; the process hands it an implementation.

use std::future::Future;
use std::pin::Pin;

use super::step::StepError;

pub type FingerprintFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Option<String>, StepError>> + Send + 'a>>;

pub trait ManagedKey: Send + Sync {
    /// The IVS fingerprint private channels without a caller key report; `None` when the
    /// service has no managed key.
    fn ivs_fingerprint(&self) -> FingerprintFuture<'_>;
}

/// A process with no managed signing key.
pub struct NoManagedKey;

impl ManagedKey for NoManagedKey {
    fn ivs_fingerprint(&self) -> FingerprintFuture<'_> {
        Box::pin(async { Ok(None) })
    }
}
