//! Why a playback-key operation did not happen, as a type callers match on.

use crate::aws::AwsError;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// An AWS call failed; its class says whether trying again can help.
    #[error(transparent)]
    Aws(#[from] AwsError),
    /// IVS refused to import the key (quota full, or the key is imported outside the service).
    #[error("{code}: {message}")]
    ImportRefused { code: &'static str, message: String },
    /// A rotation would need a fourth key pair.
    #[error("{0}")]
    QuotaFull(String),
    /// The key source cannot rotate (a file, or no key configured).
    #[error("{0}")]
    NotRotatable(String),
    /// Another process is importing or rotating right now.
    #[error("another rotation or key import is in progress; try again in a moment")]
    Busy,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl KeyError {
    /// Whether only a person can change the outcome.
    pub fn is_permanent(&self) -> bool {
        match self {
            KeyError::Aws(e) => !e.retryable(),
            KeyError::ImportRefused { .. } | KeyError::QuotaFull(_) | KeyError::NotRotatable(_) => {
                true
            }
            KeyError::Busy | KeyError::Database(_) | KeyError::Internal(_) => false,
        }
    }

    /// AWS's error code or the service's own.
    pub fn code(&self) -> &str {
        match self {
            KeyError::Aws(e) => &e.code,
            KeyError::ImportRefused { code, .. } => code,
            KeyError::QuotaFull(_) => "PlaybackKeyQuotaFull",
            KeyError::NotRotatable(_) => "PlaybackKeyNotRotatable",
            KeyError::Busy => "Busy",
            KeyError::Database(_) | KeyError::Internal(_) => "InternalError",
        }
    }

    pub fn message(&self) -> String {
        match self {
            KeyError::Aws(e) => format!("{}: {}", e.operation, e.message),
            KeyError::ImportRefused { message, .. } => message.clone(),
            other => other.to_string(),
        }
    }
}
