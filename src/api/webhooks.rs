//! `/v1/webhook-endpoints` and `/v1/webhook-deliveries` (scope `webhooks:manage`): register the
//! endpoints a booking system wants to hear from, rotate their signing secrets, send a test
//! event, read the delivery log, retry a delivery and replay events since a time.
//!
//! A tenant-bound key sees and touches only its tenant's endpoints (others are 404); only an
//! admin key creates an endpoint for every tenant. Secrets are shown once, in the answer that
//! created them.

use std::collections::BTreeSet;
use std::time::Duration;

use axum::Json;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::AppState;
use super::auth::{Caller, Scope};
use super::channels::action_problem;
use super::error::{ApiError, ApiResult, FieldError};
use super::extract::{ApiJson, ApiQuery, from_value};
use super::pagination::{self, PageQuery, page_limit};
use crate::actions;
use crate::db::{self, webhooks::DeliveryRow, webhooks::EndpointRow};
use crate::domain::rules;
use crate::domain::webhook::{self, WebhookEventType};

/// How long a rotated-out secret keeps signing beside the new one.
pub const SECRET_OVERLAP: Duration = Duration::from_secs(24 * 3600);
pub const MAX_DESCRIPTION_CHARS: usize = 256;
pub const MAX_EVENT_TYPES: usize = 32;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_endpoint, list_endpoints))
        .routes(routes!(get_endpoint, patch_endpoint, delete_endpoint))
        .routes(routes!(rotate_secret))
        .routes(routes!(send_test))
        .routes(routes!(list_deliveries))
        .routes(routes!(list_endpoint_events))
        .routes(routes!(replay))
        .routes(routes!(retry_delivery))
        .routes(routes!(list_event_types))
}

/// A new endpoint. Unknown fields are refused.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookEndpointRequest {
    /// Where to POST events: https (http only with `WEBHOOK_ALLOW_INSECURE=true`), no
    /// credentials, at most 2,048 characters, a public address (checked again after DNS at
    /// every send).
    #[schema(
        example = "https://booking.example.com/hooks/ivs",
        max_length = 2048,
        pattern = "^[hH][tT][tT][pP][sS]?://"
    )]
    pub url: Option<String>,
    #[schema(
        example = "booking system, production",
        max_length = 256,
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*$"
    )]
    pub description: Option<String>,
    /// The event types to send; empty or absent: every type.
    #[schema(value_type = Option<Vec<WebhookEventType>>, max_items = 32)]
    pub event_types: Option<Vec<String>>,
    /// Only this tenant's events. A tenant-bound key: its own tenant (the default). Absent with
    /// an admin key: every tenant's events.
    #[schema(example = "acme", max_length = 64, pattern = "^[a-zA-Z0-9_-]{1,64}$")]
    pub tenant: Option<String>,
    /// Registered but sent nothing (events are kept; replay them later).
    pub disabled: Option<bool>,
}

/// An endpoint, without its secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookEndpoint {
    pub id: Uuid,
    /// Null: every tenant's events.
    pub tenant: Option<String>,
    pub url: String,
    pub description: String,
    /// Empty: every type.
    pub event_types: Vec<String>,
    pub disabled: bool,
    /// Why the service disabled it (410 Gone, or failing every delivery for days).
    pub disabled_reason: Option<String>,
    pub disabled_at: Option<DateTime<Utc>>,
    /// Until then, the previous secret signs too (after a rotation).
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub last_success_at: Option<DateTime<Utc>>,
    /// The first failure since the last success; null while deliveries succeed.
    pub failing_since: Option<DateTime<Utc>>,
}

impl From<EndpointRow> for WebhookEndpoint {
    fn from(r: EndpointRow) -> Self {
        WebhookEndpoint {
            id: r.id,
            tenant: r.tenant,
            url: r.url,
            description: r.description,
            event_types: r.event_types,
            disabled: r.disabled,
            disabled_reason: r.disabled_reason,
            disabled_at: r.disabled_at,
            previous_secret_expires_at: r.previous_secret_expires_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
            last_success_at: r.last_success_at,
            failing_since: r.failing_since,
        }
    }
}

