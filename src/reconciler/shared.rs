//! Account-level IVS resources that channels share: recording configurations (one per distinct
//! settings tuple, IVS allows about 20) and caller-supplied playback keys (one import per key,
//! IVS allows 3). Creating one is serialised across workers and replicas by a Postgres advisory
//! lock held on a connection, never by a transaction open across an AWS call, and each carries a
//! deterministic name so a create whose response was lost is found and adopted.

use std::time::Duration;

use aws_sdk_ivs::types::{
    DestinationConfiguration, PlaybackKeyPairSummary, RecordingConfigurationState, RecordingMode,
    S3DestinationConfiguration, ThumbnailConfiguration,
};
use serde_json::json;
use sha2::{Digest, Sha256};
use sqlx::PgPool;

use super::Ctx;
use super::step::StepError;
use crate::aws::errors::from_sdk;
use crate::aws::limits::CallClass;
use crate::aws::{Aws, no_retry};
use crate::domain::channel::{RecordingSpec, ThumbnailRecordingMode};

const MANAGED_BY: &str = "ivs-provisioner";

/// A session-level advisory lock on one pooled connection, released on drop of the guard's
/// connection back to the pool after `unlock`.
struct AdvisoryLock {
    conn: sqlx::pool::PoolConnection<sqlx::Postgres>,
    key: String,
}

impl AdvisoryLock {
    async fn try_acquire(pool: &PgPool, key: &str) -> Result<Option<Self>, StepError> {
        let mut conn = pool.acquire().await?;
        let locked: bool =
            sqlx::query_scalar("select pg_try_advisory_lock(hashtextextended($1, 0))")
                .bind(key)
                .fetch_one(&mut *conn)
                .await?;
        Ok(locked.then(|| AdvisoryLock {
            conn,
            key: key.to_owned(),
        }))
    }

    async fn release(mut self) {
        let _ = sqlx::query("select pg_advisory_unlock(hashtextextended($1, 0))")
            .bind(&self.key)
            .execute(&mut *self.conn)
            .await;
    }
}

/// Runs `work` while holding the lock named `key`, or defers when another worker holds it.
pub(crate) async fn with_lock<T>(
    pool: &PgPool,
    key: &str,
    work: impl Future<Output = Result<T, StepError>>,
) -> Result<T, StepError> {
    let Some(lock) = AdvisoryLock::try_acquire(pool, key).await? else {
        return Err(StepError::defer(
            format!("another worker is preparing {key}"),
            Duration::from_millis(250),
        ));
    };
    let result = work.await;
    lock.release().await;
    result
}

/// The stable identity of a settings tuple: the table key and the IVS name.
pub fn recording_key(spec: &RecordingSpec) -> String {
    let canonical = serde_json::to_string(spec).unwrap_or_default();
    hex::encode(&Sha256::digest(canonical.as_bytes())[..8])
}

#[derive(sqlx::FromRow)]
struct RecordingRow {
    arn: Option<String>,
    state: String,
}

/// Finds or creates the shared recording configuration for `spec`, waits until it is ACTIVE and
/// returns its ARN.
pub async fn ensure_recording(ctx: &Ctx, spec: &RecordingSpec) -> Result<String, StepError> {
    let key = recording_key(spec);
    if let Some(arn) = active_recording(&ctx.pool, &key).await? {
        return Ok(arn);
    }
    with_lock(&ctx.pool, &format!("recording:{key}"), async {
        sqlx::query("insert into recording_configurations (settings_key, settings) values ($1, $2) on conflict do nothing")
            .bind(&key)
            .bind(sqlx::types::Json(spec))
            .execute(&ctx.pool)
            .await?;
        let row: RecordingRow = sqlx::query_as("select arn, state from recording_configurations where settings_key = $1")
            .bind(&key)
            .fetch_one(&ctx.pool)
            .await?;
        let name = format!("ivsp-rec-{key}");
        let arn = match row.arn {
            Some(arn) if row.state != "failed" => arn,
            Some(failed) => {
                // CREATE_FAILED is terminal in IVS: delete it and try a fresh one.
                delete_recording_in_ivs(ctx, &failed).await?;
                create_or_adopt_recording(ctx, &key, &name, spec).await?
            }
            None => create_or_adopt_recording(ctx, &key, &name, spec).await?,
        };
        wait_until_active(ctx, &key, &arn, spec).await
    })
    .await
}

