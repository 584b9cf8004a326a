//! How the service names and tags what it makes in AWS. Every name is deterministic and every
//! channel carries an identity tag naming its row, so a create whose response was lost is found
//! and adopted instead of repeated.

use std::collections::HashMap;

use sha2::{Digest, Sha256};

use super::channel::{ChannelSpec, RecordingSpec};

/// The `ManagedBy` tag's value on everything the service creates.
pub const MANAGED_BY: &str = "ivs-provisioner";
/// The tag naming a channel's row (a UUID) on its IVS channel and SSM parameters.
pub const IDENTITY_TAG: &str = "ivs-provisioner:id";

/// Every tag the channel must carry: the Terraform module's (Name, ManagedBy), the tenant, the identity tag, the caller's.
pub fn desired_tags(id: uuid::Uuid, spec: &ChannelSpec) -> HashMap<String, String> {
    let mut tags: HashMap<String, String> = spec.tags.clone().into_iter().collect();
    tags.insert("Name".into(), spec.name.clone());
    tags.insert("ManagedBy".into(), MANAGED_BY.into());
    tags.insert("Tenant".into(), spec.tenant.clone());
    tags.insert(IDENTITY_TAG.into(), id.to_string());
    tags
}

/// The tags of a channel's SSM parameters.
pub fn parameter_tags(id: uuid::Uuid, spec: &ChannelSpec) -> Vec<(String, String)> {
    vec![
        ("ManagedBy".to_owned(), MANAGED_BY.to_owned()),
        ("Tenant".to_owned(), spec.tenant.clone()),
        (IDENTITY_TAG.to_owned(), id.to_string()),
    ]
}

/// The stable identity of a recording settings tuple: the table key and part of the IVS name.
pub fn recording_key(spec: &RecordingSpec) -> String {
    let canonical = serde_json::to_string(spec).unwrap_or_default();
    hex::encode(&Sha256::digest(canonical.as_bytes())[..8])
}

/// The IVS name of the shared recording configuration with this key.
pub fn recording_name(key: &str) -> String {
    format!("ivsp-rec-{key}")
}

/// The stable identity of a chat-log destination bucket: the table key and part of the IVS
/// Chat name (bucket names may hold dots, which IVS Chat names may not).
pub fn chat_logging_key(bucket: &str) -> String {
    hex::encode(&Sha256::digest(bucket.as_bytes())[..8])
}

/// The IVS Chat name of the shared logging configuration with this key.
pub fn chat_logging_name(key: &str) -> String {
    format!("ivsp-chatlog-{key}")
}

/// The IVS name of a caller-supplied key pair.
pub fn caller_key_name(fingerprint: &str) -> String {
    format!("ivsp-key-{}", &fingerprint[..16.min(fingerprint.len())])
}

/// The IVS name of a managed key pair.
pub fn managed_key_name(fingerprint: &str) -> String {
    format!("ivsp-managed-{}", &fingerprint[..16.min(fingerprint.len())])
}

/// The SSM parameters of a channel: `<prefix>/<tenant>/<name>/ingest-endpoint` and
/// `/stream-key` as SecureString, `/playback-url` as String.
pub struct Parameter {
    pub name: String,
    pub value: String,
    pub secure: bool,
}

pub fn parameter_names(prefix: &str, tenant: &str, name: &str) -> [String; 3] {
    let base = format!("{}/{tenant}/{name}", prefix.trim_end_matches('/'));
    [
        format!("{base}/ingest-endpoint"),
        format!("{base}/stream-key"),
        format!("{base}/playback-url"),
    ]
}

/// The name of the channel's stream-key parameter.
pub fn stream_key_parameter(prefix: &str, tenant: &str, name: &str) -> String {
    let [_, key, _] = parameter_names(prefix, tenant, name);
    key
}

pub fn parameters(
    prefix: &str,
    tenant: &str,
    name: &str,
    ingest: &str,
    stream_key: &str,
    playback: &str,
) -> Vec<Parameter> {
    let [ingest_name, key_name, playback_name] = parameter_names(prefix, tenant, name);
    vec![
        Parameter {
            name: ingest_name,
            value: ingest.to_owned(),
            secure: true,
        },
        Parameter {
            name: key_name,
            value: stream_key.to_owned(),
            secure: true,
        },
        Parameter {
            name: playback_name,
            value: playback.to_owned(),
            secure: false,
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_follow_the_design_layout() {
        let ps = parameters("/live/", "acme", "yoga", "i.example", "sk_x", "https://p");
        let names: Vec<&str> = ps.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "/live/acme/yoga/ingest-endpoint",
                "/live/acme/yoga/stream-key",
                "/live/acme/yoga/playback-url"
            ]
        );
        assert_eq!(
            ps.iter().map(|p| p.secure).collect::<Vec<_>>(),
            [true, true, false]
        );
    }
}
