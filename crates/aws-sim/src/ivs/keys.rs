//! Playback key pairs (P-384 public keys, max 3, duplicates refused) and stream keys (one per
//! channel).

use p384::pkcs8::{DecodePublicKey, EncodePublicKey};
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::{
    ArnInput, Page, batch_arns, batch_not_found, find, input, json, list_output, required_arn,
};
use crate::call::Call;
use crate::model::{PlaybackKeyPair, State, StreamKey, pick};
use crate::validate::{self, Tags};
use crate::wire::{ApiError, OpResult, Output};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ImportInput {
    public_key_material: Option<String>,
    name: Option<String>,
    tags: Option<Tags>,
}

/// The fingerprint is the lowercase hex SHA-256 of the key's SPKI DER: deterministic, so the same
/// key imported twice is recognised however its PEM is wrapped.
pub fn fingerprint(pem: &str) -> Result<String, ApiError> {
    let invalid = |_| {
        ApiError::validation("publicKeyMaterial must be a PEM-encoded P-384 (secp384r1) public key")
    };
    let key = p384::PublicKey::from_public_key_pem(pem.trim()).map_err(invalid)?;
    let der = key
        .to_public_key_der()
        .map_err(|_| ApiError::validation("publicKeyMaterial could not be encoded"))?;
    Ok(hex::encode(Sha256::digest(der.as_bytes())))
}

pub fn import_key_pair(state: &mut State, call: &Call) -> OpResult {
    let input: ImportInput = input(call)?;
    let pem = input
        .public_key_material
        .ok_or_else(|| ApiError::validation("publicKeyMaterial is required"))?;
    let name = input.name.unwrap_or_default();
    validate::ivs_name("name", &name)?;
    let tags = input.tags.unwrap_or_default();
    validate::ivs_tags(&tags)?;
    let fingerprint = fingerprint(&pem)?;
    let scope = &call.scope;
    let existing: Vec<&PlaybackKeyPair> = state
        .data
        .playback_key_pairs
        .iter()
        .filter(|(arn, _)| super::in_scope(arn, scope))
        .map(|(_, k)| k)
        .collect();
    if existing.iter().any(|k| k.fingerprint == fingerprint) {
        return Err(ApiError::conflict(
            "A playback key pair with this public key already exists",
        ));
    }
    let quota = state.config.quotas.playback_key_pairs;
    if existing.len() >= quota {
        return Err(ApiError::quota(format!(
            "Limit of {quota} playback key pairs per region reached"
        )));
    }
    let pair = PlaybackKeyPair {
        arn: scope.ivs_arn("playback-key"),
        name,
        fingerprint,
        tags,
        public_key_material: pem,
    };
    let body = json!({ "keyPair": pick(&pair, PlaybackKeyPair::WIRE) });
    state.data.playback_key_pairs.insert(pair.arn.clone(), pair);
    json(body)
}

pub fn get_key_pair(state: &mut State, call: &Call) -> OpResult {
    let arn = required_arn("arn", input::<ArnInput>(call)?.arn, "playback-key")?;
    let pair = find(&state.data.playback_key_pairs, &arn, &call.scope)?;
    json(json!({ "keyPair": pick(pair, PlaybackKeyPair::WIRE) }))
}

pub fn list_key_pairs(state: &mut State, call: &Call) -> OpResult {
    let page: Page = input(call)?;
    let items = page.of(
        &state.data.playback_key_pairs,
        &call.scope,
        (100, 100),
        |_| true,
        PlaybackKeyPair::SUMMARY,
    )?;
    list_output("keyPairs", items)
}

pub fn delete_key_pair(state: &mut State, call: &Call) -> OpResult {
    let arn = required_arn("arn", input::<ArnInput>(call)?.arn, "playback-key")?;
    find(&state.data.playback_key_pairs, &arn, &call.scope)?;
    state.data.playback_key_pairs.remove(&arn);
    json(json!({}))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateKeyInput {
    channel_arn: Option<String>,
    tags: Option<Tags>,
}

/// One stream key per channel: a second is ServiceQuotaExceededException (rotate = delete, create).
pub fn create_stream_key(state: &mut State, call: &Call) -> OpResult {
    let input: CreateKeyInput = input(call)?;
    let channel_arn = required_arn("channelArn", input.channel_arn, "channel")?;
    let tags = input.tags.unwrap_or_default();
    validate::ivs_tags(&tags)?;
    find(&state.data.channels, &channel_arn, &call.scope)?;
    let quota = state.config.quotas.stream_keys_per_channel;
    if state
        .data
        .stream_keys
        .values()
        .filter(|k| k.channel_arn == channel_arn)
        .count()
        >= quota
    {
        return Err(ApiError::quota(format!(
            "Limit of {quota} stream key(s) per channel reached"
        )));
    }
    let key = StreamKey {
        arn: call.scope.ivs_arn("stream-key"),
        value: call.scope.stream_key_value(),
        channel_arn,
        tags,
    };
    let body = json!({ "streamKey": key });
    state.data.stream_keys.insert(key.arn.clone(), key);
    json(body)
}

pub fn get_stream_key(state: &mut State, call: &Call) -> OpResult {
    let arn = required_arn("arn", input::<ArnInput>(call)?.arn, "stream-key")?;
    let key = find(&state.data.stream_keys, &arn, &call.scope)?;
    json(json!({ "streamKey": key }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListKeysInput {
    channel_arn: Option<String>,
    #[serde(flatten)]
    page: Page,
}

pub fn list_stream_keys(state: &mut State, call: &Call) -> OpResult {
    let ListKeysInput { channel_arn, page } = input(call)?;
    let channel_arn = required_arn("channelArn", channel_arn, "channel")?;
    find(&state.data.channels, &channel_arn, &call.scope)?;
    let keep = |k: &StreamKey| k.channel_arn == channel_arn;
    let items = page.of(
        &state.data.stream_keys,
        &call.scope,
        (1, 50),
        keep,
        StreamKey::SUMMARY,
    )?;
    list_output("streamKeys", items)
}

pub fn delete_stream_key(state: &mut State, call: &Call) -> OpResult {
    let arn = required_arn("arn", input::<ArnInput>(call)?.arn, "stream-key")?;
    find(&state.data.stream_keys, &arn, &call.scope)?;
    state.data.stream_keys.remove(&arn);
    Ok(Output::NoContent)
}

#[derive(Deserialize)]
struct BatchInput {
    arns: Option<Vec<String>>,
}

pub fn batch_get_stream_keys(state: &mut State, call: &Call) -> OpResult {
    let arns = batch_arns(input::<BatchInput>(call)?.arns, 50, "stream-key")?;
    let (mut keys, mut errors) = (Vec::new(), Vec::new());
    for arn in &arns {
        match find(&state.data.stream_keys, arn, &call.scope) {
            Ok(key) => keys.push(json!(key)),
            Err(_) => errors.push(batch_not_found(arn)),
        }
    }
    json(json!({ "streamKeys": keys, "errors": errors }))
}
