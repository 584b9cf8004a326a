//! Facts about playback public keys that do not depend on where a key is kept.

use p384::pkcs8::{DecodePublicKey, EncodePublicKey};
use sha2::{Digest, Sha256};

/// Our fingerprint of a public key: SHA-256 of its DER SubjectPublicKeyInfo, hex.
pub fn fingerprint(key: &p384::PublicKey) -> Result<String, p384::pkcs8::spki::Error> {
    let der = key.to_public_key_der()?;
    Ok(hex::encode(Sha256::digest(der.as_bytes())))
}

/// The fingerprint of a PEM public key, or `None` when it is not a P-384 key.
pub fn pem_fingerprint(pem: &str) -> Option<String> {
    let key = p384::PublicKey::from_public_key_pem(pem.trim()).ok()?;
    fingerprint(&key).ok()
}

/// Who holds a playback key's private half.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    serde::Serialize,
    utoipa::ToSchema,
    sqlx::Type,
    strum::IntoStaticStr,
)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum KeyOrigin {
    /// A channel's own key (`playback_public_key_pem`): the caller signs its tokens.
    Caller,
    /// The service's signing key.
    Managed,
}

/// A playback key's life: `importing` → `active` → `retiring` (still in IVS until its last
/// token expires) → `retired`; `failed` when IVS refused the import.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    serde::Serialize,
    utoipa::ToSchema,
    sqlx::Type,
    strum::IntoStaticStr,
)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum KeyState {
    Importing,
    Active,
    Retiring,
    Retired,
    Failed,
}

impl KeyOrigin {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}
