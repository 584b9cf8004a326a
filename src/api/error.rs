//! The API's error type and its RFC 9457 `application/problem+json` rendering.
//!
//! Every error a client can see goes through [`ApiError`], so every 4xx/5xx has the same shape:
//! `type`, `title`, `status`, `detail`, and for validation failures one `errors` entry per field.
//! Internal details of a 5xx are logged once (in [`ApiError::into_response`]) and never echoed.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::aws::AwsErrorKind;
use crate::db;

pub const PROBLEM_JSON: &str = "application/problem+json";

pub use crate::domain::FieldError;

/// An RFC 9457 problem document.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem.
    #[serde(rename = "type")]
    #[schema(example = "urn:ivs-provisioner:problem:validation")]
    pub kind: String,
    #[schema(example = "The request is invalid")]
    pub title: String,
    #[schema(example = 422)]
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// One entry per bad field (validation problems only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// The channel a conflict is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel_id: Option<Uuid>,
    /// The limit a refused request ran into (limit problems only): channels or requests.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, maximum = 1000000)]
    pub limit: Option<i64>,
    /// How much of that limit is in use (limit problems only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, maximum = 1000000)]
    pub current: Option<i64>,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("request is invalid")]
    Validation(Vec<FieldError>),
    #[error("bad request: {detail}")]
    BadRequest {
        detail: String,
        errors: Vec<FieldError>,
    },
    #[error("missing or invalid API key")]
    Unauthorized,
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("conflict: {detail}")]
    Conflict {
        detail: String,
        channel_id: Option<Uuid>,
    },
    /// A create would pass a limit on channels: the tenant's `max_live_channels`, or the AWS
    /// account's channel quota (the guard). 409: waiting does not help, a delete or an operator does.
    #[error("limit reached: {detail}")]
    LimitReached {
        kind: LimitKind,
        detail: String,
        limit: i64,
        current: i64,
    },
    /// The caller's request budget is spent; `Retry-After` says when the next request fits.
    #[error("too many requests: {detail}")]
    TooManyRequests {
        detail: String,
        retry_after_secs: u64,
        limit: i64,
    },
    #[error("payload too large")]
    PayloadTooLarge,
    #[error("unsupported media type: {0}")]
    UnsupportedMediaType(String),
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// An AWS call failed: 503 when trying again later can help (throttling, 5xx), else 502.
    #[error(transparent)]
    Aws(#[from] crate::aws::AwsError),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<crate::domain::api_key::MissingScope> for ApiError {
    fn from(missing: crate::domain::api_key::MissingScope) -> Self {
        ApiError::Forbidden(missing.to_string())
    }
}

pub type ApiResult<T, E = ApiError> = std::result::Result<T, E>;

/// Which channel limit a create ran into; each has its own problem `type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitKind {
    /// The tenant's `max_live_channels`.
    TenantChannels,
    /// The AWS account's IVS channel quota, less the reserve.
    AccountChannels,
}

