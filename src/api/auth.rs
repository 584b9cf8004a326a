//! Who is calling: the [`Caller`] extractor every protected handler takes (one indexed read of
//! the hashed bearer key per request), and [`MintCaller`], its cached form for the token hot path.
//! The rate limiter, which runs first, resolves the caller the way `MintCaller` does and leaves
//! it in the request ([`Authenticated`]) so that no request reads or hashes its key twice.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::{HeaderMap, header, request::Parts};

use super::error::ApiError;
use super::state::AppState;
use crate::db;
pub use crate::domain::api_key::{Caller, Scope};
use crate::domain::api_key::{KEY_PREFIX, hash_key};

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    /// One indexed read per request: a revoked key fails the very next request. The rate
    /// limiter's read counts when it read the database for this very request.
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(Authenticated {
            caller,
            fresh: true,
        }) = parts.extensions.get()
        {
            return Ok(Caller::clone(caller));
        }
        let hash = bearer_hash(&parts.headers)?;
        lookup(state, &hash).await
    }
}

/// The caller as the rate limiter resolved it, left in the request's extensions: `fresh` when
/// it was read from the database for this request rather than taken from the cache.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub caller: Arc<Caller>,
    pub fresh: bool,
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
        if let Some(authenticated) = parts.extensions.get::<Authenticated>() {
            return Ok(MintCaller(authenticated.caller.clone()));
        }
        let hash = bearer_hash(&parts.headers)?;
        resolve_cached(state, hash)
            .await
            .map(|authenticated| MintCaller(authenticated.caller))
    }
}

/// The caller behind `hash`, from the cache when it can be, else one indexed read (then cached).
pub(crate) async fn resolve_cached(
    state: &AppState,
    hash: [u8; 32],
) -> Result<Authenticated, ApiError> {
    if let Some(caller) = state.cache.api_key(&hash) {
        return Ok(Authenticated {
            caller,
            fresh: false,
        });
    }
    let epoch = state.cache.epoch();
    let caller = Arc::new(lookup(state, &hash).await?);
    state.cache.put_api_key(epoch, hash, caller.clone());
    Ok(Authenticated {
        caller,
        fresh: true,
    })
}

/// SHA-256 of the bearer key, or 401 when there is none.
pub(crate) fn bearer_hash(headers: &HeaderMap) -> Result<[u8; 32], ApiError> {
    let secret = headers
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
    Ok(key.caller())
}

#[cfg(test)]
mod tests {
    use super::*;

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
