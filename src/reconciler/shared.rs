//! The account-level configurations channels share: IVS recording configurations (one per
//! distinct settings tuple; about 20 per region, docs/aws-facts.md §1) and IVS Chat logging
//! configurations (one per destination bucket; 10 per region, §12). Both live the same way, so
//! one piece of code serves both: creating one is serialised across workers and replicas by an
//! advisory lock (never by a transaction open across an AWS call), each has a deterministic
//! name, so a create whose response was lost is found and adopted, and the last channel to stop
//! using one deletes it.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::Value;
use uuid::Uuid;

use super::Ctx;
use super::step::{StepError, locked};
use crate::aws::ivs::RecordingConfigurationState;
use crate::aws::ivschat::LoggingConfigurationState;
use crate::aws::{AwsError, AwsErrorKind};
use crate::db::claims::Claimed;
use crate::db::shared_configurations::{self as configs, SharedKind, SharedState};
use crate::domain::channel::RecordingSpec;
use crate::domain::resources::{
    MANAGED_BY, chat_logging_key, chat_logging_name, recording_key, recording_name,
};

/// One shared configuration a channel wants: its kind and its settings.
#[derive(Debug, Clone, Copy)]
pub enum Shared<'a> {
    Recording(&'a RecordingSpec),
    ChatLogging { bucket: &'a str },
}

/// Where a configuration is in its life, as AWS reports it.
enum Readiness {
    Active,
    Pending,
    Failed,
    Gone,
}

impl Shared<'_> {
    fn kind(self) -> SharedKind {
        match self {
            Shared::Recording(_) => SharedKind::Recording,
            Shared::ChatLogging { .. } => SharedKind::ChatLogging,
        }
    }

    fn key(self) -> String {
        match self {
            Shared::Recording(spec) => recording_key(spec),
            Shared::ChatLogging { bucket } => chat_logging_key(bucket),
        }
    }

    fn name(self, key: &str) -> String {
        match self {
            Shared::Recording(_) => recording_name(key),
            Shared::ChatLogging { .. } => chat_logging_name(key),
        }
    }

    fn lock(self, key: &str) -> String {
        match self {
            Shared::Recording(_) => format!("recording:{key}"),
            Shared::ChatLogging { .. } => format!("chat-logging:{key}"),
        }
    }

    /// The settings as stored in the table and in a channel's spec.
    fn settings(self) -> Value {
        match self {
            Shared::Recording(spec) => serde_json::to_value(spec).unwrap_or_default(),
            Shared::ChatLogging { bucket } => Value::String(bucket.to_owned()),
        }
    }

    fn what(self) -> &'static str {
        match self {
            Shared::Recording(_) => "recording configuration",
            Shared::ChatLogging { .. } => "chat logging configuration",
        }
    }

    async fn find_by_name(self, ctx: &Ctx, name: &str) -> Result<Option<String>, AwsError> {
        Ok(match self {
            Shared::Recording(_) => ctx
                .aws
                .list_recording_configurations()
                .await?
                .into_iter()
                .find(|r| r.name() == Some(name))
                .map(|r| r.arn().to_owned()),
            Shared::ChatLogging { .. } => ctx
                .aws
                .list_chat_logging_configurations()
                .await?
                .into_iter()
                .find(|c| c.name() == Some(name))
                .and_then(|c| c.arn().map(str::to_owned)),
        })
    }

    async fn create(self, ctx: &Ctx, name: &str) -> Result<String, AwsError> {
        let tags = HashMap::from([("ManagedBy".to_owned(), MANAGED_BY.to_owned())]);
        match self {
            Shared::Recording(spec) => {
                ctx.aws
                    .create_recording_configuration(name, spec, tags)
                    .await
            }
            Shared::ChatLogging { bucket } => {
                ctx.aws
                    .create_chat_logging_configuration(name, bucket, tags)
                    .await
            }
        }
    }

    async fn readiness(self, ctx: &Ctx, arn: &str) -> Result<Readiness, AwsError> {
        let result = match self {
            Shared::Recording(_) => ctx
                .aws
                .get_recording_configuration(arn)
                .await
                .map(|c| match c.state() {
                    RecordingConfigurationState::Active => Readiness::Active,
                    RecordingConfigurationState::CreateFailed => Readiness::Failed,
                    _ => Readiness::Pending,
                }),
            Shared::ChatLogging { .. } => {
                ctx.aws
                    .get_chat_logging_state(arn)
                    .await
                    .map(|state| match state {
                        LoggingConfigurationState::Active => Readiness::Active,
                        LoggingConfigurationState::CreateFailed => Readiness::Failed,
                        _ => Readiness::Pending,
                    })
            }
        };
        match result {
            Err(e) if e.is_not_found() => Ok(Readiness::Gone),
            other => other,
        }
    }

    fn failure(self) -> (&'static str, String) {
        match self {
            Shared::Recording(spec) => (
                "RecordingConfigurationCreateFailed",
                format!(
                    "IVS could not create the recording configuration for bucket '{}' (CREATE_FAILED): \
                     the bucket must exist, be owned by this account and be in the service's region",
                    spec.s3_bucket_name
                ),
            ),
            Shared::ChatLogging { bucket } => (
                "ChatLoggingConfigurationCreateFailed",
                format!(
                    "IVS Chat could not create the logging configuration for bucket '{bucket}' \
                     (CREATE_FAILED): the bucket must exist, be owned by this account and be in the \
                     service's region"
                ),
            ),
        }
    }
}

