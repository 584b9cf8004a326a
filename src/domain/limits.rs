//! Fair share between tenants, as rules with no I/O: the per-tenant limits (how many live
//! channels, how many requests per second), what a tenant may set and what the deployment
//! defaults are, which limits apply in the end, the decisions of the channel quota and of the
//! account-quota guard, and the request budgets' shape.
//!
//! Every tenant shares one AWS account, whose IVS channel quota (docs/aws-facts.md §1, 5,000 by
//! default) is the scarce resource: without a per-tenant cap one booking system with a bug in its
//! retry loop could use it up for everyone.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::FieldError;

/// The largest `max_live_channels` a tenant can be given. Far above IVS's adjustable default of
/// 5,000 channels per account, so it never bites before the account does.
pub const MAX_LIVE_CHANNELS_CEILING: i64 = 1_000_000;
/// The largest request rate (per second) a budget can have.
pub const MAX_REQUESTS_PER_SECOND: i64 = 1_000_000;
/// The largest burst a budget can have.
pub const MAX_BURST: i64 = 1_000_000;

/// Within this many channels of the account's capacity, creates take the account lock
/// exclusively and count exactly; further away they take it shared and do not wait for each
/// other. The count stays exact while fewer creates than this are in flight at once (each holds a
/// Postgres connection: Postgres's default `max_connections` is 100).
pub const ACCOUNT_EXACT_MARGIN: i64 = 128;

/// How long the guard believes IVS's "the account is full" (recorded when CreateChannel fails
/// with ServiceQuotaExceededException). It is dropped earlier when IVS accepts more channels; this
/// bound lets the guard relax by itself when the room came back some other way (channels deleted
/// outside the service and no failed channel retried). If the account is still full, the next
/// create that reaches IVS fails and records it again: at most one failed channel per period.
pub const IVS_FULL_RECORD_SECS: i64 = 3600;

/// A request budget (GCRA, a token bucket): `burst` requests at once, refilled at `per_second`.
/// `per_second == 0` means unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RatePolicy {
    pub per_second: u32,
    pub burst: u32,
}

impl RatePolicy {
    pub fn is_unlimited(&self) -> bool {
        self.per_second == 0
    }

    /// Seconds a spent burst takes to refill completely: the window of the IETF `RateLimit-Policy`
    /// field (`q` requests per `w` seconds). At least 1.
    pub fn window_secs(&self) -> u64 {
        u64::from(self.burst)
            .div_ceil(u64::from(self.per_second.max(1)))
            .max(1)
    }

    /// Seconds until `used` spent requests are refilled, rounded up (the `t` of `RateLimit`).
    pub fn refill_secs(&self, used: u32) -> u64 {
        u64::from(used).div_ceil(u64::from(self.per_second.max(1)))
    }
}

/// The deployment's defaults (settings `TENANT_*`), for tenants that set nothing of their own and
/// for API keys bound to no tenant (each such key has a budget of its own).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitDefaults {
    /// 0 = unlimited.
    pub max_live_channels: u32,
    /// Every endpoint but minting.
    pub api: RatePolicy,
    /// `POST /v1/channels/{id}/playback-tokens`: a budget of its own, larger, because a class of
    /// hundreds of viewers joins within seconds.
    pub tokens: RatePolicy,
}

/// What an operator set for one tenant; `None` takes the deployment default. Stored in
/// `tenant_limits` (no row = every field `None`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TenantLimitOverrides {
    /// Live channels (every phase but `deleted`) the tenant may have; 0 = unlimited.
    #[schema(minimum = 0, maximum = 1000000)]
    pub max_live_channels: Option<u32>,
    /// Requests per second for every endpoint but minting; 0 = unlimited.
    #[schema(minimum = 0, maximum = 1000000)]
    pub requests_per_second: Option<u32>,
    /// Requests the tenant may send at once before the rate applies.
    #[schema(minimum = 1, maximum = 1000000)]
    pub burst: Option<u32>,
    /// Playback tokens per second; 0 = unlimited.
    #[schema(minimum = 0, maximum = 1000000)]
    pub token_requests_per_second: Option<u32>,
    /// Playback tokens the tenant may mint at once before the rate applies.
    #[schema(minimum = 1, maximum = 1000000)]
    pub token_burst: Option<u32>,
}

