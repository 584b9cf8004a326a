//! One bad field of a request, as every validation in the service reports it.

use serde::Serialize;
use utoipa::ToSchema;

/// One bad field of a request: where it is (a JSON pointer into the body) and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    /// JSON pointer to the offending field, e.g. `/recording/s3_bucket_name`.
    #[schema(example = "/name")]
    pub field: String,
    #[schema(
        example = "name must be 1-128 characters and contain only letters, numbers, hyphens, and underscores"
    )]
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}
