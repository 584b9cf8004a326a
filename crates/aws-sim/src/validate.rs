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

/// IVS tags: ≤50 per map, key 1–128 characters, value ≤256, both limited to the AWS tag
/// character set, and no `aws:` key prefix (any case).
///
/// The IVS API model (`ivs` 2020-07-14, shapes `TagKey`/`TagValue`, published e.g. at
/// <https://github.com/boto/botocore/blob/develop/botocore/data/ivs/2020-07-14/service-2.json>)
/// gives lengths but no `pattern`. It defers to AWS's general "Tag naming limits and requirements"
/// (<https://docs.aws.amazon.com/tag-editor/latest/userguide/best-practices-and-strats.html>;
/// "Amazon IVS has no service-specific constraints beyond what is documented there"): letters,
/// numbers and spaces representable in UTF-8 plus `_ . : / = + - @`, with `aws:` reserved. Models
/// that spell the rule out (EFS's `TagKey`, for one) write it `[\p{L}\p{Z}\p{N}_.:/=+\-@]`.
pub fn ivs_tags(tags: &Tags) -> Result<(), ApiError> {
    check_tags(tags, 50)?;
    for (key, value) in tags {
        tag_chars("Tag key", key, key)?;
        tag_chars("Tag value for key", key, value)?;
    }
    Ok(())
}

/// One IVS tag key on its own (UntagResource's `tagKeys`): the `TagKey` rules of [`ivs_tags`].
pub fn ivs_tag_key(key: &str) -> Result<(), ApiError> {
    if key.is_empty() || key.chars().count() > 128 {
        return Err(ApiError::validation(format!(
            "Tag key '{key}' must be 1-128 characters"
        )));
    }
    tag_chars("Tag key", key, key)
}

/// `text` (a key, or the value of tag `key`) uses only [`is_tag_char`] characters.
fn tag_chars(what: &str, key: &str, text: &str) -> Result<(), ApiError> {
    match text.chars().find(|c| !is_tag_char(*c)) {
        None => Ok(()),
        Some(bad) => Err(ApiError::validation(format!(
            "{what} '{key}' contains {bad:?}: tag keys and values may only contain letters, \
             numbers, spaces and _ . : / = + - @"
        ))),
    }
}

/// `[\p{L}\p{Z}\p{N}_.:/=+\-@]`. `is_numeric` is exactly `\p{N}`; whitespace that is not a
/// control character is exactly `\p{Z}` (so tab and newline are refused); `is_alphabetic` is
/// `\p{L}` plus Unicode's Other_Alphabetic (combining vowel signs, circled letters), the closest
/// std offers without adding a Unicode-tables crate.
fn is_tag_char(c: char) -> bool {
    c.is_alphabetic()
        || c.is_numeric()
        || (c.is_whitespace() && !c.is_control())
        || matches!(c, '_' | '.' | ':' | '/' | '=' | '+' | '-' | '@')
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
    fn tag_characters() {
        let one = |k: &str, v: &str| ivs_tags(&Tags::from([(k.to_owned(), v.to_owned())]));
        for key in [
            "Team",
            "cost-center:a/b=c+d@e.f",
            "Équipe 名前 42",
            "a\u{3000}b",
        ] {
            assert!(one(key, "").is_ok(), "{key}");
            assert!(one("k", key).is_ok(), "{key}");
        }
        for bad in [
            "bad#key",
            "tab\there",
            "new\nline",
            "emoji 🎥",
            "a,b",
            "a*b",
            "<x>",
        ] {
            assert!(one(bad, "v").is_err(), "{bad}");
            assert!(one("k", bad).is_err(), "{bad}");
            assert!(ivs_tag_key(bad).is_err(), "{bad}");
        }
        assert!(one("", "v").is_err());
        assert!(ivs_tag_key("").is_err());
        assert!(ivs_tag_key(&"k".repeat(129)).is_err());
        assert!(ivs_tag_key("cost-center:a/b=c+d@e.f").is_ok());
        let err = one("bad#key", "v").unwrap_err();
        assert_eq!(err.code, "ValidationException");
        assert!(
            err.message.contains("'bad#key' contains '#'"),
            "{}",
            err.message
        );
    }

    #[test]
    fn names() {
        assert!(ivs_name("name", "ok-name_1").is_ok());
        assert!(ivs_name("name", "bad name").is_err());
        assert!(ivs_name("name", &"a".repeat(129)).is_err());
    }
}
