//! Queries on `playback_keys`: the public keys imported into IVS (caller-supplied and managed)
//! and the managed keys' life: `importing` → `active` → `retiring` → `retired`. Never a private key.

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgExecutor};

use crate::domain::LastError;
use crate::domain::keys::{KeyOrigin, KeyState};

const COLUMNS: &str = "fingerprint, public_key_pem, source, arn, ivs_fingerprint, state, ssm_version, \
                       created_at, activated_at, retiring_at, delete_after, retired_at";

#[derive(Debug, Clone, FromRow)]
pub struct PlaybackKeyRow {
    pub fingerprint: String,
    pub public_key_pem: String,
    pub source: KeyOrigin,
    pub arn: Option<String>,
    pub ivs_fingerprint: Option<String>,
    pub state: KeyState,
    pub ssm_version: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub activated_at: Option<DateTime<Utc>>,
    pub retiring_at: Option<DateTime<Utc>>,
    pub delete_after: Option<DateTime<Utc>>,
    pub retired_at: Option<DateTime<Utc>>,
}

pub async fn list(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<PlaybackKeyRow>> {
    sqlx::query_as(&format!(
        "select {COLUMNS} from playback_keys order by created_at, fingerprint"
    ))
    .fetch_all(db)
    .await
}

pub async fn find(
    db: impl PgExecutor<'_>,
    fingerprint: &str,
) -> sqlx::Result<Option<PlaybackKeyRow>> {
    sqlx::query_as(&format!(
        "select {COLUMNS} from playback_keys where fingerprint = $1"
    ))
    .bind(fingerprint)
    .fetch_optional(db)
    .await
}

/// The managed key that signs now, if any.
pub async fn active_managed(db: impl PgExecutor<'_>) -> sqlx::Result<Option<PlaybackKeyRow>> {
    sqlx::query_as(&format!(
        "select {COLUMNS} from playback_keys where source = $1 and state = $2"
    ))
    .bind(KeyOrigin::Managed)
    .bind(KeyState::Active)
    .fetch_optional(db)
    .await
}

/// Managed keys waiting to be imported into IVS, oldest first.
pub async fn importing_managed(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<PlaybackKeyRow>> {
    sqlx::query_as(&format!(
        "select {COLUMNS} from playback_keys where source = $1 and state = $2
         order by created_at"
    ))
    .bind(KeyOrigin::Managed)
    .bind(KeyState::Importing)
    .fetch_all(db)
    .await
}

/// Retiring keys whose tokens have all expired.
pub async fn due_for_deletion(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<PlaybackKeyRow>> {
    sqlx::query_as(&format!(
        "select {COLUMNS} from playback_keys where state = $1 and delete_after <= now()"
    ))
    .bind(KeyState::Retiring)
    .fetch_all(db)
    .await
}

/// Records a managed key (state `importing`) unless it is known already.
pub async fn register_managed(
    db: impl PgExecutor<'_>,
    fingerprint: &str,
    public_key_pem: &str,
    ssm_version: Option<i64>,
) -> sqlx::Result<()> {
    sqlx::query(
        "insert into playback_keys (fingerprint, public_key_pem, source, ssm_version)
         values ($1, $2, $4, $3) on conflict (fingerprint) do nothing",
    )
    .bind(fingerprint)
    .bind(public_key_pem)
    .bind(ssm_version)
    .bind(KeyOrigin::Managed)
    .execute(db)
    .await?;
    Ok(())
}

/// Makes `fingerprint` (now imported as `arn`) the signing key; the previous one starts retiring
/// and is deleted from IVS after `retire_after`. Channel outputs follow the new IVS fingerprint.
pub async fn activate(
    db: &mut sqlx::PgConnection,
    fingerprint: &str,
    arn: &str,
    ivs_fingerprint: &str,
    retire_after: std::time::Duration,
) -> sqlx::Result<()> {
    let previous: Option<Option<String>> = sqlx::query_scalar(
        "update playback_keys set state = $4, retiring_at = now(),
                delete_after = now() + make_interval(secs => $1)
          where source = $3 and state = $5 and fingerprint <> $2
          returning ivs_fingerprint",
    )
    .bind(retire_after.as_secs_f64())
    .bind(fingerprint)
    .bind(KeyOrigin::Managed)
    .bind(KeyState::Retiring)
    .bind(KeyState::Active)
    .fetch_optional(&mut *db)
    .await?;
    sqlx::query(
        "update playback_keys set state = $4, arn = $2, ivs_fingerprint = $3,
                activated_at = now(), last_error = null
          where fingerprint = $1",
    )
    .bind(fingerprint)
    .bind(arn)
    .bind(ivs_fingerprint)
    .bind(KeyState::Active)
    .execute(&mut *db)
    .await?;
    if let Some(Some(old)) = previous {
        sqlx::query(
            "update channels set outputs = jsonb_set(outputs, '{playback_key_pair_fingerprint}', to_jsonb($2::text))
              where deleted_at is null and outputs->>'playback_key_pair_fingerprint' = $1",
        )
        .bind(old)
        .bind(ivs_fingerprint)
        .execute(&mut *db)
        .await?;
    }
    Ok(())
}

pub async fn mark_failed(
    db: impl PgExecutor<'_>,
    fingerprint: &str,
    error: &LastError,
) -> sqlx::Result<()> {
    sqlx::query("update playback_keys set state = $3, last_error = $2 where fingerprint = $1")
        .bind(fingerprint)
        .bind(sqlx::types::Json(error))
        .bind(KeyState::Failed)
        .execute(db)
        .await?;
    Ok(())
}

pub async fn mark_retired(db: impl PgExecutor<'_>, fingerprint: &str) -> sqlx::Result<()> {
    sqlx::query("update playback_keys set state = $2, retired_at = now() where fingerprint = $1")
        .bind(fingerprint)
        .bind(KeyState::Retired)
        .execute(db)
        .await?;
    Ok(())
}

/// Records a caller-supplied key (state `importing`) unless it is known already.
pub async fn register_caller(
    db: impl PgExecutor<'_>,
    fingerprint: &str,
    public_key_pem: &str,
) -> sqlx::Result<()> {
    sqlx::query(
        "insert into playback_keys (fingerprint, public_key_pem, source) values ($1, $2, $3) on conflict do nothing",
    )
    .bind(fingerprint)
    .bind(public_key_pem.trim())
    .bind(KeyOrigin::Caller)
    .execute(db)
    .await?;
    Ok(())
}

/// A caller key is imported into IVS as `arn`, which knows it by `ivs_fingerprint`.
pub async fn set_caller_imported(
    db: impl PgExecutor<'_>,
    fingerprint: &str,
    arn: &str,
    ivs_fingerprint: &str,
) -> sqlx::Result<()> {
    sqlx::query(
        "update playback_keys set arn = $2, ivs_fingerprint = $3, state = $4, last_error = null where fingerprint = $1",
    )
    .bind(fingerprint)
    .bind(arn)
    .bind(ivs_fingerprint)
    .bind(KeyState::Active)
    .execute(db)
    .await?;
    Ok(())
}

/// The IVS fingerprint of an active key, by our fingerprint.
pub async fn active_ivs_fingerprint(
    db: impl PgExecutor<'_>,
    fingerprint: &str,
) -> sqlx::Result<Option<String>> {
    Ok(sqlx::query_scalar(
        "select ivs_fingerprint from playback_keys where fingerprint = $1 and state = $2",
    )
    .bind(fingerprint)
    .bind(KeyState::Active)
    .fetch_optional(db)
    .await?
    .flatten())
}

/// The stored PEM of the caller-supplied key IVS knows by `ivs_fingerprint`, if any.
pub async fn caller_pem_by_ivs_fingerprint(
    db: impl PgExecutor<'_>,
    ivs_fingerprint: &str,
) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar(
        "select public_key_pem from playback_keys where ivs_fingerprint = $1 and source = $2",
    )
    .bind(ivs_fingerprint)
    .bind(KeyOrigin::Caller)
    .fetch_optional(db)
    .await
}

/// The IVS ARN of a caller-supplied key, by our fingerprint.
pub async fn caller_arn(
    db: impl PgExecutor<'_>,
    fingerprint: &str,
) -> sqlx::Result<Option<String>> {
    Ok(
        sqlx::query_scalar("select arn from playback_keys where fingerprint = $1 and source = $2")
            .bind(fingerprint)
            .bind(KeyOrigin::Caller)
            .fetch_optional(db)
            .await?
            .flatten(),
    )
}

pub async fn delete_caller(db: impl PgExecutor<'_>, fingerprint: &str) -> sqlx::Result<()> {
    sqlx::query("delete from playback_keys where fingerprint = $1 and source = $2")
        .bind(fingerprint)
        .bind(KeyOrigin::Caller)
        .execute(db)
        .await?;
    Ok(())
}
