//! The reconciler's settings: as the command line takes them, and as the steps use them.

use std::time::Duration;

use crate::aws::{RateSettings, TimeoutSettings};

/// The reconciler's settings. Out-of-range values are refused at start-up with the setting's
/// name, never clamped silently.
#[derive(Debug, Clone, clap::Args)]
pub struct ReconcilerArgs {
    /// Prefix of the SSM parameters the service writes.
    #[arg(long, env = "SSM_PREFIX", default_value = "/live")]
    pub ssm_prefix: String,
    /// Channels reconciled at once by this process.
    #[arg(long, env = "RECONCILER_CONCURRENCY", default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub reconciler_concurrency: u32,
    /// Seconds a claimed row stays leased to a worker (renewed while it works).
    #[arg(long, env = "RECONCILER_LEASE_SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(5..))]
    pub reconciler_lease_secs: u64,
    /// Seconds between polls when no notification arrives.
    #[arg(long, env = "RECONCILER_POLL_SECS", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    pub reconciler_poll_secs: u64,
    /// Longest wait between retries of a retryable failure, in seconds.
    #[arg(long, env = "RECONCILER_MAX_BACKOFF_SECS", default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..))]
    pub reconciler_max_backoff_secs: u64,
    /// Seconds before a `failed` channel is tried again by itself (a spec change or
    /// `POST /v1/channels/{id}/reconcile` retries at once).
    #[arg(long, env = "RECONCILER_FAILED_RETRY_SECS", default_value_t = 3600)]
    pub reconciler_failed_retry_secs: u64,
    /// Seconds between drift sweeps (BatchGetChannel against every ready channel; 0 = off).
    #[arg(long, env = "DRIFT_SWEEP_SECS", default_value_t = 300)]
    pub drift_sweep_secs: u64,
    /// Seconds to wait for a new recording configuration to become ACTIVE within one attempt.
    #[arg(long, env = "RECORDING_ACTIVE_WAIT_SECS", default_value_t = 30)]
    pub recording_active_wait_secs: u64,
    /// Seconds one reconcile of one channel may take; beyond it the attempt is dropped (its
    /// lease stops being renewed) and the channel is retried with backoff.
    #[arg(long, env = "RECONCILER_ATTEMPT_TIMEOUT_SECS", default_value_t = 120, value_parser = clap::value_parser!(u64).range(5..))]
    pub reconciler_attempt_timeout_secs: u64,
    #[command(flatten)]
    pub rates: RateSettings,
    #[command(flatten)]
    pub timeouts: TimeoutSettings,
}

/// The settings in the form the steps use.
#[derive(Debug, Clone)]
pub struct Settings {
    pub ssm_prefix: String,
    pub concurrency: usize,
    pub lease: Duration,
    pub poll: Duration,
    pub max_backoff: Duration,
    pub failed_retry: Duration,
    pub recording_wait: Duration,
    pub drift_interval: Duration,
    pub attempt_timeout: Duration,
}

impl From<&ReconcilerArgs> for Settings {
    fn from(a: &ReconcilerArgs) -> Self {
        Settings {
            ssm_prefix: a.ssm_prefix.clone(),
            concurrency: a.reconciler_concurrency as usize,
            lease: Duration::from_secs(a.reconciler_lease_secs),
            poll: Duration::from_secs(a.reconciler_poll_secs),
            max_backoff: Duration::from_secs(a.reconciler_max_backoff_secs),
            failed_retry: Duration::from_secs(a.reconciler_failed_retry_secs),
            recording_wait: Duration::from_secs(a.recording_active_wait_secs),
            drift_interval: Duration::from_secs(a.drift_sweep_secs),
            attempt_timeout: Duration::from_secs(a.reconciler_attempt_timeout_secs),
        }
    }
}
