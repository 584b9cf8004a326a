//! The managed key's life in IVS (the rotation procedure of docs/aws-facts.md §5): import the public half
//! once, switch signing to it, keep the previous key imported until every token it signed has
//! expired (the maximum TTL), then delete it. Each step is idempotent and runs under one
//! advisory lock, so a crash anywhere is finished by the next pass (the reconciler runs
//! [`maintain`] periodically). IVS allows 3 key pairs per region, caller keys included: a
//! rotation that would need a fourth is refused before anything is written.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use super::{KeyError, KeyRing, source};
use crate::aws::{Aws, AwsErrorKind};
use crate::db::{self, locks::with_lock, playback_keys::PlaybackKeyRow};
use crate::domain::LastError;
use crate::domain::keys::KeyState;
use crate::domain::resources::{MANAGED_BY, managed_key_name};

/// IVS's fixed per-region limit on playback key pairs.
pub const IVS_KEY_PAIR_QUOTA: usize = 3;
const LOCK: &str = "playback-keys:managed";

/// Runs `work` under the managed-key lock, or answers [`KeyError::Busy`].
async fn locked<T>(
    pool: &PgPool,
    work: impl Future<Output = Result<T, KeyError>>,
) -> Result<T, KeyError> {
    with_lock(pool, LOCK, work).await?.ok_or(KeyError::Busy)
}

/// The IVS fingerprint authorized channels without a caller key report: the active managed
/// key's, importing the first managed key if none is active yet. `None` with no key configured.
pub async fn managed_fingerprint(pool: &PgPool, aws: &Aws) -> Result<Option<String>, KeyError> {
    if let Some(active) = db::playback_keys::active_managed(pool).await? {
        return Ok(active.ivs_fingerprint);
    }
    if db::playback_keys::importing_managed(pool).await?.is_empty() {
        return Ok(None);
    }
    locked(pool, activate_pending(pool, aws, None)).await?;
    Ok(db::playback_keys::active_managed(pool)
        .await?
        .and_then(|k| k.ivs_fingerprint))
}

/// Imports a managed public key once (adopting one an earlier attempt imported).
async fn import(aws: &Aws, row: &PlaybackKeyRow) -> Result<(String, String), KeyError> {
    let tags = HashMap::from([("ManagedBy".to_owned(), MANAGED_BY.to_owned())]);
    let name = managed_key_name(&row.fingerprint);
    match aws
        .import_playback_key_pair_once(&name, &row.public_key_pem, tags)
        .await
    {
        Ok(pair) => Ok((pair.arn, pair.ivs_fingerprint)),
        Err(e) if e.kind == AwsErrorKind::QuotaExceeded => Err(KeyError::ImportRefused {
            code: "ServiceQuotaExceededException",
            message: format!(
                "IVS allows at most 3 playback key pairs per region and all are in use; \
                 the key could not be imported ({})",
                e.message
            ),
        }),
        Err(e) if e.kind == AwsErrorKind::Conflict => Err(KeyError::ImportRefused {
            code: "ConflictException",
            message: "this public key is already imported into IVS outside the service; delete that key pair \
                      or let the service import it"
                .into(),
        }),
        Err(e) => Err(e.into()),
    }
}

/// Imports and activates managed keys waiting in `importing`. With `retire_after` the previous
/// active key starts retiring; without it (a channel's first import) only when none is active.
async fn activate_pending(
    pool: &PgPool,
    aws: &Aws,
    retire_after: Option<Duration>,
) -> Result<(), KeyError> {
    for row in db::playback_keys::importing_managed(pool).await? {
        let active = db::playback_keys::active_managed(pool).await?;
        if retire_after.is_none() && active.is_some() {
            return Ok(());
        }
        let (arn, ivs_fingerprint) = match import(aws, &row).await {
            Ok(imported) => imported,
            Err(error) if error.is_permanent() => {
                let details = LastError {
                    code: error.code().to_owned(),
                    message: error.message(),
                    at: Utc::now(),
                    attempts: None,
                    next_attempt_at: None,
                };
                db::playback_keys::mark_failed(pool, &row.fingerprint, &details).await?;
                return Err(error);
            }
            Err(error) => return Err(error),
        };
        let mut tx = pool.begin().await?;
        db::playback_keys::activate(
            &mut tx,
            &row.fingerprint,
            &arn,
            &ivs_fingerprint,
            retire_after.unwrap_or_default(),
        )
        .await?;
        tx.commit().await?;
        tracing::info!(fingerprint = %row.fingerprint, %arn, "managed playback key imported and active");
    }
    Ok(())
}

