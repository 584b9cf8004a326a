//! Amazon IVS Chat (restJson1, SigV4 service `ivschat`): operation dispatch, the per-operation
//! rate table, and the helpers every chat handler shares (identifiers, scope checks, field-level
//! ValidationExceptions). Submodules: rooms, logging configurations, tokens, the moderation
//! calls, tags, the messaging WebSocket and its `/_sim/chat` hooks. Facts: docs/aws-facts.md §12-§14.

mod admin;
mod hub;
mod logging;
mod model;
mod moderation;
mod rooms;
mod tags;
mod tokens;
mod ws;

use std::collections::BTreeMap;

use axum::Router;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

pub use model::ChatData;

use crate::call::Call;
use crate::ids::{Scope, alnum};
use crate::model::State;
use crate::sim::Simulator;
use crate::wire::{ApiError, OpResult, Output, Protocol, parse_body};

/// Every IVS Chat operation with its published TPS (per account and region, not adjustable). The
/// action doubles as the bucket name, so chat buckets never share IVS's (`TagResource` is in both).
const RATES: &[(&str, f64)] = &[
    ("ivschat:CreateChatToken", 200.0),
    ("ivschat:DeleteMessage", 100.0),
    ("ivschat:DisconnectUser", 100.0),
    ("ivschat:SendEvent", 100.0),
    ("ivschat:CreateLoggingConfiguration", 3.0),
    ("ivschat:DeleteLoggingConfiguration", 3.0),
    ("ivschat:GetLoggingConfiguration", 3.0),
    ("ivschat:ListLoggingConfigurations", 3.0),
    ("ivschat:UpdateLoggingConfiguration", 3.0),
    ("ivschat:CreateRoom", 5.0),
    ("ivschat:DeleteRoom", 5.0),
    ("ivschat:GetRoom", 5.0),
    ("ivschat:ListRooms", 5.0),
    ("ivschat:UpdateRoom", 5.0),
    ("ivschat:ListTagsForResource", 10.0),
    ("ivschat:TagResource", 10.0),
    ("ivschat:UntagResource", 10.0),
];

/// `(bucket, TPS)` of the chat operation `op`; None when IVS Chat has no such operation.
pub fn rate_bucket(op: &str) -> Option<(&'static str, f64)> {
    RATES
        .iter()
        .find(|(action, _)| action.strip_prefix("ivschat:") == Some(op))
        .copied()
}

/// The messaging WebSocket (`GET /`) and the `/_sim/chat` hooks.
pub fn routes() -> Router<Simulator> {
    ws::routes().merge(admin::routes())
}

/// Runs one IVS Chat operation against `state`.
pub fn handle(state: &mut State, call: &Call) -> OpResult {
    match call.op.as_str() {
        "CreateRoom" => rooms::create(state, call),
        "GetRoom" => rooms::get(state, call),
        "UpdateRoom" => rooms::update(state, call),
        "DeleteRoom" => rooms::delete(state, call),
        "ListRooms" => rooms::list(state, call),
        "CreateChatToken" => tokens::create(state, call),
        "CreateLoggingConfiguration" => logging::create(state, call),
        "GetLoggingConfiguration" => logging::get(state, call),
        "UpdateLoggingConfiguration" => logging::update(state, call),
        "DeleteLoggingConfiguration" => logging::delete(state, call),
        "ListLoggingConfigurations" => logging::list(state, call),
        "DisconnectUser" => moderation::disconnect_user(state, call),
        "DeleteMessage" => moderation::delete_message(state, call),
        "SendEvent" => moderation::send_event(state, call),
        "TagResource" => tags::tag(state, call),
        "UntagResource" => tags::untag(state, call),
        "ListTagsForResource" => tags::list(state, call),
        _ => Err(ApiError::new(
            "ValidationException",
            "The requested operation is not supported",
        )
        .with("reason", json!("UNKNOWN_OPERATION"))),
    }
}

fn input<T: DeserializeOwned>(call: &Call) -> Result<T, ApiError> {
    parse_body(&call.body, Protocol::RestJson)
}

fn reply(value: Value) -> OpResult {
    Ok(Output::Json(value))
}

fn now_iso() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// `arn:aws:ivschat:<region>:<account>:<kind>/<12 alnum>` (the model's `RoomID` and
/// `LoggingConfigurationID`: exactly 12 of `[a-zA-Z0-9]`).
fn new_arn(scope: &Scope, kind: &str) -> String {
    format!(
        "arn:aws:ivschat:{}:{}:{kind}/{}",
        scope.region,
        scope.account,
        alnum(12)
    )
}

