//! AWS errors as the reconciler sees them: the operation, AWS's code and message, and whether
//! trying again later can help. The classification is a pure function, unit-tested below.

use aws_sdk_ivs::error::{ProvideErrorMetadata, SdkError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Throttling, 5xx, timeouts, a live channel: try again after a backoff.
    Retryable,
    /// Validation, access denied, quota exceeded: a person must change something.
    Permanent,
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("{operation}: {code}: {message}")]
pub struct AwsError {
    pub operation: &'static str,
    pub code: String,
    pub message: String,
    pub status: Option<u16>,
    pub class: ErrorClass,
}

impl AwsError {
    pub fn is_code(&self, code: &str) -> bool {
        self.code == code
    }

    pub fn is_not_found(&self) -> bool {
        self.code == "ResourceNotFoundException"
            || self.code == "ParameterNotFound"
            || self.status == Some(404)
    }

    pub fn retryable(&self) -> bool {
        self.class == ErrorClass::Retryable
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
    let class = classify(code.as_deref(), status);
    AwsError {
        operation,
        code: code.unwrap_or_else(|| {
            if status.is_some() {
                "UnknownError".into()
            } else {
                "NetworkError".into()
            }
        }),
        message: message.unwrap_or_default(),
        status,
        class,
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
}
