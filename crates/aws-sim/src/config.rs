//! Simulator settings: account, region, quotas, rate limits, recording-configuration and chat
//! timing, and faults. Derives `clap::Args` so the `aws-sim` binary and the service's `dev`
//! command can flatten it; every flag is `--sim-*` (no clash when flattened) and has an `AWS_SIM_*` env var.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::faults::FaultSettings;

pub const DEFAULT_ACCOUNT_ID: &str = "123456789012";
pub const DEFAULT_REGION: &str = "us-east-1";

/// Everything the simulator can be told at start. `Default` equals the CLI defaults.
#[derive(clap::Args, Debug, Clone, Serialize, Deserialize)]
pub struct SimConfig {
    /// AWS account id used in every ARN.
    #[arg(long = "sim-account-id", env = "AWS_SIM_ACCOUNT_ID", default_value = DEFAULT_ACCOUNT_ID)]
    pub account_id: String,

    /// Region used when a request carries no SigV4 credential scope.
    #[arg(long = "sim-region", env = "AWS_SIM_REGION", default_value = DEFAULT_REGION)]
    pub default_region: String,

    #[command(flatten)]
    pub quotas: Quotas,

    #[command(flatten)]
    pub rates: RateSettings,

    /// How long a recording configuration stays CREATING before it becomes ACTIVE (or CREATE_FAILED).
    #[arg(
        long = "sim-recording-delay-ms",
        env = "AWS_SIM_RECORDING_DELAY_MS",
        default_value_t = 1000
    )]
    pub recording_delay_ms: u64,

    /// S3 buckets that live "in another region": their recording configurations end CREATE_FAILED.
    #[arg(
        long = "sim-foreign-bucket",
        env = "AWS_SIM_FOREIGN_BUCKETS",
        value_delimiter = ','
    )]
    pub foreign_buckets: Vec<String>,

    #[command(flatten)]
    pub faults: FaultSettings,

    #[command(flatten)]
    #[serde(default)]
    pub chat: ChatTiming,
}

/// IVS Chat timing: how long a chat token admits a connection, and how long a session "minute"
/// lasts (tests shorten it to see sessions expire).
#[derive(clap::Args, Debug, Clone, Serialize, Deserialize)]
pub struct ChatTiming {
    /// Lifetime of a chat token before its one connection (docs/aws-facts.md §13: one minute).
    #[arg(
        long = "sim-chat-token-ttl-ms",
        env = "AWS_SIM_CHAT_TOKEN_TTL_MS",
        default_value_t = 60_000
    )]
    pub token_ttl_ms: u64,
    /// Length of one minute of `sessionDurationInMinutes`, in milliseconds.
    #[arg(
        long = "sim-chat-minute-ms",
        env = "AWS_SIM_CHAT_MINUTE_MS",
        default_value_t = 60_000
    )]
    pub minute_ms: u64,
}

impl Default for ChatTiming {
    fn default() -> Self {
        Self {
            token_ttl_ms: 60_000,
            minute_ms: 60_000,
        }
    }
}

impl ChatTiming {
    pub fn token_ttl(&self) -> Duration {
        Duration::from_millis(self.token_ttl_ms)
    }

    pub fn session(&self, minutes: i64) -> Duration {
        Duration::from_millis(self.minute_ms.saturating_mul(minutes.max(0).unsigned_abs()))
    }
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            account_id: DEFAULT_ACCOUNT_ID.into(),
            default_region: DEFAULT_REGION.into(),
            quotas: Quotas::default(),
            rates: RateSettings::default(),
            recording_delay_ms: 1000,
            foreign_buckets: Vec::new(),
            faults: FaultSettings::default(),
            chat: ChatTiming::default(),
        }
    }
}

impl SimConfig {
    /// Settings for tests: no rate limits, recording configurations ACTIVE at once.
    pub fn for_tests() -> Self {
        Self {
            rates: RateSettings {
                enabled: false,
                ..RateSettings::default()
            },
            recording_delay_ms: 0,
            ..Self::default()
        }
    }

