//! The key this process signs with. The database decides which managed key is active; each
//! process installs that key from its source (once per key: parsing is not on the hot path) and
//! swaps it in when a rotation's notification arrives. Until the active key has been imported
//! into IVS, no key is installed and minting answers 503: a token IVS cannot verify is worse
//! than none.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use sqlx::PgPool;

use super::source::{KeySource, Loaded};
use crate::aws::Aws;
use crate::db;
use crate::tokens::SigningKey;

pub struct KeyRing {
    pub source: KeySource,
    current: RwLock<Option<Arc<SigningKey>>>,
    /// Keys this process has loaded, by fingerprint, so a switch does not read SSM again.
    loaded: Mutex<HashMap<String, Arc<SigningKey>>>,
}

impl KeyRing {
    pub fn new(source: KeySource) -> Self {
        KeyRing {
            source,
            current: RwLock::new(None),
            loaded: Mutex::new(HashMap::new()),
        }
    }

    /// The key to sign with now, if one is active and held by this process.
    pub fn signer(&self) -> Option<Arc<SigningKey>> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Keeps a key this process loaded or generated, for when it becomes active.
    pub fn remember(&self, loaded: Loaded) -> Arc<SigningKey> {
        let key = Arc::new(loaded.key);
        self.loaded
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.fingerprint.clone(), key.clone());
        key
    }

    /// At start: loads the source's current key and records it (state `importing` if new);
    /// the reconciler imports it into IVS.
    pub async fn register(&self, pool: &PgPool, aws: &Aws) -> anyhow::Result<()> {
        let Some(loaded) = self.source.load_current(aws).await? else {
            return Ok(());
        };
        let version = loaded.ssm_version;
        let key = self.remember(loaded);
        db::playback_keys::register_managed(pool, &key.fingerprint, &key.public_key_pem, version)
            .await?;
        tracing::info!(fingerprint = %key.fingerprint, "playback signing key loaded");
        self.refresh(pool, aws).await
    }

    /// Installs the key the database says is active (loading it from SSM if this process has
    /// not seen it), or none.
    pub async fn refresh(&self, pool: &PgPool, aws: &Aws) -> anyhow::Result<()> {
        let Some(active) = db::playback_keys::active_managed(pool).await? else {
            self.install(None);
            return Ok(());
        };
        if self
            .signer()
            .is_some_and(|k| k.fingerprint == active.fingerprint)
        {
            return Ok(());
        }
        let held = self
            .loaded
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&active.fingerprint)
            .cloned();
        let key = match (held, active.ssm_version) {
            (Some(key), _) => Some(key),
            (None, Some(version)) => {
                let loaded = self.source.load_version(aws, version).await?;
                anyhow::ensure!(
                    loaded.key.fingerprint == active.fingerprint,
                    "SSM version {version} of the signing key parameter is not the active key {}",
                    active.fingerprint
                );
                Some(self.remember(loaded))
            }
            (None, None) => {
                tracing::warn!(fingerprint = %active.fingerprint, "the active signing key is not available to this process (another file?); tokens cannot be minted here");
                None
            }
        };
        if let Some(key) = &key {
            tracing::info!(fingerprint = %key.fingerprint, "signing playback tokens with this key");
        }
        self.install(key);
        Ok(())
    }

    fn install(&self, key: Option<Arc<SigningKey>>) {
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = key;
    }
}
