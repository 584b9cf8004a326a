//! What the OpenAPI document states beyond what the handlers' annotations can: the 429 and the
//! rate-limit header fields on every operation a budget counts, and the limits of nested values
//! that utoipa's field attributes cannot reach (the tag map's size, keys and values, origins, path
//! ids, a TTL beyond an i32), taken from the constants validation uses.
//!
//! Direct fields carry their limits as literal `#[schema(..)]` attributes (utoipa takes only
//! literals there); `tests/api/limits_contract.rs` checks those against the same constants.

use utoipa::Number;
use utoipa::openapi::header::{Header, HeaderBuilder};
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::schema::{AdditionalProperties, ArrayItems, KnownFormat, SchemaFormat};
use utoipa::openapi::{
    ContentBuilder, Object, ObjectBuilder, OpenApi, Ref, RefOr, ResponseBuilder, Schema, Type,
};

use super::error::PROBLEM_JSON;
use crate::domain::channel::MAX_CALLER_TAGS;
use crate::domain::chat_access::MAX_ATTRIBUTES_BYTES;
use crate::domain::rules::{MAX_TAG_KEY_CHARS, MAX_TAG_VALUE_CHARS};
use crate::tokens::claims::{MAX_ORIGIN_CHARS, MAX_TTL_SETTING_SECS, ORIGIN_PATTERN};

/// A UUID in its hyphenated form.
const UUID_CHARS: usize = 36;
/// The `Location` of a new channel: `/v1/channels/<uuid>`.
const LOCATION_CHARS: usize = "/v1/channels/".len() + UUID_CHARS;
const LOCATION_PATTERN: &str = "^/v1/channels/[0-9a-f-]{36}$";
/// A chat token's answer is never cached.
pub(super) const NO_STORE: &str = "no-store";
const NO_STORE_PATTERN: &str = "^no-store$";
/// The rate-limit fields as the draft spells them (`rate_limit` sends them; names are
/// case-insensitive on the wire).
const POLICY_FIELD: &str = "RateLimit-Policy";
const STATE_FIELD: &str = "RateLimit";

/// Everything this module adds; after `openapi::add_problem_responses`.
pub fn apply(doc: &mut OpenApi) {
    document_rate_limits(doc);
    state_nested_limits(doc);
}

/// Every operation with a security requirement spends from a budget: it can answer 429, and its
/// 2xx and 4xx answers carry `RateLimit-Policy` and `RateLimit` (absent only when the request was
/// not counted: no valid key, or an unlimited budget).
fn document_rate_limits(doc: &mut OpenApi) {
    for item in doc.paths.paths.values_mut() {
        for operation in operations(item) {
            if operation.security.as_ref().is_none_or(|s| s.is_empty()) {
                continue;
            }
            operation
                .responses
                .responses
                .entry("429".to_owned())
                .or_insert_with(|| {
                    ResponseBuilder::new()
                        .description(
                            "The tenant's (or the key's) request budget is spent; retry after \
                             `Retry-After` seconds",
                        )
                        .content(
                            PROBLEM_JSON,
                            ContentBuilder::new()
                                .schema(Some(Ref::from_schema_name("Problem")))
                                .build(),
                        )
                        .header("Retry-After", retry_after())
                        .build()
                        .into()
                });
            for (status, response) in operation.responses.responses.iter_mut() {
                let RefOr::T(response) = response else {
                    continue;
                };
                if !(status.starts_with('2') || status.starts_with('4')) {
                    continue;
                }
                // One `Retry-After` schema for every 429, also those a handler documents itself.
                if status == "429" {
                    response
                        .headers
                        .insert("Retry-After".to_owned(), retry_after());
                }
                response
                    .headers
                    .insert(POLICY_FIELD.to_owned(), policy_header());
                response
                    .headers
                    .insert(STATE_FIELD.to_owned(), state_header());
            }
        }
    }
}

