//! The intake's settings: as the command line takes them, and as the pollers use them.

use std::time::Duration;

/// IVS event intake settings. With no queue URL the intake is off (the sweep still fills the
/// facts).
#[derive(Debug, Clone, clap::Args)]
pub struct EventArgs {
    /// The SQS queue EventBridge sends IVS's events to (`ivs-provisioner events setup` prints
    /// it). Unset: no intake in this process.
    #[arg(long, env = "IVS_EVENTS_QUEUE_URL")]
    pub ivs_events_queue_url: Option<String>,
    /// Long pollers per process, each receiving up to 10 messages a call.
    #[arg(long, env = "IVS_EVENTS_POLLERS", default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub ivs_events_pollers: u32,
    /// Seconds a receive waits for a first message (SQS allows 1-20).
    #[arg(long, env = "IVS_EVENTS_WAIT_SECS", default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=20))]
    pub ivs_events_wait_secs: u64,
    /// Seconds a received message stays hidden from other readers (other replicas) while it
    /// is applied; if this process dies first, SQS hands it out again after this long and the
    /// event id tells it was applied.
    #[arg(long, env = "IVS_EVENTS_VISIBILITY_SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(5..=43_200))]
    pub ivs_events_visibility_secs: u64,
    /// Days the ids of applied events (the dedupe record) and messages set aside are kept.
    /// SQS keeps a message at most 14 days, so no duplicate arrives later.
    #[arg(long, env = "IVS_EVENTS_RETENTION_DAYS", default_value_t = 14, value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub ivs_events_retention_days: u32,
}

/// The settings as the pollers use them.
#[derive(Debug, Clone)]
pub struct Settings {
    pub queue_url: String,
    pub pollers: usize,
    pub wait: Duration,
    pub visibility: Duration,
    pub retention: Duration,
}

impl EventArgs {
    /// The pollers' settings, `None` when intake is off.
    pub fn settings(&self) -> Option<Settings> {
        let queue_url = self
            .ivs_events_queue_url
            .clone()
            .filter(|u| !u.is_empty())?;
        Some(Settings {
            queue_url,
            pollers: self.ivs_events_pollers as usize,
            wait: Duration::from_secs(self.ivs_events_wait_secs),
            visibility: Duration::from_secs(self.ivs_events_visibility_secs),
            retention: Duration::from_secs(u64::from(self.ivs_events_retention_days) * 86_400),
        })
    }
}