/// A created endpoint with its signing secret: shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedWebhookEndpoint {
    #[serde(flatten)]
    pub endpoint: WebhookEndpoint,
    /// `whsec_<base64>`: verify the `webhook-signature` header with it (Standard Webhooks).
    #[schema(example = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")]
    pub secret: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RotatedSecret {
    /// The new secret, shown this once.
    pub secret: String,
    /// Until then deliveries carry a signature with the previous secret too.
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookEndpointPage {
    pub items: Vec<WebhookEndpoint>,
    pub next_cursor: Option<String>,
}

/// One attempt of a delivery.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookAttempt {
    pub at: DateTime<Utc>,
    /// Null when no answer came (timeout, refused address, connection error).
    pub http_status: Option<i32>,
    pub duration_ms: i32,
    /// The first 1 KB of the answer.
    pub response_body: Option<String>,
    pub error: Option<String>,
}

/// One event to one endpoint, and every attempt to send it.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookDelivery {
    pub id: Uuid,
    pub endpoint_id: Uuid,
    /// The `webhook-id` header: the same on every attempt and replay.
    pub event_id: String,
    pub event_type: String,
    /// `pending` (waiting for its next attempt), `delivered` or `failed` (schedule spent).
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    /// Oldest first.
    pub attempt_log: Vec<WebhookAttempt>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookDeliveryPage {
    /// Newest first.
    pub items: Vec<WebhookDelivery>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    Pending,
    Delivered,
    Failed,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DeliveriesQuery {
    /// Only deliveries in this state.
    #[param(inline)]
    status: Option<DeliveryStatus>,
    /// Page size, 1-100, default 20.
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    #[param(max_length = 64, pattern = "^[A-Za-z0-9_-]*$")]
    cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EndpointsQuery {
    /// Page size, 1-100, default 20.
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    #[param(max_length = 64, pattern = "^[A-Za-z0-9_-]*$")]
    cursor: Option<String>,
}

/// An entry in an endpoint's audit trail: `created`, `updated` (the patch), `secret_rotated`,
/// `replayed`, `disabled` (by the service: 410 Gone, or failing for days; actor
/// `webhook-delivery`).
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookEndpointEvent {
    pub id: i64,
    pub at: DateTime<Utc>,
    /// The API key's name, or the service component.
    pub actor: String,
    pub kind: String,
    pub details: Value,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookEndpointEventPage {
    pub items: Vec<WebhookEndpointEvent>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayRequest {
    /// Send again every event since this time (RFC 3339) that the endpoint would receive.
    #[schema(max_length = 64)]
    pub since: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReplayResult {
    /// Deliveries made due now (each under its event's original `webhook-id`).
    pub deliveries: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TestEvent {
    /// The `webhook-id` of the test event.
    pub event_id: String,
}

/// Every event type.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookEventTypeList {
    pub items: Vec<WebhookEventTypeInfo>,
}

/// An event type, whether the service emits it yet, and an example payload.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookEventTypeInfo {
    #[serde(rename = "type")]
    pub kind: WebhookEventType,
    /// False for the broadcast-lifecycle types: valid in subscriptions, not sent yet.
    pub emitted: bool,
    /// The body of such a webhook: `{type, timestamp, data}`.
    pub example: Value,
}

/// The `{id}` of a webhook URL. Anything that is not a UUID names nothing: 404.
pub struct WebhookId(pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for WebhookId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Path::<Uuid>::from_request_parts(parts, state)
            .await
            .map(|Path(id)| WebhookId(id))
            .map_err(|_| not_found())
    }
}

fn not_found() -> ApiError {
    ApiError::NotFound("no such webhook endpoint or delivery".into())
}

async fn visible_endpoint(state: &AppState, caller: &Caller, id: Uuid) -> ApiResult<EndpointRow> {
    actions::visible_endpoint(&state.pool, caller, id)
        .await
        .map_err(|e| action_problem(e, None))
}

/// The checked fields of a request (create, or a patched endpoint).
struct Checked {
    url: String,
    description: String,
    event_types: Vec<String>,
    disabled: bool,
}

/// Validates every field, one error entry per bad field.
fn check(state: &AppState, request: &WebhookEndpointRequest) -> ApiResult<Checked> {
    let mut errors = Vec::new();
    let url = match request.url.as_deref() {
        None => {
            errors.push(FieldError::new("/url", "url is required"));
            String::new()
        }
        Some(url) => match state.webhooks.check(url) {
            Ok(_) => url.to_owned(),
            Err(message) => {
                errors.push(FieldError::new("/url", message));
                String::new()
            }
        },
    };
    let description = request.description.clone().unwrap_or_default();
    if description.chars().count() > MAX_DESCRIPTION_CHARS
        || description.chars().any(char::is_control)
    {
        errors.push(FieldError::new(
            "/description",
            format!("description must be at most {MAX_DESCRIPTION_CHARS} characters without control characters"),
        ));
    }
    let mut event_types = BTreeSet::new();
    let asked = request.event_types.as_deref().unwrap_or_default();
    if asked.len() > MAX_EVENT_TYPES {
        errors.push(FieldError::new(
            "/event_types",
            format!("at most {MAX_EVENT_TYPES} event types"),
        ));
    }
    for (i, name) in asked.iter().enumerate() {
        match name.parse::<WebhookEventType>() {
            Ok(kind) => {
                event_types.insert(kind.as_str().to_owned());
            }
            Err(_) => {
                let known: Vec<&str> = WebhookEventType::ALL.iter().map(|k| k.as_str()).collect();
                errors.push(FieldError::new(
                    format!("/event_types/{i}"),
                    format!(
                        "unknown event type '{}'; known: {}",
                        name.chars().take(64).collect::<String>(),
                        known.join(", ")
                    ),
                ));
            }
        }
    }
    if let Some(Err(message)) = request
        .tenant
        .as_deref()
        .map(|t| rules::identifier(t, "tenant", 64))
    {
        errors.push(FieldError::new("/tenant", message));
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    Ok(Checked {
        url,
        description,
        event_types: event_types.into_iter().collect(),
        disabled: request.disabled.unwrap_or(false),
    })
}

/// Register an endpoint.
///
/// The answer carries the signing secret, this once. Every event the endpoint subscribes to
/// (for its tenant, or every tenant) is then POSTed to it, signed with Standard Webhooks
/// headers (`webhook-id`, `webhook-timestamp`, `webhook-signature`), retried for about a day.
#[utoipa::path(
    post, path = "/v1/webhook-endpoints", tag = "webhooks",
    request_body = WebhookEndpointRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Registered; `secret` is shown only here", body = CreatedWebhookEndpoint,
         headers(("location" = String, description = "URL of the endpoint"))),
        (status = 403, description = "The key lacks `webhooks:manage`, names another tenant, or is not an admin \
                                      key and names no tenant (an all-tenant endpoint needs admin)",
         body = crate::api::error::Problem, content_type = "application/problem+json"),
    )
)]
async fn create_endpoint(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(request): ApiJson<WebhookEndpointRequest>,
) -> ApiResult<Response> {
    caller.require(Scope::WebhooksManage)?;
    let checked = check(&state, &request)?;
    let tenant = match (caller.tenant.as_deref(), request.tenant.as_deref()) {
        (Some(own), Some(asked)) if own != asked => {
            return Err(ApiError::Forbidden(format!(
                "this API key is bound to tenant '{own}'"
            )));
        }
        (Some(own), _) => Some(own.to_owned()),
        (None, Some(asked)) => Some(asked.to_owned()),
        (None, None) if caller.scopes.contains(&Scope::Admin) => None,
        (None, None) => {
            return Err(ApiError::Forbidden(
                "an endpoint for every tenant needs an admin key; name a tenant".into(),
            ));
        }
    };
    let secret = webhook::generate_secret();
    let mut tx = state.pool.begin().await?;
    let row = db::webhooks::insert_endpoint(
        &mut *tx,
        db::webhooks::NewEndpoint {
            id: Uuid::now_v7(),
            tenant: tenant.as_deref(),
            url: &checked.url,
            description: &checked.description,
            event_types: &checked.event_types,
            disabled: checked.disabled,
            secret: &secret,
            created_by: &caller.key_name,
        },
    )
    .await?;
    let details = json!({ "url": row.url, "event_types": row.event_types, "tenant": row.tenant });
    db::webhooks::insert_endpoint_event(&mut *tx, row.id, &caller.key_name, "created", details)
        .await?;
    tx.commit().await?;
    let mut headers = HeaderMap::new();
    if let Ok(value) = HeaderValue::from_str(&format!("/v1/webhook-endpoints/{}", row.id)) {
        headers.insert(header::LOCATION, value);
    }
    let body = CreatedWebhookEndpoint {
        endpoint: row.into(),
        secret,
    };
    Ok((StatusCode::CREATED, headers, Json(body)).into_response())
}