    pub fn recording_delay(&self) -> Duration {
        Duration::from_millis(self.recording_delay_ms)
    }
}

/// Resource quotas per account and region (docs/aws-facts.md §1, §6.3).
#[derive(clap::Args, Debug, Clone, Serialize, Deserialize)]
pub struct Quotas {
    #[arg(
        long = "sim-max-channels",
        env = "AWS_SIM_MAX_CHANNELS",
        default_value_t = 5000
    )]
    pub channels: usize,
    #[arg(
        long = "sim-max-playback-key-pairs",
        env = "AWS_SIM_MAX_PLAYBACK_KEY_PAIRS",
        default_value_t = 3
    )]
    pub playback_key_pairs: usize,
    #[arg(
        long = "sim-max-recording-configurations",
        env = "AWS_SIM_MAX_RECORDING_CONFIGURATIONS",
        default_value_t = 20
    )]
    pub recording_configurations: usize,
    #[arg(
        long = "sim-max-stream-keys-per-channel",
        env = "AWS_SIM_MAX_STREAM_KEYS_PER_CHANNEL",
        default_value_t = 1
    )]
    pub stream_keys_per_channel: usize,
    /// Channels live at once before IVS emits `IVS Limit Breach` (Concurrent Broadcasts).
    #[arg(
        long = "sim-max-concurrent-streams",
        env = "AWS_SIM_MAX_CONCURRENT_STREAMS",
        default_value_t = 100
    )]
    pub concurrent_streams: usize,
    /// Standard-tier SSM parameters per region.
    #[arg(
        long = "sim-max-parameters",
        env = "AWS_SIM_MAX_PARAMETERS",
        default_value_t = 10_000
    )]
    pub parameters: usize,
    /// IVS Chat rooms per region (docs/aws-facts.md §14).
    #[arg(
        long = "sim-max-chat-rooms",
        env = "AWS_SIM_MAX_CHAT_ROOMS",
        default_value_t = 50_000
    )]
    pub chat_rooms: usize,
    /// IVS Chat logging configurations per region.
    #[arg(
        long = "sim-max-chat-logging-configurations",
        env = "AWS_SIM_MAX_CHAT_LOGGING_CONFIGURATIONS",
        default_value_t = 10
    )]
    pub chat_logging_configurations: usize,
    /// Concurrent IVS Chat connections per region, across all rooms.
    #[arg(
        long = "sim-max-chat-connections",
        env = "AWS_SIM_MAX_CHAT_CONNECTIONS",
        default_value_t = 50_000
    )]
    pub chat_connections: usize,
}

impl Default for Quotas {
    fn default() -> Self {
        Self {
            channels: 5000,
            playback_key_pairs: 3,
            recording_configurations: 20,
            stream_keys_per_channel: 1,
            concurrent_streams: 100,
            parameters: 10_000,
            chat_rooms: 50_000,
            chat_logging_configurations: 10,
            chat_connections: 50_000,
        }
    }
}

/// API rate limits: AWS's TPS table (see `rates.rs`) times `scale`, or off.
#[derive(clap::Args, Debug, Clone, Serialize, Deserialize)]
pub struct RateSettings {
    /// Enforce per-operation TPS limits (ThrottlingException when exceeded).
    #[arg(long = "sim-rates-enabled", env = "AWS_SIM_RATES_ENABLED", default_value_t = true, action = clap::ArgAction::Set)]
    pub enabled: bool,
    /// Multiplies every TPS limit (10 = ten times AWS's rates).
    #[arg(
        long = "sim-rate-scale",
        env = "AWS_SIM_RATE_SCALE",
        default_value_t = 1.0
    )]
    pub scale: f64,
}

impl Default for RateSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            scale: 1.0,
        }
    }
}
