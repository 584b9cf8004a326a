//! Timeouts on every AWS call, so a connection that accepts a request and never answers (a
//! dropped route, a stuck NAT or proxy, half-open TCP) fails the call instead of holding a
//! worker forever. Applied through the SDK's own timeout configuration.

use std::time::Duration;

/// AWS call timeouts. Reconciler calls may take the operation timeout (retries included); calls
/// made while answering an API request use the shorter request timeout.
#[derive(Debug, Clone, clap::Args)]
pub struct TimeoutSettings {
    /// Seconds to establish a connection to AWS.
    #[arg(long, env = "AWS_CONNECT_TIMEOUT_SECS", default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=60))]
    pub aws_connect_timeout_secs: u64,
    /// Seconds one attempt of an AWS call may take (the SDK retries a timed-out attempt where
    /// the operation allows it).
    #[arg(long, env = "AWS_ATTEMPT_TIMEOUT_SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=300))]
    pub aws_attempt_timeout_secs: u64,
    /// Seconds a whole AWS operation may take, retries included (the reconciler's calls).
    #[arg(long, env = "AWS_OPERATION_TIMEOUT_SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub aws_operation_timeout_secs: u64,
    /// Seconds an AWS call made while answering an API request may take (stream keys, live
    /// status, viewer revocations, key rotation); beyond it the request gets a 504.
    #[arg(long, env = "AWS_REQUEST_TIMEOUT_SECS", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=60))]
    pub aws_request_timeout_secs: u64,
}

impl Default for TimeoutSettings {
    fn default() -> Self {
        TimeoutSettings {
            aws_connect_timeout_secs: 3,
            aws_attempt_timeout_secs: 10,
            aws_operation_timeout_secs: 30,
            aws_request_timeout_secs: 5,
        }
    }
}

impl TimeoutSettings {
    /// The SDK configuration for calls whose whole operation may take `operation`.
    pub(super) fn sdk(&self, operation: Duration) -> aws_config::timeout::TimeoutConfig {
        let attempt = Duration::from_secs(self.aws_attempt_timeout_secs).min(operation);
        aws_config::timeout::TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(self.aws_connect_timeout_secs))
            .operation_attempt_timeout(attempt)
            .operation_timeout(operation)
            .build()
    }

    /// The SDK configuration for a long poll that may wait `wait` before answering: the usual
    /// attempt and operation timeouts on top of the wait, so the wait never times out.
    pub(super) fn long_poll(&self, wait: Duration) -> aws_config::timeout::TimeoutConfig {
        let attempt = wait + Duration::from_secs(self.aws_attempt_timeout_secs);
        aws_config::timeout::TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(self.aws_connect_timeout_secs))
            .operation_attempt_timeout(attempt)
            .operation_timeout(attempt.max(wait + self.operation()))
            .build()
    }

    pub(super) fn operation(&self) -> Duration {
        Duration::from_secs(self.aws_operation_timeout_secs)
    }

    pub(super) fn request(&self) -> Duration {
        Duration::from_secs(self.aws_request_timeout_secs)
    }
}
