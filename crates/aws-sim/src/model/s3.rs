//! S3 shapes: buckets (one global namespace) and their objects by key.

use std::collections::BTreeMap;

use axum::body::Bytes;
use chrono::{DateTime, Utc};

#[derive(Debug, Clone)]
pub struct Bucket {
    pub name: String,
    pub region: String,
    pub created: DateTime<Utc>,
    pub objects: BTreeMap<String, Object>,
}

#[derive(Debug, Clone)]
pub struct Object {
    pub body: Bytes,
    /// Quoted hex MD5, as S3 sends it.
    pub etag: String,
    pub content_type: String,
    pub last_modified: DateTime<Utc>,
}

impl Object {
    pub fn new(body: Bytes, content_type: &str) -> Self {
        Self {
            etag: format!("\"{}\"", crate::wire::md5_hex(&body)),
            body,
            content_type: content_type.to_owned(),
            last_modified: Utc::now(),
        }
    }
}
