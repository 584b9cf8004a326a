//! The AWS facade: the only module that touches the SDK clients. Every operation the service
//! uses is one method here, which names its operation once, waits on the client-side rate
//! limiter, sends with the operation's retry policy, and turns any failure into a typed
//! [`AwsError`]. The clients are configured only through the SDK's own settings (region,
//! credentials, `AWS_ENDPOINT_URL*`, retry settings).
//!
//! Each AWS service has a module of its own ([`ivs_channels`], [`ivs_resources`], [`ivs_streams`],
//! [`ivschat_rooms`], [`ivschat_messaging`], [`ssm`], [`sqs`], [`eventbridge`]); a new service
//! adds one more module with its client and its methods.

pub mod errors;
mod eventbridge;
mod interceptor;
mod ivs_channels;
mod ivs_resources;
mod ivs_streams;
mod ivschat_messaging;
mod ivschat_rooms;
pub mod limits;
mod sqs;
mod ssm;
mod timeouts;

use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_sdk_ivs::error::{ProvideErrorMetadata, SdkError};

/// The time type of the shapes the facade returns.
pub use aws_sdk_ivs::primitives::DateTime as AwsTime;
/// The IVS shapes the facade returns.
pub use aws_sdk_ivs::types as ivs;
/// The IVS Chat shapes the facade returns.
pub use aws_sdk_ivschat::types as ivschat;
pub use errors::{AwsError, AwsErrorKind, ErrorClass};
pub use eventbridge::RuleInfo;
pub use ivs_channels::{BATCH_GET_MAX, CreatedChannel, ivs_name};
pub use ivs_resources::ImportedKeyPair;
pub use ivschat_messaging::ChatToken;
pub use ivschat_rooms::ChatRoom;
pub use limits::{CallClass, RateLimits, RateSettings};
pub use sqs::{MAX_MESSAGES, MAX_WAIT_SECS, QueueMessage};
pub use ssm::PutParameter;
pub use timeouts::TimeoutSettings;

use errors::{HasStatus, from_sdk};

/// One AWS operation: its name (for the limiter, errors and metrics) and its rate class.
#[derive(Debug, Clone, Copy)]
struct Op {
    name: &'static str,
    class: CallClass,
}

const fn op(name: &'static str, class: CallClass) -> Op {
    Op { name, class }
}

/// The AWS clients with the rate limits every call goes through. Cheap to clone.
#[derive(Clone)]
pub struct Aws {
    ivs: aws_sdk_ivs::Client,
    /// The same client with the SDK's retry off. Non-idempotent creates are sent exactly once
    /// through it: a retry of a create whose response was lost would make a duplicate. The
    /// caller retries instead, after looking for what the first attempt may have made.
    ivs_once: aws_sdk_ivs::Client,
    ssm: aws_sdk_ssm::Client,
    /// IVS Chat (rooms, logging configurations, tokens, moderation).
    ivschat: aws_sdk_ivschat::Client,
    /// The chat client with the SDK's retry off, for CreateRoom and
    /// CreateLoggingConfiguration, for the same reason as `ivs_once`.
    ivschat_once: aws_sdk_ivschat::Client,
    sqs: aws_sdk_sqs::Client,
    events: aws_sdk_eventbridge::Client,
    limits: RateLimits,
    sdk: aws_config::SdkConfig,
    timeouts: TimeoutSettings,
}

impl Aws {
    /// Builds the clients from the SDK's standard configuration chain: region, credentials,
    /// `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_IVS` / `AWS_ENDPOINT_URL_SSM` /
    /// `AWS_ENDPOINT_URL_IVSCHAT`, `AWS_ENDPOINT_URL_SQS` / `AWS_ENDPOINT_URL_EVENTBRIDGE`, retry
    /// settings.
    pub async fn from_env(
        rates: &RateSettings,
        timeouts: &TimeoutSettings,
    ) -> anyhow::Result<Self> {
        let config = aws_config::defaults(BehaviorVersion::latest()).load().await;
        if config.region().is_none() {
            anyhow::bail!("no AWS region is configured: set AWS_REGION (or a profile region)");
        }
        Ok(Self::from_config(&config, rates).with_timeouts(timeouts))
    }

    /// Clients from an SDK configuration, with the default timeouts.
    pub fn from_config(config: &aws_config::SdkConfig, rates: &RateSettings) -> Self {
        let timeouts = TimeoutSettings::default();
        Self::build(
            config,
            RateLimits::new(rates),
            timeouts.clone(),
            timeouts.operation(),
        )
    }