/// Deletes retiring keys from IVS once their last token has expired.
async fn delete_expired(pool: &PgPool, aws: &Aws) -> Result<usize, KeyError> {
    let due = db::playback_keys::due_for_deletion(pool).await?;
    for row in &due {
        if let Some(arn) = &row.arn {
            match aws.delete_playback_key_pair(arn).await {
                Err(e) if !e.is_not_found() => return Err(e.into()),
                _ => {}
            }
        }
        db::playback_keys::mark_retired(pool, &row.fingerprint).await?;
        tracing::info!(fingerprint = %row.fingerprint, "retired playback key deleted from IVS");
    }
    Ok(due.len())
}

/// One maintenance pass: finish interrupted rotations, delete keys whose tokens have expired.
pub async fn maintain(pool: &PgPool, aws: &Aws, max_ttl: Duration) -> Result<(), KeyError> {
    locked(pool, async {
        activate_pending(pool, aws, Some(max_ttl)).await?;
        delete_expired(pool, aws).await.map(drop)
    })
    .await
}

/// Generates a new key, stores it as a new version of the SSM parameter, imports its public
/// half, and makes it the signing key; the old key retires after `max_ttl`.
pub async fn rotate(
    pool: &PgPool,
    aws: &Aws,
    ring: &KeyRing,
    max_ttl: Duration,
) -> Result<PlaybackKeyRow, KeyError> {
    let parameter = ring
        .source
        .rotatable()
        .map_err(KeyError::NotRotatable)?
        .to_owned();
    let fingerprint = locked(pool, async {
        // Finish anything interrupted first, so the count below is the truth.
        activate_pending(pool, aws, Some(max_ttl)).await?;
        delete_expired(pool, aws).await?;
        check_quota(pool, aws).await?;
        let loaded = source::store_new(aws, &parameter, true).await?;
        let version = loaded.ssm_version;
        let key = ring.remember(loaded);
        db::playback_keys::register_managed(pool, &key.fingerprint, &key.public_key_pem, version)
            .await?;
        activate_pending(pool, aws, Some(max_ttl)).await?;
        Ok(key.fingerprint.clone())
    })
    .await?;
    ring.refresh(pool, aws).await?;
    let row = db::playback_keys::find(pool, &fingerprint).await?;
    row.ok_or_else(|| anyhow::anyhow!("the new key's row vanished").into())
}

/// Refuses when a new key pair would exceed IVS's 3 per region (every key pair counts: active,
/// retiring, caller-supplied, and any imported outside the service).
async fn check_quota(pool: &PgPool, aws: &Aws) -> Result<(), KeyError> {
    let in_ivs = aws.list_playback_key_pairs().await?.len();
    if in_ivs < IVS_KEY_PAIR_QUOTA {
        return Ok(());
    }
    let keys = db::playback_keys::list(pool).await?;
    let describe: Vec<String> = keys
        .iter()
        .filter(|k| matches!(k.state, KeyState::Active | KeyState::Retiring))
        .map(|k| match (k.state, k.delete_after) {
            (KeyState::Retiring, Some(at)) => format!(
                "{} ({}, retiring, deleted from IVS after {})",
                &k.fingerprint[..16],
                k.source.as_str(),
                at.to_rfc3339()
            ),
            _ => format!(
                "{} ({}, {})",
                &k.fingerprint[..16],
                k.source.as_str(),
                k.state.as_str()
            ),
        })
        .collect();
    Err(KeyError::QuotaFull(format!(
        "IVS allows {IVS_KEY_PAIR_QUOTA} playback key pairs per region and {in_ivs} are in use ({}); \
             a rotation needs a free one. Wait until a retiring key is deleted (once the tokens it signed \
             have expired), or free a caller-supplied key",
        if describe.is_empty() {
            "imported outside the service".to_owned()
        } else {
            describe.join("; ")
        }
    )))
}

/// Background duties of a process: keep the installed signing key in step with the database
/// (on each notification, and every `every` as a fallback) and, where the reconciler runs,
/// maintain the managed keys in IVS.
pub async fn run(
    pool: PgPool,
    aws: Aws,
    ring: Option<Arc<KeyRing>>,
    changed: Arc<tokio::sync::Notify>,
    maintain_with_ttl: Option<Duration>,
    every: Duration,
    stop: CancellationToken,
) {
    loop {
        if let Some(max_ttl) = maintain_with_ttl
            && let Err(error) = maintain(&pool, &aws, max_ttl).await
        {
            tracing::warn!(%error, "playback key maintenance failed; retrying later");
        }
        if let Some(ring) = &ring
            && let Err(error) = ring.refresh(&pool, &aws).await
        {
            tracing::warn!(error = %format!("{error:#}"), "could not load the active signing key; retrying later");
        }
        tokio::select! {
            () = changed.notified() => {}
            () = tokio::time::sleep(every) => {}
            () = stop.cancelled() => return,
        }
    }
}
