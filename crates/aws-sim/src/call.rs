//! One decoded AWS request: which service and operation it names (SSM from `X-Amz-Target`; IVS
//! or IVS Chat from the restJson path and the SigV4 signing service), the account/region scope,
//! and its body and path label.

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
}

impl Service {
    pub fn protocol(self) -> Protocol {
        match self {
            Service::Ivs | Service::IvsChat => Protocol::RestJson,
            Service::Ssm => Protocol::AwsJson11,
        }
    }

    fn prefix(self) -> &'static str {
        match self {
            Service::Ivs => "ivs",
            Service::IvsChat => "ivschat",
            Service::Ssm => "ssm",
        }
    }

    /// True when `name` is one of the service's restJson operations (`POST /<Operation>`).
    fn has_op(self, name: &str) -> bool {
        match self {
            Service::IvsChat => ivschat::rate_bucket(name).is_some(),
            Service::Ivs | Service::Ssm => IVS_OPS.contains(&name),
        }
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
        let (service, op, resource_arn) = match target.and_then(|t| t.strip_prefix("AmazonSSM.")) {
            Some(op) => (Service::Ssm, op.to_owned(), None),
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
        }
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
