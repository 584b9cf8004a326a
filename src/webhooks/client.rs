//! The HTTP side of a delivery: one client for the process (hyper with hyper-rustls, rustls
//! on aws-lc-rs and the system's roots: the stack the AWS SDK already builds), redirects never
//! followed (the client has no redirect support at all), a deadline per attempt, and a resolver
//! that refuses non-public addresses (SSRF) and hands the connector exactly the addresses it
//! checked, so the name is never resolved a second time.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{CONTENT_TYPE, HeaderValue, RETRY_AFTER, USER_AGENT};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::rt::TokioExecutor;

use crate::domain::webhook::address_refusal;

/// The first bytes of a response body kept in the delivery log.
pub const BODY_KEPT: usize = 1024;

/// What one attempt came to, before any decision about it.
#[derive(Debug, Clone, Default)]
pub struct Response {
    pub status: Option<u16>,
    pub body: Option<String>,
    pub error: Option<String>,
    /// `Retry-After` of the answer, in seconds or as an HTTP date.
    pub retry_after: Option<Duration>,
    pub duration: Duration,
}

type Connector = HttpsConnector<HttpConnector<GuardedResolver>>;

#[derive(Clone)]
pub struct Sender {
    client: Client<Connector, Full<Bytes>>,
    timeout: Duration,
    allow_private: bool,
}

/// Resolves with the system resolver and refuses the whole answer if any address is not public:
/// a name that answers with both a public and a private address must not reach the private one.
#[derive(Clone)]
struct GuardedResolver {
    allow_private: bool,
}

type Resolving =
    Pin<Box<dyn Future<Output = std::io::Result<std::vec::IntoIter<SocketAddr>>> + Send>>;

impl tower::Service<Name> for GuardedResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = std::io::Error;
    type Future = Resolving;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let refusal = |message: String| {
                std::io::Error::new(std::io::ErrorKind::PermissionDenied, message)
            };
            if addrs.is_empty() {
                return Err(refusal(format!("refused: {host} has no address")));
            }
            if !allow_private
                && let Some(reason) = addrs.iter().find_map(|a| address_refusal(a.ip()))
            {
                return Err(refusal(format!("refused: {host} resolves to {reason}")));
            }
            Ok(addrs.into_iter())
        })
    }
}

impl Sender {
    pub fn new(timeout: Duration, allow_private: bool) -> anyhow::Result<Sender> {
        let mut roots = rustls::RootCertStore::empty();
        let native = rustls_native_certs::load_native_certs();
        for cert in native.certs {
            // An unparsable system certificate is skipped, as browsers do.
            let _ = roots.add(cert);
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let mut http = HttpConnector::new_with_resolver(GuardedResolver { allow_private });
        http.enforce_http(false);
        http.set_connect_timeout(Some(timeout));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(https);
        Ok(Sender {
            client,
            timeout,
            allow_private,
        })
    }

    /// Posts `body` with the Standard Webhooks headers, within the attempt timeout.
    pub async fn post(
        &self,
        url: &str,
        id: &str,
        timestamp: i64,
        signature: &str,
        body: Vec<u8>,
    ) -> Response {
        let started = Instant::now();
        let sent =
            tokio::time::timeout(self.timeout, self.send(url, id, timestamp, signature, body));
        let mut response = match sent.await {
            Ok(Ok(response)) => response,
            Ok(Err(error)) => Response {
                error: Some(error),
                ..Response::default()
            },
            Err(_) => Response {
                error: Some(format!("timed out after {} s", self.timeout.as_secs())),
                ..Response::default()
            },
        };
        response.duration = started.elapsed();
        response
    }

    async fn send(
        &self,
        url: &str,
        id: &str,
        timestamp: i64,
        signature: &str,
        body: Vec<u8>,
    ) -> Result<Response, String> {
        let parsed = url::Url::parse(url).map_err(|e| format!("invalid url: {e}"))?;
        // A literal address skips the resolver: check it here.
        let literal = match parsed.host() {
            Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            _ => None,
        };
        if !self.allow_private
            && let Some(reason) = literal.and_then(address_refusal)
        {
            return Err(format!("refused: the url points at {reason}"));
        }
        let request = hyper::Request::post(parsed.as_str())
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .header(
                USER_AGENT,
                HeaderValue::from_static("ivs-provisioner-webhooks"),
            )
            .header("webhook-id", id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| format!("invalid request: {e}"))?;
        let response = self.client.request(request).await.map_err(describe)?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let mut body = response.into_body();
        let mut kept = Vec::new();
        // Only the first kilobyte is read; the connection is dropped with the rest.
        while kept.len() < BODY_KEPT {
            match body.frame().await {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        kept.extend_from_slice(&data);
                    }
                }
                Some(Err(_)) | None => break,
            }
        }
        kept.truncate(BODY_KEPT);
        Ok(Response {
            status: Some(status),
            body: (!kept.is_empty()).then(|| String::from_utf8_lossy(&kept).into_owned()),
            error: None,
            retry_after,
            duration: Duration::ZERO,
        })
    }
}

/// The error with its causes (the useful part, e.g. a refusal, is in the source chain).
fn describe(error: hyper_util::client::legacy::Error) -> String {
    let kind = if error.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    let mut text = kind.to_owned();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if cause_text.starts_with("refused: ") {
            return cause_text;
        }
        text.push_str(": ");
        text.push_str(&cause_text);
        source = cause.source();
    }
    text
}

/// `Retry-After`: delay-seconds or an HTTP date; at most a day.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    let secs = match value.parse::<u64>() {
        Ok(secs) => secs,
        Err(_) => {
            let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
            (at.timestamp() - chrono::Utc::now().timestamp()).max(0) as u64
        }
    };
    Some(Duration::from_secs(secs.min(86_400)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_seconds_or_a_date() {
        assert_eq!(parse_retry_after("7"), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("999999999"),
            Some(Duration::from_secs(86_400))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }
}
