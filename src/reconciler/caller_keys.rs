//! Caller-supplied playback keys: imported into IVS once per key (deduplicated by fingerprint;
//! IVS allows 3 key pairs per region, docs/aws-facts.md §1), and deleted from IVS once no live
//! channel uses them, so they stop holding one of the slots.

use std::collections::HashMap;

use uuid::Uuid;

use super::Ctx;
use super::step::{StepError, locked};
use crate::aws::{AwsError, AwsErrorKind};
use crate::db;
use crate::domain::keys::pem_fingerprint;
use crate::domain::resources::{MANAGED_BY, caller_key_name};

/// Our fingerprint of a caller's PEM (validation made sure it parses).
fn fingerprint(pem: &str) -> Result<String, StepError> {
    pem_fingerprint(pem).ok_or_else(|| {
        StepError::permanent(
            "InvalidPublicKey",
            "the playback public key is not a P-384 key",
        )
    })
}

/// Imports a caller-supplied public key once and returns the fingerprint IVS reports for it.
pub async fn ensure(ctx: &Ctx, pem: &str) -> Result<String, StepError> {
    let fingerprint = fingerprint(pem)?;
    if let Some(ivs) = db::playback_keys::active_ivs_fingerprint(&ctx.pool, &fingerprint).await? {
        return Ok(ivs);
    }
    locked(&ctx.pool, &format!("key:{fingerprint}"), async {
        db::playback_keys::register_caller(&ctx.pool, &fingerprint, pem).await?;
        let tags = HashMap::from([("ManagedBy".to_owned(), MANAGED_BY.to_owned())]);
        let imported = ctx
            .aws
            .import_playback_key_pair_once(&caller_key_name(&fingerprint), pem, tags)
            .await
            .map_err(import_refused)?;
        db::playback_keys::set_caller_imported(
            &ctx.pool,
            &fingerprint,
            &imported.arn,
            &imported.ivs_fingerprint,
        )
        .await?;
        Ok(imported.ivs_fingerprint)
    })
    .await
}

/// IVS's refusals of an import, in words a person can act on.
fn import_refused(error: AwsError) -> StepError {
    match error.kind {
        AwsErrorKind::QuotaExceeded => StepError::permanent(
            "ServiceQuotaExceededException",
            format!(
                "IVS allows at most 3 playback key pairs per region and all are in use; \
                 the key could not be imported ({})",
                error.message
            ),
        ),
        AwsErrorKind::Conflict => StepError::permanent(
            "ConflictException",
            "this public key is already imported into IVS outside the service; delete that key pair \
             or let the service import it",
        ),
        _ => error.into(),
    }
}

/// Deletes a caller-supplied key pair from IVS once no live channel other than `except` uses it.
/// `pem` is the key as stored in the channel's spec.
pub async fn release(ctx: &Ctx, pem: &str, except: Uuid) -> Result<(), StepError> {
    let fingerprint = fingerprint(pem)?;
    locked(&ctx.pool, &format!("key:{fingerprint}"), async {
        if db::channels::count_caller_key_users(&ctx.pool, pem, except).await? > 0 {
            return Ok(());
        }
        if let Some(arn) = db::playback_keys::caller_arn(&ctx.pool, &fingerprint).await? {
            match ctx.aws.delete_playback_key_pair(&arn).await {
                Err(e) if !e.is_not_found() => return Err(e.into()),
                _ => {}
            }
        }
        db::playback_keys::delete_caller(&ctx.pool, &fingerprint).await?;
        Ok(())
    })
    .await
}
