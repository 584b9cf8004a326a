//! Object operations: put (plain or `aws-chunked` bodies, as the SDK's checksum-trailer uploads
//! send them), get and head (ETag, Content-Type, Last-Modified) and delete.

use axum::body::Bytes;

use crate::call::Call;
use crate::model::s3::{Bucket, Object};
use crate::wire::{ApiError, OpResult, Output, RawOutput};

pub fn put(bucket: &mut Bucket, call: &Call, key: String) -> OpResult {
    if key.len() > 1024 {
        return Err(ApiError::new("KeyTooLongError", "Your key is too long"));
    }
    let chunked = call
        .header("content-encoding")
        .is_some_and(|e| e.contains("aws-chunked"))
        || call
            .header("x-amz-content-sha256")
            .is_some_and(|s| s.starts_with("STREAMING-"));
    let body = if chunked {
        decode_chunked(&call.body).ok_or_else(|| {
            ApiError::new(
                "IncompleteBody",
                "The request body is not valid aws-chunked encoding",
            )
        })?
    } else {
        call.body.clone()
    };
    let content_type = call.header("content-type").unwrap_or("binary/octet-stream");
    let object = Object::new(body, content_type);
    let etag = object.etag.clone();
    bucket.objects.insert(key, object);
    Ok(Output::Raw(RawOutput::empty(200, vec![("etag", etag)])))
}

/// The payload of an `aws-chunked` body: `<hex size>[;ext]\r\n<bytes>\r\n` … `0\r\n<trailers>`.
fn decode_chunked(raw: &[u8]) -> Option<Bytes> {
    let mut out = Vec::with_capacity(raw.len());
    let mut rest = raw;
    loop {
        let line_end = rest.windows(2).position(|w| w == b"\r\n")?;
        let header = std::str::from_utf8(&rest[..line_end]).ok()?;
        let size = usize::from_str_radix(header.split(';').next()?.trim(), 16).ok()?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Some(Bytes::from(out));
        }
        out.extend_from_slice(rest.get(..size)?);
        rest = rest.get(size..)?.strip_prefix(b"\r\n")?;
    }
}

/// GetObject (with the body) or HeadObject (headers only, as S3 answers HEAD).
pub fn get(bucket: &Bucket, key: &str, with_body: bool) -> OpResult {
    let object = bucket.objects.get(key).ok_or_else(|| {
        let status_only = if with_body { "NoSuchKey" } else { "NotFound" };
        ApiError::new(status_only, "The specified key does not exist.")
    })?;
    let headers = vec![
        ("etag", object.etag.clone()),
        ("content-type", object.content_type.clone()),
        ("content-length", object.body.len().to_string()),
        (
            "last-modified",
            object
                .last_modified
                .format("%a, %d %b %Y %H:%M:%S GMT")
                .to_string(),
        ),
        ("accept-ranges", "bytes".into()),
    ];
    let body = if with_body {
        object.body.clone()
    } else {
        Bytes::new()
    };
    Ok(Output::Raw(RawOutput {
        status: 200,
        headers,
        body,
    }))
}

/// Deleting a missing key succeeds (204), as in S3.
pub fn delete(bucket: &mut Bucket, key: &str) -> OpResult {
    bucket.objects.remove(key);
    Ok(Output::Raw(RawOutput::empty(204, Vec::new())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_bodies_decode() {
        let raw = b"5;chunk-signature=abc\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:AAAA\r\n\r\n";
        assert_eq!(
            decode_chunked(raw).as_deref(),
            Some(b"hello world".as_slice())
        );
        assert!(decode_chunked(b"zz\r\n").is_none());
    }
}
