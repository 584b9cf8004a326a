//! `/v1/channels`: declare, read, list, change and delete channels, and read their audit trail.
//!
//! The API only records desired state; the reconciler makes AWS match it. Creates are idempotent
//! on (tenant, name) so a booking system can retry freely, and are admitted only within the
//! tenant's channel limit and the account's IVS channel quota (`limits`).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::AppState;
use super::auth::{Caller, Scope};
pub use super::channel_views::{
    Channel, ChannelEvent, ChannelPage, ChannelStatus, EventPage, json_changes,
};
use super::error::{ApiError, ApiResult, FieldError};
use super::extract::{ApiJson, ApiQuery, ChannelId, from_value};
use super::limits::{self, Verdict};
use super::pagination::{self, PageQuery, page_limit};
use crate::actions::{self, ActionError};
use crate::db::{self, channels::ChannelRow};
use crate::domain::channel::ChannelRequest;
use crate::domain::{EventKind, Phase, rules};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_channel, list_channels))
        .routes(routes!(get_channel, patch_channel, delete_channel))
        .routes(routes!(list_events))
        .routes(routes!(reconcile_channel))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListChannelsQuery {
    /// Only this tenant's channels.
    #[param(max_length = 64, pattern = "^[a-zA-Z0-9_-]{1,64}$")]
    tenant: Option<String>,
    /// Only channels in this phase.
    phase: Option<Phase>,
    /// Only channels whose name starts with this.
    #[param(max_length = 128, pattern = "^[a-zA-Z0-9_-]{0,128}$")]
    name_prefix: Option<String>,
    /// Include deleted channels (history). Default false.
    include_deleted: Option<bool>,
    /// Page size, 1-100, default 20.
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    #[param(max_length = 64, pattern = "^[A-Za-z0-9_-]*$")]
    cursor: Option<String>,
}

fn location(id: Uuid) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Ok(value) = HeaderValue::from_str(&format!("/v1/channels/{id}")) {
        headers.insert(header::LOCATION, value);
    }
    headers
}

/// Loads a channel the caller may see, or 404 (also for other tenants' channels).
pub(crate) async fn visible_channel(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
) -> ApiResult<ChannelRow> {
    actions::visible_channel(&state.pool, caller, id)
        .await
        .map_err(action_error(id))
}

/// A channel action's refusal as a problem (its conflicts name the channel).
pub(crate) fn action_error(id: Uuid) -> impl Fn(ActionError) -> ApiError {
    move |error| action_problem(error, Some(id))
}

/// An action's refusal as a problem; `channel_id` is named in conflicts.
pub(crate) fn action_problem(error: ActionError, channel_id: Option<Uuid>) -> ApiError {
    match error {
        ActionError::Forbidden(missing) => missing.into(),
        ActionError::NotFound(what) => ApiError::NotFound(what.into()),
        ActionError::Conflict(detail) => ApiError::Conflict { detail, channel_id },
        ActionError::Database(e) => ApiError::Database(e),
        ActionError::Aws(e) => ApiError::Aws(e),
    }
}