impl ApiError {
    pub fn not_found_channel() -> Self {
        Self::NotFound("no such channel".into())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict { .. } | Self::LimitReached { .. } => StatusCode::CONFLICT,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Aws(e) if e.kind == AwsErrorKind::Timeout => StatusCode::GATEWAY_TIMEOUT,
            Self::Aws(e) if e.retryable() => StatusCode::SERVICE_UNAVAILABLE,
            // The row names an IVS resource that is gone: being deleted, or deleted outside
            // the service (the reconciler recreates it). A state conflict, not a gateway error.
            Self::Aws(e) if e.is_not_found() => StatusCode::CONFLICT,
            Self::Aws(_) => StatusCode::BAD_GATEWAY,
            Self::Database(e) if db::unavailable_reason(e).is_some() => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::Database(_) | Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn problem(self) -> Problem {
        let status = self.status();
        let (slug, title) = match &self {
            Self::Validation(_) => ("validation", "The request is invalid"),
            Self::BadRequest { .. } => ("bad-request", "The request could not be read"),
            Self::Unauthorized => ("unauthorized", "Missing or invalid API key"),
            Self::Forbidden(_) => ("forbidden", "The API key may not do this"),
            Self::NotFound(_) => ("not-found", "Not found"),
            Self::MethodNotAllowed => ("method-not-allowed", "Method not allowed"),
            Self::Conflict { .. } => ("conflict", "Conflict"),
            Self::LimitReached {
                kind: LimitKind::TenantChannels,
                ..
            } => (
                "tenant-channel-limit",
                "The tenant has reached its limit of live channels",
            ),
            Self::LimitReached {
                kind: LimitKind::AccountChannels,
                ..
            } => (
                "account-full",
                "The AWS account cannot take another IVS channel",
            ),
            Self::TooManyRequests { .. } => (
                "rate-limited",
                "Too many requests; wait for Retry-After seconds",
            ),
            Self::PayloadTooLarge => ("payload-too-large", "The request body is too large"),
            Self::UnsupportedMediaType(_) => ("unsupported-media-type", "Unsupported media type"),
            Self::Unavailable(_) => ("unavailable", "Service unavailable"),
            Self::Aws(e) if e.kind == AwsErrorKind::Timeout => (
                "aws-timeout",
                "AWS did not answer in time; try again shortly",
            ),
            Self::Aws(e) if e.retryable() => ("aws-unavailable", "AWS is busy; try again shortly"),
            Self::Aws(e) if e.is_not_found() => (
                "aws-resource-missing",
                "The channel does not exist in IVS right now",
            ),
            Self::Aws(_) => ("aws-error", "AWS refused the request"),
            Self::Database(e) if db::unavailable_reason(e).is_some() => (
                "database-unavailable",
                "The database is unavailable; try again shortly",
            ),
            Self::Database(_) | Self::Internal(_) => ("internal", "Internal server error"),
        };
        let mut problem = Problem {
            kind: format!("urn:ivs-provisioner:problem:{slug}"),
            title: title.into(),
            status: status.as_u16(),
            detail: None,
            errors: Vec::new(),
            channel_id: None,
            limit: None,
            current: None,
        };
        match self {
            Self::LimitReached {
                detail,
                limit,
                current,
                ..
            } => {
                problem.detail = Some(detail);
                problem.limit = Some(limit);
                problem.current = Some(current);
            }
            Self::TooManyRequests { detail, limit, .. } => {
                problem.detail = Some(detail);
                problem.limit = Some(limit);
            }
            Self::Validation(errors) => {
                problem.detail = Some(format!("{} field(s) are invalid; see errors", errors.len()));
                problem.errors = errors;
            }
            Self::BadRequest { detail, errors } => {
                problem.detail = Some(detail);
                problem.errors = errors;
            }
            Self::Conflict { detail, channel_id } => {
                problem.detail = Some(detail);
                problem.channel_id = channel_id;
            }
            Self::Unauthorized => {
                problem.detail =
                    Some("send `Authorization: Bearer <api key>` with an active key".into());
            }
            Self::Forbidden(d)
            | Self::NotFound(d)
            | Self::UnsupportedMediaType(d)
            | Self::Unavailable(d) => problem.detail = Some(d),
            Self::Aws(e) => problem.detail = Some(e.to_string()),
            Self::Database(e) => problem.detail = db::unavailable_reason(&e).map(str::to_owned),
            Self::MethodNotAllowed | Self::PayloadTooLarge | Self::Internal(_) => {}
        }
        problem
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match &self {
            Self::Database(e) if db::unavailable_reason(e).is_some() => {
                tracing::warn!(error = %e, "database unavailable")
            }
            Self::Database(e) => tracing::error!(error = %e, "database error"),
            Self::Internal(e) => tracing::error!(error = ?e, "internal error"),
            Self::Aws(e) => tracing::warn!(error = %e, "AWS call failed"),
            _ => tracing::debug!(error = %self, "request refused"),
        }
        let unauthorized = matches!(self, Self::Unauthorized);
        let retry_after = match &self {
            Self::TooManyRequests {
                retry_after_secs, ..
            } => Some(*retry_after_secs),
            _ => None,
        };
        let mut response = problem_response(self.problem());
        if unauthorized {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(secs) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        with_retry_after(response)
    }
}

/// How long a client should wait before retrying a 503 or 504: the cause (a busy database, a
/// throttled or silent AWS) usually clears within seconds.
pub const RETRY_AFTER_SECS: u32 = 2;

/// Adds `Retry-After` to a 503 or 504 that does not carry one.
fn with_retry_after(mut response: Response) -> Response {
    let status = response.status();
    let transient =
        status == StatusCode::SERVICE_UNAVAILABLE || status == StatusCode::GATEWAY_TIMEOUT;
    if transient && !response.headers().contains_key(header::RETRY_AFTER) {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
    }
    response
}

pub fn problem_response(problem: Problem) -> Response {
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = serde_json::to_vec(&problem).unwrap_or_default();
    (
        status,
        [(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON))],
        body,
    )
        .into_response()
}

/// Turns bodiless error responses made by middleware (timeouts, body limits, panics) into
/// problem documents, so clients never see a plain-text or empty error.
pub async fn problem_for_bare_errors(response: Response) -> Response {
    let status = response.status();
    let content_type = response.headers().get(header::CONTENT_TYPE);
    let is_problem =
        content_type.is_some_and(|v| v.as_bytes().starts_with(PROBLEM_JSON.as_bytes()));
    // The console's error pages are HTML for people; they are not bare.
    let is_page = content_type.is_some_and(|v| v.as_bytes().starts_with(b"text/html"));
    if !(status.is_client_error() || status.is_server_error()) || is_problem || is_page {
        return response;
    }
    let error = match status {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
        StatusCode::NOT_FOUND => ApiError::NotFound("no such resource".into()),
        StatusCode::METHOD_NOT_ALLOWED => ApiError::MethodNotAllowed,
        StatusCode::SERVICE_UNAVAILABLE => {
            ApiError::Unavailable("the request took too long".into())
        }
        s if s.is_server_error() => ApiError::Internal(anyhow::anyhow!("{s} from middleware")),
        s => ApiError::BadRequest {
            detail: s.to_string(),
            errors: vec![],
        },
    };
    error.into_response()
}