/// The limits that apply to a tenant: its own where it set them, else the defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct EffectiveLimits {
    /// 0 = unlimited.
    #[schema(minimum = 0, maximum = 1000000)]
    pub max_live_channels: u32,
    /// 0 = unlimited.
    #[schema(minimum = 0, maximum = 1000000)]
    pub requests_per_second: u32,
    #[schema(minimum = 1, maximum = 1000000)]
    pub burst: u32,
    /// 0 = unlimited.
    #[schema(minimum = 0, maximum = 1000000)]
    pub token_requests_per_second: u32,
    #[schema(minimum = 1, maximum = 1000000)]
    pub token_burst: u32,
}

impl TenantLimitOverrides {
    pub fn resolve(&self, defaults: &LimitDefaults) -> EffectiveLimits {
        let api = self.api_policy(defaults);
        let tokens = self.token_policy(defaults);
        EffectiveLimits {
            max_live_channels: self.max_live_channels.unwrap_or(defaults.max_live_channels),
            requests_per_second: api.per_second,
            burst: api.burst,
            token_requests_per_second: tokens.per_second,
            token_burst: tokens.burst,
        }
    }

    pub fn api_policy(&self, defaults: &LimitDefaults) -> RatePolicy {
        RatePolicy {
            per_second: self.requests_per_second.unwrap_or(defaults.api.per_second),
            burst: self.burst.unwrap_or(defaults.api.burst),
        }
    }

    pub fn token_policy(&self, defaults: &LimitDefaults) -> RatePolicy {
        RatePolicy {
            per_second: self
                .token_requests_per_second
                .unwrap_or(defaults.tokens.per_second),
            burst: self.token_burst.unwrap_or(defaults.tokens.burst),
        }
    }

    /// The channel cap that applies, if any (0 = unlimited).
    pub fn channel_cap(&self, defaults: &LimitDefaults) -> Option<u32> {
        Some(self.max_live_channels.unwrap_or(defaults.max_live_channels)).filter(|c| *c > 0)
    }
}

/// The body of `PUT /v1/tenants/{tenant}/limits`: the whole set of a tenant's own limits (a field
/// left out or null takes the deployment default again).
///
/// Numbers arrive as `i64` so that an out-of-range value is reported with every other bad field
/// in one 422 naming it, instead of a 400 for the first.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"max_live_channels": 200, "requests_per_second": 20, "burst": 40}))]
pub struct TenantLimitsRequest {
    /// Live channels (every phase but `deleted`) the tenant may have, 0-1000000; 0 = unlimited.
    #[schema(value_type = Option<u32>, minimum = 0, maximum = 1000000)]
    pub max_live_channels: Option<i64>,
    /// Requests per second for every endpoint but minting, 0-1000000; 0 = unlimited.
    #[schema(value_type = Option<u32>, minimum = 0, maximum = 1000000)]
    pub requests_per_second: Option<i64>,
    /// Requests at once before the rate applies, 1-1000000.
    #[schema(value_type = Option<u32>, minimum = 1, maximum = 1000000)]
    pub burst: Option<i64>,
    /// Playback tokens per second, 0-1000000; 0 = unlimited.
    #[schema(value_type = Option<u32>, minimum = 0, maximum = 1000000)]
    pub token_requests_per_second: Option<i64>,
    /// Playback tokens at once before the rate applies, 1-1000000.
    #[schema(value_type = Option<u32>, minimum = 1, maximum = 1000000)]
    pub token_burst: Option<i64>,
}