/// List endpoints, oldest first (a tenant-bound key: its tenant's only).
#[utoipa::path(
    get, path = "/v1/webhook-endpoints", tag = "webhooks",
    params(EndpointsQuery),
    security(("bearer" = [])),
    responses((status = 200, description = "A page of endpoints", body = WebhookEndpointPage))
)]
async fn list_endpoints(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<EndpointsQuery>,
) -> ApiResult<Json<WebhookEndpointPage>> {
    caller.require(Scope::WebhooksManage)?;
    let limit = page_limit(q.limit)?;
    let after = pagination::decode::<Uuid>(q.cursor.as_deref())?;
    let rows =
        db::webhooks::list_endpoints(&state.pool, caller.tenant.as_deref(), after, limit + 1)
            .await?;
    let (rows, next_cursor) = pagination::cut(rows, limit, |r| r.id);
    Ok(Json(WebhookEndpointPage {
        items: rows.into_iter().map(Into::into).collect(),
        next_cursor,
    }))
}

/// Read an endpoint (never its secret).
#[utoipa::path(
    get, path = "/v1/webhook-endpoints/{id}", tag = "webhooks",
    params(("id" = Uuid, Path, description = "Endpoint id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The endpoint", body = WebhookEndpoint),
        (status = 404, description = "No such endpoint, or it belongs to another tenant",
         body = crate::api::error::Problem, content_type = "application/problem+json"),
    )
)]
async fn get_endpoint(
    State(state): State<AppState>,
    caller: Caller,
    WebhookId(id): WebhookId,
) -> ApiResult<Json<WebhookEndpoint>> {
    caller.require(Scope::WebhooksManage)?;
    Ok(Json(visible_endpoint(&state, &caller, id).await?.into()))
}

