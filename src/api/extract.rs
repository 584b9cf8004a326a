//! Request extractors whose rejections are problem documents, never axum's plain text:
//! JSON bodies (content type, size, syntax and types checked, with the failing field named),
//! path ids and query strings.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::{header, request::Parts};
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::api::error::{ApiError, FieldError};

/// A JSON body (`application/json`, or any `application/*+json` such as merge-patch+json).
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        check_json_content_type(&req)?;
        let bytes = read_body(req, state).await?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// A JSON body whose every field is optional: no body at all means the default.
pub struct OptionalJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let typed = req.headers().contains_key(header::CONTENT_TYPE);
        if typed {
            check_json_content_type(&req)?;
        }
        let bytes = read_body(req, state).await?;
        if bytes.is_empty() {
            return Ok(OptionalJson(T::default()));
        }
        if !typed {
            return Err(json_required());
        }
        parse_json(&bytes).map(OptionalJson)
    }
}

fn check_json_content_type(req: &Request) -> Result<(), ApiError> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if !(essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json")))
    {
        return Err(json_required());
    }
    Ok(())
}

fn json_required() -> ApiError {
    ApiError::UnsupportedMediaType(
        "send the body as JSON with `Content-Type: application/json`".into(),
    )
}

async fn read_body<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge
        } else {
            ApiError::BadRequest {
                detail: "the request body could not be read".into(),
                errors: vec![],
            }
        }
    })
}

/// Deserializes JSON, naming the field that has the wrong type or is unknown.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let pointer = json_pointer(e.path());
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            ApiError::BadRequest {
                detail: format!("the body is not valid JSON: {inner}"),
                errors: vec![],
            }
        } else {
            ApiError::BadRequest {
                detail: "a field has the wrong type or is not known".into(),
                errors: vec![FieldError::new(pointer, inner.to_string())],
            }
        }
    })
}

/// Same as [`parse_json`] for a value already in memory (a merged patch document).
pub fn from_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ApiError> {
    parse_json(&serde_json::to_vec(&value).map_err(anyhow::Error::from)?)
}

fn json_pointer(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut pointer = String::new();
    for segment in path.iter() {
        pointer.push('/');
        match segment {
            Segment::Seq { index } => pointer.push_str(&index.to_string()),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                pointer.push_str(&key.replace('~', "~0").replace('/', "~1"))
            }
            Segment::Unknown => pointer.push('?'),
        }
    }
    pointer
}

/// The `{id}` of a channel URL. Anything that is not a UUID names no channel: 404.
pub struct ChannelId(pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for ChannelId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Path::<Uuid>::from_request_parts(parts, state)
            .await
            .map(|Path(id)| ChannelId(id))
            .map_err(|_| ApiError::not_found_channel())
    }
}

/// A query string, with a 400 problem naming what could not be read.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(q)| ApiQuery(q))
            .map_err(|e| ApiError::BadRequest {
                detail: format!("invalid query string: {}", e.body_text()),
                errors: vec![],
            })
    }
}
