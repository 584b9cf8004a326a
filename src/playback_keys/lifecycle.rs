//! The managed key's life in IVS (aws-facts.md §5 rotation procedure): import the public half
//! once, switch signing to it, keep the previous key imported until every token it signed has
//! expired (the maximum TTL), then delete it. Each step is idempotent and runs under one
//! advisory lock, so a crash anywhere is finished by the next pass (the reconciler runs
//! [`maintain`] periodically). IVS allows 3 key pairs per region, caller keys included: a
//! rotation that would need a fourth is refused before anything is written.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use super::KeyRing;
use super::source;
use crate::aws::Aws;
use crate::aws::errors::from_sdk;
use crate::aws::limits::CallClass;
use crate::db::{self, playback_keys::PlaybackKeyRow};
use crate::reconciler::shared::{self, import_once, with_lock};
use crate::reconciler::step::StepError;

/// IVS's fixed per-region limit on playback key pairs.
pub const IVS_KEY_PAIR_QUOTA: usize = 3;
const LOCK: &str = "playback-keys:managed";

/// The IVS name of a managed key: deterministic, so an import whose response was lost is adopted.
fn ivs_name(fingerprint: &str) -> String {
    format!("ivsp-managed-{}", &fingerprint[..16.min(fingerprint.len())])
}

/// The IVS fingerprint authorized channels without a caller key report: the active managed
/// key's, importing the first managed key if none is active yet. `None` with no key configured.
pub async fn managed_fingerprint(pool: &PgPool, aws: &Aws) -> Result<Option<String>, StepError> {
    if let Some(active) = db::playback_keys::active_managed(pool).await? {
        return Ok(active.ivs_fingerprint);
    }
    if db::playback_keys::importing_managed(pool).await?.is_empty() {
        return Ok(None);
    }
    with_lock(pool, LOCK, activate_pending(pool, aws, None)).await?;
    Ok(db::playback_keys::active_managed(pool)
        .await?
        .and_then(|k| k.ivs_fingerprint))
}

/// Imports and activates managed keys waiting in `importing`. With `retire_after` the previous
/// active key starts retiring; without it (a channel's first import) only when none is active.
async fn activate_pending(
    pool: &PgPool,
    aws: &Aws,
    retire_after: Option<Duration>,
) -> Result<(), StepError> {
    for row in db::playback_keys::importing_managed(pool).await? {
        let active = db::playback_keys::active_managed(pool).await?;
        if retire_after.is_none() && active.is_some() {
            return Ok(());
        }
        let (arn, ivs_fingerprint) =
            match import_once(aws, &ivs_name(&row.fingerprint), &row.public_key_pem).await {
                Ok(imported) => imported,
                Err(error) if error.is_permanent() => {
                    let details = json!({ "code": error.code(), "message": error.message() });
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
async fn delete_expired(pool: &PgPool, aws: &Aws) -> Result<usize, StepError> {
    let due = db::playback_keys::due_for_deletion(pool).await?;
    for row in &due {
        if let Some(arn) = &row.arn {
            aws.limits
                .wait("DeletePlaybackKeyPair", CallClass::IvsResource)
                .await;
            if let Err(e) = aws.ivs.delete_playback_key_pair().arn(arn).send().await {
                let error = from_sdk("DeletePlaybackKeyPair", e);
                if !error.is_not_found() {
                    return Err(error.into());
                }
            }
        }
        db::playback_keys::mark_retired(pool, &row.fingerprint).await?;
        tracing::info!(fingerprint = %row.fingerprint, "retired playback key deleted from IVS");
    }
    Ok(due.len())
}

/// One maintenance pass: finish interrupted rotations, delete keys whose tokens have expired.
pub async fn maintain(pool: &PgPool, aws: &Aws, max_ttl: Duration) -> Result<(), StepError> {
    with_lock(pool, LOCK, async {
        activate_pending(pool, aws, Some(max_ttl)).await?;
        delete_expired(pool, aws).await.map(drop)
    })
    .await
}

/// Why a rotation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum RotateError {
    #[error("{0}")]
    NotRotatable(String),
    #[error("{0}")]
    QuotaFull(String),
    #[error(transparent)]
    Step(#[from] StepError),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl From<sqlx::Error> for RotateError {
    fn from(e: sqlx::Error) -> Self {
        RotateError::Step(e.into())
    }
}

/// Generates a new key, stores it as a new version of the SSM parameter, imports its public
/// half, and makes it the signing key; the old key retires after `max_ttl`.
pub async fn rotate(
    pool: &PgPool,
    aws: &Aws,
    ring: &KeyRing,
    max_ttl: Duration,
) -> Result<PlaybackKeyRow, RotateError> {
    let parameter = ring
        .source
        .rotatable()
        .map_err(RotateError::NotRotatable)?
        .to_owned();
    let rotated = with_lock(pool, LOCK, async {
        // Finish anything interrupted first, so the count below is the truth.
        activate_pending(pool, aws, Some(max_ttl)).await?;
        delete_expired(pool, aws).await?;
        check_quota(pool, aws).await?;
        let loaded = source::store_new(aws, &parameter, true)
            .await
            .map_err(StepError::Internal)?;
        let version = loaded.ssm_version;
        let key = ring.remember(loaded);
        db::playback_keys::register_managed(pool, &key.fingerprint, &key.public_key_pem, version)
            .await?;
        activate_pending(pool, aws, Some(max_ttl)).await?;
        Ok(key.fingerprint.clone())
    })
    .await;
    let fingerprint = match rotated {
        Ok(fingerprint) => fingerprint,
        Err(StepError::Permanent {
            code: QUOTA_FULL,
            message,
        }) => return Err(RotateError::QuotaFull(message)),
        Err(StepError::Defer { .. }) => {
            return Err(RotateError::NotRotatable(
                "another rotation or key import is in progress; try again in a moment".into(),
            ));
        }
        Err(other) => return Err(other.into()),
    };
    ring.refresh(pool, aws).await?;
    let row = db::playback_keys::find(pool, &fingerprint).await?;
    row.ok_or_else(|| anyhow::anyhow!("the new key's row vanished").into())
}

const QUOTA_FULL: &str = "PlaybackKeyQuotaFull";

/// Refuses when a new key pair would exceed IVS's 3 per region (every key pair counts: active,
/// retiring, caller-supplied, and any imported outside the service).
async fn check_quota(pool: &PgPool, aws: &Aws) -> Result<(), StepError> {
    let in_ivs = shared::list_key_pairs(aws).await?.len();
    if in_ivs < IVS_KEY_PAIR_QUOTA {
        return Ok(());
    }
    let keys = db::playback_keys::list(pool).await?;
    let describe: Vec<String> = keys
        .iter()
        .filter(|k| matches!(k.state.as_str(), "active" | "retiring"))
        .map(|k| match (&k.state[..], k.delete_after) {
            ("retiring", Some(at)) => format!(
                "{} ({}, retiring, deleted from IVS after {})",
                &k.fingerprint[..16],
                k.source,
                at.to_rfc3339()
            ),
            _ => format!("{} ({}, {})", &k.fingerprint[..16], k.source, k.state),
        })
        .collect();
    Err(StepError::permanent(
        QUOTA_FULL,
        format!(
            "IVS allows {IVS_KEY_PAIR_QUOTA} playback key pairs per region and {in_ivs} are in use ({}); \
             a rotation needs a free one. Wait until a retiring key is deleted (once the tokens it signed \
             have expired), or free a caller-supplied key",
            if describe.is_empty() {
                "imported outside the service".to_owned()
            } else {
                describe.join("; ")
            }
        ),
    ))
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
