//! Parameter operations: Put (versions, Overwrite, tiers, tags), Get/GetParameters/ByPath
//! (WithDecryption), Delete/DeleteParameters.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::names::{self, Selector};
use super::tags::{TagList, to_map};
use super::{input, json, names_list, not_found};
use crate::call::Call;
use crate::ids::Scope;
use crate::model::{Parameter, ParameterVersion, State};
use crate::validate;
use crate::wire::{ApiError, BadToken, OpResult, paginate};

const TAGS_WITH_OVERWRITE: &str = "Invalid request: tags and overwrite can't be used together. To create a parameter with tags, please remove overwrite flag. To update tags for an existing parameter, please use AddTagsToResource or RemoveTagsFromResource.";
const DEFAULT_KEY: &str = "alias/aws/ssm";

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PutInput {
    name: Option<String>,
    value: Option<String>,
    #[serde(rename = "Type")]
    param_type: Option<String>,
    overwrite: Option<bool>,
    tags: Option<TagList>,
    key_id: Option<String>,
    tier: Option<String>,
    data_type: Option<String>,
}

pub fn put(state: &mut State, call: &Call) -> OpResult {
    let input: PutInput = input(call)?;
    let scope = &call.scope;
    let name = input
        .name
        .clone()
        .ok_or_else(|| ApiError::validation("Name is required"))?;
    names::check(scope, &name)?;
    let value = input
        .value
        .clone()
        .ok_or_else(|| ApiError::validation("Value is required"))?;
    let overwrite = input.overwrite.unwrap_or(false);
    if overwrite && input.tags.as_ref().is_some_and(|t| !t.is_empty()) {
        return Err(ApiError::validation(TAGS_WITH_OVERWRITE));
    }
    let tags = to_map(input.tags.clone().unwrap_or_default());
    validate::check_tags(&tags, 50)?;
    let arn = scope.ssm_parameter_arn(&name);
    let existing = state.data.parameters.get(&arn);
    if existing.is_some() && !overwrite {
        return Err(ApiError::new(
            "ParameterAlreadyExists",
            "The parameter already exists. To overwrite this value, set the overwrite option in the request to true.",
        ));
    }
    let param_type = resolve_type(input.param_type.as_deref(), existing)?;
    let tier = resolve_tier(input.tier.as_deref(), existing, &value)?;
    if existing.is_none() {
        check_quota(state, scope)?;
    }
    let key_id = (param_type == "SecureString")
        .then(|| input.key_id.clone().unwrap_or_else(|| DEFAULT_KEY.into()));
    let data_type = input.data_type.clone().unwrap_or_else(|| "text".into());
    let param = state
        .data
        .parameters
        .entry(arn.clone())
        .or_insert_with(|| Parameter {
            name,
            arn,
            tier: tier.clone(),
            data_type: data_type.clone(),
            tags,
            versions: Vec::new(),
        });
    let version = param.current().map_or(1, |v| v.version + 1);
    param.tier = tier;
    param.data_type = data_type;
    param.versions.push(ParameterVersion {
        version,
        param_type,
        value,
        key_id,
        last_modified_date: now_epoch(),
    });
    if param.versions.len() > Parameter::MAX_VERSIONS {
        param.versions.remove(0);
    }
    json(json!({ "Version": version, "Tier": param.tier }))
}

/// Type is required on create and can't change on overwrite (HierarchyTypeMismatchException).
fn resolve_type(requested: Option<&str>, existing: Option<&Parameter>) -> Result<String, ApiError> {
    let current = existing
        .and_then(Parameter::current)
        .map(|v| v.param_type.clone());
    match (requested, current) {
        (None, Some(current)) => Ok(current),
        (None, None) => Err(ApiError::validation(
            "A parameter type is required when you create a parameter.",
        )),
        (Some(kind), current) => {
            if !["String", "StringList", "SecureString"].contains(&kind) {
                return Err(ApiError::new(
                    "UnsupportedParameterType",
                    format!("Parameter type {kind} is not supported"),
                ));
            }
            match current {
                Some(current) if current != kind => Err(ApiError::new(
                    "HierarchyTypeMismatchException",
                    "The parameter type can't be changed. Delete the parameter and create it again with the new type.",
                )),
                _ => Ok(kind.to_owned()),
            }
        }
    }
}

