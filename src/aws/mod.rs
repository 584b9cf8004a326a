//! Everything that talks to AWS: the SDK clients (configured only through the SDK's own settings),
//! client-side rate limits, and the classification of AWS errors into retryable and permanent.

pub mod errors;
pub mod interceptor;
pub mod limits;

use aws_config::BehaviorVersion;

pub use errors::{AwsError, ErrorClass};
pub use limits::{RateLimits, RateSettings};

/// The IVS and SSM clients with the rate limits every call goes through.
#[derive(Clone)]
pub struct Aws {
    pub ivs: aws_sdk_ivs::Client,
    pub ssm: aws_sdk_ssm::Client,
    pub limits: RateLimits,
}

impl Aws {
    /// Builds the clients from the SDK's standard configuration chain: region, credentials,
    /// `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_IVS` / `AWS_ENDPOINT_URL_SSM`, retry settings.
    pub async fn from_env(rates: &RateSettings) -> anyhow::Result<Self> {
        let config = aws_config::defaults(BehaviorVersion::latest()).load().await;
        if config.region().is_none() {
            anyhow::bail!("no AWS region is configured: set AWS_REGION (or a profile region)");
        }
        Ok(Self::from_config(&config, rates))
    }

    pub fn from_config(config: &aws_config::SdkConfig, rates: &RateSettings) -> Self {
        let ivs = aws_sdk_ivs::config::Builder::from(config)
            .interceptor(interceptor::CallMetrics)
            .build();
        let ssm = aws_sdk_ssm::config::Builder::from(config)
            .interceptor(interceptor::CallMetrics)
            .build();
        Aws {
            ivs: aws_sdk_ivs::Client::from_conf(ivs),
            ssm: aws_sdk_ssm::Client::from_conf(ssm),
            limits: RateLimits::new(rates),
        }
    }

    /// Clients for a local endpoint (the simulator or moto) with fixed test credentials.
    pub async fn for_local_endpoint(endpoint: &str, region: &str, rates: &RateSettings) -> Self {
        let config = aws_config::defaults(BehaviorVersion::latest())
            .endpoint_url(endpoint)
            .region(aws_config::Region::new(region.to_owned()))
            .credentials_provider(aws_sdk_ivs::config::Credentials::new(
                "local", "local", None, None, "local",
            ))
            .load()
            .await;
        Self::from_config(&config, rates)
    }
}

/// Sends a non-idempotent request exactly once: the SDK's own retry would repeat a create whose
/// response was lost and make a duplicate. The reconciler retries instead, after looking for
/// what the first attempt may have made.
pub fn no_retry() -> aws_config::retry::RetryConfig {
    aws_config::retry::RetryConfig::disabled()
}
