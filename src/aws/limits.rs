//! Client-side rate limits per AWS operation class, so that a burst of requests is paced below
//! AWS's fixed, per-account rates instead of turning into throttling (docs/aws-facts.md §2).
//!
//! Several replicas share the account's rates: give each replica 1/N of each rate (see README).

use std::num::NonZeroU32;
use std::sync::Arc;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

/// Requests per second for each class of call. Defaults are AWS's published rates.
#[derive(Debug, Clone, clap::Args)]
pub struct RateSettings {
    /// IVS channel calls per second (Create/Get/BatchGet/List/Update/DeleteChannel; AWS: 5 each).
    #[arg(long, env = "IVS_CHANNEL_TPS", default_value_t = 5.0)]
    pub ivs_channel_tps: f64,
    /// IVS recording-configuration and playback-key-pair calls per second (AWS: 3 each).
    #[arg(long, env = "IVS_RESOURCE_TPS", default_value_t = 3.0)]
    pub ivs_resource_tps: f64,
    /// IVS stream and stream-key calls per second (AWS: 5 each).
    #[arg(long, env = "IVS_STREAM_TPS", default_value_t = 5.0)]
    pub ivs_stream_tps: f64,
    /// IVS tag calls per second (AWS: 10 each).
    #[arg(long, env = "IVS_TAG_TPS", default_value_t = 10.0)]
    pub ivs_tag_tps: f64,
    /// IVS viewer-session revocations per second (AWS: 10).
    #[arg(long, env = "IVS_REVOCATION_TPS", default_value_t = 10.0)]
    pub ivs_revocation_tps: f64,
    /// SSM PutParameter/DeleteParameter(s)/AddTagsToResource per second (AWS standard throughput: about 3).
    #[arg(long, env = "SSM_WRITE_TPS", default_value_t = 3.0)]
    pub ssm_write_tps: f64,
    /// SSM GetParameter(s) per second (AWS standard throughput: 40, shared).
    #[arg(long, env = "SSM_READ_TPS", default_value_t = 40.0)]
    pub ssm_read_tps: f64,
    /// SQS calls per second, per operation (ReceiveMessage, DeleteMessage(Batch), queue setup;
    /// AWS: nearly unlimited on a standard queue, so 0 = unlimited).
    #[arg(long, env = "SQS_TPS", default_value_t = 0.0)]
    pub sqs_tps: f64,
    /// EventBridge rule and target calls per second (`events setup`; AWS: 50 per API, shared with
    /// the account's other tools).
    #[arg(long, env = "EVENTBRIDGE_TPS", default_value_t = 10.0)]
    pub eventbridge_tps: f64,
    /// S3 reads per second, per operation (the broadcast sweep's ListObjectsV2 and GetObject of
    /// recording metadata; AWS: 5,500 reads per second per prefix, so this only keeps the sweep
    /// polite).
    #[arg(long, env = "S3_TPS", default_value_t = 20.0)]
    pub s3_tps: f64,
}

impl Default for RateSettings {
    fn default() -> Self {
        RateSettings {
            ivs_channel_tps: 5.0,
            ivs_resource_tps: 3.0,
            ivs_stream_tps: 5.0,
            ivs_tag_tps: 10.0,
            ivs_revocation_tps: 10.0,
            ssm_write_tps: 3.0,
            ssm_read_tps: 40.0,
            sqs_tps: 0.0,
            eventbridge_tps: 10.0,
            s3_tps: 20.0,
        }
    }
}

impl RateSettings {
    /// No client-side limits at all (against a local simulator with its rates lifted).
    pub fn unlimited() -> Self {
        RateSettings {
            ivs_channel_tps: 0.0,
            ivs_resource_tps: 0.0,
            ivs_stream_tps: 0.0,
            ivs_tag_tps: 0.0,
            ivs_revocation_tps: 0.0,
            ssm_write_tps: 0.0,
            ssm_read_tps: 0.0,
            sqs_tps: 0.0,
            eventbridge_tps: 0.0,
            s3_tps: 0.0,
        }
    }
}

/// The class of an AWS call, which decides the limiter it waits on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallClass {
    IvsChannel,
    IvsResource,
    IvsStream,
    IvsTag,
    IvsRevocation,
    SsmWrite,
    SsmRead,
    Sqs,
    EventBridge,
    S3,
}

/// One limiter per operation: AWS's rates apply to each operation separately, so CreateChannel
/// and GetChannel do not share a budget.
#[derive(Clone)]
pub struct RateLimits {
    settings: Arc<RateSettings>,
    limiters: Arc<
        std::sync::Mutex<std::collections::HashMap<&'static str, Arc<DefaultDirectRateLimiter>>>,
    >,
}

impl RateLimits {
    pub fn new(settings: &RateSettings) -> Self {
        RateLimits {
            settings: Arc::new(settings.clone()),
            limiters: Default::default(),
        }
    }

    fn rate(&self, class: CallClass) -> f64 {
        let s = &self.settings;
        match class {
            CallClass::IvsChannel => s.ivs_channel_tps,
            CallClass::IvsResource => s.ivs_resource_tps,
            CallClass::IvsStream => s.ivs_stream_tps,
            CallClass::IvsTag => s.ivs_tag_tps,
            CallClass::IvsRevocation => s.ivs_revocation_tps,
            CallClass::SsmWrite => s.ssm_write_tps,
            CallClass::SsmRead => s.ssm_read_tps,
            CallClass::Sqs => s.sqs_tps,
            CallClass::EventBridge => s.eventbridge_tps,
            CallClass::S3 => s.s3_tps,
        }
    }

    /// Waits until `operation` may be called. A rate of 0 or less means unlimited.
    pub async fn wait(&self, operation: &'static str, class: CallClass) {
        let rate = self.rate(class);
        if rate <= 0.0 {
            return;
        }
        let limiter = {
            let mut map = self.limiters.lock().unwrap_or_else(|e| e.into_inner());
            map.entry(operation)
                .or_insert_with(|| Arc::new(RateLimiter::direct(quota(rate))))
                .clone()
        };
        limiter.until_ready().await;
    }
}

/// A quota of `rate` per second, evenly spaced (no burst). AWS's buckets do allow a burst, but
/// calls released in a burst reach AWS with jitter and the ones that arrive a little early are
/// throttled; measured with `scripts/bench-provision.sh`, spacing them cut 83 throttled
/// PutParameter calls per 100 channels to none at the same total time.
fn quota(rate: f64) -> Quota {
    let period = std::time::Duration::from_secs_f64(1.0 / rate);
    Quota::with_period(period).unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn calls_are_evenly_paced() {
        let limits = RateLimits::new(&RateSettings {
            ivs_channel_tps: 20.0,
            ..Default::default()
        });
        let start = std::time::Instant::now();
        for _ in 0..30 {
            limits.wait("CreateChannel", CallClass::IvsChannel).await;
        }
        // Evenly spaced at 20/s: 29 gaps of 50 ms after the first call.
        assert!(
            start.elapsed() >= std::time::Duration::from_millis(1400),
            "{:?}",
            start.elapsed()
        );
    }

    #[tokio::test]
    async fn a_zero_rate_means_unlimited() {
        let limits = RateLimits::new(&RateSettings {
            ssm_write_tps: 0.0,
            ..Default::default()
        });
        for _ in 0..1000 {
            limits.wait("PutParameter", CallClass::SsmWrite).await;
        }
    }
}