/// Declare a channel.
///
/// Idempotent on (tenant, name): the same request again returns the same channel with 200.
/// The channel starts in phase `pending`; the reconciler provisions it in IVS.
#[utoipa::path(
    post, path = "/v1/channels", tag = "channels",
    request_body = ChannelRequest,
    security(("bearer" = [])),
    responses(
        (status = 202, description = "Channel declared; provisioning follows", body = Channel,
         headers(("location" = String, description = "URL of the channel"))),
        (status = 200, description = "The same channel was declared before with the same spec", body = Channel),
        (status = 409, description = "A live channel with this tenant and name has a different spec, or is being deleted (`channel_id` names it); \
                                      or the tenant has reached its `max_live_channels`, or the AWS account cannot take another IVS channel \
                                      (`limit` and `current` name the limit and the count; nothing was sent to IVS)",
         body = crate::api::error::Problem, content_type = "application/problem+json"),
    )
)]
async fn create_channel(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(request): ApiJson<ChannelRequest>,
) -> ApiResult<Response> {
    caller.require(Scope::ChannelsWrite)?;
    let spec = request
        .validate(Utc::now(), None)
        .map_err(ApiError::Validation)?;
    if let Some(own) = caller.tenant.as_deref().filter(|own| *own != spec.tenant) {
        return Err(ApiError::Forbidden(format!(
            "this API key is bound to tenant '{own}'"
        )));
    }
    // A concurrent delete can free the name between the insert and the lookup: try again then.
    // Near the account's capacity the create is tried once more under the exclusive lock.
    let mut exclusive = false;
    for _ in 0..4 {
        let mut tx = state.pool.begin().await?;
        let limits = &state.settings.limits;
        let admission = limits::lock_for_create(&mut tx, limits, &spec.tenant, exclusive).await?;
        if let Some(row) = db::channels::insert_if_absent(&mut *tx, Uuid::now_v7(), &spec).await? {
            match admission.check(&mut tx, &spec.tenant).await? {
                Verdict::Admit => {}
                Verdict::Refuse(refusal) => {
                    tx.rollback().await?;
                    return Err(refusal);
                }
                Verdict::RetryExclusive => {
                    tx.rollback().await?;
                    exclusive = true;
                    continue;
                }
            }
            db::events::insert(
                &mut *tx,
                row.id,
                &caller.key_name,
                EventKind::Created,
                json!({ "spec": spec }),
            )
            .await?;
            tx.commit().await?;
            return Ok((
                StatusCode::ACCEPTED,
                location(row.id),
                Json(Channel::from(row)),
            )
                .into_response());
        }
        tx.rollback().await?;
        let Some(existing) = db::channels::find_live(&state.pool, &spec.tenant, &spec.name).await?
        else {
            continue;
        };
        if existing.phase == Phase::Deleting {
            return Err(ApiError::Conflict {
                detail: format!(
                    "channel '{}' of tenant '{}' is being deleted; declare it again once it is deleted",
                    spec.name, spec.tenant
                ),
                channel_id: Some(existing.id),
            });
        }
        if existing.spec.0 != spec {
            return Err(ApiError::Conflict {
                detail: format!(
                    "channel '{}' of tenant '{}' already exists with a different spec; PATCH it to change it",
                    spec.name, spec.tenant
                ),
                channel_id: Some(existing.id),
            });
        }
        return Ok((
            StatusCode::OK,
            location(existing.id),
            Json(Channel::from(existing)),
        )
            .into_response());
    }
    Err(ApiError::Internal(anyhow::anyhow!(
        "channel name kept changing hands during create"
    )))
}

/// Read a channel: its spec, phase, generations, outputs and last error.
#[utoipa::path(
    get, path = "/v1/channels/{id}", tag = "channels",
    params(("id" = Uuid, Path, description = "Channel id")),
    security(("bearer" = [])),
    responses((status = 200, description = "The channel", body = Channel))
)]
async fn get_channel(
    State(state): State<AppState>,
    caller: Caller,
    ChannelId(id): ChannelId,
) -> ApiResult<Json<Channel>> {
    caller.require(Scope::ChannelsRead)?;
    let mut channel = Channel::from(visible_channel(&state, &caller, id).await?);
    let live_arn = channel
        .status
        .outputs
        .channel_arn
        .clone()
        .filter(|_| channel.deleted_at.is_none());
    if let Some(arn) = live_arn {
        // IVS's events (or the sweep) know a live session without asking IVS; else GetStream.
        channel.stream = match super::broadcasts::live_from_session(&state, id).await? {
            Some(live) => Some(live),
            None => Some(state.live.stream(&state.aws, &arn).await),
        };
    }
    Ok(Json(channel))
}

