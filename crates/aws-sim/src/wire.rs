//! Wire encoding shared by every protocol: the `ApiError` type every handler returns, how an error
//! becomes an HTTP response (status, `x-amzn-ErrorType`, `__type` and `message` body, plus the IVS
//! model's `exceptionMessage` on restJson, SQS's `x-amzn-query-error` on awsJson1.0 and S3's
//! `<Error>` document on restXml), request-body parsing and the small request-metadata helpers
//! (signing region and service, query strings, pagination tokens, XML escaping, MD5).

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// Which AWS protocol a request arrived on; it decides error statuses and content types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// IVS: restJson1 (`POST /CreateChannel`, JSON body, status per error shape).
    RestJson,
    /// SSM and EventBridge: awsJson1.1 (`POST /`, `X-Amz-Target`), client errors are all HTTP 400.
    AwsJson11,
    /// SQS: awsJson1.0, client errors HTTP 400. Its model is `awsQueryCompatible`: the SDK takes
    /// the error code from `x-amzn-query-error` (`AWS.SimpleQueueService.NonExistentQueue;Sender`).
    AwsJson10,
    /// S3: restXml, path-style; errors are an `<Error>` document with a status per code.
    RestXml,
}

/// An AWS error: the code becomes `x-amzn-ErrorType` and `__type`, the status comes from the code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: String,
    pub message: String,
    /// Further members of the error shape (IVS Chat's `resourceId`, `fieldList`, …), merged
    /// into the restJson body.
    pub members: serde_json::Map<String, Value>,
}

impl ApiError {
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
            members: serde_json::Map::new(),
        }
    }

    /// The error with one more member of its shape.
    pub fn with(mut self, member: &str, value: Value) -> Self {
        self.members.insert(member.to_owned(), value);
        self
    }
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new("ValidationException", message)
    }
    pub fn not_found(arn: &str) -> Self {
        Self::new(
            "ResourceNotFoundException",
            format!("Resource: {arn} not found"),
        )
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new("ConflictException", message)
    }
    pub fn quota(message: impl Into<String>) -> Self {
        Self::new("ServiceQuotaExceededException", message)
    }
    pub fn throttling() -> Self {
        Self::new("ThrottlingException", "Rate exceeded")
    }

    /// HTTP status for this error under `protocol`. IVS models a status per error shape; SSM (like
    /// every awsJson service) answers 400 for client errors, including throttling.
    pub fn status(&self, protocol: Protocol) -> StatusCode {
        let code = match (protocol, self.code.as_str()) {
            (_, "InternalServerException" | "InternalServerError") => 500,
            (_, "ServiceUnavailable" | "ServiceUnavailableException" | "StreamUnavailable") => 503,
            (Protocol::AwsJson11 | Protocol::AwsJson10, _) => 400,
            (Protocol::RestXml, code) => s3_status(code),
            (Protocol::RestJson, "AccessDeniedException" | "PendingVerification") => 403,
            (Protocol::RestJson, "ResourceNotFoundException" | "ChannelNotBroadcasting") => 404,
            (Protocol::RestJson, "UnknownOperationException") => 404,
            (Protocol::RestJson, "ConflictException") => 409,
            (Protocol::RestJson, "ServiceQuotaExceededException") => 402,
            (Protocol::RestJson, "ThrottlingException") => 429,
            (Protocol::RestJson, _) => 400,
        };
        StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST)
    }

    /// The code as `protocol`'s service spells it (SSM calls its 500 `InternalServerError`, S3
    /// `InternalError`).
    fn wire_code(&self, protocol: Protocol) -> &str {
        match (protocol, self.code.as_str()) {
            (Protocol::AwsJson11, "InternalServerException") => "InternalServerError",
            (Protocol::RestXml, "InternalServerException") => "InternalError",
            (Protocol::RestXml, "ServiceUnavailable") => "SlowDown",
            (_, code) => code,
        }
    }

    /// The error as `protocol` answers it. Every IVS exception shape in the model carries its text
    /// as the `exceptionMessage` member (what the SDK's typed `exception_message()` reads), while
    /// the SDK's generic restJson/awsJson error parser (`ProvideErrorMetadata::message()`) only
    /// looks at `message`/`Message`/`errorMessage`; IVS errors carry both. SSM's shapes use
    /// `message`, so its body is unchanged.
    pub fn into_response(self, protocol: Protocol) -> Response {
        let code = self.wire_code(protocol).to_owned();
        let status = self.status(protocol);
        let mut body = match protocol {
            Protocol::RestXml => return xml_error(status, &code, &self.message),
            Protocol::RestJson => json!({
                "__type": code,
                "message": self.message,
                "exceptionMessage": self.message,
            }),
            Protocol::AwsJson11 => json!({ "__type": code, "message": self.message }),
            Protocol::AwsJson10 => {
                json!({ "__type": format!("com.amazonaws.sqs#{code}"), "message": self.message })
            }
        };
        if let Value::Object(fields) = &mut body {
            fields.extend(self.members);
        }
        let mut response = json_response(status, protocol, &body);
        if let Ok(value) = HeaderValue::from_str(&code) {
            response.headers_mut().insert("x-amzn-ErrorType", value);
        }
        if protocol == Protocol::AwsJson10 {
            let fault = if status.is_server_error() {
                "Receiver"
            } else {
                "Sender"
            };
            let query = format!("{};{fault}", sqs_query_code(&code));
            if let Ok(value) = HeaderValue::from_str(&query) {
                response.headers_mut().insert("x-amzn-query-error", value);
            }
        }
        response
    }
}

