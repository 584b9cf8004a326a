//! AWS errors as the service sees them: the operation, AWS's code and message, what kind of
//! refusal it is (so callers match on a type, never on a code string), and whether trying again
//! later can help. The classification is a pure function, unit-tested below.

use aws_sdk_ivs::error::{ProvideErrorMetadata, SdkError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Throttling, 5xx, timeouts, a live channel: try again after a backoff.
    Retryable,
    /// Validation, access denied, quota exceeded: a person must change something.
    Permanent,
}

/// What kind of refusal an AWS error is, as far as the service acts on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AwsErrorKind {
    /// The resource does not exist (IVS ResourceNotFoundException, SSM ParameterNotFound, 404).
    NotFound,
    /// IVS refuses because of the resource's state: a live channel, a configuration in use, a
    /// key pair already imported.
    Conflict,
    /// An account quota is full (IVS ServiceQuotaExceededException, SSM ParameterLimitExceeded).
    QuotaExceeded,
    /// IVS answers that the channel is not live (StopStream, GetStream).
    NotBroadcasting,
    /// SSM refuses to create a parameter that exists.
    AlreadyExists,
    /// AWS throttled the call.
    Throttled,
    /// The client-side rate budget was not free within the caller's wait.
    BudgetExhausted,
    /// AWS did not answer within the connect, attempt or operation timeout.
    Timeout,
    /// AWS answered without what the call is for (an empty body).
    EmptyResponse,
    /// Anything else; `code` and `class` tell more.
    Other,
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("{operation}: {code}: {message}")]
pub struct AwsError {
    pub operation: &'static str,
    pub code: String,
    pub message: String,
    pub status: Option<u16>,
    pub class: ErrorClass,
    pub kind: AwsErrorKind,
    /// For [`AwsErrorKind::BudgetExhausted`]: how much longer than the caller's wait the next
    /// turn was when it gave up.
    pub retry_after: Option<std::time::Duration>,
}

impl AwsError {
    pub fn is_not_found(&self) -> bool {
        self.kind == AwsErrorKind::NotFound
    }

    pub fn retryable(&self) -> bool {
        self.class == ErrorClass::Retryable
    }

    /// An error made by the service itself for `operation`, not by AWS.
    pub fn local(operation: &'static str, kind: AwsErrorKind, message: impl Into<String>) -> Self {
        let retryable = matches!(kind, AwsErrorKind::BudgetExhausted);
        AwsError {
            operation,
            code: match kind {
                AwsErrorKind::BudgetExhausted => "RateBudgetExhausted",
                _ => "EmptyResponse",
            }
            .into(),
            message: message.into(),
            status: None,
            class: if retryable {
                ErrorClass::Retryable
            } else {
                ErrorClass::Permanent
            },
            kind,
            retry_after: None,
        }
    }

    /// The client-side rate budget of `operation` is not free within the caller's wait: the
    /// next turn is `beyond` later than that.
    pub fn budget_exhausted(operation: &'static str, beyond: std::time::Duration) -> Self {
        AwsError {
            retry_after: Some(beyond),
            ..Self::local(
                operation,
                AwsErrorKind::BudgetExhausted,
                format!("the {operation} rate budget is in use; retry shortly"),
            )
        }
    }
}

/// The kind of an error, from AWS's error code and HTTP status.
pub fn kind_of(code: Option<&str>, status: Option<u16>) -> AwsErrorKind {
    match (code, status) {
        // IVS answers ChannelNotBroadcasting with 404: the code decides before the status.
        (Some("ChannelNotBroadcasting"), _) => AwsErrorKind::NotBroadcasting,
        (
            Some(
                "ResourceNotFoundException"
                | "ParameterNotFound"
                | "QueueDoesNotExist"
                | "AWS.SimpleQueueService.NonExistentQueue",
            ),
            _,
        )
        | (_, Some(404)) => AwsErrorKind::NotFound,
        (Some("ConflictException"), _) => AwsErrorKind::Conflict,
        (Some("ServiceQuotaExceededException" | "ParameterLimitExceeded"), _) => {
            AwsErrorKind::QuotaExceeded
        }
        (Some("ParameterAlreadyExists"), _) => AwsErrorKind::AlreadyExists,
        (Some(c), _) if c.starts_with("Throttling") || c == "TooManyRequestsException" => {
            AwsErrorKind::Throttled
        }
        (_, Some(429)) => AwsErrorKind::Throttled,
        _ => AwsErrorKind::Other,
    }
}