async fn delete_in_aws(ctx: &Ctx, kind: SharedKind, arn: &str) -> Result<(), StepError> {
    let result = match kind {
        SharedKind::Recording => ctx.aws.delete_recording_configuration(arn).await,
        SharedKind::ChatLogging => ctx.aws.delete_chat_logging_configuration(arn).await,
    };
    match result {
        Err(e) if !e.is_not_found() => Err(e.into()),
        _ => Ok(()),
    }
}

/// Finds or creates the shared configuration `want`, waits until it is ACTIVE and returns its
/// ARN.
pub async fn ensure(ctx: &Ctx, want: Shared<'_>) -> Result<String, StepError> {
    let (kind, key) = (want.kind(), want.key());
    if let Some(arn) = configs::active_arn(&ctx.pool, kind, &key).await? {
        return Ok(arn);
    }
    locked(&ctx.pool, &want.lock(&key), async {
        let mut conn = ctx.pool.acquire().await?;
        let row = configs::register(&mut conn, kind, &key, &want.settings()).await?;
        drop(conn);
        let arn = match row.arn {
            Some(arn) if row.state != SharedState::Failed => arn,
            Some(failed) => {
                // CREATE_FAILED is terminal in AWS: delete it and try a fresh one.
                delete_in_aws(ctx, kind, &failed).await?;
                create_or_adopt(ctx, want, &key).await?
            }
            None => create_or_adopt(ctx, want, &key).await?,
        };
        wait_until_active(ctx, want, &key, &arn).await
    })
    .await
}

async fn create_or_adopt(ctx: &Ctx, want: Shared<'_>, key: &str) -> Result<String, StepError> {
    let name = want.name(key);
    let arn = match want.find_by_name(ctx, &name).await? {
        Some(found) => found,
        None => want.create(ctx, &name).await?,
    };
    configs::set_creating(&ctx.pool, want.kind(), key, &arn).await?;
    Ok(arn)
}

/// Polls until ACTIVE (AWS takes a moment); CREATE_FAILED surfaces on the channel with what to
/// fix.
async fn wait_until_active(
    ctx: &Ctx,
    want: Shared<'_>,
    key: &str,
    arn: &str,
) -> Result<String, StepError> {
    let kind = want.kind();
    let deadline = tokio::time::Instant::now() + ctx.settings.recording_wait;
    loop {
        match want.readiness(ctx, arn).await? {
            Readiness::Active => {
                configs::set_active(&ctx.pool, kind, key).await?;
                return Ok(arn.to_owned());
            }
            Readiness::Gone => {
                configs::forget_arn(&ctx.pool, kind, key).await?;
                return Err(StepError::defer(
                    format!("the {} vanished; recreating it", want.what()),
                    Duration::ZERO,
                ));
            }
            Readiness::Failed => {
                let (code, message) = want.failure();
                configs::set_failed(&ctx.pool, kind, key, &message).await?;
                return Err(StepError::permanent(code, message));
            }
            Readiness::Pending if tokio::time::Instant::now() >= deadline => {
                return Err(StepError::defer(
                    format!("the {} is still CREATING", want.what()),
                    Duration::from_secs(2),
                ));
            }
            Readiness::Pending => tokio::time::sleep(Duration::from_millis(300)).await,
        }
    }
}

/// Deletes the shared configuration `want` once no live channel other than `except` uses it.
/// A configuration still attached in AWS (ConflictException) is simply kept.
pub async fn release(ctx: &Ctx, want: Shared<'_>, except: Uuid) -> Result<(), StepError> {
    let (kind, key) = (want.kind(), want.key());
    locked(&ctx.pool, &want.lock(&key), async {
        if configs::count_users(&ctx.pool, kind, &want.settings(), except).await? > 0 {
            return Ok(());
        }
        if let Some(arn) = configs::arn(&ctx.pool, kind, &key).await? {
            match delete_in_aws(ctx, kind, &arn).await {
                Err(StepError::Aws(e)) if e.kind == AwsErrorKind::Conflict => return Ok(()),
                other => other?,
            }
        }
        configs::delete(&ctx.pool, kind, &key).await?;
        Ok(())
    })
    .await
}

/// Releases the configuration of `kind` that AWS knows as `arn` (the row moved to other
/// settings).
pub async fn release_by_arn(
    ctx: &Ctx,
    kind: SharedKind,
    row: &Claimed,
    arn: &str,
) -> Result<(), StepError> {
    match kind {
        SharedKind::Recording => {
            let settings: Option<RecordingSpec> =
                configs::settings_by_arn(&ctx.pool, kind, arn).await?;
            if let Some(settings) = settings {
                release(ctx, Shared::Recording(&settings), row.id).await?;
            }
        }
        SharedKind::ChatLogging => {
            let bucket: Option<String> = configs::settings_by_arn(&ctx.pool, kind, arn).await?;
            if let Some(bucket) = bucket {
                release(ctx, Shared::ChatLogging { bucket: &bucket }, row.id).await?;
            }
        }
    }
    Ok(())
}
