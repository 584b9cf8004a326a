//! Cursor pagination for every list endpoint: the page-size rule and the query parameters; the
//! cursors (a UUIDv7, a sequence number, or a time and an id for lists newest first) and the
//! cutting of pages are the domain's (`domain::page`), shared with the console.

use serde::Deserialize;
use utoipa::IntoParams;

use super::error::{ApiError, ApiResult, FieldError};
use crate::domain::page;
pub use crate::domain::page::{Cursor, MAX_CURSOR_CHARS, TimePosition, cut};

pub const DEFAULT_LIMIT: i64 = 20;
pub const MAX_LIMIT: i64 = 100;
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

/// The position a `cursor` parameter names, or 400 for one this API did not hand out.
pub fn decode<C: Cursor>(cursor: Option<&str>) -> ApiResult<Option<C>> {
    let Some(cursor) = cursor else {
        return Ok(None);
    };
    page::decode(cursor)
        .map(Some)
        .ok_or_else(|| ApiError::BadRequest {
            detail: "cursor is not one this API returned".into(),
            errors: vec![],
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

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
