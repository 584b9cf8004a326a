//! The OpenAPI document's frame: info, the bearer scheme, and the problem responses that every
//! operation can give, added in one place instead of repeated on each handler.

use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi as OpenApiDoc, Ref, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use crate::api::error::PROBLEM_JSON;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "ivs-provisioner",
        description = "Declare Amazon IVS channels per class, event or tenant; the service provisions them, \
                       publishes their endpoints to SSM Parameter Store and reports their status.\n\n\
                       Errors are RFC 9457 `application/problem+json` documents.\n\n\
                       Every authenticated request spends from its tenant's request budget (a key bound to no tenant \
                       has its own; minting tokens has a second, larger one). Answers carry `RateLimit-Policy` and \
                       `RateLimit` (draft-ietf-httpapi-ratelimit-headers-09); beyond the budget the answer is 429 \
                       with `Retry-After`.",
    ),
    modifiers(&BearerScheme),
    components(schemas(crate::api::error::Problem, crate::api::error::FieldError)),
    tags(
        (name = "channels", description = "Declare, read, change and delete channels"),
        (name = "broadcasts", description = "Each channel's broadcasts (stream sessions) and recordings, from IVS's events"),
        (name = "tokens", description = "Mint playback tokens for private channels; revoke viewers"),
        (name = "chat", description = "A channel's IVS Chat room: chat tokens for members; moderation \
                                       (disconnect a user, delete a message, send an event), audited"),
        (name = "stream keys", description = "Hand stream keys to broadcasters; replace them"),
        (name = "playback keys", description = "The managed signing key: list and rotate (admin)"),
        (name = "operations", description = "Operator views: drift between the service and IVS"),
        (name = "tenants", description = "Fair share: each tenant's channel limit and request budgets"),
        (name = "webhooks", description = "Signed webhooks to the booking system (Standard Webhooks): endpoints, \
                                           delivery log, retry and replay"),
        (name = "health", description = "Probes"),
    )
)]
pub struct ApiDoc;

struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, doc: &mut OpenApiDoc) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An API key from `ivs-provisioner api-key create`"))
                    .build(),
            ),
        );
    }
}

/// Adds the problem responses an operation can give, judged from its shape: authenticated
/// operations can answer 401/403, those with a path id 404, those with a body 400/413/415/422,
/// and all of them 500/503.
pub fn add_problem_responses(doc: &mut OpenApiDoc) {
    for (path, item) in doc.paths.paths.iter_mut() {
        let has_id = path.contains("{id}");
        for operation in operations(item) {
            let secured = operation.security.as_ref().is_some_and(|s| !s.is_empty());
            let has_body = operation.request_body.is_some();
            let mut statuses: Vec<(&str, &str)> = Vec::new();
            if has_body {
                statuses.push((
                    "400",
                    "The body is not valid JSON, or a field has the wrong type or is unknown",
                ));
                statuses.push(("413", "The body is too large"));
                statuses.push(("415", "The body is not JSON"));
            }
            if secured {
                statuses.push(("401", "No API key, or an unknown or revoked one"));
                statuses.push(("403", "The API key lacks the scope this needs"));
            }
            if has_id {
                statuses.push(("404", "No such channel, or it belongs to another tenant"));
            }
            if has_body
                || operation
                    .parameters
                    .as_ref()
                    .is_some_and(|p| p.iter().any(|p| p.name == "limit"))
            {
                statuses.push(("422", "One or more fields are invalid; `errors` lists each"));
            }
            if operation
                .parameters
                .as_ref()
                .is_some_and(|p| p.iter().any(|p| p.parameter_in == ParameterIn::Query))
            {
                statuses.push(("400", "A query parameter is invalid"));
            }
            statuses.push(("500", "Unexpected error (details are logged, not returned)"));
            statuses.push((
                "503",
                "The database is unavailable or the request took too long",
            ));
            for (status, description) in statuses {
                operation
                    .responses
                    .responses
                    .entry(status.to_owned())
                    .or_insert_with(|| {
                        ResponseBuilder::new()
                            .description(description)
                            .content(
                                PROBLEM_JSON,
                                ContentBuilder::new()
                                    .schema(Some(Ref::from_schema_name("Problem")))
                                    .build(),
                            )
                            .build()
                            .into()
                    });
            }
        }
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
