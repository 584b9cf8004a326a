//! Client-side rate limits per AWS operation class, so that a burst of requests is paced below
//! AWS's fixed, per-account rates instead of turning into throttling (docs/aws-facts.md §2).
//!
//! Several replicas share the account's rates: give each replica 1/N of each rate (see README).
//!
//! Each operation's calls get evenly spaced turns, handed out in order of arrival: a caller that
//! answers a person (a chat token) learns at once how long its turn is away and can decline
//! with a `Retry-After` instead of queueing past its budget.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

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
    /// IVS Chat room calls per second (Create/Get/List/Update/DeleteRoom; AWS: 5 each).
    #[arg(long, env = "IVSCHAT_ROOM_TPS", default_value_t = 5.0)]
    pub ivschat_room_tps: f64,
    /// IVS Chat logging-configuration calls per second (AWS: 3 each).
    #[arg(long, env = "IVSCHAT_LOGGING_TPS", default_value_t = 3.0)]
    pub ivschat_logging_tps: f64,
    /// IVS Chat tag calls per second (Tag/Untag/ListTagsForResource; AWS: 10 each).
    #[arg(long, env = "IVSCHAT_TAG_TPS", default_value_t = 10.0)]
    pub ivschat_tag_tps: f64,
    /// IVS Chat CreateChatToken calls per second (AWS: 200); every chat token is one.
    #[arg(long, env = "IVSCHAT_TOKEN_TPS", default_value_t = 200.0)]
    pub ivschat_token_tps: f64,
    /// IVS Chat DisconnectUser, DeleteMessage and SendEvent calls per second (AWS: 100 each).
    #[arg(long, env = "IVSCHAT_MODERATION_TPS", default_value_t = 100.0)]
    pub ivschat_moderation_tps: f64,
    /// Milliseconds a chat-token or moderation request may wait for its IVS Chat rate; a
    /// request whose turn is further away gets 429 with `Retry-After` at once.
    #[arg(long, env = "CHAT_WAIT_BUDGET_MS", default_value_t = 2000, value_parser = clap::value_parser!(u64).range(0..=30_000))]
    pub chat_wait_budget_ms: u64,
    /// SQS calls per second, per operation (ReceiveMessage, DeleteMessage(Batch), queue setup;
    /// AWS: nearly unlimited on a standard queue, so 0 = unlimited).
    #[arg(long, env = "SQS_TPS", default_value_t = 0.0)]
    pub sqs_tps: f64,
    /// EventBridge rule and target calls per second (`events setup`; AWS: 50 per API, shared with
    /// the account's other tools).
    #[arg(long, env = "EVENTBRIDGE_TPS", default_value_t = 10.0)]
    pub eventbridge_tps: f64,
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
            ivschat_room_tps: 5.0,
            ivschat_logging_tps: 3.0,
            ivschat_tag_tps: 10.0,
            ivschat_token_tps: 200.0,
            ivschat_moderation_tps: 100.0,
            chat_wait_budget_ms: 2000,
            sqs_tps: 0.0,
            eventbridge_tps: 10.0,
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
            ivschat_room_tps: 0.0,
            ivschat_logging_tps: 0.0,
            ivschat_tag_tps: 0.0,
            ivschat_token_tps: 0.0,
            ivschat_moderation_tps: 0.0,
            chat_wait_budget_ms: 2000,
            sqs_tps: 0.0,
            eventbridge_tps: 0.0,
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
    ChatRoom,
    ChatLogging,
    ChatTag,
    /// CreateChatToken.
    ChatToken,
    /// DisconnectUser, DeleteMessage, SendEvent (each its own budget).
    ChatModeration,
    Sqs,
    EventBridge,
}

/// One pacer per operation: AWS's rates apply to each operation separately, so CreateChannel
/// and GetChannel do not share a budget.
#[derive(Clone)]
pub struct RateLimits {
    settings: Arc<RateSettings>,
    pacers: Arc<Mutex<std::collections::HashMap<&'static str, Arc<Pacer>>>>,
}

impl RateLimits {
    pub fn new(settings: &RateSettings) -> Self {
        RateLimits {
            settings: Arc::new(settings.clone()),
            pacers: Default::default(),
        }
    }