/// Change an endpoint with a JSON merge patch of `url`, `description`, `event_types`,
/// `disabled` (validated like a create; `tenant` cannot change). Enabling a disabled endpoint
/// resumes its pending deliveries.
#[utoipa::path(
    patch, path = "/v1/webhook-endpoints/{id}", tag = "webhooks",
    params(("id" = Uuid, Path, description = "Endpoint id")),
    request_body(content = Object, content_type = "application/merge-patch+json",
                 description = "A JSON merge patch (RFC 7396) of the endpoint's `url`, `description`, `event_types` and `disabled`",
                 example = json!({"event_types": ["channel.ready", "channel.failed"], "disabled": false})),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The changed endpoint", body = WebhookEndpoint),
        (status = 404, description = "No such endpoint, or it belongs to another tenant",
         body = crate::api::error::Problem, content_type = "application/problem+json"),
    )
)]
async fn patch_endpoint(
    State(state): State<AppState>,
    caller: Caller,
    WebhookId(id): WebhookId,
    ApiJson(patch): ApiJson<Value>,
) -> ApiResult<Json<WebhookEndpoint>> {
    caller.require(Scope::WebhooksManage)?;
    if !patch.is_object() {
        return Err(ApiError::BadRequest {
            detail: "a merge patch must be a JSON object".into(),
            errors: vec![],
        });
    }
    let current = visible_endpoint(&state, &caller, id).await?;
    let mut merged = json!({
        "url": current.url,
        "description": current.description,
        "event_types": current.event_types,
        "tenant": current.tenant,
        "disabled": current.disabled,
    });
    json_patch::merge(&mut merged, &patch);
    let request: WebhookEndpointRequest = from_value(merged)?;
    let mut tenant_error = None;
    if request.tenant != current.tenant {
        tenant_error = Some(FieldError::new(
            "/tenant",
            "tenant cannot change; register a new endpoint instead",
        ));
    }
    let checked = match (check(&state, &request), tenant_error) {
        (Ok(checked), None) => checked,
        (Ok(_), Some(e)) => return Err(ApiError::Validation(vec![e])),
        (Err(ApiError::Validation(mut errors)), Some(e)) => {
            errors.retain(|f| f.field != "/tenant");
            errors.insert(0, e);
            return Err(ApiError::Validation(errors));
        }
        (Err(e), _) => return Err(e),
    };
    let mut tx = state.pool.begin().await?;
    let row = db::webhooks::update_endpoint(
        &mut *tx,
        id,
        db::webhooks::EndpointChange {
            url: &checked.url,
            description: &checked.description,
            event_types: &checked.event_types,
            disabled: checked.disabled,
        },
    )
    .await?
    .ok_or_else(not_found)?;
    db::webhooks::insert_endpoint_event(&mut *tx, id, &caller.key_name, "updated", patch).await?;
    tx.commit().await?;
    if current.disabled && !row.disabled {
        // Pending deliveries of a re-enabled endpoint may be due already.
        db::webhooks::notify_work(&state.pool).await?;
    }
    Ok(Json(row.into()))
}