async fn active_recording(pool: &PgPool, key: &str) -> Result<Option<String>, StepError> {
    Ok(sqlx::query_scalar(
        "select arn from recording_configurations where settings_key = $1 and state = 'active'",
    )
    .bind(key)
    .fetch_optional(pool)
    .await?
    .flatten())
}

async fn create_or_adopt_recording(
    ctx: &Ctx,
    key: &str,
    name: &str,
    spec: &RecordingSpec,
) -> Result<String, StepError> {
    let arn = match find_recording_by_name(ctx, name).await? {
        Some(arn) => arn,
        None => {
            ctx.aws
                .limits
                .wait("CreateRecordingConfiguration", CallClass::IvsResource)
                .await;
            let thumbnails = ThumbnailConfiguration::builder()
                .recording_mode(match spec.thumbnail_recording_mode {
                    ThumbnailRecordingMode::Interval => RecordingMode::Interval,
                    ThumbnailRecordingMode::Disabled => RecordingMode::Disabled,
                })
                .set_target_interval_seconds(
                    (spec.thumbnail_recording_mode == ThumbnailRecordingMode::Interval)
                        .then_some(i64::from(spec.thumbnail_target_interval_seconds)),
                )
                .build();
            let destination = DestinationConfiguration::builder()
                .s3(S3DestinationConfiguration::builder()
                    .bucket_name(&spec.s3_bucket_name)
                    .build()
                    .map_err(|e| StepError::Internal(e.into()))?)
                .build();
            let output = ctx
                .aws
                .ivs
                .create_recording_configuration()
                .name(name)
                .destination_configuration(destination)
                .thumbnail_configuration(thumbnails)
                .recording_reconnect_window_seconds(spec.reconnect_window_seconds as i32)
                .tags("ManagedBy", MANAGED_BY)
                .customize()
                .config_override(aws_sdk_ivs::config::Config::builder().retry_config(no_retry()))
                .send()
                .await
                .map_err(|e| from_sdk("CreateRecordingConfiguration", e))?;
            output
                .recording_configuration()
                .map(|r| r.arn().to_owned())
                .ok_or_else(|| {
                    StepError::Internal(anyhow::anyhow!(
                        "CreateRecordingConfiguration returned no ARN"
                    ))
                })?
        }
    };
    sqlx::query("update recording_configurations set arn = $2, state = 'creating', last_error = null where settings_key = $1")
        .bind(key)
        .bind(&arn)
        .execute(&ctx.pool)
        .await?;
    Ok(arn)
}

async fn find_recording_by_name(ctx: &Ctx, name: &str) -> Result<Option<String>, StepError> {
    let mut next: Option<String> = None;
    loop {
        ctx.aws
            .limits
            .wait("ListRecordingConfigurations", CallClass::IvsResource)
            .await;
        let page = ctx
            .aws
            .ivs
            .list_recording_configurations()
            .max_results(100)
            .set_next_token(next)
            .send()
            .await
            .map_err(|e| from_sdk("ListRecordingConfigurations", e))?;
        if let Some(found) = page
            .recording_configurations()
            .iter()
            .find(|r| r.name() == Some(name))
        {
            return Ok(Some(found.arn().to_owned()));
        }
        match page.next_token() {
            Some(token) if !token.is_empty() => next = Some(token.to_owned()),
            _ => return Ok(None),
        }
    }
}

