//! SSM parameter names: the character, prefix, depth and length rules (docs/aws-facts.md §6.1), and the
//! forms GetParameter accepts (name, ARN, `name:version`).

use crate::ids::Scope;
use crate::wire::ApiError;

const MAX_DEPTH: usize = 15;
/// Usable length of a parameter ARN (2048 minus AWS's reserved 1037).
const MAX_ARN_LEN: usize = 1011;

/// Checks a name for PutParameter.
pub fn check(scope: &Scope, name: &str) -> Result<(), ApiError> {
    let charset = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_.-/".contains(c));
    let hierarchical = name.contains('/');
    let well_formed = !name.is_empty()
        && charset
        && (!hierarchical
            || (name.starts_with('/') && !name.ends_with('/') && !name.contains("//")));
    if !well_formed {
        return Err(ApiError::validation(format!(
            "Parameter name: can't be prefixed with \"aws\" or \"ssm\" (case-insensitive). It must use only letters, numbers, or the following symbols: . (period), - (hyphen), _ (underscore). Special characters are not allowed. All sub-paths, if specified, must use the forward slash symbol \"/\". Valid example: /get/parameters2-/by1./path0_. (got '{name}')"
        )));
    }
    let first = name.trim_start_matches('/').to_ascii_lowercase();
    if first.starts_with("aws") || first.starts_with("ssm") {
        return Err(ApiError::validation(format!(
            "No access to reserved parameter name: {name}."
        )));
    }
    if name.matches('/').count() > MAX_DEPTH {
        return Err(ApiError::new(
            "HierarchyLevelLimitExceededException",
            format!("A hierarchy can have a maximum of {MAX_DEPTH} levels."),
        ));
    }
    if scope.ssm_parameter_arn(name).len() > MAX_ARN_LEN {
        return Err(ApiError::validation(format!(
            "Parameter name {name} is too long"
        )));
    }
    Ok(())
}

/// A GetParameter name with its optional `:version` selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector {
    pub name: String,
    pub version: Option<i64>,
    /// The `:suffix` as given, echoed back in `Parameter.Selector`.
    pub suffix: Option<String>,
}

impl Selector {
    /// Accepts `name`, `name:3`, or the parameter ARN (with optional `:3`). Labels are not modelled.
    pub fn parse(input: &str) -> Result<Self, ApiError> {
        let name = match input.strip_prefix("arn:") {
            Some(_) => arn_name(input)
                .ok_or_else(|| ApiError::validation(format!("Invalid parameter ARN: {input}")))?,
            None => input.to_owned(),
        };
        let Some((base, suffix)) = name.rsplit_once(':') else {
            return Ok(Self {
                name,
                version: None,
                suffix: None,
            });
        };
        let version = suffix.parse::<i64>().map_err(|_| {
            ApiError::new(
                "ParameterVersionLabelLimitExceeded",
                format!("Parameter labels are not supported by the simulator: {suffix}"),
            )
        })?;
        Ok(Self {
            name: base.to_owned(),
            version: Some(version),
            suffix: Some(format!(":{suffix}")),
        })
    }
}

/// `arn:aws:ssm:<region>:<acct>:parameter/a/b` → `/a/b`; `…:parameter/a` → `a`.
fn arn_name(arn: &str) -> Option<String> {
    let (_, rest) = arn.split_once(":parameter/")?;
    Some(if rest.contains('/') {
        format!("/{rest}")
    } else {
        rest.to_owned()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope() -> Scope {
        Scope {
            region: "us-east-1".into(),
            account: "123456789012".into(),
        }
    }

    #[test]
    fn names() {
        assert!(check(&scope(), "/svc/a-b_c.d").is_ok());
        assert!(check(&scope(), "plain").is_ok());
        for bad in [
            "",
            "no spaces",
            "a/b",
            "/a/",
            "/a//b",
            "/aws/x",
            "SSM-thing",
            "/x$",
        ] {
            assert!(check(&scope(), bad).is_err(), "{bad}");
        }
        let deep = "/a".repeat(16);
        assert_eq!(
            check(&scope(), &deep).unwrap_err().code,
            "HierarchyLevelLimitExceededException"
        );
        assert!(check(&scope(), &format!("/{}", "a".repeat(1000))).is_err());
    }

    #[test]
    fn selectors() {
        assert_eq!(Selector::parse("/a/b:2").unwrap().version, Some(2));
        assert_eq!(
            Selector::parse("arn:aws:ssm:us-east-1:1:parameter/a/b")
                .unwrap()
                .name,
            "/a/b"
        );
        assert_eq!(
            Selector::parse("arn:aws:ssm:us-east-1:1:parameter/a")
                .unwrap()
                .name,
            "a"
        );
        assert!(Selector::parse("/a:label").is_err());
    }
}
