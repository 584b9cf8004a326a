//! What a mint request may ask for, checked against the limits IVS enforces (docs/aws-facts.md §4)
//! and the service's own TTL bounds, and the claims that result. Pure functions, unit-tested.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::domain::{FieldError, rules};

/// IVS caps `exp` at 10 minutes ahead for tokens with a viewer id or single use.
pub const MAX_TTL_WITH_VIEWER_SECS: i64 = 600;
/// IVS accepts at most 5 origins when strict origin enforcement is on.
pub const MAX_STRICT_ORIGINS: usize = 5;
/// `aws:viewer-id` is at most 40 characters.
pub const MAX_VIEWER_ID_CHARS: usize = 40;
/// Revocation takes the version as an IVS integer (i32), so larger versions could never be revoked.
pub const MAX_VIEWER_SESSION_VERSION: i64 = i32::MAX as i64;
/// IVS sets no limit without strict enforcement; the service does, because the token travels in
/// the playback URL's query string, which CDNs and players cap at a few kilobytes.
pub const MAX_ALLOWED_ORIGINS: usize = 20;
/// `https://` + `*.` + a 253-character host + `:` + a 5-digit port.
pub const MAX_ORIGIN_CHARS: usize = 8 + 2 + 253 + 1 + 5;
/// What `is_origin` accepts, as the OpenAPI document states it.
pub const ORIGIN_PATTERN: &str = r"^https?://(\*\.)?[A-Za-z0-9.-]{1,253}(:[0-9]{1,5})?$";
/// The largest TTL any deployment can allow (`PLAYBACK_TOKEN_MAX_TTL_SECS` is a u32); the
/// deployment's own maximum is usually far lower.
pub const MAX_TTL_SETTING_SECS: i64 = u32::MAX as i64;

/// Highest rendition a token lets the player fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum MaxResolution {
    #[serde(rename = "SD")]
    Sd,
    #[serde(rename = "HD")]
    Hd,
    #[serde(rename = "FULL_HD")]
    FullHd,
}

/// A request for a playback token. Every field is optional.
#[derive(Debug, Default, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"viewer_id": "member-4711", "ttl_seconds": 300, "allowed_origins": ["https://classes.example.com"], "strict_origin_enforcement": true}))]
pub struct TokenRequest {
    /// Who watches (no personal data), 1-40 characters; needed to revoke the viewer later.
    /// Limits the TTL to 600 seconds.
    #[schema(min_length = 1, max_length = 40)]
    pub viewer_id: Option<String>,
    /// Seconds until the token expires (it is checked only when playback starts). Default and
    /// maximum are the service's `PLAYBACK_TOKEN_DEFAULT_TTL_SECS` / `_MAX_TTL_SECS`; at most
    /// 600 with `viewer_id` or `single_use`.
    pub ttl_seconds: Option<i64>,
    /// Origins (`https://host[:port]`, the host may start with `*.`) allowed to play; default all.
    /// 1-20 of them (at most 5 with strict enforcement).
    #[schema(min_items = 1, max_items = 20)]
    pub allowed_origins: Option<Vec<String>>,
    /// Require a matching `Origin` on every playback request; at most 5 origins then.
    pub strict_origin_enforcement: Option<bool>,
    /// The token works for one playback session only. Limits the TTL to 600 seconds.
    pub single_use: Option<bool>,
    pub maximum_resolution: Option<MaxResolution>,
    /// With `viewer_id`: revoking versions up to N cuts off sessions whose token carried ≤ N.
    #[schema(minimum = 0, maximum = 2147483647)]
    pub viewer_session_version: Option<i64>,
}

/// The service's TTL bounds.
#[derive(Debug, Clone, Copy)]
pub struct TokenLimits {
    pub default_ttl_secs: i64,
    pub max_ttl_secs: i64,
}