/// Polls until ACTIVE (IVS takes a moment); CREATE_FAILED surfaces IVS's reason on the channel.
async fn wait_until_active(
    ctx: &Ctx,
    key: &str,
    arn: &str,
    spec: &RecordingSpec,
) -> Result<String, StepError> {
    let deadline = tokio::time::Instant::now() + ctx.settings.recording_wait;
    loop {
        ctx.aws
            .limits
            .wait("GetRecordingConfiguration", CallClass::IvsResource)
            .await;
        let result = ctx
            .aws
            .ivs
            .get_recording_configuration()
            .arn(arn)
            .send()
            .await;
        let config = match result {
            Ok(out) => out.recording_configuration,
            Err(e) => {
                let error = from_sdk("GetRecordingConfiguration", e);
                if error.is_not_found() {
                    sqlx::query("update recording_configurations set arn = null, state = 'creating' where settings_key = $1")
                        .bind(key)
                        .execute(&ctx.pool)
                        .await?;
                    return Err(StepError::defer(
                        "the recording configuration vanished; recreating it",
                        Duration::ZERO,
                    ));
                }
                return Err(error.into());
            }
        };
        match config.as_ref().map(|c| c.state()) {
            Some(RecordingConfigurationState::Active) => {
                sqlx::query("update recording_configurations set state = 'active', last_error = null where settings_key = $1")
                    .bind(key)
                    .execute(&ctx.pool)
                    .await?;
                return Ok(arn.to_owned());
            }
            Some(RecordingConfigurationState::CreateFailed) => {
                let message = format!(
                    "IVS could not create the recording configuration for bucket '{}' (CREATE_FAILED): \
                     the bucket must exist, be owned by this account and be in the service's region",
                    spec.s3_bucket_name
                );
                sqlx::query("update recording_configurations set state = 'failed', last_error = $2 where settings_key = $1")
                    .bind(key)
                    .bind(sqlx::types::Json(json!({ "message": message })))
                    .execute(&ctx.pool)
                    .await?;
                return Err(StepError::permanent(
                    "RecordingConfigurationCreateFailed",
                    message,
                ));
            }
            _ if tokio::time::Instant::now() >= deadline => {
                return Err(StepError::defer(
                    "the recording configuration is still CREATING",
                    Duration::from_secs(2),
                ));
            }
            _ => tokio::time::sleep(Duration::from_millis(300)).await,
        }
    }
}

async fn delete_recording_in_ivs(ctx: &Ctx, arn: &str) -> Result<(), StepError> {
    ctx.aws
        .limits
        .wait("DeleteRecordingConfiguration", CallClass::IvsResource)
        .await;
    match ctx
        .aws
        .ivs
        .delete_recording_configuration()
        .arn(arn)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) => {
            let error = from_sdk("DeleteRecordingConfiguration", e);
            if error.is_not_found() {
                Ok(())
            } else {
                Err(error.into())
            }
        }
    }
}

/// Deletes the shared configuration for `spec` once no live channel other than `except` uses it.
/// A configuration still attached in IVS (ConflictException) is simply kept.
pub async fn release_recording(
    ctx: &Ctx,
    spec: &RecordingSpec,
    except: uuid::Uuid,
) -> Result<(), StepError> {
    let key = recording_key(spec);
    with_lock(&ctx.pool, &format!("recording:{key}"), async {
        let users: i64 = sqlx::query_scalar(
            "select count(*) from channels where deleted_at is null and id <> $1 and spec->'recording' = $2",
        )
        .bind(except)
        .bind(sqlx::types::Json(spec))
        .fetch_one(&ctx.pool)
        .await?;
        if users > 0 {
            return Ok(());
        }
        let arn: Option<Option<String>> =
            sqlx::query_scalar("select arn from recording_configurations where settings_key = $1")
                .bind(&key)
                .fetch_optional(&ctx.pool)
                .await?;
        if let Some(arn) = arn.flatten() {
            match delete_recording_in_ivs(ctx, &arn).await {
                Err(StepError::Aws(e)) if e.is_code("ConflictException") => return Ok(()),
                other => other?,
            }
        }
        sqlx::query("delete from recording_configurations where settings_key = $1")
            .bind(&key)
            .execute(&ctx.pool)
            .await?;
        Ok(())
    })
    .await
}

