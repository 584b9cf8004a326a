//! The individual field rules of the replaced Terraform module and of IVS (docs/aws-facts.md §7, §8), as pure functions that return a
//! message a person can act on. [`super::channel`] applies them to a whole request.

/// Tag keys are 1-128 characters, values at most 256 (AWS's tag rules).
pub const MAX_TAG_KEY_CHARS: usize = 128;
pub const MAX_TAG_VALUE_CHARS: usize = 256;
/// S3 bucket names are 3-63 characters.
pub const MIN_BUCKET_CHARS: usize = 3;
pub const MAX_BUCKET_CHARS: usize = 63;
/// What every bucket name matches (the OpenAPI document states it; [`s3_bucket_name`] checks
/// it and S3's further rules).
pub const BUCKET_PATTERN: &str = "^[a-z0-9][a-z0-9.-]*[a-z0-9]$";
/// IVS Chat's limit on a message review handler's ARN (docs/aws-facts.md §12).
pub const MAX_LAMBDA_ARN_CHARS: usize = 170;

/// A P-384 public key PEM has about 215 characters; this leaves room for comments and CRLFs.
pub const MAX_PUBLIC_KEY_PEM_CHARS: usize = 4096;
/// Every public key PEM contains this header (an unanchored pattern in the OpenAPI document).
pub const PUBLIC_KEY_PEM_HEADER: &str = "-----BEGIN PUBLIC KEY-----";

/// Free text that is stored or sent on (a viewer id, a filter): no control character (NUL, tab,
/// newline, escape, DEL, the C1 range). Postgres text cannot hold a NUL, so one that got past
/// validation would fail the write after AWS had already acted; the others have no meaning in
/// these fields and make logs and the audit trail lie.
pub fn no_control_characters(value: &str, what: &str) -> Result<(), String> {
    if value.chars().any(char::is_control) {
        Err(format!(
            "{what} must not contain control characters (NUL, tab, newline, ...)"
        ))
    } else {
        Ok(())
    }
}

/// IVS (docs/aws-facts.md §7.2) and the Terraform module: `^[a-zA-Z0-9-_]{min,max}$`.
pub fn identifier(value: &str, what: &str, max: usize) -> Result<(), String> {
    let ok = (1..=max).contains(&value.chars().count())
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{what} must be 1-{max} characters and contain only letters, numbers, hyphens, and underscores"
        ))
    }
}

/// S3 bucket naming rules (general purpose buckets), which IVS applies to recording destinations.
pub fn s3_bucket_name(name: &str) -> Result<(), String> {
    let len = name.len();
    if !(MIN_BUCKET_CHARS..=MAX_BUCKET_CHARS).contains(&len) {
        return Err(format!(
            "bucket names must be {MIN_BUCKET_CHARS}-{MAX_BUCKET_CHARS} characters long (this one has {len})"
        ));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
    {
        return Err(
            "bucket names may contain only lowercase letters, numbers, dots and hyphens".into(),
        );
    }
    let first_last_ok = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if !first_last_ok(name.as_bytes()[0]) || !first_last_ok(name.as_bytes()[len - 1]) {
        return Err("bucket names must begin and end with a letter or number".into());
    }
    if name.contains("..") || name.contains(".-") || name.contains("-.") {
        return Err(
            "bucket names must not contain two adjacent dots or a dot next to a hyphen".into(),
        );
    }
    if name.split('.').count() == 4 && name.split('.').all(|p| p.parse::<u8>().is_ok()) {
        return Err("bucket names must not be formatted as an IP address".into());
    }
    for prefix in ["xn--", "sthree-", "amzn-s3-demo-"] {
        if name.starts_with(prefix) {
            return Err(format!(
                "bucket names must not start with the reserved prefix '{prefix}'"
            ));
        }
    }
    for suffix in ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"] {
        if name.ends_with(suffix) {
            return Err(format!(
                "bucket names must not end with the reserved suffix '{suffix}'"
            ));
        }
    }
    Ok(())
}

