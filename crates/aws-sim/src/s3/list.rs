//! ListObjectsV2: prefix, delimiter with CommonPrefixes, max-keys (≤ 1000), continuation tokens
//! (opaque, the last key or common prefix returned), start-after and `encoding-type=url`.

use std::ops::Bound;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, SecondsFormat, Utc};

use crate::call::Call;
use crate::model::s3::Bucket;
use crate::wire::{ApiError, OpResult, Output, RawOutput, query_pairs, xml_escape};

pub const NAMESPACE: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

pub fn iso(time: &DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[derive(Default)]
struct Params {
    prefix: String,
    delimiter: String,
    max_keys: usize,
    token: Option<String>,
    start_after: Option<String>,
    url_encode: bool,
}

fn params(call: &Call) -> Result<Params, ApiError> {
    let mut out = Params {
        max_keys: 1000,
        ..Params::default()
    };
    for (key, value) in query_pairs(call.query.as_deref()) {
        match key.as_str() {
            "prefix" => out.prefix = value,
            "delimiter" => out.delimiter = value,
            "max-keys" => {
                let keys: i64 = value.parse().map_err(|_| {
                    ApiError::new(
                        "InvalidArgument",
                        "Provided max-keys not an integer or within integer range",
                    )
                })?;
                if keys < 0 {
                    return Err(ApiError::new(
                        "InvalidArgument",
                        "Argument maxKeys must be an integer between 0 and 2147483647",
                    ));
                }
                out.max_keys = usize::try_from(keys.min(1000)).unwrap_or(1000);
            }
            "continuation-token" => out.token = Some(value),
            "start-after" => out.start_after = Some(value),
            "encoding-type" => out.url_encode = value == "url",
            _ => {}
        }
    }
    Ok(out)
}

enum Entry<'a> {
    Key(&'a str),
    Prefix(String),
}

pub fn list_objects_v2(bucket: &Bucket, call: &Call) -> OpResult {
    let p = params(call)?;
    let after = match &p.token {
        Some(token) => Some(decode_token(token)?),
        None => p.start_after.clone(),
    };
    let mut entries: Vec<Entry> = Vec::new();
    let mut truncated = false;
    // Keys are sorted: start at the prefix (or after the token) and stop when the prefix ends.
    let start = after
        .as_deref()
        .map_or(p.prefix.as_str(), |a| a.max(p.prefix.as_str()));
    let keys = bucket
        .objects
        .range::<str, _>((Bound::Included(start), Bound::Unbounded))
        .map(|(key, _)| key)
        .take_while(|key| key.starts_with(&p.prefix));
    for key in keys {
        if after
            .as_ref()
            .is_some_and(|a| skipped(key, a, &p.delimiter))
        {
            continue;
        }
        let entry = match common_prefix(key, &p.prefix, &p.delimiter) {
            Some(cp) if matches!(entries.last(), Some(Entry::Prefix(last)) if *last == cp) => {
                continue;
            }
            Some(cp) => Entry::Prefix(cp),
            None => Entry::Key(key),
        };
        if entries.len() == p.max_keys {
            truncated = true;
            break;
        }
        entries.push(entry);
    }
    Ok(Output::Raw(RawOutput::xml(render(
        bucket, &p, &entries, truncated,
    ))))
}

/// Keys at or before `after` are skipped, and so is the rest of a common prefix already returned.
fn skipped(key: &str, after: &str, delimiter: &str) -> bool {
    key <= after || (!delimiter.is_empty() && after.ends_with(delimiter) && key.starts_with(after))
}

fn common_prefix(key: &str, prefix: &str, delimiter: &str) -> Option<String> {
    if delimiter.is_empty() {
        return None;
    }
    let rest = &key[prefix.len()..];
    rest.find(delimiter)
        .map(|at| format!("{prefix}{}", &rest[..at + delimiter.len()]))
}

fn decode_token(token: &str) -> Result<String, ApiError> {
    URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|raw| String::from_utf8(raw).ok())
        .ok_or_else(|| {
            ApiError::new(
                "InvalidArgument",
                "The continuation token provided is incorrect",
            )
        })
}

fn render(bucket: &Bucket, p: &Params, entries: &[Entry], truncated: bool) -> String {
    let text = |s: &str| {
        if p.url_encode {
            xml_escape(
                &percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC)
                    .to_string(),
            )
        } else {
            xml_escape(s)
        }
    };
    let mut xml = format!(
        "<ListBucketResult xmlns=\"{NAMESPACE}\"><Name>{}</Name><Prefix>{}</Prefix><KeyCount>{}</KeyCount><MaxKeys>{}</MaxKeys><IsTruncated>{truncated}</IsTruncated>",
        xml_escape(&bucket.name),
        text(&p.prefix),
        entries.len(),
        p.max_keys,
    );
    if !p.delimiter.is_empty() {
        xml.push_str(&format!("<Delimiter>{}</Delimiter>", text(&p.delimiter)));
    }
    if p.url_encode {
        xml.push_str("<EncodingType>url</EncodingType>");
    }
    for entry in entries {
        match entry {
            Entry::Key(key) => {
                let object = &bucket.objects[*key];
                xml.push_str(&format!(
                    "<Contents><Key>{}</Key><LastModified>{}</LastModified><ETag>{}</ETag><Size>{}</Size><StorageClass>STANDARD</StorageClass></Contents>",
                    text(key),
                    iso(&object.last_modified),
                    xml_escape(&object.etag),
                    object.body.len()
                ));
            }
            Entry::Prefix(prefix) => {
                xml.push_str(&format!(
                    "<CommonPrefixes><Prefix>{}</Prefix></CommonPrefixes>",
                    text(prefix)
                ));
            }
        }
    }
    if let Some(token) = &p.token {
        xml.push_str(&format!(
            "<ContinuationToken>{}</ContinuationToken>",
            xml_escape(token)
        ));
    }
    if let Some(start) = &p.start_after {
        xml.push_str(&format!("<StartAfter>{}</StartAfter>", text(start)));
    }
    if truncated {
        let last = match entries.last() {
            Some(Entry::Key(key)) => (*key).to_owned(),
            Some(Entry::Prefix(prefix)) => prefix.clone(),
            None => String::new(),
        };
        xml.push_str(&format!(
            "<NextContinuationToken>{}</NextContinuationToken>",
            URL_SAFE_NO_PAD.encode(last)
        ));
    }
    xml.push_str("</ListBucketResult>");
    xml
}