/// `(region, account, kind, id)` of an ARN matching the model's pattern
/// `arn:aws:ivschat:[a-z0-9-]+:[0-9]+:<kind>/[a-zA-Z0-9-]+` (1–128 characters).
fn parse_arn(arn: &str) -> Option<(&str, &str, &str, &str)> {
    let mut parts = arn.strip_prefix("arn:aws:ivschat:")?.splitn(3, ':');
    let (region, account, resource) = (parts.next()?, parts.next()?, parts.next()?);
    let (kind, id) = resource.split_once('/')?;
    let ok = !region.is_empty()
        && region
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !account.is_empty()
        && account.chars().all(|c| c.is_ascii_digit())
        && !kind.is_empty()
        && kind.chars().all(|c| c.is_ascii_lowercase() || c == '-')
        && !id.is_empty()
        && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && arn.len() <= 128;
    ok.then_some((region, account, kind, id))
}

/// True when `arn` lies in the caller's account and region (chat endpoints are regional).
fn in_scope(arn: &str, scope: &Scope) -> bool {
    parse_arn(arn)
        .is_some_and(|(region, account, _, _)| region == scope.region && account == scope.account)
}

/// ResourceNotFoundException with the model's `resourceId` / `resourceType` members.
fn not_found(arn: &str) -> ApiError {
    resource_error(ApiError::not_found(arn), arn)
}

/// `err` with the `resourceId` (the id part of `arn`) and `resourceType` members IVS Chat's
/// ResourceNotFound, Conflict, ServiceQuotaExceeded and Throttling shapes require.
fn resource_error(err: ApiError, arn: &str) -> ApiError {
    let (kind, id) = parse_arn(arn).map_or(("room", ""), |(_, _, kind, id)| (kind, id));
    let resource_type = kind.replace('-', "_").to_ascii_uppercase();
    err.with("resourceId", json!(id))
        .with("resourceType", json!(resource_type))
}

/// The resource at `arn` in the caller's region, or ResourceNotFoundException.
fn find<'a, T>(map: &'a BTreeMap<String, T>, arn: &str, scope: &Scope) -> Result<&'a T, ApiError> {
    map.get(arn)
        .filter(|_| in_scope(arn, scope))
        .ok_or_else(|| not_found(arn))
}

fn find_mut<'a, T>(
    map: &'a mut BTreeMap<String, T>,
    arn: &str,
    scope: &Scope,
) -> Result<&'a mut T, ApiError> {
    map.get_mut(arn)
        .filter(|_| in_scope(arn, scope))
        .ok_or_else(|| not_found(arn))
}

/// Bad fields of one request, reported together as one ValidationException whose `fieldList`
/// names each (`reason` FIELD_VALIDATION_FAILED), as IVS Chat's model shapes it.
#[derive(Default)]
struct Fields {
    bad: Vec<(String, String)>,
}

impl Fields {
    fn fail(&mut self, field: &str, message: impl Into<String>) {
        self.bad.push((field.to_owned(), message.into()));
    }

    /// `value` must lie within `min..=max`.
    fn range(&mut self, field: &str, value: Option<i64>, (min, max): (i64, i64)) {
        if let Some(value) = value.filter(|v| !(min..=max).contains(v)) {
            self.fail(
                field,
                format!("must be between {min} and {max}, got {value}"),
            );
        }
    }

    /// `value` (when given) must be `min..=max` characters.
    fn length(&mut self, field: &str, value: Option<&str>, (min, max): (usize, usize)) {
        let count = value.map(|v| v.chars().count());
        if let Some(count) = count.filter(|n| !(min..=max).contains(n)) {
            self.fail(
                field,
                format!("length must be between {min} and {max}, got {count}"),
            );
        }
    }

    /// A required member.
    fn required<T>(&mut self, field: &str, value: Option<T>) -> Option<T> {
        if value.is_none() {
            self.fail(field, "is required");
        }
        value
    }

    /// A resource identifier: an ARN of `kind` matching the model's pattern.
    fn arn(&mut self, field: &str, arn: Option<&str>, kind: &str) {
        match arn {
            Some(arn) if parse_arn(arn).is_some_and(|(_, _, k, _)| k == kind) => {}
            Some(arn) => self.fail(field, format!("'{arn}' is not a valid {kind} ARN")),
            None => {}
        }
    }

    /// The `identifier` of a Get/Update/Delete request: required, an ARN of `kind`.
    fn identifier(&mut self, identifier: Option<&str>, kind: &str) -> String {
        self.required("identifier", identifier);
        self.arn("identifier", identifier, kind);
        identifier.unwrap_or_default().to_owned()
    }

