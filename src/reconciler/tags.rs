//! Keeping an IVS channel's tags equal to what the row wants.

use std::collections::HashMap;

use super::Ctx;
use super::step::StepError;
use crate::domain::channel::RESERVED_TAG_PREFIX;

/// Adds missing or changed tags and removes caller tags that are no longer wanted. AWS's own
/// (`aws:`) tags and the service's identity tags are never removed.
pub async fn sync(
    ctx: &Ctx,
    arn: &str,
    have: Option<&HashMap<String, String>>,
    want: &HashMap<String, String>,
) -> Result<(), StepError> {
    let empty = HashMap::new();
    let have = have.unwrap_or(&empty);
    let missing: HashMap<String, String> = want
        .iter()
        .filter(|(k, v)| have.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let stale: Vec<String> = have
        .keys()
        .filter(|k| {
            !want.contains_key(*k)
                && !k.to_ascii_lowercase().starts_with("aws:")
                && !k.starts_with(RESERVED_TAG_PREFIX)
        })
        .cloned()
        .collect();
    if !missing.is_empty() {
        ctx.aws.tag_resource(arn, missing).await?;
    }
    if !stale.is_empty() {
        ctx.aws.untag_resource(arn, stale).await?;
    }
    Ok(())
}