/// The ARN of a Lambda function, the only message review handler IVS Chat accepts
/// (`arn:aws:lambda:<region>:<12-digit account>:function:<name>`, docs/aws-facts.md §12). The
/// message says what kind of ARN was given instead, so a layer, an event-source mapping or a
/// function *name* is easy to correct.
pub fn lambda_function_arn(arn: &str) -> Result<(), String> {
    const EXAMPLE: &str = "arn:aws:lambda:eu-west-1:123456789012:function:review-chat";
    let len = arn.chars().count();
    if len > MAX_LAMBDA_ARN_CHARS {
        return Err(format!(
            "lambda_arn must be at most {MAX_LAMBDA_ARN_CHARS} characters (this one has {len})"
        ));
    }
    let parts: Vec<&str> = arn.splitn(7, ':').collect();
    let problem = match parts.as_slice() {
        ["arn", "aws", "lambda", region, account, "function", name] => {
            if region.is_empty()
                || !region
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            {
                Some("its region is not a region name".to_owned())
            } else if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
                Some("its account must be 12 digits".to_owned())
            } else if name.is_empty() {
                Some("it names no function".to_owned())
            } else {
                None
            }
        }
        ["arn", partition, "lambda", _, _, "function", _] => Some(format!(
            "IVS Chat accepts functions in the 'aws' partition only, not '{partition}'"
        )),
        ["arn", _, "lambda", _, _, kind, ..] if *kind != "function" => Some(format!(
            "this is the ARN of a Lambda {kind}, not of a function"
        )),
        ["arn", _, "lambda", ..] => Some("it names no function".to_owned()),
        ["arn", _, service, ..] => Some(format!("this is an ARN of {service}, not of Lambda")),
        _ => Some("this is not an ARN (give the function's ARN, not its name)".to_owned()),
    };
    match problem {
        None => Ok(()),
        Some(problem) => Err(format!(
            "lambda_arn must be the ARN of a Lambda function, e.g. {EXAMPLE}: {problem}"
        )),
    }
}

/// A space in AWS's tag rule (Unicode separators): tabs, newlines and other control characters
/// are not, and IVS refuses them.
fn is_space(c: char) -> bool {
    c.is_whitespace() && !c.is_control()
}

/// AWS tag character set: letters, numbers, spaces and `_ . : / = + - @`.
fn tag_chars_ok(s: &str) -> bool {
    s.chars()
        .all(|c| c.is_alphanumeric() || is_space(c) || "_.:/=+-@".contains(c))
}

pub fn tag_key(key: &str) -> Result<(), String> {
    let len = key.chars().count();
    if !(1..=MAX_TAG_KEY_CHARS).contains(&len) {
        return Err(format!(
            "tag keys must be 1-{MAX_TAG_KEY_CHARS} characters (this one has {len})"
        ));
    }
    if key.to_ascii_lowercase().starts_with("aws:") {
        return Err("tag keys starting with 'aws:' are reserved by AWS".into());
    }
    if !tag_chars_ok(key) {
        return Err(
            "tag keys may contain only letters, numbers, spaces and _ . : / = + - @".into(),
        );
    }
    Ok(())
}

pub fn tag_value(value: &str) -> Result<(), String> {
    let len = value.chars().count();
    if len > MAX_TAG_VALUE_CHARS {
        return Err(format!(
            "tag values must be at most {MAX_TAG_VALUE_CHARS} characters (this one has {len})"
        ));
    }
    if !tag_chars_ok(value) {
        return Err(
            "tag values may contain only letters, numbers, spaces and _ . : / = + - @".into(),
        );
    }
    Ok(())
}