/// Retryable or permanent, from AWS's error code and HTTP status. An error without a response
/// (timeout, connection refused, DNS) is retryable.
pub fn classify(code: Option<&str>, status: Option<u16>) -> ErrorClass {
    const RETRYABLE_CODES: &[&str] = &[
        "ThrottlingException",
        "Throttling",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "TooManyUpdates",
        "InternalServerException",
        "InternalServerError",
        "ServiceUnavailable",
        "StreamUnavailable",
        "RequestTimeout",
        "RequestTimeoutException",
        // IVS refuses to update or delete a live channel; it will stop being live.
        "ConflictException",
    ];
    const PERMANENT_CODES: &[&str] = &[
        "ValidationException",
        "AccessDeniedException",
        "PendingVerification",
        "ServiceQuotaExceededException",
        "ParameterLimitExceeded",
        "HierarchyLevelLimitExceededException",
        "InvalidKeyId",
        "UnrecognizedClientException",
        "InvalidSignatureException",
    ];
    match (code, status) {
        (Some(c), _) if RETRYABLE_CODES.contains(&c) => ErrorClass::Retryable,
        (Some(c), _) if PERMANENT_CODES.contains(&c) => ErrorClass::Permanent,
        (_, Some(s)) if s == 429 || s >= 500 => ErrorClass::Retryable,
        (_, None) => ErrorClass::Retryable,
        _ => ErrorClass::Permanent,
    }
}

/// Converts any SDK error into an [`AwsError`], keeping AWS's code and message.
pub fn from_sdk<E, R>(operation: &'static str, error: SdkError<E, R>) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + HasStatus,
{
    let status = error.raw_response().map(HasStatus::status_code);
    let (code, message) = match &error {
        SdkError::ServiceError(service) => (
            service.err().code().map(str::to_owned),
            service.err().message().map(str::to_owned),
        ),
        other => (None, Some(aws_smithy_error_chain(other))),
    };
    let timed_out = match &error {
        SdkError::TimeoutError(_) => true,
        SdkError::DispatchFailure(failure) => failure.is_timeout(),
        _ => false,
    };
    let class = classify(code.as_deref(), status);
    let kind = if timed_out {
        AwsErrorKind::Timeout
    } else {
        kind_of(code.as_deref(), status)
    };
    AwsError {
        kind,
        operation,
        code: code.unwrap_or_else(|| {
            if timed_out {
                "Timeout".into()
            } else if status.is_some() {
                "UnknownError".into()
            } else {
                "NetworkError".into()
            }
        }),
        message: message.unwrap_or_default(),
        status,
        class,
        retry_after: None,
    }
}

/// The HTTP status of a raw SDK response.
pub trait HasStatus {
    fn status_code(&self) -> u16;
}

impl HasStatus for aws_sdk_ivs::config::http::HttpResponse {
    fn status_code(&self) -> u16 {
        self.status().as_u16()
    }
}

fn aws_smithy_error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttling_server_errors_and_network_failures_are_retryable() {
        assert_eq!(
            classify(Some("ThrottlingException"), Some(429)),
            ErrorClass::Retryable
        );
        assert_eq!(
            classify(Some("InternalServerException"), Some(500)),
            ErrorClass::Retryable
        );
        assert_eq!(classify(None, Some(503)), ErrorClass::Retryable);
        assert_eq!(classify(None, Some(429)), ErrorClass::Retryable);
        assert_eq!(classify(None, None), ErrorClass::Retryable);
        assert_eq!(
            classify(Some("ConflictException"), Some(409)),
            ErrorClass::Retryable
        );
    }

    #[test]
    fn validation_access_and_quota_errors_are_permanent() {
        assert_eq!(
            classify(Some("ValidationException"), Some(400)),
            ErrorClass::Permanent
        );
        assert_eq!(
            classify(Some("AccessDeniedException"), Some(403)),
            ErrorClass::Permanent
        );
        assert_eq!(
            classify(Some("ServiceQuotaExceededException"), Some(402)),
            ErrorClass::Permanent
        );
        assert_eq!(classify(None, Some(404)), ErrorClass::Permanent);
    }

    #[test]
    fn kinds_follow_codes_and_statuses() {
        assert_eq!(
            kind_of(Some("ResourceNotFoundException"), Some(404)),
            AwsErrorKind::NotFound
        );
        assert_eq!(
            kind_of(Some("ParameterNotFound"), Some(400)),
            AwsErrorKind::NotFound
        );
        assert_eq!(kind_of(None, Some(404)), AwsErrorKind::NotFound);
        assert_eq!(
            kind_of(Some("ConflictException"), Some(409)),
            AwsErrorKind::Conflict
        );
        assert_eq!(
            kind_of(Some("ServiceQuotaExceededException"), Some(402)),
            AwsErrorKind::QuotaExceeded
        );
        assert_eq!(
            kind_of(Some("ChannelNotBroadcasting"), Some(404)),
            AwsErrorKind::NotBroadcasting
        );
        assert_eq!(
            kind_of(Some("ParameterAlreadyExists"), Some(400)),
            AwsErrorKind::AlreadyExists
        );
        assert_eq!(
            kind_of(Some("ThrottlingException"), Some(429)),
            AwsErrorKind::Throttled
        );
        assert_eq!(
            kind_of(Some("ValidationException"), Some(400)),
            AwsErrorKind::Other
        );
    }
}