/// List channels, oldest first, a page at a time.
///
/// A tenant-bound API key sees only its tenant's channels.
#[utoipa::path(
    get, path = "/v1/channels", tag = "channels",
    params(ListChannelsQuery),
    security(("bearer" = [])),
    responses((status = 200, description = "A page of channels", body = ChannelPage))
)]
async fn list_channels(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ListChannelsQuery>,
) -> ApiResult<Json<ChannelPage>> {
    caller.require(Scope::ChannelsRead)?;
    let limit = page_limit(q.limit)?;
    let after = pagination::decode::<Uuid>(q.cursor.as_deref())?;
    let other_tenant = matches!(
        (caller.tenant.as_deref(), q.tenant.as_deref()),
        (Some(own), Some(asked)) if own != asked
    );
    // No tenant or name holds a control character, and Postgres refuses a NUL in a text
    // parameter: a 422 naming the filter, as for a body field.
    let errors: Vec<FieldError> = [("tenant", &q.tenant), ("name_prefix", &q.name_prefix)]
        .into_iter()
        .filter_map(|(field, value)| {
            let message = rules::no_control_characters(value.as_deref()?, field).err()?;
            Some(FieldError::new(field, message))
        })
        .collect();
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    if other_tenant {
        return Ok(Json(ChannelPage {
            items: vec![],
            next_cursor: None,
        }));
    }
    let filter = db::channels::ListFilter {
        tenant: caller.tenant.as_deref().or(q.tenant.as_deref()),
        phase: q.phase,
        name_prefix: q.name_prefix.as_deref(),
        include_deleted: q.include_deleted.unwrap_or(false),
        after,
        limit: limit + 1,
    };
    let rows = db::channels::list(&state.pool, &filter).await?;
    let (rows, next_cursor) = pagination::cut(rows, limit, |r| r.id);
    Ok(Json(ChannelPage {
        items: rows.into_iter().map(Channel::from).collect(),
        next_cursor,
    }))
}

/// Change a channel with a JSON merge patch (RFC 7396) of its spec.
///
/// The result is validated like a create; `tenant` and `name` cannot change. An accepted change
/// bumps `generation` and the reconciler applies it.
#[utoipa::path(
    patch, path = "/v1/channels/{id}", tag = "channels",
    params(("id" = Uuid, Path, description = "Channel id")),
    request_body(content = Object, content_type = "application/merge-patch+json",
                 description = "A JSON merge patch (RFC 7396) of the channel's `spec` (shaped like ChannelRequest): \
                                fields to set, null to reset a field to its default",
                 example = json!({"latency_mode": "NORMAL", "tags": {"Team": "live"}})),
    security(("bearer" = [])),
    responses(
        (status = 202, description = "Change accepted; the reconciler applies it", body = Channel),
        (status = 200, description = "The patch changed nothing", body = Channel),
        (status = 409, description = "The channel is being deleted", body = crate::api::error::Problem, content_type = "application/problem+json"),
    )
)]
async fn patch_channel(
    State(state): State<AppState>,
    caller: Caller,
    ChannelId(id): ChannelId,
    ApiJson(patch): ApiJson<Value>,
) -> ApiResult<Response> {
    caller.require(Scope::ChannelsWrite)?;
    if !patch.is_object() {
        return Err(ApiError::BadRequest {
            detail: "a merge patch must be a JSON object".into(),
            errors: vec![],
        });
    }
    let mut tx = state.pool.begin().await?;
    let current = db::channels::find_for_update(&mut *tx, id)
        .await?
        .filter(|row| caller.can_see(&row.tenant))
        .ok_or_else(ApiError::not_found_channel)?;
    let phase = current.phase;
    if phase.is_going() {
        return Err(ApiError::Conflict {
            detail: "the channel is being deleted".into(),
            channel_id: Some(id),
        });
    }
    let old = &current.spec.0;
    let before = old.to_request_json();
    let mut merged = before.clone();
    json_patch::merge(&mut merged, &patch);
    let request: ChannelRequest = from_value(merged)?;
    let mut errors = Vec::new();
    if request.tenant.as_deref() != Some(old.tenant.as_str()) {
        errors.push(FieldError::new(
            "/tenant",
            "tenant cannot change; declare a new channel instead",
        ));
    }
    if request.name.as_deref() != Some(old.name.as_str()) {
        errors.push(FieldError::new(
            "/name",
            "name cannot change; declare a new channel instead",
        ));
    }
    let new = request.validate(Utc::now(), Some(old));
    let new = match new {
        Ok(spec) if errors.is_empty() => spec,
        Ok(_) => return Err(ApiError::Validation(errors)),
        Err(mut more) => {
            more.retain(|e| e.field != "/tenant" && e.field != "/name");
            errors.extend(more);
            return Err(ApiError::Validation(errors));
        }
    };
    if &new == old {
        tx.rollback().await?;
        return Ok((StatusCode::OK, Json(Channel::from(current))).into_response());
    }
    let changes = json_changes(&before, &new.to_request_json());
    let next_phase = phase.after_spec_change(current.outputs.0.channel_arn.is_some());
    let row = db::channels::update_spec(&mut *tx, id, &new, next_phase).await?;
    // With the audit event, the `channel.updated` webhook (the outbox: same transaction).
    db::webhooks::record_channel_event(
        &mut tx,
        id,
        &caller.key_name,
        EventKind::Updated,
        json!({ "changes": changes, "generation": row.generation }),
    )
    .await?;
    tx.commit().await?;
    state.cache.forget_channel(&id);
    Ok((StatusCode::ACCEPTED, Json(Channel::from(row))).into_response())
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DeleteQuery {
    /// Stop a live broadcast first (IVS refuses to delete a live channel). Default false.
    force: Option<bool>,
}

/// Delete a channel.
///
/// The channel moves to phase `deleting` and the reconciler removes it from IVS and SSM; the
/// row stays as history. Deleting again is harmless (and may add `force`).
#[utoipa::path(
    delete, path = "/v1/channels/{id}", tag = "channels",
    params(("id" = Uuid, Path, description = "Channel id"), DeleteQuery),
    security(("bearer" = [])),
    responses((status = 202, description = "Deletion accepted", body = Channel))
)]
async fn delete_channel(
    State(state): State<AppState>,
    caller: Caller,
    ChannelId(id): ChannelId,
    ApiQuery(q): ApiQuery<DeleteQuery>,
) -> ApiResult<Response> {
    let force = q.force.unwrap_or(false);
    let row = actions::delete(&state.pool, &caller, id, force)
        .await
        .map_err(action_error(id))?;
    state.cache.forget_channel(&id);
    Ok((StatusCode::ACCEPTED, Json(Channel::from(row))).into_response())
}