/// An EC P-384 public key in SubjectPublicKeyInfo PEM, as IVS imports it. The message never
/// quotes the input, so a private key pasted by mistake is not echoed back.
pub fn playback_public_key_pem(pem: &str) -> Result<(), String> {
    use p384::pkcs8::DecodePublicKey;
    if pem.contains("PRIVATE KEY") {
        return Err(
            "this is a private key: send only the public key (-----BEGIN PUBLIC KEY-----); \
                    the private key was not stored"
                .into(),
        );
    }
    if pem.chars().count() > MAX_PUBLIC_KEY_PEM_CHARS {
        return Err(format!(
            "must be a PEM public key of at most {MAX_PUBLIC_KEY_PEM_CHARS} characters"
        ));
    }
    if !pem.contains(PUBLIC_KEY_PEM_HEADER) {
        return Err(
            "must be a PEM-encoded public key containing a 'BEGIN PUBLIC KEY' header".into(),
        );
    }
    p384::PublicKey::from_public_key_pem(pem.trim())
        .map(|_| ())
        .map_err(|_| {
            "must be an ECDSA public key on the P-384 curve (secp384r1); RSA keys and other curves \
         are not accepted by IVS"
                .into()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_follow_the_seed_pattern() {
        assert!(identifier("yoga-101_a", "name", 128).is_ok());
        assert!(identifier("", "name", 128).is_err());
        assert!(identifier(&"a".repeat(129), "name", 128).is_err());
        assert!(identifier("a".repeat(128).as_str(), "name", 128).is_ok());
        assert!(identifier("has space", "name", 128).is_err());
        assert!(identifier("ünïcode", "name", 128).is_err());
        assert!(
            identifier("t".repeat(65).as_str(), "tenant", 64)
                .unwrap_err()
                .contains("1-64")
        );
        assert!(identifier("a\u{0}b", "name", 128).is_err());
    }

    #[test]
    fn control_characters_are_refused_and_other_text_is_not() {
        for bad in ["a\u{0}", "\t", "a\nb", "\u{1b}[31m", "\u{7f}", "\u{85}"] {
            let message = no_control_characters(bad, "viewer_id").unwrap_err();
            assert!(message.starts_with("viewer_id"), "{message}");
        }
        for ok in ["", "member-4711", "Zoë Ölçer", "a b", "名前"] {
            assert!(no_control_characters(ok, "viewer_id").is_ok(), "{ok}");
        }
    }

    #[test]
    fn bucket_names_follow_s3_rules() {
        for ok in ["my-bucket", "a.b.c", "abc", "recordings-2026"] {
            assert!(s3_bucket_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "ab",
            "My-Bucket",
            "-bucket",
            "bucket-",
            "a..b",
            "a.-b",
            "192.168.1.1",
            "xn--bucket",
            "bucket-s3alias",
            "bucket_name",
            &"a".repeat(64),
        ] {
            assert!(s3_bucket_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn review_handlers_must_be_lambda_function_arns() {
        for ok in [
            "arn:aws:lambda:eu-west-1:123456789012:function:review",
            "arn:aws:lambda:us-east-1:123456789012:function:review:live",
        ] {
            assert!(lambda_function_arn(ok).is_ok(), "{ok}");
        }
        for (bad, says) in [
            ("review-chat", "not an ARN"),
            ("arn:aws:sqs:eu-west-1:123456789012:queue", "of sqs"),
            (
                "arn:aws:lambda:eu-west-1:123456789012:layer:x:1",
                "Lambda layer",
            ),
            ("arn:aws:lambda:eu-west-1:1234:function:x", "12 digits"),
            ("arn:aws:lambda:EU:123456789012:function:x", "region"),
            (
                "arn:aws:lambda:eu-west-1:123456789012:function:",
                "no function",
            ),
            (
                "arn:aws:lambda:eu-west-1:123456789012:function",
                "no function",
            ),
            (
                "arn:aws-cn:lambda:cn-north-1:123456789012:function:x",
                "partition",
            ),
        ] {
            let message = lambda_function_arn(bad).unwrap_err();
            assert!(message.contains(says), "{bad}: {message}");
            assert!(message.contains("arn:aws:lambda:"), "{message}");
        }
        let long = format!(
            "arn:aws:lambda:eu-west-1:123456789012:function:{}",
            "f".repeat(130)
        );
        assert!(lambda_function_arn(&long).unwrap_err().contains("170"));
    }

    #[test]
    fn tags_follow_aws_rules() {
        assert!(tag_key("Environment").is_ok());
        assert!(tag_key("AWS:thing").is_err());
        assert!(tag_key("").is_err());
        assert!(tag_key(&"k".repeat(129)).is_err());
        assert!(tag_key("bad#char").is_err());
        assert!(tag_value("").is_ok());
        assert!(tag_value(&"v".repeat(256)).is_ok());
        assert!(tag_value(&"v".repeat(257)).is_err());
    }

    #[test]
    fn public_keys_must_be_p384_and_private_keys_are_never_echoed() {
        use p384::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
        let secret = p384::SecretKey::random(&mut rand::rngs::OsRng);
        let public_pem = secret
            .public_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap();
        assert!(playback_public_key_pem(&public_pem).is_ok());

        let private_pem = secret.to_pkcs8_pem(LineEnding::LF).unwrap();
        let message = playback_public_key_pem(&private_pem).unwrap_err();
        assert!(message.contains("private key"));
        let body: String = private_pem.lines().nth(1).unwrap().into();
        assert!(!message.contains(&body));

        assert!(playback_public_key_pem("garbage").is_err());
        let truncated = public_pem.replace(&public_pem.lines().nth(1).unwrap()[..10], "");
        assert!(
            playback_public_key_pem(&truncated)
                .unwrap_err()
                .contains("P-384")
        );
    }
}
