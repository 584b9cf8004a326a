//! A channel's stream key in IVS: read (made if missing), rotated and deleted.

use super::Ctx;
use super::step::StepError;

/// The channel's stream key (IVS keeps one per channel); made if missing, which also repairs a
/// rotation interrupted between its delete and its create.
pub async fn read(ctx: &Ctx, channel_arn: &str) -> Result<String, StepError> {
    match ctx.aws.find_stream_key(channel_arn).await? {
        Some((_, value)) => Ok(value),
        None => Ok(ctx.aws.create_stream_key(channel_arn).await?),
    }
}

/// Deletes every stream key of the channel; keys already gone count as deleted.
pub async fn delete_all(ctx: &Ctx, channel_arn: &str) -> Result<(), StepError> {
    for key_arn in ctx.aws.list_stream_keys(channel_arn).await? {
        delete(ctx, &key_arn).await?;
    }
    Ok(())
}

async fn delete(ctx: &Ctx, key_arn: &str) -> Result<(), StepError> {
    match ctx.aws.delete_stream_key(key_arn).await {
        Err(e) if !e.is_not_found() => Err(e.into()),
        _ => Ok(()),
    }
}

/// Replaces the stream key (IVS allows one per channel: delete, then create). A crash between
/// the two leaves the channel keyless only until the next attempt, whose [`read`] creates the
/// missing key; the request stays recorded on the row until the rotation is done.
pub async fn rotate(ctx: &Ctx, channel_arn: &str) -> Result<String, StepError> {
    delete_all(ctx, channel_arn).await?;
    Ok(ctx.aws.create_stream_key(channel_arn).await?)
}