fn policy_header() -> Header {
    HeaderBuilder::new()
        .schema(text(64, r#"^"(api|tokens)";q=[0-9]+;w=[0-9]+$"#))
        .description(Some(
            "The budget this request spent from (draft-ietf-httpapi-ratelimit-headers-09): `q` \
             requests at once, refilled completely in `w` seconds. `api` for every endpoint but \
             minting, `tokens` for minting. Per tenant (per key for keys bound to no tenant), per \
             service replica.",
        ))
        .build()
}

fn state_header() -> Header {
    HeaderBuilder::new()
        .schema(text(64, r#"^"(api|tokens)";r=[0-9]+;t=[0-9]+$"#))
        .description(Some(
            "What is left of the budget (draft-ietf-httpapi-ratelimit-headers-09): `r` more \
             requests fit now; the budget is full again in `t` seconds.",
        ))
        .build()
}

fn retry_after() -> Header {
    HeaderBuilder::new()
        .schema(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
                .minimum(Some(1))
                .maximum(Some(3600))
                .build(),
        )
        .description(Some("Seconds until the next request fits the budget"))
        .build()
}

fn text(max_length: usize, pattern: &str) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .max_length(Some(max_length))
        .pattern(Some(pattern))
        .build()
}

/// Limits inside maps and arrays, and of path ids.
fn state_nested_limits(doc: &mut OpenApi) {
    if let Some(Schema::Object(tags)) = property(doc, "ChannelRequest", "tags") {
        tags.max_properties = Some(MAX_CALLER_TAGS);
        if let Some(AdditionalProperties::RefOr(RefOr::T(Schema::Object(value)))) =
            tags.additional_properties.as_deref_mut()
        {
            value.max_length = Some(MAX_TAG_VALUE_CHARS);
        }
        if let Some(Schema::Object(key)) = tags.property_names.as_deref_mut() {
            key.min_length = Some(1);
            key.max_length = Some(MAX_TAG_KEY_CHARS);
        }
    }
    // Beyond an i32: utoipa's attribute cannot write it.
    if let Some(Schema::Object(ttl)) = property(doc, "TokenRequest", "ttl_seconds") {
        ttl.minimum = Some(Number::Int(1));
        ttl.maximum = Some(Number::Int(MAX_TTL_SETTING_SECS as isize));
    }
    if let Some(Schema::Array(origins)) = property(doc, "TokenRequest", "allowed_origins")
        && let ArrayItems::RefOrSchema(item) = &mut origins.items
        && let RefOr::T(Schema::Object(origin)) = item.as_mut()
    {
        origin.max_length = Some(MAX_ORIGIN_CHARS);
        origin.pattern = Some(ORIGIN_PATTERN.to_owned());
    }
    // Chat attributes: 1 KB of keys and values together, so no key, value or count beyond it.
    for schema in ["ChatTokenRequest", "ChatEvent"] {
        if let Some(Schema::Object(attributes)) = property(doc, schema, "attributes") {
            attributes.max_properties = Some(MAX_ATTRIBUTES_BYTES);
            if let Some(AdditionalProperties::RefOr(RefOr::T(Schema::Object(value)))) =
                attributes.additional_properties.as_deref_mut()
            {
                value.max_length = Some(MAX_ATTRIBUTES_BYTES);
            }
            if let Some(Schema::Object(key)) = attributes.property_names.as_deref_mut() {
                key.max_length = Some(MAX_ATTRIBUTES_BYTES);
            }
        }
    }
    // A set: each capability once (utoipa's attribute cannot say so).
    if let Some(Schema::Array(capabilities)) = property(doc, "ChatTokenRequest", "capabilities") {
        capabilities.unique_items = true;
    }
    if let Some(RefOr::T(created)) = doc
        .paths
        .paths
        .get_mut("/v1/channels")
        .and_then(|item| item.post.as_mut())
        .and_then(|create| create.responses.responses.get_mut("202"))
        && let Some(location) = created.headers.get_mut("location")
    {
        location.schema = text(LOCATION_CHARS, LOCATION_PATTERN).into();
    }
    if let Some(RefOr::T(minted)) = doc
        .paths
        .paths
        .get_mut("/v1/channels/{id}/chat-tokens")
        .and_then(|item| item.post.as_mut())
        .and_then(|mint| mint.responses.responses.get_mut("200"))
        && let Some(cache) = minted.headers.get_mut("Cache-Control")
    {
        cache.schema = text(NO_STORE.len(), NO_STORE_PATTERN).into();
    }
    for item in doc.paths.paths.values_mut() {
        for operation in operations(item) {
            for parameter in operation.parameters.iter_mut().flatten() {
                if parameter.parameter_in != ParameterIn::Path {
                    continue;
                }
                if let Some(RefOr::T(Schema::Object(schema))) = parameter.schema.as_mut()
                    && schema.format == Some(SchemaFormat::KnownFormat(KnownFormat::Uuid))
                {
                    schema.max_length = Some(UUID_CHARS);
                }
            }
        }
    }
}

/// A property of a component schema, if both exist.
fn property<'a>(doc: &'a mut OpenApi, schema: &str, name: &str) -> Option<&'a mut Schema> {
    let components = doc.components.as_mut()?;
    let RefOr::T(Schema::Object(object)) = components.schemas.get_mut(schema)? else {
        return None;
    };
    match object.properties.get_mut(name)? {
        RefOr::T(schema) => Some(schema),
        RefOr::Ref(_) => None,
    }
}

fn operations(item: &mut utoipa::openapi::PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        item.get.as_mut(),
        item.post.as_mut(),
        item.put.as_mut(),
        item.patch.as_mut(),
        item.delete.as_mut(),
    ]
    .into_iter()
    .flatten()
}
