//! API keys as the domain knows them: their scopes, how a key is made and hashed, and the
//! [`Caller`] a key makes (its scopes and tenant binding, the access rules every edge applies).
//! Only the hash is ever stored; reading a request's key is each edge's business.

use base64::Engine;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

/// Every key starts with this, so a leaked key is easy to recognise (and to scan for).
pub const KEY_PREFIX: &str = "ivsp_";

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    ToSchema,
    clap::ValueEnum,
    strum::IntoStaticStr,
    strum::EnumString,
    strum::Display,
    strum::VariantArray,
)]
pub enum Scope {
    #[serde(rename = "channels:read")]
    #[value(name = "channels:read")]
    #[strum(serialize = "channels:read")]
    ChannelsRead,
    #[serde(rename = "channels:write")]
    #[value(name = "channels:write")]
    #[strum(serialize = "channels:write")]
    ChannelsWrite,
    #[serde(rename = "tokens:mint")]
    #[value(name = "tokens:mint")]
    #[strum(serialize = "tokens:mint")]
    TokensMint,
    #[serde(rename = "stream-keys:read")]
    #[value(name = "stream-keys:read")]
    #[strum(serialize = "stream-keys:read")]
    StreamKeysRead,
    /// Register and manage webhook endpoints (a tenant-bound key: its tenant's only).
    #[serde(rename = "webhooks:manage")]
    #[value(name = "webhooks:manage")]
    #[strum(serialize = "webhooks:manage")]
    WebhooksManage,
    /// Moderate a channel's chat: disconnect users, delete messages, send events.
    #[serde(rename = "chat:moderate")]
    #[value(name = "chat:moderate")]
    #[strum(serialize = "chat:moderate")]
    ChatModerate,
    /// Everything, including operator endpoints.
    #[serde(rename = "admin")]
    #[value(name = "admin")]
    #[strum(serialize = "admin")]
    Admin,
}

impl Scope {
    pub const ALL: &[Scope] = <Scope as strum::VariantArray>::VARIANTS;

    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// Who is acting: the API key behind a request or a console session.
#[derive(Debug, Clone)]
pub struct Caller {
    pub key_name: String,
    pub scopes: Vec<Scope>,
    /// A tenant-bound key sees and touches only this tenant's channels.
    pub tenant: Option<String>,
}

/// A caller lacks a scope: 403 at every edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("this API key lacks the '{0}' scope")]
pub struct MissingScope(pub Scope);

impl Caller {
    /// Whether the key has `scope` (`admin` implies every scope).
    pub fn allows(&self, scope: Scope) -> bool {
        self.scopes.contains(&Scope::Admin) || self.scopes.contains(&scope)
    }

    pub fn require(&self, scope: Scope) -> Result<(), MissingScope> {
        if self.allows(scope) {
            Ok(())
        } else {
            Err(MissingScope(scope))
        }
    }

    /// Whether this caller may see a channel of `tenant`. Callers that may not get a 404, so
    /// that the existence of other tenants' channels does not leak.
    pub fn can_see(&self, tenant: &str) -> bool {
        self.tenant.as_deref().is_none_or(|own| own == tenant)
    }

    /// Whether this caller may see a webhook endpoint of `tenant` (none: every tenant's events).
    /// A tenant-bound caller sees its tenant's endpoints only, not the all-tenant ones.
    pub fn can_see_endpoint(&self, tenant: Option<&str>) -> bool {
        match (self.tenant.as_deref(), tenant) {
            (None, _) => true,
            (Some(own), Some(tenant)) => own == tenant,
            (Some(_), None) => false,
        }
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
    fn scope_names_round_trip() {
        assert_eq!(
            "stream-keys:read".parse::<Scope>(),
            Ok(Scope::StreamKeysRead)
        );
        for scope in Scope::ALL {
            assert_eq!(scope.as_str().parse::<Scope>(), Ok(*scope));
            assert_eq!(scope.to_string(), scope.as_str());
        }
    }
}
