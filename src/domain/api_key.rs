//! API keys as the domain knows them: their scopes, and how a key is made and hashed. Only the
//! hash is ever stored; checking a request's key is the HTTP layer's business.

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
