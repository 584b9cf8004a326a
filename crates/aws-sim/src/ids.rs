//! Identifier and ARN shapes: resource ids, ARNs, ingest/playback hosts, stream-key values and
//! stream ids, generated the way AWS formats them.

use rand::Rng;
use rand::distributions::Alphanumeric;
use sha2::{Digest, Sha256};

/// `n` random ASCII letters and digits.
pub fn alnum(n: usize) -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(n)
        .map(char::from)
        .collect()
}

/// The region and account an operation runs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub region: String,
    pub account: String,
}

impl Scope {
    /// `arn:aws:ivs:<region>:<account>:<kind>/<12 alnum>`.
    pub fn ivs_arn(&self, kind: &str) -> String {
        format!(
            "arn:aws:ivs:{}:{}:{kind}/{}",
            self.region,
            self.account,
            alnum(12)
        )
    }

    pub fn ssm_parameter_arn(&self, name: &str) -> String {
        let sep = if name.starts_with('/') { "" } else { "/" };
        format!(
            "arn:aws:ssm:{}:{}:parameter{sep}{name}",
            self.region, self.account
        )
    }

    /// 12 lowercase hex digits, fixed per account like AWS's per-account ingest/playback prefix.
    pub fn customer_prefix(&self) -> String {
        hex::encode(Sha256::digest(self.account.as_bytes()))[..12].to_owned()
    }

    pub fn ingest_endpoint(&self) -> String {
        format!(
            "{}.global-contribute.live-video.net",
            self.customer_prefix()
        )
    }

    pub fn srt_endpoint(&self) -> String {
        format!("{}.srt.live-video.net", self.customer_prefix())
    }

    pub fn playback_url(&self, channel_id: &str) -> String {
        let (region, account) = (&self.region, &self.account);
        format!(
            "https://{}.{region}.playback.live-video.net/api/video/v1/{region}.{account}.channel.{channel_id}.m3u8",
            self.customer_prefix()
        )
    }

    /// `sk_<region>_<36 alnum>`.
    pub fn stream_key_value(&self) -> String {
        format!("sk_{}_{}", self.region, alnum(36))
    }
}

/// `st-` + 23 alnum (26 chars, `^st-[a-zA-Z0-9]+$`).
pub fn stream_id() -> String {
    format!("st-{}", alnum(23))
}

/// The resource id: the part after the last `/` of an ARN.
pub fn arn_id(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// `(region, resource kind)` of a well-formed IVS ARN, else None.
pub fn parse_ivs_arn(arn: &str) -> Option<(&str, &str)> {
    let rest = arn.strip_prefix("arn:aws:ivs:")?;
    let mut parts = rest.splitn(3, ':');
    let (region, account, resource) = (parts.next()?, parts.next()?, parts.next()?);
    let (kind, id) = resource.split_once('/')?;
    let region_ok = !region.is_empty()
        && region
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    let account_ok = !account.is_empty() && account.chars().all(|c| c.is_ascii_digit());
    let id_ok = !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    (region_ok && account_ok && id_ok && arn.len() <= 128).then_some((region, kind))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_match_aws() {
        let scope = Scope {
            region: "us-west-2".into(),
            account: "123456789012".into(),
        };
        let arn = scope.ivs_arn("channel");
        assert_eq!(parse_ivs_arn(&arn), Some(("us-west-2", "channel")));
        assert_eq!(arn_id(&arn).len(), 12);
        let prefix = scope.customer_prefix();
        assert!(
            prefix.len() == 12
                && prefix
                    .chars()
                    .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert!(
            scope
                .playback_url("abc")
                .ends_with("/api/video/v1/us-west-2.123456789012.channel.abc.m3u8")
        );
        assert!(scope.stream_key_value().starts_with("sk_us-west-2_"));
        assert_eq!(stream_id().len(), 26);
        assert_eq!(parse_ivs_arn("arn:aws:ivs:us-east-1:1:channel/"), None);
    }
}
