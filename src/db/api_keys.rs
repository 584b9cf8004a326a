//! Queries on `api_keys`. Only hashes are stored; the secret exists in the caller's hands alone.

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgExecutor};
use uuid::Uuid;

use crate::domain::api_key::Caller;

#[derive(Debug, Clone, FromRow)]
pub struct ApiKeyRow {
    pub id: Uuid,
    pub name: String,
    pub key_prefix: String,
    pub scopes: Vec<String>,
    pub tenant: Option<String>,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl ApiKeyRow {
    /// The caller this key makes (scopes it no longer knows are ignored).
    pub fn caller(&self) -> Caller {
        Caller {
            key_name: self.name.clone(),
            scopes: self.scopes.iter().filter_map(|s| s.parse().ok()).collect(),
            tenant: self.tenant.clone(),
        }
    }
}

pub struct NewApiKey<'a> {
    pub name: &'a str,
    pub hash: &'a [u8],
    pub prefix: &'a str,
    pub scopes: &'a [String],
    pub tenant: Option<&'a str>,
}

/// Inserts a key; `None` when an active key already has this name.
pub async fn insert(
    db: impl PgExecutor<'_>,
    key: NewApiKey<'_>,
) -> sqlx::Result<Option<ApiKeyRow>> {
    sqlx::query_as(
        "insert into api_keys (id, name, key_hash, key_prefix, scopes, tenant)
         values ($1, $2, $3, $4, $5, $6)
         on conflict (name) where revoked_at is null do nothing
         returning id, name, key_prefix, scopes, tenant, created_at, revoked_at",
    )
    .bind(Uuid::now_v7())
    .bind(key.name)
    .bind(key.hash)
    .bind(key.prefix)
    .bind(key.scopes)
    .bind(key.tenant)
    .fetch_optional(db)
    .await
}

pub async fn find_active_by_hash(
    db: impl PgExecutor<'_>,
    hash: &[u8],
) -> sqlx::Result<Option<ApiKeyRow>> {
    sqlx::query_as(
        "select id, name, key_prefix, scopes, tenant, created_at, revoked_at
         from api_keys where key_hash = $1 and revoked_at is null",
    )
    .bind(hash)
    .fetch_optional(db)
    .await
}

pub async fn list(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<ApiKeyRow>> {
    sqlx::query_as(
        "select id, name, key_prefix, scopes, tenant, created_at, revoked_at
         from api_keys order by created_at, id",
    )
    .fetch_all(db)
    .await
}

/// Revokes the active key with this name; false when there is none.
pub async fn revoke(db: impl PgExecutor<'_>, name: &str) -> sqlx::Result<bool> {
    let result = sqlx::query(
        "update api_keys set revoked_at = now() where name = $1 and revoked_at is null",
    )
    .bind(name)
    .execute(db)
    .await?;
    Ok(result.rows_affected() > 0)
}