/// The inclusive range of each field of [`TenantLimitsRequest`]: what validation checks, and what
/// the OpenAPI document states (a test compares the two).
pub const REQUEST_RANGES: [(&str, i64, i64); 5] = [
    ("max_live_channels", 0, MAX_LIVE_CHANNELS_CEILING),
    ("requests_per_second", 0, MAX_REQUESTS_PER_SECOND),
    ("burst", 1, MAX_BURST),
    ("token_requests_per_second", 0, MAX_REQUESTS_PER_SECOND),
    ("token_burst", 1, MAX_BURST),
];

impl TenantLimitsRequest {
    /// Checks every field against its range; reports every bad one.
    pub fn validate(self) -> Result<TenantLimitOverrides, Vec<FieldError>> {
        let values = [
            self.max_live_channels,
            self.requests_per_second,
            self.burst,
            self.token_requests_per_second,
            self.token_burst,
        ];
        let mut errors = Vec::new();
        let mut checked = [None; 5];
        for (i, ((field, min, max), value)) in REQUEST_RANGES.iter().zip(values).enumerate() {
            let Some(value) = value else { continue };
            match u32::try_from(value) {
                Ok(v) if (*min..=*max).contains(&value) => checked[i] = Some(v),
                _ => errors.push(FieldError::new(
                    format!("/{field}"),
                    format!("{field} must be between {min} and {max} (or null for the default)"),
                )),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let [
            max_live_channels,
            requests_per_second,
            burst,
            token_requests_per_second,
            token_burst,
        ] = checked;
        Ok(TenantLimitOverrides {
            max_live_channels,
            requests_per_second,
            burst,
            token_requests_per_second,
            token_burst,
        })
    }
}

/// Why a create is refused, if it is: `live` counts the tenant's live channels with the new one.
pub fn tenant_refusal(tenant: &str, cap: u32, live: i64) -> Option<String> {
    (live > i64::from(cap)).then(|| {
        format!(
            "tenant '{tenant}' has reached its limit of {cap} live channels ({} live now; a \
             channel counts until it is deleted, `deleting` included); delete a channel or ask \
             an operator to raise max_live_channels",
            live - 1
        )
    })
}

/// The account-quota guard: how many IVS channels the account may hold, and how many of them
/// the service leaves free.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountGuard {
    /// `IVS_CHANNEL_QUOTA`; 0 turns the guard off.
    pub quota: u32,
    /// `IVS_CHANNEL_QUOTA_RESERVE`: channels left free for anything outside the service.
    pub reserve: u32,
}

impl AccountGuard {
    /// How many live channels the service may hold: the quota, or fewer once IVS itself said the
    /// account was full while the service held `ivs_full_at` channels (channels made outside the
    /// service, or a quota lower than configured), less the reserve. `None` when the guard is off.
    pub fn capacity(&self, ivs_full_at: Option<i64>) -> Option<i64> {
        if self.quota == 0 {
            return None;
        }
        let known = ivs_full_at.map_or(i64::from(self.quota), |full| {
            full.min(i64::from(self.quota))
        });
        Some((known - i64::from(self.reserve)).max(0))
    }

    /// Why a create is refused, if it is: `live` counts every live channel with the new one.
    pub fn refusal(&self, capacity: i64, live: i64, ivs_full_at: Option<i64>) -> Option<String> {
        (live > capacity).then(|| {
            let why = match ivs_full_at {
                Some(full) if full < i64::from(self.quota) => format!(
                    "IVS refused a channel while the service held {full}, so the account holds \
                     channels the service does not know, or its quota is below IVS_CHANNEL_QUOTA \
                     ({})",
                    self.quota
                ),
                _ => format!("IVS_CHANNEL_QUOTA is {}", self.quota),
            };
            format!(
                "the AWS account is full: it can take {capacity} channels from this service and \
                 {} are live ({why}; reserve {}); nothing was sent to IVS. Delete channels, or \
                 raise the account's IVS channel quota and IVS_CHANNEL_QUOTA",
                live - 1,
                self.reserve
            )
        })
    }