/// The token payload, named and typed exactly as IVS reads it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TokenClaims<'a> {
    #[serde(rename = "aws:channel-arn")]
    pub channel_arn: &'a str,
    #[serde(
        rename = "aws:access-control-allow-origin",
        skip_serializing_if = "Option::is_none"
    )]
    pub allowed_origins: Option<String>,
    #[serde(
        rename = "aws:strict-origin-enforcement",
        skip_serializing_if = "Option::is_none"
    )]
    pub strict_origin_enforcement: Option<bool>,
    #[serde(rename = "aws:viewer-id", skip_serializing_if = "Option::is_none")]
    pub viewer_id: Option<&'a str>,
    #[serde(
        rename = "aws:single-use-uuid",
        skip_serializing_if = "Option::is_none"
    )]
    pub single_use_uuid: Option<Uuid>,
    /// A JSON integer (the docs' example quotes it; the text says Int64).
    #[serde(
        rename = "aws:viewer-session-version",
        skip_serializing_if = "Option::is_none"
    )]
    pub viewer_session_version: Option<i64>,
    #[serde(
        rename = "aws:maximum-resolution",
        skip_serializing_if = "Option::is_none"
    )]
    pub maximum_resolution: Option<MaxResolution>,
    /// Unix seconds (not milliseconds, unlike AWS's Node sample).
    pub exp: i64,
}

impl TokenClaims<'_> {
    pub fn expires_at(&self) -> DateTime<Utc> {
        DateTime::from_timestamp(self.exp, 0).unwrap_or_default()
    }
}

/// What a `viewer_id` must be, for a token and for a revocation alike: 1-40 characters (IVS's
/// limit) and no control character (a NUL would be signed into the token, and refused by the
/// audit trail of a revocation only after IVS had acted on it).
pub fn viewer_id_rule(id: &str) -> Result<(), String> {
    if !(1..=MAX_VIEWER_ID_CHARS).contains(&id.chars().count()) {
        return Err(format!(
            "viewer_id must be 1-{MAX_VIEWER_ID_CHARS} characters"
        ));
    }
    rules::no_control_characters(id, "viewer_id")
}