/// Delete an endpoint, its deliveries and its log.
#[utoipa::path(
    delete, path = "/v1/webhook-endpoints/{id}", tag = "webhooks",
    params(("id" = Uuid, Path, description = "Endpoint id")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such endpoint, or it belongs to another tenant",
         body = crate::api::error::Problem, content_type = "application/problem+json"),
    )
)]
async fn delete_endpoint(
    State(state): State<AppState>,
    caller: Caller,
    WebhookId(id): WebhookId,
) -> ApiResult<StatusCode> {
    caller.require(Scope::WebhooksManage)?;
    visible_endpoint(&state, &caller, id).await?;
    if !db::webhooks::delete_endpoint(&state.pool, id).await? {
        return Err(not_found());
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Issue a new signing secret. For 24 hours every delivery carries two signatures (the new
/// secret's and the previous one's), so the receiver can switch without losing an event.
#[utoipa::path(
    post, path = "/v1/webhook-endpoints/{id}/rotate-secret", tag = "webhooks",
    params(("id" = Uuid, Path, description = "Endpoint id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The new secret, shown only here", body = RotatedSecret),
        (status = 404, description = "No such endpoint, or it belongs to another tenant",
         body = crate::api::error::Problem, content_type = "application/problem+json"),
    )
)]
async fn rotate_secret(
    State(state): State<AppState>,
    caller: Caller,
    WebhookId(id): WebhookId,
) -> ApiResult<Json<RotatedSecret>> {
    caller.require(Scope::WebhooksManage)?;
    visible_endpoint(&state, &caller, id).await?;
    let secret = webhook::generate_secret();
    let mut tx = state.pool.begin().await?;
    let row = db::webhooks::rotate_secret(&mut *tx, id, &secret, SECRET_OVERLAP)
        .await?
        .ok_or_else(not_found)?;
    let details = json!({ "previous_secret_expires_at": row.previous_secret_expires_at });
    db::webhooks::insert_endpoint_event(&mut *tx, id, &caller.key_name, "secret_rotated", details)
        .await?;
    tx.commit().await?;
    Ok(Json(RotatedSecret {
        secret,
        previous_secret_expires_at: row.previous_secret_expires_at,
    }))
}

/// Send a `webhook.test` event to this endpoint (whatever it subscribes to).
#[utoipa::path(
    post, path = "/v1/webhook-endpoints/{id}/test", tag = "webhooks",
    params(("id" = Uuid, Path, description = "Endpoint id")),
    security(("bearer" = [])),
    responses(
        (status = 202, description = "Queued; its delivery shows in the delivery log", body = TestEvent),
        (status = 404, description = "No such endpoint, or it belongs to another tenant",
         body = crate::api::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The endpoint is disabled",
         body = crate::api::error::Problem, content_type = "application/problem+json"),
    )
)]
async fn send_test(
    State(state): State<AppState>,
    caller: Caller,
    WebhookId(id): WebhookId,
) -> ApiResult<Response> {
    caller.require(Scope::WebhooksManage)?;
    let endpoint = visible_endpoint(&state, &caller, id).await?;
    if endpoint.disabled {
        return Err(ApiError::Conflict {
            detail: "the endpoint is disabled; enable it first (PATCH disabled=false)".into(),
            channel_id: None,
        });
    }
    let event_id = webhook::new_event_id();
    let now = Utc::now();
    let kind = WebhookEventType::WebhookTest;
    let payload = webhook::payload(kind, now, json!({ "endpoint_id": id }));
    let tenant = endpoint.tenant.as_deref();
    db::webhooks::insert_event(
        &state.pool,
        &event_id,
        kind,
        tenant,
        None,
        &payload,
        now,
        Some(id),
    )
    .await?;
    Ok((StatusCode::ACCEPTED, Json(TestEvent { event_id })).into_response())
}