/// Standard holds 4 KB, Advanced 8 KB; Intelligent-Tiering picks Advanced only when needed, and a
/// parameter never moves back from Advanced to Standard.
fn resolve_tier(
    requested: Option<&str>,
    existing: Option<&Parameter>,
    value: &str,
) -> Result<String, ApiError> {
    let was_advanced = existing.is_some_and(|p| p.tier == "Advanced");
    let large = value.len() > 4096;
    let tier = match requested.unwrap_or("Standard") {
        "Advanced" => "Advanced",
        "Intelligent-Tiering" if large || was_advanced => "Advanced",
        "Intelligent-Tiering" => "Standard",
        "Standard" if was_advanced => {
            return Err(ApiError::validation(
                "This parameter uses the advanced-parameter tier. You can't downgrade a parameter from the advanced-parameter tier to the standard-parameter tier.",
            ));
        }
        "Standard" => "Standard",
        other => return Err(ApiError::validation(format!("Tier {other} is not valid"))),
    };
    let limit = if tier == "Advanced" { 8192 } else { 4096 };
    if value.len() > limit {
        return Err(ApiError::validation(format!(
            "Parameter value exceeds the {limit}-character limit of the {tier} tier"
        )));
    }
    Ok(tier.to_owned())
}

fn check_quota(state: &State, scope: &Scope) -> Result<(), ApiError> {
    let prefix = format!("arn:aws:ssm:{}:{}:", scope.region, scope.account);
    let count = state
        .data
        .parameters
        .keys()
        .filter(|arn| arn.starts_with(&prefix))
        .count();
    if count >= state.config.quotas.parameters {
        return Err(ApiError::new(
            "ParameterLimitExceeded",
            "You have exceeded the number of parameters for this AWS account.",
        ));
    }
    Ok(())
}

fn now_epoch() -> f64 {
    chrono::Utc::now().timestamp_millis() as f64 / 1000.0
}

