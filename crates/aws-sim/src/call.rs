//! One decoded AWS request: which service and operation it names (`X-Amz-Target` for the awsJson
//! services SSM, SQS and EventBridge; otherwise the SigV4 credential scope's service name picks the
//! REST service, S3, IVS or IVS Chat, and the method and path the operation), the account/region
//! scope, and its body, headers and path.

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, Uri};

use crate::ids::Scope;
use crate::ivschat;
use crate::rates::IVS_OPS;
use crate::wire::{Protocol, percent_decode, signing_region, signing_service};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Ivs,
    IvsChat,
    Ssm,
    Sqs,
    Events,
    S3,
}

impl Service {
    pub fn protocol(self) -> Protocol {
        match self {
            Service::Ivs | Service::IvsChat => Protocol::RestJson,
            Service::Ssm | Service::Events => Protocol::AwsJson11,
            Service::Sqs => Protocol::AwsJson10,
            Service::S3 => Protocol::RestXml,
        }
    }

    fn prefix(self) -> &'static str {
        match self {
            Service::Ivs => "ivs",
            Service::IvsChat => "ivschat",
            Service::Ssm => "ssm",
            Service::Sqs => "sqs",
            Service::Events => "events",
            Service::S3 => "s3",
        }
    }

    /// True when `name` is one of the service's restJson operations (`POST /<Operation>`).
    fn has_op(self, name: &str) -> bool {
        match self {
            Service::IvsChat => ivschat::rate_bucket(name).is_some(),
            Service::Ivs => IVS_OPS.contains(&name),
            Service::Ssm | Service::Sqs | Service::Events | Service::S3 => false,
        }
    }

    /// The awsJson service a `X-Amz-Target` names, and the operation after its prefix.
    fn from_target(target: &str) -> Option<(Self, &str)> {
        let (prefix, op) = target.split_once('.')?;
        let service = match prefix {
            "AmazonSSM" => Service::Ssm,
            "AmazonSQS" => Service::Sqs,
            "AWSEvents" => Service::Events,
            _ => return None,
        };
        Some((service, op))
    }
}

#[derive(Debug, Clone)]
pub struct Call {
    pub service: Service,
    /// Operation name, e.g. `CreateChannel`; empty when the request names no known operation.
    pub op: String,
    pub scope: Scope,
    pub body: Bytes,
    /// The `{resourceArn}` label of `/tags/{resourceArn}`, percent-decoded.
    pub resource_arn: Option<String>,
    pub query: Option<String>,
    /// The request path, still percent-encoded (S3 keys are decoded by the S3 router).
    pub path: String,
    pub headers: HeaderMap,
}

impl Call {
    pub fn new(
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: Bytes,
        account: &str,
        default_region: &str,
    ) -> Self {
        let region = signing_region(headers).unwrap_or_else(|| default_region.to_owned());
        let scope = Scope {
            region,
            account: account.to_owned(),
        };
        let target = headers.get("x-amz-target").and_then(|v| v.to_str().ok());
        let (service, op, resource_arn) = match target.and_then(Service::from_target) {
            Some((service, op)) => (service, op.to_owned(), None),
            None if signing_service(headers).as_deref() == Some("s3") => {
                let op = crate::s3::operation(method, uri.path(), uri.query());
                (Service::S3, op.to_owned(), None)
            }
            None => {
                let service = match signing_service(headers).as_deref() {
                    Some("ivschat") => Service::IvsChat,
                    _ => Service::Ivs,
                };
                let (op, arn) = rest_route(method, uri.path(), service);
                (service, op, arn)
            }
        };
        Self {
            service,
            op,
            scope,
            body,
            resource_arn,
            query: uri.query().map(str::to_owned),
            path: uri.path().to_owned(),
            headers: headers.clone(),
        }
    }

    /// A request header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// IAM-style action name (`ivs:CreateChannel`), the key for counts, rates and faults.
    pub fn action(&self) -> String {
        format!(
            "{}:{}",
            self.service.prefix(),
            if self.op.is_empty() {
                "Unknown"
            } else {
                &self.op
            }
        )
    }

    pub fn protocol(&self) -> Protocol {
        self.service.protocol()
    }
}

/// restJson routing: `POST /<Operation>` for everything except the tag operations on `/tags/{arn}`.
fn rest_route(method: &Method, path: &str, service: Service) -> (String, Option<String>) {
    if let Some(arn) = path.strip_prefix("/tags/") {
        let op = match *method {
            Method::GET => "ListTagsForResource",
            Method::POST => "TagResource",
            Method::DELETE => "UntagResource",
            _ => "",
        };
        return (op.to_owned(), Some(percent_decode(arn)));
    }
    let name = path.trim_start_matches('/');
    let known = *method == Method::POST && service.has_op(name);
    (
        if known {
            name.to_owned()
        } else {
            String::new()
        },
        None,
    )
}