/// Our fingerprint of a public key: SHA-256 of its DER SubjectPublicKeyInfo, hex.
pub fn key_fingerprint(pem: &str) -> Result<String, StepError> {
    use p384::pkcs8::DecodePublicKey;
    let key = p384::PublicKey::from_public_key_pem(pem.trim()).map_err(|_| {
        StepError::permanent(
            "InvalidPublicKey",
            "the playback public key is not a P-384 key",
        )
    })?;
    Ok(crate::tokens::signer::public_key_fingerprint(&key)?)
}

/// Imports a caller-supplied public key once (deduplicated by fingerprint) and returns the
/// fingerprint IVS reports for it.
pub async fn ensure_caller_key(ctx: &Ctx, pem: &str) -> Result<String, StepError> {
    let fingerprint = key_fingerprint(pem)?;
    if let Some(ivs) = active_key(&ctx.pool, &fingerprint).await? {
        return Ok(ivs);
    }
    with_lock(&ctx.pool, &format!("key:{fingerprint}"), async {
        sqlx::query(
            "insert into playback_keys (fingerprint, public_key_pem, source) values ($1, $2, 'caller') on conflict do nothing",
        )
        .bind(&fingerprint)
        .bind(pem.trim())
        .execute(&ctx.pool)
        .await?;
        let name = format!("ivsp-key-{}", &fingerprint[..16]);
        let (arn, ivs_fingerprint) = import_once(&ctx.aws, &name, pem).await?;
        sqlx::query(
            "update playback_keys set arn = $2, ivs_fingerprint = $3, state = 'active', last_error = null where fingerprint = $1",
        )
        .bind(&fingerprint)
        .bind(&arn)
        .bind(&ivs_fingerprint)
        .execute(&ctx.pool)
        .await?;
        Ok(ivs_fingerprint)
    })
    .await
}

/// Deletes a caller-supplied key pair from IVS once no live channel other than `except` uses it,
/// so it stops holding one of the region's three key-pair slots. `pem` is the key as stored in
/// the channel's spec.
pub async fn release_caller_key(ctx: &Ctx, pem: &str, except: uuid::Uuid) -> Result<(), StepError> {
    let fingerprint = key_fingerprint(pem)?;
    with_lock(&ctx.pool, &format!("key:{fingerprint}"), async {
        let users: i64 = sqlx::query_scalar(
            "select count(*) from channels
              where deleted_at is null and id <> $1 and spec->>'playback_public_key_pem' = $2",
        )
        .bind(except)
        .bind(pem.trim())
        .fetch_one(&ctx.pool)
        .await?;
        if users > 0 {
            return Ok(());
        }
        let arn: Option<Option<String>> = sqlx::query_scalar(
            "select arn from playback_keys where fingerprint = $1 and source = 'caller'",
        )
        .bind(&fingerprint)
        .fetch_optional(&ctx.pool)
        .await?;
        if let Some(arn) = arn.flatten() {
            ctx.aws
                .limits
                .wait("DeletePlaybackKeyPair", CallClass::IvsResource)
                .await;
            if let Err(e) = ctx
                .aws
                .ivs
                .delete_playback_key_pair()
                .arn(&arn)
                .send()
                .await
            {
                let error = from_sdk("DeletePlaybackKeyPair", e);
                if !error.is_not_found() {
                    return Err(error.into());
                }
            }
        }
        sqlx::query("delete from playback_keys where fingerprint = $1 and source = 'caller'")
            .bind(&fingerprint)
            .execute(&ctx.pool)
            .await?;
        Ok(())
    })
    .await
}