/// S3's status per error code (restXml has no `__type`; the SDK reads `<Code>`).
fn s3_status(code: &str) -> u16 {
    match code {
        "NoSuchBucket" | "NoSuchKey" | "NotFound" | "UnknownOperationException" => 404,
        "BucketAlreadyOwnedByYou" | "BucketAlreadyExists" | "BucketNotEmpty" => 409,
        "AccessDenied" => 403,
        "ThrottlingException" => 503,
        _ => 400,
    }
}

/// The awsQuery code SQS's model gives a JSON error shape (`@awsQueryError`); shapes without one
/// keep their name. The SDK matches its typed errors on these.
fn sqs_query_code(code: &str) -> &str {
    match code {
        "QueueDoesNotExist" => "AWS.SimpleQueueService.NonExistentQueue",
        "QueueNameExists" => "QueueAlreadyExists",
        "MessageNotInflight" => "AWS.SimpleQueueService.MessageNotInflight",
        "PurgeQueueInProgress" => "AWS.SimpleQueueService.PurgeQueueInProgress",
        "EmptyBatchRequest" => "AWS.SimpleQueueService.EmptyBatchRequest",
        "TooManyEntriesInBatchRequest" => "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
        "BatchEntryIdsNotDistinct" => "AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
        "InvalidBatchEntryId" => "AWS.SimpleQueueService.InvalidBatchEntryId",
        "UnsupportedOperation" => "AWS.SimpleQueueService.UnsupportedOperation",
        "QueueDeletedRecently" => "AWS.SimpleQueueService.QueueDeletedRecently",
        other => other,
    }
}

/// S3's error document. HEAD answers carry no body, so the SDK maps their status alone.
fn xml_error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{}</Code><Message>{}</Message><RequestId>{}</RequestId></Error>",
        xml_escape(code),
        xml_escape(message),
        hex::encode(rand::random::<[u8; 8]>()),
    );
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml"),
    );
    response
}

/// Escapes text for an XML element or attribute.
pub fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// Lowercase hex MD5 of `bytes` (SQS's `MD5OfMessageBody`, S3's ETag of a single-part upload).
pub fn md5_hex(bytes: &[u8]) -> String {
    use md5::Digest as _;
    hex::encode(md5::Md5::digest(bytes))
}

/// Result type of every operation handler: the JSON output or an AWS error.
pub type OpResult = Result<Output, ApiError>;

/// A successful operation output: restJson `DeleteX` operations answer 204 with no body; S3
/// answers with headers and raw bytes (an object, or an XML document).
#[derive(Debug)]
pub enum Output {
    Json(Value),
    NoContent,
    Raw(RawOutput),
}

/// Status, headers and body of a non-JSON answer.
#[derive(Debug, Default)]
pub struct RawOutput {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Bytes,
}

impl RawOutput {
    /// 200 with an XML document.
    pub fn xml(document: String) -> Self {
        Self {
            status: 200,
            headers: vec![("content-type", "application/xml".into())],
            body: Bytes::from(format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{document}"
            )),
        }
    }

    /// `status` with only `headers`.
    pub fn empty(status: u16, headers: Vec<(&'static str, String)>) -> Self {
        Self {
            status,
            headers,
            body: Bytes::new(),
        }
    }

    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::OK);
        let mut response = (status, self.body).into_response();
        for (name, value) in self.headers {
            if let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(&value),
            ) {
                response.headers_mut().insert(name, value);
            }
        }
        response
    }
}

impl Output {
    pub fn into_response(self, protocol: Protocol) -> Response {
        match self {
            Output::Json(body) => json_response(StatusCode::OK, protocol, &body),
            Output::NoContent => StatusCode::NO_CONTENT.into_response(),
            Output::Raw(raw) => raw.into_response(),
        }
    }
}