    /// Whether a create that saw `live` channels (its own included) is close enough to the
    /// capacity to need the exclusive lock and an exact count.
    pub fn near_capacity(capacity: i64, live: i64) -> bool {
        live > capacity - ACCOUNT_EXACT_MARGIN
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFAULTS: LimitDefaults = LimitDefaults {
        max_live_channels: 0,
        api: RatePolicy {
            per_second: 50,
            burst: 100,
        },
        tokens: RatePolicy {
            per_second: 200,
            burst: 1000,
        },
    };

    #[test]
    fn a_tenant_takes_the_defaults_it_did_not_override() {
        let overrides = TenantLimitOverrides {
            max_live_channels: Some(3),
            burst: Some(10),
            ..Default::default()
        };
        let effective = overrides.resolve(&DEFAULTS);
        assert_eq!(effective.max_live_channels, 3);
        assert_eq!((effective.requests_per_second, effective.burst), (50, 10));
        assert_eq!(overrides.token_policy(&DEFAULTS), DEFAULTS.tokens);
        assert_eq!(overrides.channel_cap(&DEFAULTS), Some(3));
        assert_eq!(
            TenantLimitOverrides::default().channel_cap(&DEFAULTS),
            None,
            "0 = unlimited"
        );
    }

    #[test]
    fn requests_are_checked_against_every_range_at_once() {
        let bad = TenantLimitsRequest {
            max_live_channels: Some(-1),
            requests_per_second: Some(MAX_REQUESTS_PER_SECOND + 1),
            burst: Some(0),
            token_requests_per_second: Some(0),
            token_burst: None,
        };
        let fields: Vec<String> = bad
            .validate()
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(
            fields,
            ["/max_live_channels", "/requests_per_second", "/burst"]
        );
        let good = TenantLimitsRequest {
            max_live_channels: Some(0),
            token_burst: Some(MAX_BURST),
            ..Default::default()
        };
        let overrides = good.validate().unwrap();
        assert_eq!(overrides.max_live_channels, Some(0));
        assert_eq!(overrides.token_burst, Some(1_000_000));
        assert_eq!(overrides.burst, None);
    }

    #[test]
    fn the_tenant_quota_refuses_beyond_the_cap_and_names_it() {
        assert_eq!(tenant_refusal("acme", 3, 3), None);
        let message = tenant_refusal("acme", 3, 4).unwrap();
        assert!(
            message.contains("limit of 3") && message.contains("3 live now"),
            "{message}"
        );
    }

    #[test]
    fn the_account_guard_keeps_the_reserve_and_learns_from_ivs() {
        let guard = AccountGuard {
            quota: 5000,
            reserve: 50,
        };
        assert_eq!(guard.capacity(None), Some(4950));
        assert_eq!(guard.capacity(Some(4000)), Some(3950));
        assert_eq!(
            guard.capacity(Some(9000)),
            Some(4950),
            "never above the quota"
        );
        assert_eq!(
            AccountGuard {
                quota: 0,
                reserve: 0
            }
            .capacity(None),
            None
        );
        assert_eq!(
            AccountGuard {
                quota: 10,
                reserve: 20
            }
            .capacity(None),
            Some(0)
        );
        assert!(guard.refusal(4950, 4950, None).is_none());
        let message = guard.refusal(3950, 3951, Some(4000)).unwrap();
        assert!(
            message.contains("account is full") && message.contains("4000"),
            "{message}"
        );
        assert!(AccountGuard::near_capacity(4950, 4900));
        assert!(!AccountGuard::near_capacity(4950, 100));
    }

    #[test]
    fn budgets_describe_their_window_and_refill() {
        let policy = RatePolicy {
            per_second: 50,
            burst: 100,
        };
        assert_eq!(policy.window_secs(), 2);
        assert_eq!(policy.refill_secs(0), 0);
        assert_eq!(policy.refill_secs(1), 1);
        assert_eq!(policy.refill_secs(100), 2);
        let slow = RatePolicy {
            per_second: 1,
            burst: 1,
        };
        assert_eq!(slow.window_secs(), 1);
        assert!(
            RatePolicy {
                per_second: 0,
                burst: 5
            }
            .is_unlimited()
        );
    }
}
