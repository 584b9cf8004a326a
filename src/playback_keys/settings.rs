//! The token and signing-key settings, and what the token endpoints need from this engine.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::{KeyRing, KeySource};
use crate::tokens::TokenLimits;

/// Token and signing-key settings.
#[derive(Debug, Clone, clap::Args)]
pub struct TokenArgs {
    /// TTL of a playback token when the request names none, in seconds (capped at 600 for tokens
    /// with a viewer id or single use, as IVS requires).
    #[arg(long, env = "PLAYBACK_TOKEN_DEFAULT_TTL_SECS", default_value_t = 300, value_parser = clap::value_parser!(u32).range(1..))]
    pub playback_token_default_ttl_secs: u32,
    /// Longest TTL a token may have, in seconds. A rotated-out key stays in IVS this long.
    #[arg(long, env = "PLAYBACK_TOKEN_MAX_TTL_SECS", default_value_t = 3600, value_parser = clap::value_parser!(u32).range(1..))]
    pub playback_token_max_ttl_secs: u32,
    /// PEM file (PKCS#8 or SEC1) with the P-384 signing key. Rotation then means replacing it.
    #[arg(long, env = "PLAYBACK_SIGNING_KEY_FILE")]
    pub playback_signing_key_file: Option<PathBuf>,
    /// SSM SecureString parameter holding the signing key (`playback-key init` creates it);
    /// each rotation writes a new version.
    #[arg(long, env = "PLAYBACK_SIGNING_KEY_SSM_PARAMETER")]
    pub playback_signing_key_ssm_parameter: Option<String>,
    /// Seconds between checks of the signing keys (finishing imports, deleting expired keys);
    /// changes are otherwise picked up at once through Postgres notifications.
    #[arg(long, env = "PLAYBACK_KEY_CHECK_SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    pub playback_key_check_secs: u64,
}

impl TokenArgs {
    pub fn limits(&self) -> TokenLimits {
        TokenLimits {
            default_ttl_secs: i64::from(self.playback_token_default_ttl_secs),
            max_ttl_secs: i64::from(self.playback_token_max_ttl_secs),
        }
    }

    /// Refuses settings that contradict each other (each alone is range-checked by clap).
    pub fn check(&self) -> anyhow::Result<()> {
        if self.playback_token_default_ttl_secs > self.playback_token_max_ttl_secs {
            anyhow::bail!(
                "PLAYBACK_TOKEN_DEFAULT_TTL_SECS ({}) is larger than PLAYBACK_TOKEN_MAX_TTL_SECS ({})",
                self.playback_token_default_ttl_secs,
                self.playback_token_max_ttl_secs
            );
        }
        Ok(())
    }

    pub fn key_check(&self) -> Duration {
        Duration::from_secs(self.playback_key_check_secs)
    }

    pub fn max_ttl(&self) -> Duration {
        Duration::from_secs(self.limits().max_ttl_secs as u64)
    }

    pub fn source(&self) -> anyhow::Result<KeySource> {
        KeySource::new(
            self.playback_signing_key_file.clone(),
            self.playback_signing_key_ssm_parameter.clone(),
        )
    }
}

/// What the token endpoints need: the key ring and the TTL bounds.
pub struct Tokens {
    pub ring: Arc<KeyRing>,
    pub limits: TokenLimits,
}

impl Tokens {
    pub fn new(ring: Arc<KeyRing>, limits: TokenLimits) -> Arc<Self> {
        Arc::new(Tokens { ring, limits })
    }
}
