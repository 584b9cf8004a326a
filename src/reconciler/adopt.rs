//! Adoption after a lost create, for every resource that carries a row's identity tag (IVS
//! channels, IVS Chat rooms): of the resources found with the tag, the first ARN in order is
//! kept and the others are deleted, each step in the audit trail.

use serde_json::json;

use super::Ctx;
use super::channel::audit;
use super::step::StepError;
use crate::db::claims::Claimed;
use crate::domain::EventKind;

/// Keeps one of `tagged` (`None` when empty), deleting the rest with `delete`. `field` names
/// the ARN in the audit events (`channel_arn`, `chat_room_arn`); an `adopted` event is written
/// when the kept ARN is not the one the row had saved.
pub async fn keep_one<F, Fut>(
    ctx: &Ctx,
    row: &Claimed,
    saved: Option<&str>,
    mut tagged: Vec<String>,
    field: &str,
    delete: F,
) -> Result<Option<String>, StepError>
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = Result<(), StepError>>,
{
    if tagged.is_empty() {
        return Ok(None);
    }
    tagged.sort();
    let keep = tagged.remove(0);
    for extra in tagged {
        delete(extra.clone()).await?;
        audit(
            ctx,
            row,
            EventKind::DuplicateRemoved,
            json!({ field: extra }),
        )
        .await?;
    }
    if saved != Some(keep.as_str()) {
        audit(ctx, row, EventKind::Adopted, json!({ field: keep })).await?;
    }
    Ok(Some(keep))
}
