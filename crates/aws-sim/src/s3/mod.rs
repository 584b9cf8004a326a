//! Amazon S3 (restXml, path-style `/<bucket>/<key>`): routing by method and path, the bucket
//! operations, and `write`, through which IVS's record-to-S3 puts its objects. Objects in
//! `objects`, ListObjectsV2 in `list`.

mod list;
mod objects;

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::http::Method;
use chrono::Utc;

use crate::call::Call;
use crate::model::State;
use crate::model::s3::{Bucket, Object};
use crate::wire::{ApiError, OpResult, Output, RawOutput, percent_decode, query_pairs, xml_escape};

/// The S3 operation a path-style request names (empty when none the simulator serves).
pub fn operation(method: &Method, path: &str, query: Option<&str>) -> &'static str {
    let (bucket, key) = split(path);
    let listing = query_pairs(query)
        .iter()
        .any(|(k, v)| k == "list-type" && v == "2");
    match (method.as_str(), bucket.is_empty(), key.is_empty()) {
        ("GET", true, _) => "ListBuckets",
        ("PUT", false, true) => "CreateBucket",
        ("HEAD", false, true) => "HeadBucket",
        ("DELETE", false, true) => "DeleteBucket",
        ("GET", false, true) if listing => "ListObjectsV2",
        ("PUT", false, false) => "PutObject",
        ("GET", false, false) => "GetObject",
        ("HEAD", false, false) => "HeadObject",
        ("DELETE", false, false) => "DeleteObject",
        _ => "",
    }
}

/// (bucket, key) of a path-style path; the key percent-decoded.
fn split(path: &str) -> (String, String) {
    let path = path.trim_start_matches('/');
    let (bucket, key) = path.split_once('/').unwrap_or((path, ""));
    (bucket.to_owned(), percent_decode(key))
}

/// Runs one S3 operation against `state`.
pub fn handle(state: &mut State, call: &Call) -> OpResult {
    let (bucket, key) = split(&call.path);
    match call.op.as_str() {
        "ListBuckets" => list_buckets(state),
        "CreateBucket" => create_bucket(state, call, &bucket),
        "HeadBucket" => {
            find(state, &bucket).map(|_| Output::Raw(RawOutput::empty(200, Vec::new())))
        }
        "DeleteBucket" => delete_bucket(state, &bucket),
        "ListObjectsV2" => list::list_objects_v2(find(state, &bucket)?, call),
        "PutObject" => objects::put(find_mut(state, &bucket)?, call, key),
        "GetObject" => objects::get(find(state, &bucket)?, &key, true),
        "HeadObject" => objects::get(find(state, &bucket)?, &key, false),
        "DeleteObject" => objects::delete(find_mut(state, &bucket)?, &key),
        _ => Err(ApiError::new(
            "NotImplemented",
            "A header or query you provided implies functionality the simulator does not implement.",
        )),
    }
}

fn no_bucket() -> ApiError {
    ApiError::new("NoSuchBucket", "The specified bucket does not exist")
}

fn find<'a>(state: &'a State, bucket: &str) -> Result<&'a Bucket, ApiError> {
    state.data.buckets.get(bucket).ok_or_else(no_bucket)
}

fn find_mut<'a>(state: &'a mut State, bucket: &str) -> Result<&'a mut Bucket, ApiError> {
    state.data.buckets.get_mut(bucket).ok_or_else(no_bucket)
}

/// 3–63 characters of lowercase letters, digits, `.` and `-`, starting and ending alphanumeric.
fn valid_name(name: &str) -> bool {
    let edge_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    (3..=63).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
        && edge_ok(name.chars().next())
        && edge_ok(name.chars().last())
}

/// In us-east-1 creating a bucket you already own succeeds again; elsewhere it is a 409.
fn create_bucket(state: &mut State, call: &Call, name: &str) -> OpResult {
    if !valid_name(name) {
        return Err(ApiError::new(
            "InvalidBucketName",
            "The specified bucket is not valid.",
        ));
    }
    let region = call.scope.region.clone();
    if state.data.buckets.contains_key(name) && region != "us-east-1" {
        return Err(ApiError::new(
            "BucketAlreadyOwnedByYou",
            "Your previous request to create the named bucket succeeded and you already own it.",
        ));
    }
    ensure_bucket(&mut state.data.buckets, name, &region);
    let location = ("location", format!("/{name}"));
    Ok(Output::Raw(RawOutput::empty(200, vec![location])))
}

fn ensure_bucket<'a>(
    buckets: &'a mut BTreeMap<String, Bucket>,
    name: &str,
    region: &str,
) -> &'a mut Bucket {
    buckets.entry(name.to_owned()).or_insert_with(|| Bucket {
        name: name.to_owned(),
        region: region.to_owned(),
        created: Utc::now(),
        objects: BTreeMap::new(),
    })
}

fn delete_bucket(state: &mut State, name: &str) -> OpResult {
    if !find(state, name)?.objects.is_empty() {
        return Err(ApiError::new(
            "BucketNotEmpty",
            "The bucket you tried to delete is not empty",
        ));
    }
    state.data.buckets.remove(name);
    Ok(Output::Raw(RawOutput::empty(204, Vec::new())))
}

fn list_buckets(state: &State) -> OpResult {
    let buckets: String = state
        .data
        .buckets
        .values()
        .map(|b| {
            format!(
                "<Bucket><Name>{}</Name><CreationDate>{}</CreationDate><BucketRegion>{}</BucketRegion></Bucket>",
                xml_escape(&b.name),
                list::iso(&b.created),
                xml_escape(&b.region)
            )
        })
        .collect();
    Ok(Output::Raw(RawOutput::xml(format!(
        "<ListAllMyBucketsResult xmlns=\"{}\"><Owner><ID>{}</ID></Owner><Buckets>{buckets}</Buckets></ListAllMyBucketsResult>",
        list::NAMESPACE,
        hex::encode([0u8; 16]),
    ))))
}

/// Writes an object as an AWS service would (IVS recording to its configuration's bucket),
/// creating the bucket if absent.
pub fn write(
    buckets: &mut BTreeMap<String, Bucket>,
    bucket: &str,
    region: &str,
    key: &str,
    body: impl Into<Bytes>,
    content_type: &str,
) {
    let bucket = ensure_bucket(buckets, bucket, region);
    bucket
        .objects
        .insert(key.to_owned(), Object::new(body.into(), content_type));
}