/// Retry a channel now (operator).
///
/// A `failed` channel is tried again at once, with a fresh attempt count; any other channel
/// needing work is made due now.
#[utoipa::path(
    post, path = "/v1/channels/{id}/reconcile", tag = "channels",
    params(("id" = Uuid, Path, description = "Channel id")),
    security(("bearer" = [])),
    responses((status = 202, description = "The reconciler will take the channel up at once", body = Channel))
)]
async fn reconcile_channel(
    State(state): State<AppState>,
    caller: Caller,
    ChannelId(id): ChannelId,
) -> ApiResult<Response> {
    let row = actions::retry(&state.pool, &caller, id)
        .await
        .map_err(action_error(id))?;
    state.cache.forget_channel(&id);
    Ok((StatusCode::ACCEPTED, Json(Channel::from(row))).into_response())
}

/// A channel's audit trail, oldest first: when, which API key (or component), what changed.
#[utoipa::path(
    get, path = "/v1/channels/{id}/events", tag = "channels",
    params(("id" = Uuid, Path, description = "Channel id"), PageQuery),
    security(("bearer" = [])),
    responses((status = 200, description = "A page of events", body = EventPage))
)]
async fn list_events(
    State(state): State<AppState>,
    caller: Caller,
    ChannelId(id): ChannelId,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<EventPage>> {
    caller.require(Scope::ChannelsRead)?;
    let limit = page_limit(q.limit)?;
    visible_channel(&state, &caller, id).await?;
    let after = pagination::decode::<i64>(q.cursor.as_deref())?;
    let rows = db::events::page(&state.pool, id, after, limit + 1).await?;
    let (rows, next_cursor) = pagination::cut(rows, limit, |r| r.id);
    let items = rows
        .into_iter()
        .map(|r| ChannelEvent {
            id: r.id,
            at: r.at,
            actor: r.actor,
            kind: r.kind,
            details: r.details.0,
        })
        .collect();
    Ok(Json(EventPage { items, next_cursor }))
}
