//! Input constraints shared by the IVS and SSM handlers (lengths, patterns, enums, tag rules),
//! each failing with the ValidationException text a caller can act on.

use std::collections::BTreeMap;

use crate::ids::parse_ivs_arn;
use crate::wire::ApiError;

pub type Tags = BTreeMap<String, String>;

/// IVS resource names: 0–128 chars of `[a-zA-Z0-9-_]`.
pub fn ivs_name(field: &str, name: &str) -> Result<(), ApiError> {
    let ok = name.len() <= 128
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    ok.then_some(()).ok_or_else(|| {
        ApiError::validation(format!(
            "{field} must match ^[a-zA-Z0-9-_]*$ and be at most 128 characters"
        ))
    })
}

/// `value` must be one of `allowed` (Smithy enums are case-sensitive).
pub fn one_of(field: &str, value: &str, allowed: &[&str]) -> Result<(), ApiError> {
    allowed.contains(&value).then_some(()).ok_or_else(|| {
        ApiError::validation(format!(
            "{field} must be one of [{}], got '{value}'",
            allowed.join(", ")
        ))
    })
}

/// An integer field within `min..=max`.
pub fn in_range(field: &str, value: i64, min: i64, max: i64) -> Result<(), ApiError> {
    (min..=max).contains(&value).then_some(()).ok_or_else(|| {
        ApiError::validation(format!(
            "{field} must be between {min} and {max}, got {value}"
        ))
    })
}

/// A well-formed IVS ARN of `kind` (`channel`, `stream-key`, …): malformed ones are 400, not 404.
pub fn ivs_arn(field: &str, arn: &str, kind: &str) -> Result<(), ApiError> {
    match parse_ivs_arn(arn) {
        Some((_, k)) if k == kind => Ok(()),
        _ => Err(ApiError::validation(format!(
            "{field} is not a valid {kind} ARN: '{arn}'"
        ))),
    }
}

/// AWS tag rules for IVS: ≤50 tags, key 1–128, value ≤256, no `aws:` prefix (any case).
pub fn ivs_tags(tags: &Tags) -> Result<(), ApiError> {
    check_tags(tags, 50)
}

/// Tag rules shared by both services; `max` is the per-resource limit.
pub fn check_tags(tags: &Tags, max: usize) -> Result<(), ApiError> {
    if tags.len() > max {
        return Err(ApiError::validation(format!(
            "A resource can have at most {max} tags"
        )));
    }
    for (key, value) in tags {
        if key.is_empty() || key.chars().count() > 128 {
            return Err(ApiError::validation(format!(
                "Tag key '{key}' must be 1-128 characters"
            )));
        }
        if value.chars().count() > 256 {
            return Err(ApiError::validation(format!(
                "Tag value for '{key}' must be at most 256 characters"
            )));
        }
        if key.to_ascii_lowercase().starts_with("aws:") {
            return Err(ApiError::validation(format!(
                "Tag key '{key}' uses the reserved prefix 'aws:'"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_limits() {
        let many: Tags = (0..51).map(|i| (format!("k{i}"), String::new())).collect();
        assert!(ivs_tags(&many).is_err());
        assert!(ivs_tags(&Tags::from([("AWS:x".into(), "v".into())])).is_err());
        assert!(ivs_tags(&Tags::from([("k".repeat(129), "v".into())])).is_err());
        assert!(ivs_tags(&Tags::from([("k".into(), "v".repeat(257))])).is_err());
        assert!(ivs_tags(&Tags::from([("k".into(), "v".repeat(256))])).is_ok());
    }

    #[test]
    fn names() {
        assert!(ivs_name("name", "ok-name_1").is_ok());
        assert!(ivs_name("name", "bad name").is_err());
        assert!(ivs_name("name", &"a".repeat(129)).is_err());
    }
}
