//! An SDK interceptor that counts every AWS call attempt by service, operation and outcome
//! (`ok`, `throttled`, `client_error`, `server_error`, `network_error`), so throttling that the
//! SDK's own retry hides still shows in the metrics.

use aws_sdk_ivs::config::interceptors::FinalizerInterceptorContextRef;
use aws_sdk_ivs::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::orchestrator::Metadata;

use crate::metrics::AWS_CALLS;

#[derive(Debug)]
pub(super) struct CallMetrics;

impl Intercept for CallMetrics {
    fn name(&self) -> &'static str {
        "CallMetrics"
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let (service, operation) = cfg
            .load::<Metadata>()
            .map(|m| (m.service().to_owned(), m.name().to_owned()))
            .unwrap_or_else(|| ("unknown".into(), "unknown".into()));
        let outcome = match context.response() {
            None => "network_error",
            Some(response) => {
                let error_type = response
                    .headers()
                    .get("x-amzn-errortype")
                    .unwrap_or_default();
                outcome(response.status().as_u16(), error_type)
            }
        };
        if outcome == "throttled" {
            crate::metrics::record_throttle();
        }
        metrics::counter!(AWS_CALLS, "service" => service, "operation" => operation, "outcome" => outcome)
            .increment(1);
        Ok(())
    }
}

/// The outcome label of one response.
pub fn outcome(status: u16, error_type: &str) -> &'static str {
    match status {
        _ if error_type.starts_with("Throttling") || status == 429 => "throttled",
        200..=299 => "ok",
        500.. => "server_error",
        _ => "client_error",
    }
}

#[cfg(test)]
mod tests {
    use super::outcome;

    #[test]
    fn throttling_is_told_apart_from_other_errors() {
        assert_eq!(outcome(200, ""), "ok");
        assert_eq!(outcome(429, "ThrottlingException"), "throttled");
        assert_eq!(
            outcome(400, "ThrottlingException:http://internal"),
            "throttled"
        );
        assert_eq!(outcome(404, "ResourceNotFoundException"), "client_error");
        assert_eq!(outcome(503, ""), "server_error");
    }
}