    fn build(
        sdk: &aws_config::SdkConfig,
        limits: RateLimits,
        timeouts: TimeoutSettings,
        operation: Duration,
    ) -> Self {
        let ivs = aws_sdk_ivs::config::Builder::from(sdk)
            .interceptor(interceptor::CallMetrics)
            .timeout_config(timeouts.sdk(operation));
        let ivs_once = ivs
            .clone()
            .retry_config(aws_config::retry::RetryConfig::disabled());
        let ssm = aws_sdk_ssm::config::Builder::from(sdk)
            .interceptor(interceptor::CallMetrics)
            .timeout_config(timeouts.sdk(operation))
            .build();
        let ivschat = aws_sdk_ivschat::config::Builder::from(sdk)
            .interceptor(interceptor::CallMetrics)
            .timeout_config(timeouts.sdk(operation));
        let ivschat_once = ivschat
            .clone()
            .retry_config(aws_config::retry::RetryConfig::disabled());
        let sqs = aws_sdk_sqs::config::Builder::from(sdk)
            .interceptor(interceptor::CallMetrics)
            .timeout_config(timeouts.sdk(operation))
            .build();
        let events = aws_sdk_eventbridge::config::Builder::from(sdk)
            .interceptor(interceptor::CallMetrics)
            .timeout_config(timeouts.sdk(operation))
            .build();
        Aws {
            ivs: aws_sdk_ivs::Client::from_conf(ivs.build()),
            ivs_once: aws_sdk_ivs::Client::from_conf(ivs_once.build()),
            ssm: aws_sdk_ssm::Client::from_conf(ssm),
            ivschat: aws_sdk_ivschat::Client::from_conf(ivschat.build()),
            ivschat_once: aws_sdk_ivschat::Client::from_conf(ivschat_once.build()),
            sqs: aws_sdk_sqs::Client::from_conf(sqs),
            events: aws_sdk_eventbridge::Client::from_conf(events),
            limits,
            sdk: sdk.clone(),
            timeouts,
        }
    }

    /// The same clients and rate limits with other timeouts.
    pub fn with_timeouts(&self, timeouts: &TimeoutSettings) -> Self {
        Self::build(
            &self.sdk,
            self.limits.clone(),
            timeouts.clone(),
            timeouts.operation(),
        )
    }

    /// The clients for calls made while answering an API request: the whole operation must fit
    /// in the request timeout. The rate limits are shared with every other clone.
    pub fn for_requests(&self) -> Self {
        Self::build(
            &self.sdk,
            self.limits.clone(),
            self.timeouts.clone(),
            self.timeouts.request(),
        )
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

    /// Waits for the operation's rate budget, sends, and types the error.
    async fn call<T, E, R, F>(&self, op: Op, send: F) -> Result<T, AwsError>
    where
        F: Future<Output = Result<T, SdkError<E, R>>>,
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug + HasStatus,
    {
        self.limits.wait(op.name, op.class).await;
        send.await.map_err(|e| from_sdk(op.name, e))
    }

    /// Like [`Aws::call`], but gives up at once with [`AwsErrorKind::BudgetExhausted`] when the
    /// operation's turn is further away than `budget` (calls that answer people and must not
    /// queue). The request is built before the turn, sent only after it.
    async fn call_within<T, E, R, F>(
        &self,
        op: Op,
        budget: Duration,
        send: F,
    ) -> Result<T, AwsError>
    where
        F: Future<Output = Result<T, SdkError<E, R>>>,
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug + HasStatus,
    {
        if let Err(beyond) = self.limits.wait_within(op.name, op.class, budget).await {
            return Err(AwsError::budget_exhausted(op.name, beyond));
        }
        send.await.map_err(|e| from_sdk(op.name, e))
    }
}

/// Every item of a paginated listing. `page` sends one request for the page after the given
/// token and returns its items and the next token; an empty token ends the listing too.
async fn all_pages<T, F, Fut>(mut page: F) -> Result<Vec<T>, AwsError>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: Future<Output = Result<(Vec<T>, Option<String>), AwsError>>,
{
    let mut all = Vec::new();
    let mut next = None;
    loop {
        let (items, token) = page(next).await?;
        all.extend(items);
        next = token.filter(|t| !t.is_empty());
        if next.is_none() {
            return Ok(all);
        }
    }
}

/// An empty answer where AWS should have sent the resource.
fn empty(op: Op) -> AwsError {
    AwsError::local(
        op.name,
        AwsErrorKind::EmptyResponse,
        format!("{} returned no result", op.name),
    )
}
