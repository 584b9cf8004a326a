//! The delivery engine's settings: as the command line takes them, and as the workers use them.

use std::time::Duration;

use crate::domain::webhook::{DEFAULT_SCHEDULE_SECS, UrlPolicy};

/// Webhook settings. Out-of-range values are refused at start-up with the setting's name.
#[derive(Debug, Clone, clap::Args)]
pub struct WebhookArgs {
    /// Do not run webhook delivery workers in this process (events are still written).
    #[arg(long = "no-webhook-delivery", env = "WEBHOOK_DELIVERY_DISABLED")]
    pub webhook_delivery_disabled: bool,
    /// Webhook deliveries in flight at once in this process.
    #[arg(long, env = "WEBHOOK_CONCURRENCY", default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub webhook_concurrency: u32,
    /// Deliveries in flight at once to one endpoint, across every process: a slow or dead
    /// endpoint holds at most this many slots and never delays the others.
    #[arg(long, env = "WEBHOOK_ENDPOINT_CONCURRENCY", default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub webhook_endpoint_concurrency: u32,
    /// Seconds one attempt may take (connect, send, answer); a slower one is a failed attempt.
    #[arg(long, env = "WEBHOOK_TIMEOUT_SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=60))]
    pub webhook_timeout_secs: u64,
    /// Seconds to wait before each attempt, comma-separated: the first is the first attempt's
    /// (0 = at once), then one per retry; after the last the delivery is `failed`. Each wait
    /// gets ±20% jitter. Default: Svix's schedule, about a day.
    #[arg(long, env = "WEBHOOK_RETRY_SCHEDULE_SECS", value_delimiter = ',', default_values_t = DEFAULT_SCHEDULE_SECS.to_vec(), value_parser = schedule_step)]
    pub webhook_retry_schedule_secs: Vec<f64>,
    /// Seconds a claimed delivery stays leased to a worker; at least twice the attempt timeout.
    #[arg(long, env = "WEBHOOK_LEASE_SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(2..=3600))]
    pub webhook_lease_secs: u64,
    /// Seconds between polls when no notification arrives.
    #[arg(long, env = "WEBHOOK_POLL_SECS", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=300))]
    pub webhook_poll_secs: u64,
    /// An endpoint that has failed every delivery for this many seconds is disabled (3 days).
    #[arg(long, env = "WEBHOOK_DISABLE_AFTER_SECS", default_value_t = 3 * 86_400, value_parser = clap::value_parser!(u64).range(60..))]
    pub webhook_disable_after_secs: u64,
    /// Days finished deliveries and their events are kept (the delivery log, replay).
    #[arg(long, env = "WEBHOOK_RETENTION_DAYS", default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub webhook_retention_days: u32,
    /// Allow endpoints on loopback, private, link-local and other non-public addresses (dev
    /// mode, tests). Off, such addresses are refused at creation and again after DNS at send time.
    #[arg(long, env = "WEBHOOK_ALLOW_PRIVATE")]
    pub webhook_allow_private: bool,
    /// Allow plain http endpoint URLs (dev mode, tests).
    #[arg(long, env = "WEBHOOK_ALLOW_INSECURE")]
    pub webhook_allow_insecure: bool,
}

fn schedule_step(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if (0.0..=7.0 * 86_400.0).contains(&v) => Ok(v),
        _ => Err(format!(
            "'{s}' is not a number of seconds between 0 and 604800"
        )),
    }
}

impl WebhookArgs {
    /// Refuses settings that cannot work together, naming them.
    pub fn check(&self) -> anyhow::Result<()> {
        if self.webhook_retry_schedule_secs.is_empty()
            || self.webhook_retry_schedule_secs.len() > 20
        {
            anyhow::bail!("WEBHOOK_RETRY_SCHEDULE_SECS must list 1 to 20 waits");
        }
        if self.webhook_lease_secs < 2 * self.webhook_timeout_secs {
            anyhow::bail!(
                "WEBHOOK_LEASE_SECS ({}) must be at least twice WEBHOOK_TIMEOUT_SECS ({})",
                self.webhook_lease_secs,
                self.webhook_timeout_secs
            );
        }
        Ok(())
    }

    pub fn policy(&self) -> UrlPolicy {
        UrlPolicy {
            allow_insecure: self.webhook_allow_insecure,
            allow_private: self.webhook_allow_private,
        }
    }
}

/// The settings in the form the workers use.
#[derive(Debug, Clone)]
pub struct Settings {
    pub concurrency: usize,
    pub per_endpoint: usize,
    pub timeout: Duration,
    pub schedule: Vec<Duration>,
    pub lease: Duration,
    pub poll: Duration,
    pub disable_after: Duration,
    pub retention: Duration,
    pub policy: UrlPolicy,
}

impl From<&WebhookArgs> for Settings {
    fn from(a: &WebhookArgs) -> Self {
        Settings {
            concurrency: a.webhook_concurrency as usize,
            per_endpoint: a.webhook_endpoint_concurrency as usize,
            timeout: Duration::from_secs(a.webhook_timeout_secs),
            schedule: a
                .webhook_retry_schedule_secs
                .iter()
                .map(|s| Duration::from_secs_f64(*s))
                .collect(),
            lease: Duration::from_secs(a.webhook_lease_secs),
            poll: Duration::from_secs(a.webhook_poll_secs),
            disable_after: Duration::from_secs(a.webhook_disable_after_secs),
            retention: Duration::from_secs(u64::from(a.webhook_retention_days) * 86_400),
            policy: a.policy(),
        }
    }
}