/// A SecureString read without decryption: an opaque, ciphertext-looking blob that never
/// contains the plaintext (stable for one version, so repeated reads agree).
fn ciphertext(param: &Parameter, version: &ParameterVersion) -> String {
    let mut hasher = Sha256::new();
    for part in [
        param.arn.as_str(),
        version.key_id.as_deref().unwrap_or_default(),
        &version.version.to_string(),
        &version.value,
    ] {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    let digest = hasher.finalize();
    let mut blob = vec![1, 2, 2, 0, 120];
    blob.extend_from_slice(&digest);
    blob.extend_from_slice(&Sha256::digest(digest));
    STANDARD.encode(blob)
}

/// The wire `Parameter` shape.
fn render(
    param: &Parameter,
    version: &ParameterVersion,
    decrypt: bool,
    selector: Option<&str>,
) -> Value {
    let secret = version.param_type == "SecureString" && !decrypt;
    let value = if secret {
        ciphertext(param, version)
    } else {
        version.value.clone()
    };
    let mut out = json!({
        "Name": param.name, "Type": version.param_type, "Value": value, "Version": version.version,
        "LastModifiedDate": version.last_modified_date, "ARN": param.arn, "DataType": param.data_type,
    });
    if let Some(selector) = selector {
        out["Selector"] = json!(selector);
    }
    out
}

/// Looks up `selector` (name, ARN or `name:version`) and renders it.
fn read(state: &State, scope: &Scope, selector: &str, decrypt: bool) -> Result<Value, ApiError> {
    let selector = Selector::parse(selector)?;
    let param = state
        .data
        .parameters
        .get(&scope.ssm_parameter_arn(&selector.name))
        .ok_or_else(|| not_found(&selector.name))?;
    let version = match selector.version {
        None => param.current(),
        Some(wanted) => param.versions.iter().find(|v| v.version == wanted),
    };
    let version = version.ok_or_else(|| {
        ApiError::new(
            "ParameterVersionNotFound",
            format!(
                "Systems Manager could not find version {} of {}.",
                selector.version.unwrap_or(0),
                selector.name
            ),
        )
    })?;
    Ok(render(param, version, decrypt, selector.suffix.as_deref()))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GetInput {
    name: Option<String>,
    names: Option<Vec<String>>,
    with_decryption: Option<bool>,
}

pub fn get(state: &mut State, call: &Call) -> OpResult {
    let input: GetInput = input(call)?;
    let name = input
        .name
        .ok_or_else(|| ApiError::validation("Name is required"))?;
    let param = read(
        state,
        &call.scope,
        &name,
        input.with_decryption.unwrap_or(false),
    )?;
    json(json!({ "Parameter": param }))
}

/// Unknown names go to `InvalidParameters`; other errors fail the call.
pub fn get_many(state: &mut State, call: &Call) -> OpResult {
    let input: GetInput = input(call)?;
    let decrypt = input.with_decryption.unwrap_or(false);
    let (mut found, mut invalid) = (Vec::new(), Vec::new());
    for name in names_list(input.names)? {
        match read(state, &call.scope, &name, decrypt) {
            Ok(param) => found.push(param),
            Err(err)
                if err.code == "ParameterNotFound" || err.code == "ParameterVersionNotFound" =>
            {
                invalid.push(name)
            }
            Err(err) => return Err(err),
        }
    }
    json(json!({ "Parameters": found, "InvalidParameters": invalid }))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ByPathInput {
    path: Option<String>,
    recursive: Option<bool>,
    with_decryption: Option<bool>,
    max_results: Option<i64>,
    next_token: Option<String>,
}

/// Non-recursive returns only direct children of `Path`; pages hold at most 10 parameters.
pub fn get_by_path(state: &mut State, call: &Call) -> OpResult {
    let input: ByPathInput = input(call)?;
    let path = input
        .path
        .ok_or_else(|| ApiError::validation("Path is required"))?;
    if !path.starts_with('/') {
        return Err(ApiError::validation(format!(
            "The parameter doesn't meet the parameter name requirements. The parameter name must begin with a forward slash \"/\". (got '{path}')"
        )));
    }
    let max = input.max_results.unwrap_or(10);
    validate::in_range("MaxResults", max, 1, 10)?;
    let prefix = format!("{}/", path.trim_end_matches('/'));
    let (recursive, decrypt) = (
        input.recursive.unwrap_or(false),
        input.with_decryption.unwrap_or(false),
    );
    let arn_prefix = call.scope.ssm_parameter_arn("/");
    let items = state
        .data
        .parameters
        .iter()
        .filter(|(arn, p)| arn.starts_with(&arn_prefix) && p.name.starts_with(&prefix))
        .filter(|(_, p)| recursive || !p.name[prefix.len()..].contains('/'))
        .filter_map(|(_, p)| Some((p.name.clone(), render(p, p.current()?, decrypt, None))))
        .collect();
    let (page, next) = paginate(
        items,
        input.next_token.as_deref(),
        usize::try_from(max).unwrap_or(10),
    )
    .map_err(|BadToken| ApiError::new("InvalidNextToken", "The specified token isn't valid."))?;
    let mut body = json!({ "Parameters": page });
    if let Some(token) = next {
        body["NextToken"] = json!(token);
    }
    json(body)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DeleteInput {
    name: Option<String>,
    names: Option<Vec<String>>,
}

/// Removes the parameter in the caller's scope; false when it does not exist.
fn remove(state: &mut State, scope: &Scope, name: &str) -> bool {
    state
        .data
        .parameters
        .remove(&scope.ssm_parameter_arn(name))
        .is_some()
}

pub fn delete(state: &mut State, call: &Call) -> OpResult {
    let name = input::<DeleteInput>(call)?
        .name
        .ok_or_else(|| ApiError::validation("Name is required"))?;
    if !remove(state, &call.scope, &name) {
        return Err(not_found(&name));
    }
    json(json!({}))
}

pub fn delete_many(state: &mut State, call: &Call) -> OpResult {
    let names = names_list(input::<DeleteInput>(call)?.names)?;
    let (deleted, invalid): (Vec<String>, Vec<String>) = names
        .into_iter()
        .partition(|name| remove(state, &call.scope, name));
    json(json!({ "DeletedParameters": deleted, "InvalidParameters": invalid }))
}
