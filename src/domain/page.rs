//! Keyset pages, shared by every edge that lists things: a position (a UUIDv7, a sequence
//! number, or a time and an id) travels as an opaque base64url cursor, and a page is cut from one extra row.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use uuid::Uuid;

/// Cursors handed out have at most 32 characters (24 bytes, base64url); longer ones are refused
/// unread.
pub const MAX_CURSOR_CHARS: usize = 64;

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

/// The position a cursor names; `None` for one that was not handed out.
pub fn decode<C: Cursor>(cursor: &str) -> Option<C> {
    Some(cursor)
        .filter(|c| c.len() <= MAX_CURSOR_CHARS)
        .and_then(|c| URL_SAFE_NO_PAD.decode(c).ok())
        .and_then(|bytes| C::from_bytes(&bytes))
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
