//! Keeping the tags of an IVS channel or an IVS Chat room equal to what the row wants.

use std::collections::HashMap;

use super::Ctx;
use super::step::StepError;
use crate::domain::channel::RESERVED_TAG_PREFIX;

/// Which service holds the tagged resource (each has its own TagResource).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Ivs,
    Chat,
}

/// Adds missing or changed tags and removes caller tags that are no longer wanted. AWS's own
/// (`aws:`) tags and the service's identity tags are never removed.
pub async fn sync(
    ctx: &Ctx,
    service: Service,
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
        match service {
            Service::Ivs => ctx.aws.tag_resource(arn, missing).await?,
            Service::Chat => ctx.aws.chat_tag_resource(arn, missing).await?,
        }
    }
    if !stale.is_empty() {
        match service {
            Service::Ivs => ctx.aws.untag_resource(arn, stale).await?,
            Service::Chat => ctx.aws.chat_untag_resource(arn, stale).await?,
        }
    }
    Ok(())
}