    pub(super) fn rate(&self, class: CallClass) -> f64 {
        let s = &self.settings;
        match class {
            CallClass::IvsChannel => s.ivs_channel_tps,
            CallClass::IvsResource => s.ivs_resource_tps,
            CallClass::IvsStream => s.ivs_stream_tps,
            CallClass::IvsTag => s.ivs_tag_tps,
            CallClass::IvsRevocation => s.ivs_revocation_tps,
            CallClass::SsmWrite => s.ssm_write_tps,
            CallClass::SsmRead => s.ssm_read_tps,
            CallClass::ChatRoom => s.ivschat_room_tps,
            CallClass::ChatLogging => s.ivschat_logging_tps,
            CallClass::ChatTag => s.ivschat_tag_tps,
            CallClass::ChatToken => s.ivschat_token_tps,
            CallClass::ChatModeration => s.ivschat_moderation_tps,
            CallClass::Sqs => s.sqs_tps,
            CallClass::EventBridge => s.eventbridge_tps,
        }
    }

    /// How long chat-token and moderation requests may wait for their turn.
    pub fn chat_wait_budget(&self) -> Duration {
        Duration::from_millis(self.settings.chat_wait_budget_ms)
    }

    /// Waits until `operation` may be called. A rate of 0 or less means unlimited.
    pub async fn wait(&self, operation: &'static str, class: CallClass) {
        if let Some(pacer) = self.pacer(operation, class)
            && let Ok(turn) = pacer.reserve(None)
        {
            tokio::time::sleep_until(turn).await;
        }
    }

    /// Waits for `operation`'s turn if it comes within `budget`. Otherwise returns at once,
    /// taking no turn, with how much later than `budget` the next turn is.
    pub async fn wait_within(
        &self,
        operation: &'static str,
        class: CallClass,
        budget: Duration,
    ) -> Result<(), Duration> {
        if let Some(pacer) = self.pacer(operation, class) {
            let turn = pacer.reserve(Some(budget))?;
            tokio::time::sleep_until(turn).await;
        }
        Ok(())
    }

    fn pacer(&self, operation: &'static str, class: CallClass) -> Option<Arc<Pacer>> {
        let rate = self.rate(class);
        if rate <= 0.0 || !rate.is_finite() {
            return None;
        }
        let mut map = self.pacers.lock().unwrap_or_else(|e| e.into_inner());
        Some(
            map.entry(operation)
                .or_insert_with(|| Arc::new(Pacer::new(rate)))
                .clone(),
        )
    }
}

/// `rate` calls per second, evenly spaced (no burst). AWS's buckets do allow a burst, but calls
/// released in a burst reach AWS with jitter and the ones that arrive a little early are
/// throttled; measured with `scripts/bench-provision.sh`, spacing them cut 83 throttled
/// PutParameter calls per 100 channels to none at the same total time.
///
/// Turns are reserved in order (virtual scheduling): each caller takes the next free instant,
/// one period after the previous turn or now, whichever is later. A dropped caller leaves its
/// turn unused, which only slows the rate.
struct Pacer {
    period: Duration,
    next: Mutex<Instant>,
}

impl Pacer {
    fn new(rate: f64) -> Self {
        Pacer {
            period: Duration::from_secs_f64(1.0 / rate),
            next: Mutex::new(Instant::now()),
        }
    }

    /// The caller's turn, or (when it is further away than `budget`) how much further.
    fn reserve(&self, budget: Option<Duration>) -> Result<Instant, Duration> {
        let now = Instant::now();
        let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
        let turn = (*next).max(now);
        let wait = turn - now;
        if let Some(budget) = budget
            && wait > budget
        {
            return Err(wait - budget);
        }
        *next = turn + self.period;
        Ok(turn)
    }
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

    #[test]
    fn turns_beyond_the_budget_are_declined_without_taking_one() {
        let pacer = Pacer::new(10.0);
        let start = Instant::now();
        let budget = Some(Duration::from_millis(250));
        let answers: Vec<_> = (0..5).map(|_| pacer.reserve(budget)).collect();
        // Turns at 0, 100 and 200 ms fit; the one at 300 ms is 50 ms beyond the budget.
        assert!(answers[..3].iter().all(Result::is_ok), "{answers:?}");
        for declined in &answers[3..] {
            let beyond = declined.expect_err("beyond the budget");
            assert!(beyond > Duration::ZERO && beyond <= Duration::from_millis(50));
        }
        let next = pacer.reserve(None).expect("no budget, always a turn");
        assert!(
            next - start >= Duration::from_millis(300),
            "declines took no turn"
        );
        assert!(
            next - start < Duration::from_millis(400),
            "declines took no turn"
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
