//! Per-operation token buckets (governor) holding AWS's published TPS limits (docs/aws-facts.md §2),
//! scaled or switched off by `RateSettings`. Operations that share a quota share a bucket.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use crate::config::RateSettings;

/// (bucket, TPS) for an IAM-style action. SSM's read calls share one 40 TPS bucket; its deletes
/// share a 3 TPS bucket (AWS publishes no figure; PutParameter's ~3 TPS is the closest known one);
/// SSM tag calls get 10 TPS like IVS's (also unpublished).
pub fn limit_for(action: &str) -> Option<(&'static str, f64)> {
    let op = action.split_once(':').map_or(action, |(_, op)| op);
    let service = action.split_once(':').map_or("", |(service, _)| service);
    let limit = match (service, op) {
        ("ssm", "PutParameter") => ("ssm:PutParameter", 3.0),
        ("ssm", "GetParameter" | "GetParameters" | "GetParametersByPath") => {
            ("ssm:GetParameter*", 40.0)
        }
        ("ssm", "DeleteParameter" | "DeleteParameters") => ("ssm:DeleteParameter*", 3.0),
        ("ssm", "AddTagsToResource" | "RemoveTagsFromResource" | "ListTagsForResource") => {
            ("ssm:tags", 10.0)
        }
        ("ivs", _) => ivs_limit(op)?,
        ("ivschat", _) => crate::ivschat::rate_bucket(op)?,
        _ => return None,
    };
    Some(limit)
}

fn ivs_limit(op: &str) -> Option<(&'static str, f64)> {
    // Each IVS operation has its own bucket; the name is leaked once per distinct op (a bounded set).
    let tps = match op {
        "BatchStartViewerSessionRevocation" => 2.0,
        "StartViewerSessionRevocation"
        | "TagResource"
        | "UntagResource"
        | "ListTagsForResource" => 10.0,
        "ImportPlaybackKeyPair"
        | "GetPlaybackKeyPair"
        | "ListPlaybackKeyPairs"
        | "DeletePlaybackKeyPair" => 3.0,
        "CreateRecordingConfiguration"
        | "GetRecordingConfiguration"
        | "ListRecordingConfigurations"
        | "DeleteRecordingConfiguration" => 3.0,
        _ => 5.0,
    };
    Some((IVS_OPS.iter().find(|name| **name == op)?, tps))
}

/// Every IVS operation the simulator serves (also the restJson path table).
pub const IVS_OPS: &[&str] = &[
    "CreateChannel",
    "GetChannel",
    "BatchGetChannel",
    "ListChannels",
    "UpdateChannel",
    "DeleteChannel",
    "CreateRecordingConfiguration",
    "GetRecordingConfiguration",
    "ListRecordingConfigurations",
    "DeleteRecordingConfiguration",
    "ImportPlaybackKeyPair",
    "GetPlaybackKeyPair",
    "ListPlaybackKeyPairs",
    "DeletePlaybackKeyPair",
    "CreateStreamKey",
    "GetStreamKey",
    "ListStreamKeys",
    "DeleteStreamKey",
    "BatchGetStreamKey",
    "GetStream",
    "ListStreams",
    "StopStream",
    "ListStreamSessions",
    "GetStreamSession",
    "StartViewerSessionRevocation",
    "BatchStartViewerSessionRevocation",
    "TagResource",
    "UntagResource",
    "ListTagsForResource",
];

/// The set of buckets for one `RateSettings`; rebuilt when the settings change.
pub struct RateLimits {
    settings: RateSettings,
    buckets: HashMap<&'static str, DefaultDirectRateLimiter>,
}

impl RateLimits {
    pub fn new(settings: RateSettings) -> Self {
        Self {
            settings,
            buckets: HashMap::new(),
        }
    }

    pub fn settings(&self) -> &RateSettings {
        &self.settings
    }

    /// True when `action` may proceed now; false means ThrottlingException.
    pub fn allow(&mut self, action: &str) -> bool {
        if !self.settings.enabled {
            return true;
        }
        let Some((bucket, tps)) = limit_for(action) else {
            return true;
        };
        let scale = self.settings.scale;
        let limiter = self
            .buckets
            .entry(bucket)
            .or_insert_with(|| RateLimiter::direct(quota(tps * scale)));
        limiter.check().is_ok()
    }
}

/// A bucket refilling at `tps` with a burst of one second's worth (at least one call).
pub(crate) fn quota(tps: f64) -> Quota {
    let tps = if tps.is_finite() && tps > 0.0 {
        tps
    } else {
        f64::MIN_POSITIVE
    };
    let period = Duration::from_secs_f64((1.0 / tps).min(86_400.0)).max(Duration::from_nanos(1));
    let burst = NonZeroU32::new(tps.round().clamp(1.0, f64::from(u32::MAX)) as u32)
        .unwrap_or(NonZeroU32::MIN);
    Quota::with_period(period)
        .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
        .allow_burst(burst)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_equals_tps_then_throttles() {
        let mut limits = RateLimits::new(RateSettings {
            enabled: true,
            scale: 1.0,
        });
        let allowed = (0..10)
            .filter(|_| limits.allow("ivs:CreateChannel"))
            .count();
        assert_eq!(allowed, 5);
        let shared = (0..50)
            .filter(|i| {
                limits.allow(if i % 2 == 0 {
                    "ssm:GetParameter"
                } else {
                    "ssm:GetParameters"
                })
            })
            .count();
        assert_eq!(shared, 40);
    }

    #[test]
    fn disabled_never_throttles() {
        let mut limits = RateLimits::new(RateSettings {
            enabled: false,
            scale: 1.0,
        });
        assert!((0..100).all(|_| limits.allow("ivs:CreateChannel")));
    }
}