/// Checks `request` against every limit and builds the claims, or names each bad field.
pub fn build<'a>(
    request: &'a TokenRequest,
    channel_arn: &'a str,
    now: DateTime<Utc>,
    limits: TokenLimits,
) -> Result<TokenClaims<'a>, Vec<FieldError>> {
    let mut errors = Vec::new();
    let single_use = request.single_use.unwrap_or(false);
    let viewer_id = request.viewer_id.as_deref();
    if let Some(Err(message)) = viewer_id.map(viewer_id_rule) {
        errors.push(FieldError::new("/viewer_id", message));
    }
    let ttl = ttl(
        request,
        viewer_id.is_some() || single_use,
        limits,
        &mut errors,
    );
    let strict = request.strict_origin_enforcement;
    let origins = origins(request, strict == Some(true), &mut errors);
    if let Some(version) = request.viewer_session_version {
        if viewer_id.is_none() {
            errors.push(FieldError::new(
                "/viewer_session_version",
                "viewer_session_version is meaningful only with viewer_id",
            ));
        } else if !(0..=MAX_VIEWER_SESSION_VERSION).contains(&version) {
            errors.push(FieldError::new(
                "/viewer_session_version",
                format!("viewer_session_version must be between 0 and {MAX_VIEWER_SESSION_VERSION} (revocation takes a 32-bit version)"),
            ));
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(TokenClaims {
        channel_arn,
        allowed_origins: origins,
        strict_origin_enforcement: strict,
        viewer_id,
        single_use_uuid: single_use.then(Uuid::new_v4),
        viewer_session_version: request.viewer_session_version,
        maximum_resolution: request.maximum_resolution,
        exp: now.timestamp() + ttl,
    })
}

/// The TTL asked for, or the default (capped at 600 s when IVS demands it).
fn ttl(
    request: &TokenRequest,
    short_lived: bool,
    limits: TokenLimits,
    errors: &mut Vec<FieldError>,
) -> i64 {
    let cap = if short_lived {
        limits.max_ttl_secs.min(MAX_TTL_WITH_VIEWER_SECS)
    } else {
        limits.max_ttl_secs
    };
    let Some(asked) = request.ttl_seconds else {
        return limits.default_ttl_secs.min(cap);
    };
    if !(1..=cap).contains(&asked) {
        let why = if short_lived && cap == MAX_TTL_WITH_VIEWER_SECS {
            " (IVS allows at most 10 minutes for a token with viewer_id or single_use)"
        } else {
            ""
        };
        errors.push(FieldError::new(
            "/ttl_seconds",
            format!("ttl_seconds must be between 1 and {cap}{why}"),
        ));
    }
    asked
}

/// The origins, comma-joined as the claim wants them.
fn origins(request: &TokenRequest, strict: bool, errors: &mut Vec<FieldError>) -> Option<String> {
    let list = request.allowed_origins.as_ref()?;
    if list.is_empty() {
        errors.push(FieldError::new(
            "/allowed_origins",
            "allowed_origins needs at least one origin; leave it out to allow every origin",
        ));
    }
    if list.len() > MAX_ALLOWED_ORIGINS {
        errors.push(FieldError::new(
            "/allowed_origins",
            format!(
                "at most {MAX_ALLOWED_ORIGINS} origins (the token travels in the playback URL)"
            ),
        ));
    } else if strict && list.len() > MAX_STRICT_ORIGINS {
        errors.push(FieldError::new(
            "/allowed_origins",
            format!(
                "at most {MAX_STRICT_ORIGINS} origins with strict_origin_enforcement (IVS's limit)"
            ),
        ));
    }
    for (i, origin) in list.iter().enumerate() {
        if !is_origin(origin) {
            errors.push(FieldError::new(
                format!("/allowed_origins/{i}"),
                "an origin is scheme://host[:port] with scheme http or https; the host may start with *.",
            ));
        }
    }
    Some(list.join(","))
}

/// `http(s)://host[:port]`, host letters, digits, dots and hyphens, optionally led by `*.`.
fn is_origin(origin: &str) -> bool {
    let Some(rest) = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
    else {
        return false;
    };
    let (host, port) = rest.split_once(':').unwrap_or((rest, ""));
    let host = host.strip_prefix("*.").unwrap_or(host);
    let host_ok = !host.is_empty()
        && host.len() <= 253
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
    let port_ok = port.is_empty() || (port.len() <= 5 && port.chars().all(|c| c.is_ascii_digit()));
    host_ok && port_ok && !(rest.contains(':') && port.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ARN: &str = "arn:aws:ivs:us-east-1:123456789012:channel/abcdEFGH1234";
    const LIMITS: TokenLimits = TokenLimits {
        default_ttl_secs: 300,
        max_ttl_secs: 3600,
    };

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    fn fields(request: &TokenRequest) -> Vec<String> {
        build(request, ARN, now(), LIMITS)
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect()
    }

    #[test]
    fn an_empty_request_gets_the_arn_and_the_default_ttl_only() {
        let request = TokenRequest::default();
        let claims = build(&request, ARN, now(), LIMITS).unwrap();
        assert_eq!(
            serde_json::to_value(&claims).unwrap(),
            json!({"aws:channel-arn": ARN, "exp": 1_800_000_300})
        );
    }

    #[test]
    fn every_claim_is_named_and_typed_as_ivs_reads_it() {
        let request = TokenRequest {
            viewer_id: Some("member-1".into()),
            ttl_seconds: Some(600),
            allowed_origins: Some(vec![
                "https://a.example.com".into(),
                "https://*.b.example.com:8443".into(),
            ]),
            strict_origin_enforcement: Some(true),
            single_use: Some(true),
            maximum_resolution: Some(MaxResolution::FullHd),
            viewer_session_version: Some(1_700_000_000),
        };
        let claims = build(&request, ARN, now(), LIMITS).unwrap();
        let value = serde_json::to_value(&claims).unwrap();
        let uuid = value["aws:single-use-uuid"].as_str().unwrap();
        assert!(Uuid::parse_str(uuid).is_ok());
        assert_eq!(
            value,
            json!({
                "aws:channel-arn": ARN,
                "aws:access-control-allow-origin": "https://a.example.com,https://*.b.example.com:8443",
                "aws:strict-origin-enforcement": true,
                "aws:viewer-id": "member-1",
                "aws:single-use-uuid": uuid,
                "aws:viewer-session-version": 1_700_000_000,
                "aws:maximum-resolution": "FULL_HD",
                "exp": 1_800_000_600,
            })
        );
    }

    #[test]
    fn the_ttl_is_bounded_by_the_maximum_and_by_ten_minutes_with_a_viewer() {
        let ttl = |ttl, viewer: bool, single| TokenRequest {
            ttl_seconds: ttl,
            viewer_id: viewer.then(|| "v".to_owned()),
            single_use: Some(single),
            ..Default::default()
        };
        assert_eq!(fields(&ttl(Some(3601), false, false)), ["/ttl_seconds"]);
        assert_eq!(fields(&ttl(Some(0), false, false)), ["/ttl_seconds"]);
        assert_eq!(fields(&ttl(Some(-5), false, false)), ["/ttl_seconds"]);
        assert_eq!(fields(&ttl(Some(601), true, false)), ["/ttl_seconds"]);
        assert_eq!(fields(&ttl(Some(601), false, true)), ["/ttl_seconds"]);
        let ok = |r: TokenRequest, limits| build(&r, ARN, now(), limits).unwrap().exp;
        assert_eq!(ok(ttl(Some(3600), false, false), LIMITS), 1_800_003_600);
        assert_eq!(ok(ttl(Some(600), true, true), LIMITS), 1_800_000_600);
        let long_default = TokenLimits {
            default_ttl_secs: 1800,
            max_ttl_secs: 3600,
        };
        // The default is capped, not refused, when a viewer id makes it too long.
        assert_eq!(ok(ttl(None, true, false), long_default), 1_800_000_600);
        assert_eq!(ok(ttl(None, false, false), long_default), 1_800_001_800);
    }

    #[test]
    fn viewer_ids_are_one_to_forty_characters() {
        let with = |id: &str| TokenRequest {
            viewer_id: Some(id.into()),
            ..Default::default()
        };
        assert_eq!(fields(&with("")), ["/viewer_id"]);
        assert_eq!(fields(&with(&"x".repeat(41))), ["/viewer_id"]);
        assert_eq!(fields(&with("member\u{0}42")), ["/viewer_id"]);
        assert_eq!(fields(&with("member\n42")), ["/viewer_id"]);
        assert!(build(&with(&"é".repeat(40)), ARN, now(), LIMITS).is_ok());
    }

    #[test]
    fn strict_enforcement_allows_five_origins_and_origins_must_be_origins() {
        let six: Vec<String> = (0..6)
            .map(|i| format!("https://o{i}.example.com"))
            .collect();
        let with = |origins: Vec<String>, strict| TokenRequest {
            allowed_origins: Some(origins),
            strict_origin_enforcement: Some(strict),
            ..Default::default()
        };
        assert_eq!(fields(&with(six.clone(), true)), ["/allowed_origins"]);
        assert!(build(&with(six[..5].to_vec(), true), ARN, now(), LIMITS).is_ok());
        assert!(build(&with(six, false), ARN, now(), LIMITS).is_ok());
        assert_eq!(fields(&with(vec![], false)), ["/allowed_origins"]);
        let many: Vec<String> = (0..=MAX_ALLOWED_ORIGINS)
            .map(|i| format!("https://o{i}.example.com"))
            .collect();
        assert_eq!(fields(&with(many.clone(), false)), ["/allowed_origins"]);
        assert!(build(&with(many[1..].to_vec(), false), ARN, now(), LIMITS).is_ok());
        let longest = format!("https://*.{}:65535", "a".repeat(253));
        assert_eq!(longest.len(), MAX_ORIGIN_CHARS);
        assert!(build(&with(vec![longest], false), ARN, now(), LIMITS).is_ok());
        for bad in [
            "example.com",
            "ftp://x.com",
            "https://a,b.com",
            "https://x.com/path",
            "https://x.com:",
            "https:// x.com",
        ] {
            assert_eq!(
                fields(&with(vec!["https://ok.com".into(), bad.into()], false)),
                ["/allowed_origins/1"],
                "{bad}"
            );
        }
        assert!(is_origin("http://localhost:3000"));
    }

    #[test]
    fn session_versions_need_a_viewer_and_fit_revocation() {
        let with = |viewer: bool, version| TokenRequest {
            viewer_id: viewer.then(|| "v".to_owned()),
            viewer_session_version: Some(version),
            ..Default::default()
        };
        assert_eq!(fields(&with(false, 1)), ["/viewer_session_version"]);
        assert_eq!(fields(&with(true, -1)), ["/viewer_session_version"]);
        assert_eq!(
            fields(&with(true, MAX_VIEWER_SESSION_VERSION + 1)),
            ["/viewer_session_version"]
        );
        assert!(build(&with(true, MAX_VIEWER_SESSION_VERSION), ARN, now(), LIMITS).is_ok());
    }

    #[test]
    fn several_bad_fields_are_all_named() {
        let request = TokenRequest {
            viewer_id: Some("x".repeat(41)),
            ttl_seconds: Some(7200),
            viewer_session_version: Some(-1),
            ..Default::default()
        };
        assert_eq!(
            fields(&request),
            ["/viewer_id", "/ttl_seconds", "/viewer_session_version"]
        );
    }
}
