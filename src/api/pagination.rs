//! Cursor pagination for every list endpoint: the page-size rule, opaque cursors over a keyset
//! position (a UUIDv7, a sequence number, or a time and an id for lists newest first), and
//! cutting a page from one extra row.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use super::error::{ApiError, ApiResult, FieldError};

pub const DEFAULT_LIMIT: i64 = 20;
pub const MAX_LIMIT: i64 = 100;
/// Cursors this API hands out have at most 32 characters (24 bytes, base64url); longer ones are
/// refused unread.
pub const MAX_CURSOR_CHARS: usize = 64;
/// The cursor alphabet (base64url without padding), as the OpenAPI document states it.
pub const CURSOR_PATTERN: &str = "^[A-Za-z0-9_-]*$";

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// Page size, 1-100, default 20.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    #[param(max_length = 64, pattern = "^[A-Za-z0-9_-]*$")]
    pub cursor: Option<String>,
}

/// The page size asked for, or 422.
pub fn page_limit(limit: Option<i64>) -> ApiResult<i64> {
    match limit.unwrap_or(DEFAULT_LIMIT) {
        l @ 1..=MAX_LIMIT => Ok(l),
        _ => Err(ApiError::Validation(vec![FieldError::new(
            "limit",
            format!("limit must be between 1 and {MAX_LIMIT}"),
        )])),
    }
}

/// A keyset position that travels as an opaque cursor.
pub trait Cursor: Sized {
    fn to_bytes(&self) -> Vec<u8>;
    fn from_bytes(bytes: &[u8]) -> Option<Self>;
}

impl Cursor for Uuid {
    fn to_bytes(&self) -> Vec<u8> {
        self.as_bytes().to_vec()
    }

    fn from_bytes(bytes: &[u8]) -> Option<Self> {
        Uuid::from_slice(bytes).ok()
    }
}

impl Cursor for i64 {
    fn to_bytes(&self) -> Vec<u8> {
        self.to_be_bytes().to_vec()
    }

    fn from_bytes(bytes: &[u8]) -> Option<Self> {
        <[u8; 8]>::try_from(bytes).ok().map(i64::from_be_bytes)
    }
}

/// A position in a list ordered by a time and then an id (microseconds, as Postgres keeps them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimePosition(pub chrono::DateTime<chrono::Utc>, pub Uuid);

impl Cursor for TimePosition {
    fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = self.0.timestamp_micros().to_be_bytes().to_vec();
        bytes.extend_from_slice(self.1.as_bytes());
        bytes
    }

    fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let (micros, id) = (bytes.get(..8)?, bytes.get(8..)?);
        let micros = i64::from_be_bytes(micros.try_into().ok()?);
        let at = chrono::DateTime::from_timestamp_micros(micros)?;
        Some(TimePosition(at, Uuid::from_slice(id).ok()?))
    }
}

/// The position a `cursor` parameter names, or 400 for one this API did not hand out.
pub fn decode<C: Cursor>(cursor: Option<&str>) -> ApiResult<Option<C>> {
    let Some(cursor) = cursor else {
        return Ok(None);
    };
    Some(cursor)
        .filter(|c| c.len() <= MAX_CURSOR_CHARS)
        .and_then(|c| URL_SAFE_NO_PAD.decode(c).ok())
        .and_then(|bytes| C::from_bytes(&bytes))
        .map(Some)
        .ok_or_else(|| ApiError::BadRequest {
            detail: "cursor is not one this API returned".into(),
            errors: vec![],
        })
}

/// Cuts a page from rows fetched with `limit + 1`; returns the page and the next cursor (none on
/// the last page).
pub fn cut<T, C: Cursor>(
    mut rows: Vec<T>,
    limit: i64,
    position: impl Fn(&T) -> C,
) -> (Vec<T>, Option<String>) {
    if rows.len() as i64 <= limit {
        return (rows, None);
    }
    rows.truncate(limit as usize);
    let next = rows
        .last()
        .map(|row| URL_SAFE_NO_PAD.encode(position(row).to_bytes()));
    (rows, next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_pages_are_cut() {
        let (page, next) = cut(vec![1i64, 2, 3], 2, |n| *n);
        assert_eq!(page, [1, 2]);
        assert_eq!(decode::<i64>(next.as_deref()).unwrap(), Some(2));
        let (page, next) = cut(vec![1i64, 2], 2, |n| *n);
        assert_eq!((page.len(), next), (2, None));
        let id = Uuid::now_v7();
        let (_, next) = cut(vec![id, Uuid::now_v7()], 1, |u| *u);
        assert_eq!(decode::<Uuid>(next.as_deref()).unwrap(), Some(id));
        assert!(decode::<Uuid>(Some("not a cursor")).is_err());
        let at = chrono::DateTime::from_timestamp_micros(1_764_669_600_123_456).unwrap();
        let (_, next) = cut(vec![at, at], 1, |t| TimePosition(*t, id));
        assert!(next.as_ref().is_some_and(|n| n.len() <= 32));
        assert_eq!(
            decode::<TimePosition>(next.as_deref()).unwrap(),
            Some(TimePosition(at, id))
        );
        assert!(page_limit(Some(0)).is_err() && page_limit(None).unwrap() == DEFAULT_LIMIT);
    }
}