    /// A resource name: 0–128 of `[a-zA-Z0-9-_]`.
    fn name(&mut self, field: &str, name: Option<&str>) {
        let bad = name.is_some_and(|n| {
            n.len() > 128
                || !n
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        });
        if bad {
            self.fail(
                field,
                "must match [a-zA-Z0-9-_]* and be at most 128 characters",
            );
        }
    }

    /// Application attributes: the keys and values together at most 1 KB.
    fn attributes(&mut self, field: &str, attributes: Option<&BTreeMap<String, String>>) {
        let size: usize = attributes
            .into_iter()
            .flatten()
            .map(|(k, v)| k.len() + v.len())
            .sum();
        if size > 1024 {
            self.fail(
                field,
                format!("must be at most 1 KB in total, got {size} bytes"),
            );
        }
    }

    /// Tags under IVS's tag rules (shared with IVS, which IVS Chat's model defers to).
    fn tags(&mut self, field: &str, tags: Option<&crate::validate::Tags>) {
        if let Some(Err(err)) = tags.map(crate::validate::ivs_tags) {
            self.fail(field, err.message);
        }
    }

    /// Ok, or one ValidationException listing every bad field.
    fn check(self) -> Result<(), ApiError> {
        if self.bad.is_empty() {
            return Ok(());
        }
        let message = self
            .bad
            .iter()
            .map(|(name, message)| format!("{name} {message}"))
            .collect::<Vec<_>>()
            .join("; ");
        let list: Vec<Value> = self
            .bad
            .iter()
            .map(|(name, message)| json!({ "name": name, "message": message }))
            .collect();
        Err(ApiError::validation(message)
            .with("reason", json!("FIELD_VALIDATION_FAILED"))
            .with("fieldList", Value::Array(list)))
    }
}

#[derive(serde::Deserialize)]
struct IdentifierInput {
    identifier: Option<String>,
}

/// The checked `identifier` (an ARN of `kind`) of a request that carries nothing else.
fn identified(call: &Call, kind: &str) -> Result<String, ApiError> {
    let input: IdentifierInput = input(call)?;
    let mut fields = Fields::default();
    let arn = fields.identifier(input.identifier.as_deref(), kind);
    fields.check()?;
    Ok(arn)
}

/// Common pagination input of the chat list operations (`maxResults` 1–50, default 50).
#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Page {
    max_results: Option<i64>,
    next_token: Option<String>,
}

impl Page {
    /// One page of `items` (sorted by key), as `{ <key>: [...], nextToken? }`.
    fn output(self, key: &str, items: Vec<(String, Value)>) -> OpResult {
        let mut fields = Fields::default();
        fields.range("maxResults", self.max_results, (1, 50));
        fields.length("nextToken", self.next_token.as_deref(), (0, 1024));
        fields.check()?;
        let max = usize::try_from(self.max_results.unwrap_or(50)).unwrap_or(50);
        let (page, next) = crate::wire::paginate(items, self.next_token.as_deref(), max)
            .map_err(|_| ApiError::validation("nextToken is not valid"))?;
        let mut body = serde_json::Map::new();
        body.insert(key.into(), Value::Array(page));
        if let Some(token) = next {
            body.insert("nextToken".into(), Value::String(token));
        }
        reply(Value::Object(body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_have_the_model_shape() {
        let scope = Scope {
            region: "eu-west-1".into(),
            account: "123456789012".into(),
        };
        let arn = new_arn(&scope, "room");
        let (region, account, kind, id) = parse_arn(&arn).expect("parses");
        assert_eq!(
            (region, account, kind),
            ("eu-west-1", "123456789012", "room")
        );
        assert!(id.len() == 12 && id.chars().all(|c| c.is_ascii_alphanumeric()));
        assert!(in_scope(&arn, &scope));
        assert!(parse_arn("arn:aws:ivs:us-east-1:1:room/abc").is_none());
        assert!(parse_arn("arn:aws:ivschat:us-east-1:1:room/").is_none());
        assert_eq!(rate_bucket("CreateChatToken").map(|b| b.1), Some(200.0));
        assert!(rate_bucket("CreateChannel").is_none());
    }

    #[test]
    fn every_bad_field_is_listed() {
        let mut fields = Fields::default();
        fields.range("maximumMessageLength", Some(501), (1, 500));
        fields.length("userId", Some(""), (1, 128));
        fields.range("sessionDurationInMinutes", Some(60), (1, 180));
        let err = fields.check().unwrap_err();
        assert_eq!(err.code, "ValidationException");
        let names: Vec<&str> = err.members["fieldList"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|f| f["name"].as_str())
            .collect();
        assert_eq!(names, ["maximumMessageLength", "userId"]);
    }
}
