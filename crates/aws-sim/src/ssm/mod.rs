//! AWS Systems Manager Parameter Store (awsJson1.1, `X-Amz-Target: AmazonSSM.<Op>`): dispatch and
//! the helpers the SSM handlers share.

mod names;
mod params;
mod tags;

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::call::Call;
use crate::model::State;
use crate::wire::{ApiError, OpResult, Output, Protocol, parse_body};

/// Runs one SSM operation against `state`.
pub fn handle(state: &mut State, call: &Call) -> OpResult {
    match call.op.as_str() {
        "PutParameter" => params::put(state, call),
        "GetParameter" => params::get(state, call),
        "GetParameters" => params::get_many(state, call),
        "GetParametersByPath" => params::get_by_path(state, call),
        "DeleteParameter" => params::delete(state, call),
        "DeleteParameters" => params::delete_many(state, call),
        "AddTagsToResource" => tags::add(state, call),
        "RemoveTagsFromResource" => tags::remove(state, call),
        "ListTagsForResource" => tags::list(state, call),
        _ => Err(ApiError::new(
            "UnknownOperationException",
            format!("Operation {} is not supported", call.op),
        )),
    }
}

fn input<T: DeserializeOwned>(call: &Call) -> Result<T, ApiError> {
    parse_body(&call.body, Protocol::AwsJson11)
}

fn json(value: Value) -> OpResult {
    Ok(Output::Json(value))
}

fn not_found(name: &str) -> ApiError {
    ApiError::new("ParameterNotFound", format!("Parameter {name} not found."))
}

/// A names list of 1–10 entries (GetParameters, DeleteParameters).
fn names_list(names: Option<Vec<String>>) -> Result<Vec<String>, ApiError> {
    let names = names.unwrap_or_default();
    if names.is_empty() || names.len() > 10 {
        return Err(ApiError::validation(format!(
            "1 validation error detected: Value at 'names' failed to satisfy constraint: Member must have length between 1 and 10 (got {})",
            names.len()
        )));
    }
    Ok(names)
}