fn json_response(status: StatusCode, protocol: Protocol, body: &Value) -> Response {
    let content_type = match protocol {
        Protocol::RestJson | Protocol::RestXml => "application/json",
        Protocol::AwsJson11 => "application/x-amz-json-1.1",
        Protocol::AwsJson10 => "application/x-amz-json-1.0",
    };
    let mut response = (status, body.to_string()).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
        .headers_mut()
        .insert("x-amzn-RequestId", request_id());
    response
}

fn request_id() -> HeaderValue {
    let bytes: [u8; 16] = rand::random();
    HeaderValue::from_str(&hex::encode(bytes)).unwrap_or(HeaderValue::from_static("0"))
}

/// Parses a JSON request body into `T`; an empty body is `{}` (the SDK omits empty inputs).
/// Malformed input is the caller's fault, so it is a 400 with the protocol's code, never a panic.
pub fn parse_body<T: DeserializeOwned>(body: &[u8], protocol: Protocol) -> Result<T, ApiError> {
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}".as_slice()
    } else {
        body
    };
    serde_json::from_slice(body).map_err(|err| {
        let code = match protocol {
            Protocol::RestJson | Protocol::RestXml => "ValidationException",
            Protocol::AwsJson11 | Protocol::AwsJson10 => "SerializationException",
        };
        ApiError::new(code, format!("Could not parse request body: {err}"))
    })
}

/// The region in the SigV4 credential scope (`Credential=AKID/date/region/service/aws4_request`).
pub fn signing_region(headers: &HeaderMap) -> Option<String> {
    scope_part(headers, 2)
}

/// The service in the SigV4 credential scope (`ivs`, `s3`, `sqs`, …): how REST services sharing
/// one endpoint are told apart.
pub fn signing_service(headers: &HeaderMap) -> Option<String> {
    scope_part(headers, 3)
}

fn scope_part(headers: &HeaderMap, index: usize) -> Option<String> {
    let auth = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let scope = auth.split("Credential=").nth(1)?;
    let part = scope.split(['/', ',']).nth(index)?;
    (!part.is_empty()).then(|| part.to_owned())
}

/// Decodes a query string into (key, value) pairs, keeping repeated keys (`tagKeys=a&tagKeys=b`).
pub fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    let decode = |s: &str| percent_decode(&s.replace('+', " "));
    query
        .unwrap_or_default()
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(key), decode(value))
        })
        .collect()
}

pub fn percent_decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

/// A pagination token this simulator did not issue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadToken;

/// One page of `items` (already sorted by key) after the opaque `token`, plus the next token.
/// Tokens encode the last key returned, so deletions between pages never skip items.
pub fn paginate<T>(
    items: Vec<(String, T)>,
    token: Option<&str>,
    max: usize,
) -> Result<(Vec<T>, Option<String>), BadToken> {
    let after = match token.filter(|t| !t.is_empty()) {
        Some(token) => {
            let raw = URL_SAFE_NO_PAD.decode(token).map_err(|_| BadToken)?;
            Some(String::from_utf8(raw).map_err(|_| BadToken)?)
        }
        None => None,
    };
    let mut rest: Vec<(String, T)> = items
        .into_iter()
        .filter(|(key, _)| after.as_ref().is_none_or(|a| key > a))
        .collect();
    let more = rest.len() > max;
    rest.truncate(max);
    let next = more
        .then(|| rest.last().map(|(key, _)| URL_SAFE_NO_PAD.encode(key)))
        .flatten();
    Ok((rest.into_iter().map(|(_, item)| item).collect(), next))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_follow_the_last_key() {
        let items = |n: usize| (0..n).map(|i| (format!("k{i:02}"), i)).collect::<Vec<_>>();
        let (first, token) = paginate(items(5), None, 2).unwrap();
        assert_eq!(first, vec![0, 1]);
        let (second, token) = paginate(items(5), token.as_deref(), 2).unwrap();
        assert_eq!(second, vec![2, 3]);
        let (last, token) = paginate(items(5), token.as_deref(), 2).unwrap();
        assert_eq!((last, token), (vec![4], None));
        assert!(paginate(items(1), Some("!!"), 2).is_err());
    }

    #[test]
    fn region_comes_from_the_credential_scope() {
        let mut headers = HeaderMap::new();
        let auth = "AWS4-HMAC-SHA256 Credential=AKID/20250101/eu-west-1/ivs/aws4_request, SignedHeaders=host, Signature=x";
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static(auth));
        assert_eq!(signing_region(&headers).as_deref(), Some("eu-west-1"));
        assert_eq!(signing_service(&headers).as_deref(), Some("ivs"));
    }
}