/// The stored PEM of the caller-supplied key IVS knows by `ivs_fingerprint`, if any.
pub async fn caller_key_pem(
    pool: &PgPool,
    ivs_fingerprint: &str,
) -> Result<Option<String>, StepError> {
    Ok(sqlx::query_scalar(
        "select public_key_pem from playback_keys where ivs_fingerprint = $1 and source = 'caller'",
    )
    .bind(ivs_fingerprint)
    .fetch_optional(pool)
    .await?)
}

async fn active_key(pool: &PgPool, fingerprint: &str) -> Result<Option<String>, StepError> {
    Ok(sqlx::query_scalar(
        "select ivs_fingerprint from playback_keys where fingerprint = $1 and state = 'active'",
    )
    .bind(fingerprint)
    .fetch_optional(pool)
    .await?
    .flatten())
}

/// Imports a public key into IVS under `name`, or adopts the key pair an earlier attempt whose
/// response was lost imported under that name. Returns (ARN, IVS fingerprint).
pub async fn import_once(aws: &Aws, name: &str, pem: &str) -> Result<(String, String), StepError> {
    match find_key_by_name(aws, name).await? {
        Some(found) => Ok(found),
        None => import_key(aws, name, pem).await,
    }
}

/// Every playback key pair in the region (at most 3, so one page).
pub async fn list_key_pairs(aws: &Aws) -> Result<Vec<PlaybackKeyPairSummary>, StepError> {
    aws.limits
        .wait("ListPlaybackKeyPairs", CallClass::IvsResource)
        .await;
    let list = aws
        .ivs
        .list_playback_key_pairs()
        .max_results(100)
        .send()
        .await
        .map_err(|e| from_sdk("ListPlaybackKeyPairs", e))?;
    Ok(list.key_pairs)
}

async fn find_key_by_name(aws: &Aws, name: &str) -> Result<Option<(String, String)>, StepError> {
    let pairs = list_key_pairs(aws).await?;
    let Some(arn) = pairs
        .iter()
        .find(|k| k.name() == Some(name))
        .and_then(|k| k.arn())
    else {
        return Ok(None);
    };
    aws.limits
        .wait("GetPlaybackKeyPair", CallClass::IvsResource)
        .await;
    let pair = aws
        .ivs
        .get_playback_key_pair()
        .arn(arn)
        .send()
        .await
        .map_err(|e| from_sdk("GetPlaybackKeyPair", e))?;
    let fingerprint = pair
        .key_pair()
        .and_then(|k| k.fingerprint())
        .unwrap_or_default()
        .to_owned();
    Ok(Some((arn.to_owned(), fingerprint)))
}

async fn import_key(aws: &Aws, name: &str, pem: &str) -> Result<(String, String), StepError> {
    aws.limits
        .wait("ImportPlaybackKeyPair", CallClass::IvsResource)
        .await;
    let result = aws
        .ivs
        .import_playback_key_pair()
        .name(name)
        .public_key_material(pem.trim())
        .tags("ManagedBy", MANAGED_BY)
        .customize()
        .config_override(aws_sdk_ivs::config::Config::builder().retry_config(no_retry()))
        .send()
        .await;
    match result {
        Ok(out) => {
            let pair = out.key_pair();
            Ok((
                pair.and_then(|k| k.arn()).unwrap_or_default().to_owned(),
                pair.and_then(|k| k.fingerprint())
                    .unwrap_or_default()
                    .to_owned(),
            ))
        }
        Err(e) => {
            let error = from_sdk("ImportPlaybackKeyPair", e);
            Err(match error.code.as_str() {
                "ServiceQuotaExceededException" => StepError::permanent(
                    "ServiceQuotaExceededException",
                    format!(
                        "IVS allows at most 3 playback key pairs per region and all are in use; \
                         the key could not be imported ({})",
                        error.message
                    ),
                ),
                "ConflictException" => StepError::permanent(
                    "ConflictException",
                    "this public key is already imported into IVS outside the service; delete that key pair \
                     or let the service import it",
                ),
                _ => error.into(),
            })
        }
    }
}
