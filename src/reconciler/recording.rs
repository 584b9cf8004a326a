//! The shared recording configurations: one per distinct settings tuple (IVS allows about 20 per
//! region, docs/aws-facts.md §1). Creating one is serialised across workers and replicas by an
//! advisory lock (never by a transaction open across an AWS call), and each has a deterministic
//! name, so a create whose response was lost is found and adopted.

use std::collections::HashMap;
use std::time::Duration;

use uuid::Uuid;

use super::Ctx;
use super::step::{StepError, locked};
use crate::aws::AwsErrorKind;
use crate::aws::ivs::RecordingConfigurationState;
use crate::db::recording_configurations::{self as configs, RecordingState};
use crate::db::{self, claims::Claimed};
use crate::domain::channel::RecordingSpec;
use crate::domain::resources::{MANAGED_BY, recording_key, recording_name};

/// Finds or creates the shared recording configuration for `spec`, waits until it is ACTIVE and
/// returns its ARN.
pub async fn ensure(ctx: &Ctx, spec: &RecordingSpec) -> Result<String, StepError> {
    let key = recording_key(spec);
    if let Some(arn) = configs::active_arn(&ctx.pool, &key).await? {
        return Ok(arn);
    }
    let lock = format!("recording:{key}");
    locked(&ctx.pool, &lock, async {
        let mut conn = ctx.pool.acquire().await?;
        let row = configs::register(&mut conn, &key, spec).await?;
        drop(conn);
        let name = recording_name(&key);
        let arn = match row.arn {
            Some(arn) if row.state != RecordingState::Failed => arn,
            Some(failed) => {
                // CREATE_FAILED is terminal in IVS: delete it and try a fresh one.
                delete_in_ivs(ctx, &failed).await?;
                create_or_adopt(ctx, &key, &name, spec).await?
            }
            None => create_or_adopt(ctx, &key, &name, spec).await?,
        };
        wait_until_active(ctx, &key, &arn, spec).await
    })
    .await
}

async fn create_or_adopt(
    ctx: &Ctx,
    key: &str,
    name: &str,
    spec: &RecordingSpec,
) -> Result<String, StepError> {
    let existing = ctx.aws.list_recording_configurations().await?;
    let arn = match existing.iter().find(|r| r.name() == Some(name)) {
        Some(found) => found.arn().to_owned(),
        None => {
            let tags = HashMap::from([("ManagedBy".to_owned(), MANAGED_BY.to_owned())]);
            ctx.aws
                .create_recording_configuration(name, spec, tags)
                .await?
        }
    };
    configs::set_creating(&ctx.pool, key, &arn).await?;
    Ok(arn)
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
        let config = match ctx.aws.get_recording_configuration(arn).await {
            Ok(config) => config,
            Err(e) if e.is_not_found() => {
                configs::forget_arn(&ctx.pool, key).await?;
                return Err(StepError::defer(
                    "the recording configuration vanished; recreating it",
                    Duration::ZERO,
                ));
            }
            Err(e) => return Err(e.into()),
        };
        match config.state() {
            RecordingConfigurationState::Active => {
                configs::set_active(&ctx.pool, key).await?;
                return Ok(arn.to_owned());
            }
            RecordingConfigurationState::CreateFailed => {
                let message = format!(
                    "IVS could not create the recording configuration for bucket '{}' (CREATE_FAILED): \
                     the bucket must exist, be owned by this account and be in the service's region",
                    spec.s3_bucket_name
                );
                configs::set_failed(&ctx.pool, key, &message).await?;
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

async fn delete_in_ivs(ctx: &Ctx, arn: &str) -> Result<(), StepError> {
    match ctx.aws.delete_recording_configuration(arn).await {
        Err(e) if !e.is_not_found() => Err(e.into()),
        _ => Ok(()),
    }
}

/// Deletes the shared configuration for `spec` once no live channel other than `except` uses it.
/// A configuration still attached in IVS (ConflictException) is simply kept.
pub async fn release(ctx: &Ctx, spec: &RecordingSpec, except: Uuid) -> Result<(), StepError> {
    let key = recording_key(spec);
    locked(&ctx.pool, &format!("recording:{key}"), async {
        if db::channels::count_recording_users(&ctx.pool, spec, except).await? > 0 {
            return Ok(());
        }
        if let Some(arn) = configs::arn(&ctx.pool, &key).await? {
            match delete_in_ivs(ctx, &arn).await {
                Err(StepError::Aws(e)) if e.kind == AwsErrorKind::Conflict => return Ok(()),
                other => other?,
            }
        }
        configs::delete(&ctx.pool, &key).await?;
        Ok(())
    })
    .await
}

/// Releases the configuration IVS knows as `arn` (the row moved to other settings).
pub async fn release_by_arn(ctx: &Ctx, row: &Claimed, arn: &str) -> Result<(), StepError> {
    if let Some(settings) = configs::settings_by_arn(&ctx.pool, arn).await? {
        release(ctx, &settings, row.id).await?;
    }
    Ok(())
}