/// The delivery log of an endpoint, newest first: each delivery with every attempt (time,
/// HTTP status, duration, first 1 KB of the answer, error).
#[utoipa::path(
    get, path = "/v1/webhook-endpoints/{id}/deliveries", tag = "webhooks",
    params(("id" = Uuid, Path, description = "Endpoint id"), DeliveriesQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of deliveries", body = WebhookDeliveryPage),
        (status = 404, description = "No such endpoint, or it belongs to another tenant",
         body = crate::api::error::Problem, content_type = "application/problem+json"),
    )
)]
async fn list_deliveries(
    State(state): State<AppState>,
    caller: Caller,
    WebhookId(id): WebhookId,
    ApiQuery(q): ApiQuery<DeliveriesQuery>,
) -> ApiResult<Json<WebhookDeliveryPage>> {
    caller.require(Scope::WebhooksManage)?;
    let limit = page_limit(q.limit)?;
    visible_endpoint(&state, &caller, id).await?;
    let before = pagination::decode::<i64>(q.cursor.as_deref())?;
    let status = q.status.map(|s| match s {
        DeliveryStatus::Pending => "pending",
        DeliveryStatus::Delivered => "delivered",
        DeliveryStatus::Failed => "failed",
    });
    let rows = db::webhooks::list_deliveries(&state.pool, id, status, before, limit + 1).await?;
    let (rows, next_cursor) = pagination::cut(rows, limit, |r| r.seq);
    let items = with_attempts(&state, rows).await?;
    Ok(Json(WebhookDeliveryPage { items, next_cursor }))
}

/// An endpoint's audit trail, oldest first: who created, changed, rotated, replayed it, and
/// when and why the service disabled it.
#[utoipa::path(
    get, path = "/v1/webhook-endpoints/{id}/events", tag = "webhooks",
    params(("id" = Uuid, Path, description = "Endpoint id"), PageQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of entries", body = WebhookEndpointEventPage),
        (status = 404, description = "No such endpoint, or it belongs to another tenant",
         body = crate::api::error::Problem, content_type = "application/problem+json"),
    )
)]
async fn list_endpoint_events(
    State(state): State<AppState>,
    caller: Caller,
    WebhookId(id): WebhookId,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<WebhookEndpointEventPage>> {
    caller.require(Scope::WebhooksManage)?;
    let limit = page_limit(q.limit)?;
    visible_endpoint(&state, &caller, id).await?;
    let after = pagination::decode::<i64>(q.cursor.as_deref())?;
    let rows = db::webhooks::endpoint_events(&state.pool, id, after, limit + 1).await?;
    let (rows, next_cursor) = pagination::cut(rows, limit, |r| r.id);
    let items = rows
        .into_iter()
        .map(|r| WebhookEndpointEvent {
            id: r.id,
            at: r.at,
            actor: r.actor,
            kind: r.kind,
            details: r.details.0,
        })
        .collect();
    Ok(Json(WebhookEndpointEventPage { items, next_cursor }))
}

async fn with_attempts(
    state: &AppState,
    rows: Vec<DeliveryRow>,
) -> ApiResult<Vec<WebhookDelivery>> {
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let mut attempts = db::webhooks::attempts_of(&state.pool, &ids).await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let attempt_log = attempts
                .extract_if(.., |a| a.delivery_id == r.id)
                .map(|a| WebhookAttempt {
                    at: a.at,
                    http_status: a.http_status,
                    duration_ms: a.duration_ms,
                    response_body: a.response_body,
                    error: a.error,
                })
                .collect();
            WebhookDelivery {
                id: r.id,
                endpoint_id: r.endpoint_id,
                event_id: r.event_id,
                event_type: r.event_type,
                status: r.status,
                attempts: r.attempts,
                next_attempt_at: r.next_attempt_at,
                created_at: r.created_at,
                last_attempt_at: r.last_attempt_at,
                delivered_at: r.delivered_at,
                attempt_log,
            }
        })
        .collect())
}

