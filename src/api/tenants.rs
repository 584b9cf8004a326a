//! `/v1/tenants/{tenant}/limits`: a tenant's limits (what it has of its own, what applies, how
//! much it uses) and, for operators, setting them. Every change is audited in
//! `tenant_limit_events`; every process sees it within a notification's latency (the rate
//! limiter caches limits, `NOTIFY ivsp_cache` drops them).
//!
//! A tenant exists as soon as a key or a channel names it, so any valid tenant name answers:
//! one that never set anything has the defaults and no channels.

use axum::Json;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::AppState;
use super::auth::{Caller, Scope};
use super::error::{ApiError, ApiResult, FieldError};
use super::extract::ApiJson;
use crate::db::{self, tenant_limits::TenantLimitsRow};
use crate::domain::EventKind;
use crate::domain::channel::MAX_TENANT_CHARS;
use crate::domain::limits::{EffectiveLimits, TenantLimitOverrides, TenantLimitsRequest};
use crate::domain::rules;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_limits, put_limits))
}

/// A tenant's limits and usage.
#[derive(Debug, Serialize, ToSchema)]
pub struct TenantLimits {
    #[schema(example = "acme-fitness")]
    pub tenant: String,
    /// What the tenant has of its own; null takes the deployment default.
    pub limits: TenantLimitOverrides,
    /// What applies: the tenant's own limits, else the defaults.
    pub effective: EffectiveLimits,
    pub usage: TenantUsage,
    /// When an operator last set the tenant's limits; null if never.
    pub updated_at: Option<DateTime<Utc>>,
    /// The API key that set them.
    pub updated_by: Option<String>,
}

/// How much of its limits a tenant uses.
#[derive(Debug, Serialize, ToSchema)]
pub struct TenantUsage {
    /// Live channels now: every phase but `deleted` (a `deleting` channel still holds its IVS
    /// channel, so it counts until it is deleted).
    #[schema(minimum = 0, maximum = 1000000)]
    pub live_channels: i64,
}

/// The `{tenant}` of a tenants URL.
pub struct TenantPath(pub String);

impl<S: Send + Sync> FromRequestParts<S> for TenantPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Path::<String>::from_request_parts(parts, state)
            .await
            .map(|Path(tenant)| TenantPath(tenant))
            .map_err(|_| no_such_tenant())
    }
}

fn no_such_tenant() -> ApiError {
    ApiError::NotFound("no such tenant".into())
}

fn tenant_error(tenant: &str) -> Option<FieldError> {
    rules::identifier(tenant, "tenant", MAX_TENANT_CHARS)
        .err()
        .map(|message| FieldError::new("tenant", message))
}

fn view(
    state: &AppState,
    tenant: String,
    row: Option<TenantLimitsRow>,
    live_channels: i64,
) -> TenantLimits {
    let limits = row.as_ref().map(|r| r.overrides).unwrap_or_default();
    TenantLimits {
        effective: limits.resolve(&state.settings.limits.defaults),
        limits,
        usage: TenantUsage { live_channels },
        updated_at: row.as_ref().map(|r| r.updated_at),
        updated_by: row.map(|r| r.updated_by),
        tenant,
    }
}

/// Read a tenant's limits and usage.
///
/// A tenant-bound API key reads only its own tenant's (another tenant is 404).
#[utoipa::path(
    get, path = "/v1/tenants/{tenant}/limits", tag = "tenants",
    params(("tenant" = String, Path, description = "Tenant name", min_length = 1, max_length = 64,
            pattern = "^[a-zA-Z0-9_-]{1,64}$")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The tenant's limits, the limits that apply and its usage", body = TenantLimits),
        (status = 404, description = "The API key is bound to another tenant",
         body = crate::api::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "The tenant name is not valid",
         body = crate::api::error::Problem, content_type = "application/problem+json"),
    )
)]
async fn get_limits(
    State(state): State<AppState>,
    caller: Caller,
    TenantPath(tenant): TenantPath,
) -> ApiResult<Json<TenantLimits>> {
    caller.require(Scope::ChannelsRead)?;
    if !caller.can_see(&tenant) {
        return Err(no_such_tenant());
    }
    if let Some(error) = tenant_error(&tenant) {
        return Err(ApiError::Validation(vec![error]));
    }
    let row = db::tenant_limits::find(&state.pool, &tenant).await?;
    let live = db::tenant_limits::count_live(&state.pool, &tenant).await?;
    Ok(Json(view(&state, tenant, row, live)))
}

/// Set a tenant's limits (operator).
///
/// Replaces the tenant's own limits: a field left out or null takes the deployment default
/// again. Needs an `admin` key bound to no tenant: a tenant cannot raise its own limits. The
/// change is audited and every replica applies it within milliseconds. Lowering
/// `max_live_channels` below the tenant's live channels deletes nothing; creates are refused
/// until it is below the limit again.
#[utoipa::path(
    put, path = "/v1/tenants/{tenant}/limits", tag = "tenants",
    params(("tenant" = String, Path, description = "Tenant name", min_length = 1, max_length = 64,
            pattern = "^[a-zA-Z0-9_-]{1,64}$")),
    request_body = TenantLimitsRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The limits as stored, the limits that apply and the usage", body = TenantLimits),
        (status = 403, description = "The API key is not an admin key, or is bound to a tenant",
         body = crate::api::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "The API key is bound to another tenant",
         body = crate::api::error::Problem, content_type = "application/problem+json"),
    )
)]
async fn put_limits(
    State(state): State<AppState>,
    caller: Caller,
    TenantPath(tenant): TenantPath,
    ApiJson(request): ApiJson<TenantLimitsRequest>,
) -> ApiResult<Json<TenantLimits>> {
    caller.require(Scope::Admin)?;
    if !caller.can_see(&tenant) {
        return Err(no_such_tenant());
    }
    if caller.tenant.is_some() {
        return Err(ApiError::Forbidden(
            "limits are set by an operator's admin key bound to no tenant; a tenant cannot change its own"
                .into(),
        ));
    }
    let mut errors: Vec<FieldError> = tenant_error(&tenant).into_iter().collect();
    let limits = match request.validate() {
        Ok(limits) if errors.is_empty() => limits,
        Ok(_) => return Err(ApiError::Validation(errors)),
        Err(more) => {
            errors.extend(more);
            return Err(ApiError::Validation(errors));
        }
    };
    let mut tx = state.pool.begin().await?;
    let before = db::tenant_limits::find_for_update(&mut *tx, &tenant)
        .await?
        .map(|row| row.overrides)
        .unwrap_or_default();
    let row = db::tenant_limits::put(&mut *tx, &tenant, &limits, &caller.key_name).await?;
    if before != limits {
        let details = json!({ "from": before, "to": limits });
        db::tenant_limits::insert_event(
            &mut *tx,
            &tenant,
            &caller.key_name,
            EventKind::LimitsChanged,
            details,
        )
        .await?;
    }
    let live = db::tenant_limits::count_live(&mut *tx, &tenant).await?;
    tx.commit().await?;
    Ok(Json(view(&state, tenant, Some(row), live)))
}
