//! Where the managed private key lives: a PEM file (`PLAYBACK_SIGNING_KEY_FILE`), or an SSM
//! SecureString parameter (`PLAYBACK_SIGNING_KEY_SSM_PARAMETER`). Rotation writes each new key as
//! a new version of that parameter; `playback_keys.ssm_version` records which version is which
//! key, so every process loads exactly the key the database says is active. Only public facts
//! (fingerprint, version) ever reach Postgres or a log.

use std::path::PathBuf;

use anyhow::{Context, bail};

use crate::aws::{Aws, PutParameter};
use crate::domain::resources::MANAGED_BY;
use crate::tokens::SigningKey;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// No key configured: the service mints no tokens.
    None,
    File(PathBuf),
    Ssm(String),
}

/// A key loaded from its source, with the SSM version it came from.
pub struct Loaded {
    pub key: SigningKey,
    pub ssm_version: Option<i64>,
}

impl KeySource {
    pub fn new(file: Option<PathBuf>, ssm_parameter: Option<String>) -> anyhow::Result<Self> {
        match (file, ssm_parameter) {
            (Some(_), Some(_)) => bail!(
                "set PLAYBACK_SIGNING_KEY_FILE or PLAYBACK_SIGNING_KEY_SSM_PARAMETER, not both"
            ),
            (Some(path), None) => Ok(KeySource::File(path)),
            (None, Some(name)) => Ok(KeySource::Ssm(name)),
            (None, None) => Ok(KeySource::None),
        }
    }

    /// The SSM parameter a rotation writes to, or why this source cannot rotate.
    pub fn rotatable(&self) -> Result<&str, String> {
        match self {
            KeySource::Ssm(name) => Ok(name),
            KeySource::File(path) => Err(format!(
                "the signing key comes from the file {} (PLAYBACK_SIGNING_KEY_FILE), which the service cannot \
                 write: rotate by replacing the file and restarting, or keep the key in SSM \
                 (PLAYBACK_SIGNING_KEY_SSM_PARAMETER) to rotate with one call",
                path.display()
            )),
            KeySource::None => Err(
                "no signing key is configured (PLAYBACK_SIGNING_KEY_SSM_PARAMETER or _FILE)".into(),
            ),
        }
    }

    /// The source's current key: the file's, or the parameter's latest version.
    pub async fn load_current(&self, aws: &Aws) -> anyhow::Result<Option<Loaded>> {
        match self {
            KeySource::None => Ok(None),
            KeySource::File(path) => {
                let pem = std::fs::read_to_string(path)
                    .with_context(|| format!("reading the signing key file {}", path.display()))?;
                let key = SigningKey::from_pem(&pem)
                    .with_context(|| format!("the signing key file {}", path.display()))?;
                Ok(Some(Loaded {
                    key,
                    ssm_version: None,
                }))
            }
            KeySource::Ssm(name) => read_parameter(aws, name).await.map(Some),
        }
    }

    /// One version of the SSM parameter (the key the database says is active).
    pub async fn load_version(&self, aws: &Aws, version: i64) -> anyhow::Result<Loaded> {
        match self {
            KeySource::Ssm(name) => read_parameter(aws, &format!("{name}:{version}")).await,
            _ => bail!("only an SSM key source keeps versions"),
        }
    }
}

async fn read_parameter(aws: &Aws, selector: &str) -> anyhow::Result<Loaded> {
    let (pem, version) = aws
        .get_parameter(selector)
        .await
        .with_context(|| format!("reading the signing key parameter {selector}"))?;
    let key = SigningKey::from_pem(&pem)
        .with_context(|| format!("the signing key parameter {selector}"))?;
    Ok(Loaded {
        key,
        ssm_version: Some(version),
    })
}

/// Generates a key and writes it as a SecureString: a new parameter (`overwrite` false, refused
/// if it exists) or a new version of it (a rotation). Returns the key and the version written.
pub async fn store_new(aws: &Aws, name: &str, overwrite: bool) -> anyhow::Result<Loaded> {
    let (key, pem) = SigningKey::generate()?;
    // SSM refuses tags on an overwrite; the first write carries them.
    let tags = [("ManagedBy".to_owned(), MANAGED_BY.to_owned())];
    let request = PutParameter {
        name,
        value: pem.as_str(),
        secure: true,
        overwrite,
        tags: if overwrite { &[] } else { &tags },
        description: Some("ivs-provisioner playback signing key (P-384, PKCS#8 PEM)"),
    };
    let version = aws
        .put_parameter(&request)
        .await
        .with_context(|| format!("writing the signing key parameter {name}"))?;
    Ok(Loaded {
        key,
        ssm_version: Some(version),
    })
}