/// Send every event since a time again (a receiver that lost its data): each event the
/// endpoint would receive (its tenant's, its types), under its original `webhook-id`. Events
/// are kept for the retention period (`WEBHOOK_RETENTION_DAYS`).
#[utoipa::path(
    post, path = "/v1/webhook-endpoints/{id}/replay", tag = "webhooks",
    params(("id" = Uuid, Path, description = "Endpoint id")),
    request_body = ReplayRequest,
    security(("bearer" = [])),
    responses(
        (status = 202, description = "The deliveries are due now", body = ReplayResult),
        (status = 404, description = "No such endpoint, or it belongs to another tenant",
         body = crate::api::error::Problem, content_type = "application/problem+json"),
    )
)]
async fn replay(
    State(state): State<AppState>,
    caller: Caller,
    WebhookId(id): WebhookId,
    ApiJson(request): ApiJson<ReplayRequest>,
) -> ApiResult<Response> {
    caller.require(Scope::WebhooksManage)?;
    visible_endpoint(&state, &caller, id).await?;
    let since = match request.since {
        None => {
            return Err(ApiError::Validation(vec![FieldError::new(
                "/since",
                "since is required (RFC 3339)",
            )]));
        }
        Some(since) if since > Utc::now() => {
            return Err(ApiError::Validation(vec![FieldError::new(
                "/since",
                "since must not be in the future",
            )]));
        }
        Some(since) => since,
    };
    let deliveries = actions::replay_webhooks(&state.pool, &caller, id, since)
        .await
        .map_err(|e| action_problem(e, None))?;
    Ok((StatusCode::ACCEPTED, Json(ReplayResult { deliveries })).into_response())
}

/// Send one delivery again now, with a fresh schedule (also a delivered or failed one).
#[utoipa::path(
    post, path = "/v1/webhook-deliveries/{id}/retry", tag = "webhooks",
    params(("id" = Uuid, Path, description = "Delivery id")),
    security(("bearer" = [])),
    responses(
        (status = 202, description = "Due now", body = WebhookDelivery),
        (status = 404, description = "No such delivery, or its endpoint belongs to another tenant",
         body = crate::api::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "An attempt is in flight right now",
         body = crate::api::error::Problem, content_type = "application/problem+json"),
    )
)]
async fn retry_delivery(
    State(state): State<AppState>,
    caller: Caller,
    WebhookId(id): WebhookId,
) -> ApiResult<Response> {
    let row = actions::retry_delivery(&state.pool, &caller, id)
        .await
        .map_err(|e| action_problem(e, None))?;
    let mut items = with_attempts(&state, vec![row]).await?;
    let body = items.pop().ok_or_else(not_found)?;
    Ok((StatusCode::ACCEPTED, Json(body)).into_response())
}

/// Every webhook event type, whether the service sends it yet, and an example payload each.
/// The broadcast-lifecycle types (`stream.*`, `recording.*`, `ingest.*`) are valid in
/// subscriptions but not sent yet.
#[utoipa::path(
    get, path = "/v1/webhook-event-types", tag = "webhooks",
    security(("bearer" = [])),
    responses((status = 200, description = "The event types", body = WebhookEventTypeList,
               example = json!(WebhookEventTypeList { items: event_types() })))
)]
async fn list_event_types(caller: Caller) -> ApiResult<Json<WebhookEventTypeList>> {
    caller.require(Scope::WebhooksManage)?;
    Ok(Json(WebhookEventTypeList {
        items: event_types(),
    }))
}

/// What the OpenAPI document states beyond the annotations: the `Location` of a new endpoint.
pub fn document(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    const LOCATION_CHARS: usize = "/v1/webhook-endpoints/".len() + 36;
    if let Some(utoipa::openapi::RefOr::T(created)) = doc
        .paths
        .paths
        .get_mut("/v1/webhook-endpoints")
        .and_then(|item| item.post.as_mut())
        .and_then(|create| create.responses.responses.get_mut("201"))
        && let Some(location) = created.headers.get_mut("location")
    {
        location.schema = ObjectBuilder::new()
            .schema_type(Type::String)
            .max_length(Some(LOCATION_CHARS))
            .pattern(Some("^/v1/webhook-endpoints/[0-9a-f-]{36}$"))
            .into();
    }
}

fn event_types() -> Vec<WebhookEventTypeInfo> {
    WebhookEventType::ALL
        .iter()
        .map(|kind| WebhookEventTypeInfo {
            kind: *kind,
            emitted: WebhookEventType::EMITTED.contains(kind),
            example: kind.example(),
        })
        .collect()
}
