//! API keys: how they are made, stored (hashed) and checked, their scopes, and the [`Caller`]
//! extractor that every protected handler takes.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::{header, request::Parts};
use base64::Engine;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use crate::db;
use crate::error::ApiError;
use crate::startup::AppState;

/// Every key starts with this, so a leaked key is easy to recognise (and to scan for).
pub const KEY_PREFIX: &str = "ivsp_";

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema, clap::ValueEnum,
)]
pub enum Scope {
    #[serde(rename = "channels:read")]
    #[value(name = "channels:read")]
    ChannelsRead,
    #[serde(rename = "channels:write")]
    #[value(name = "channels:write")]
    ChannelsWrite,
    #[serde(rename = "tokens:mint")]
    #[value(name = "tokens:mint")]
    TokensMint,
    #[serde(rename = "stream-keys:read")]
    #[value(name = "stream-keys:read")]
    StreamKeysRead,
    /// Everything, including operator endpoints.
    #[serde(rename = "admin")]
    #[value(name = "admin")]
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 5] = [
        Scope::ChannelsRead,
        Scope::ChannelsWrite,
        Scope::TokensMint,
        Scope::StreamKeysRead,
        Scope::Admin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::ChannelsRead => "channels:read",
            Scope::ChannelsWrite => "channels:write",
            Scope::TokensMint => "tokens:mint",
            Scope::StreamKeysRead => "stream-keys:read",
            Scope::Admin => "admin",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scope {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scope::ALL
            .into_iter()
            .find(|scope| scope.as_str() == s)
            .ok_or_else(|| format!("unknown scope '{s}'"))
    }
}

/// A freshly generated key: the secret (shown once) and what is stored about it.
pub struct NewKey {
    pub secret: String,
    pub hash: [u8; 32],
    pub prefix: String,
}

/// 32 random bytes (256 bits), base64url without padding, behind [`KEY_PREFIX`].
pub fn generate_key() -> NewKey {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let secret = format!(
        "{KEY_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    );
    NewKey {
        hash: hash_key(&secret),
        prefix: secret[..KEY_PREFIX.len() + 6].to_owned(),
        secret,
    }
}

pub fn hash_key(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// Who is calling: the API key that authenticated the request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub key_name: String,
    pub scopes: Vec<Scope>,
    /// A tenant-bound key sees and touches only this tenant's channels.
    pub tenant: Option<String>,
}

impl Caller {
    pub fn require(&self, scope: Scope) -> Result<(), ApiError> {
        if self.scopes.contains(&Scope::Admin) || self.scopes.contains(&scope) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "this API key lacks the '{scope}' scope"
            )))
        }
    }

    /// Whether this caller may see a channel of `tenant`. Callers that may not get a 404, so
    /// that the existence of other tenants' channels does not leak.
    pub fn can_see(&self, tenant: &str) -> bool {
        self.tenant.as_deref().is_none_or(|own| own == tenant)
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    /// One indexed read per request: a revoked key fails the very next request.
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let hash = bearer_hash(parts)?;
        lookup(state, &hash).await
    }
}

/// The caller of the token hot path, from the in-process cache when it can be. A revocation
/// reaches the cache through `NOTIFY` (milliseconds), so only minting trades the strictly
/// transactional check of [`Caller`] for no database read per token.
pub struct MintCaller(pub Arc<Caller>);

impl FromRequestParts<AppState> for MintCaller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let hash = bearer_hash(parts)?;
        if let Some(caller) = state.cache.api_key(&hash) {
            return Ok(MintCaller(caller));
        }
        let epoch = state.cache.epoch();
        let caller = Arc::new(lookup(state, &hash).await?);
        state.cache.put_api_key(epoch, hash, caller.clone());
        Ok(MintCaller(caller))
    }
}

/// SHA-256 of the bearer key, or 401 when there is none.
fn bearer_hash(parts: &Parts) -> Result<[u8; 32], ApiError> {
    let secret = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|s| s.starts_with(KEY_PREFIX))
        .ok_or(ApiError::Unauthorized)?;
    Ok(hash_key(secret))
}

async fn lookup(state: &AppState, hash: &[u8; 32]) -> Result<Caller, ApiError> {
    let key = db::api_keys::find_active_by_hash(&state.pool, hash)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    Ok(Caller {
        key_name: key.name,
        scopes: key.scopes.iter().filter_map(|s| s.parse().ok()).collect(),
        tenant: key.tenant,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_long_random_and_hashed() {
        let a = generate_key();
        let b = generate_key();
        assert_ne!(a.secret, b.secret);
        assert!(a.secret.starts_with(KEY_PREFIX));
        assert_eq!(a.secret.len(), KEY_PREFIX.len() + 43);
        assert_eq!(a.hash, hash_key(&a.secret));
        assert!(a.secret.starts_with(&a.prefix));
    }

    #[test]
    fn admin_implies_every_scope_and_tenants_are_isolated() {
        let admin = Caller {
            key_name: "a".into(),
            scopes: vec![Scope::Admin],
            tenant: None,
        };
        assert!(Scope::ALL.iter().all(|s| admin.require(*s).is_ok()));
        let reader = Caller {
            key_name: "r".into(),
            scopes: vec![Scope::ChannelsRead],
            tenant: Some("t1".into()),
        };
        assert!(reader.require(Scope::ChannelsWrite).is_err());
        assert!(reader.can_see("t1") && !reader.can_see("t2"));
        assert_eq!(
            "stream-keys:read".parse::<Scope>(),
            Ok(Scope::StreamKeysRead)
        );
    }
}
