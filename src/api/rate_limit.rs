//! Request budgets: every authenticated request spends from its tenant's budget (an API key bound
//! to no tenant has one of its own), minting playback and chat tokens from a second, larger one. Beyond a
//! budget the answer is 429 with `Retry-After`; every answer to a counted request carries the
//! IETF RateLimit header fields of draft-ietf-httpapi-ratelimit-headers-09 (`RateLimit-Policy:
//! "api";q=<burst>;w=<seconds to refill it>` and `RateLimit: "api";r=<remaining>;t=<seconds
//! until full>`), so clients can pace themselves before they are refused.
//!
//! Budgets are GCRA token buckets (`governor`), one per (tenant or key, budget) in a bounded
//! concurrent map: no lock is shared between tenants, so one tenant at its limit never slows
//! another. They live in this process: with N replicas behind a load balancer a tenant gets up to
//! N times its budget (see the README on sizing). The caller and the tenant's limits come from the
//! in-process caches, so a warm token request still reads nothing from Postgres.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};

use super::auth::{self, Caller};
use super::error::ApiError;
use super::state::AppState;
use crate::db;
use crate::domain::limits::{RatePolicy, TenantLimitOverrides};

/// `RateLimit-Policy`: the budget's shape (IETF draft-ietf-httpapi-ratelimit-headers-09).
pub const POLICY_HEADER: HeaderName = HeaderName::from_static("ratelimit-policy");
/// `RateLimit`: what is left of it now (same draft).
pub const STATE_HEADER: HeaderName = HeaderName::from_static("ratelimit");

/// The minting routes (playback and chat tokens): they spend from the token budget, so members
/// joining a class never starve channel management, nor the other way round.
const TOKEN_ROUTES: &[&str] = &[
    "/v1/channels/{id}/playback-tokens",
    "/v1/channels/{id}/chat-tokens",
];

/// Budgets kept at once; beyond it the least used go (they come back full, as an idle one is).
const MAX_BUDGETS: u64 = 100_000;
/// A budget unused this long is dropped; it would have refilled long before.
const IDLE: Duration = Duration::from_secs(600);

/// Which budget a request spends from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Budget {
    /// Every endpoint but minting.
    Api,
    /// `POST /v1/channels/{id}/playback-tokens` and `POST /v1/channels/{id}/chat-tokens`.
    Tokens,
}

impl Budget {
    /// The policy's name in the RateLimit fields.
    pub fn name(self) -> &'static str {
        match self {
            Budget::Api => "api",
            Budget::Tokens => "tokens",
        }
    }
}

/// Whose budget it is: a tenant's (every key bound to it shares it) or one unbound key's.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Owner {
    Tenant(String),
    Key([u8; 32]),
}

type Limiter = RateLimiter<NotKeyed, InMemoryState, DefaultClock, StateInformationMiddleware>;

struct Bucket {
    policy: RatePolicy,
    limiter: Limiter,
}

/// What a budget said about one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Let through; `remaining` more fit right now.
    Allowed { remaining: u32 },
    /// Refused; the next request fits after `wait`.
    Refused { wait: Duration },
}

/// Every budget of this process.
pub struct RateBudgets {
    buckets: moka::sync::Cache<(Owner, Budget), Arc<Bucket>>,
}

impl Default for RateBudgets {
    fn default() -> Self {
        RateBudgets {
            buckets: moka::sync::Cache::builder()
                .max_capacity(MAX_BUDGETS)
                .time_to_idle(IDLE)
                .build(),
        }
    }
}

impl RateBudgets {
    /// Spends one request from the owner's budget, made anew when its policy changed.
    pub fn spend(&self, owner: Owner, budget: Budget, policy: RatePolicy) -> Decision {
        let key = (owner, budget);
        let bucket = match self.buckets.get(&key) {
            Some(bucket) if bucket.policy == policy => bucket,
            _ => {
                let bucket = Arc::new(Bucket {
                    policy,
                    limiter: RateLimiter::direct(quota(policy))
                        .with_middleware::<StateInformationMiddleware>(),
                });
                self.buckets.insert(key, bucket.clone());
                bucket
            }
        };
        match bucket.limiter.check() {
            Ok(state) => Decision::Allowed {
                remaining: state.remaining_burst_capacity(),
            },
            Err(not_until) => Decision::Refused {
                wait: not_until.wait_time_from(bucket.limiter.clock().now()),
            },
        }
    }
}

fn quota(policy: RatePolicy) -> Quota {
    let per_second = NonZeroU32::new(policy.per_second).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new(policy.burst).unwrap_or(NonZeroU32::MIN);
    Quota::per_second(per_second).allow_burst(burst)
}

/// The middleware on every API route. A request without a known key is not counted (it gets
/// its 401 from the handler); every other one spends from its budget first.
pub async fn enforce(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let budget = if request.method() == Method::POST
        && request
            .extensions()
            .get::<MatchedPath>()
            .is_some_and(|p| TOKEN_ROUTES.contains(&p.as_str()))
    {
        Budget::Tokens
    } else {
        Budget::Api
    };
    let Ok(hash) = auth::bearer_hash(request.headers()) else {
        return next.run(request).await;
    };
    // A database error here is the handler's to report (it meets the same database).
    let Ok(authenticated) = auth::resolve_cached(&state, hash).await else {
        return next.run(request).await;
    };
    let caller = authenticated.caller.clone();
    request.extensions_mut().insert(authenticated);
    let overrides = match caller.tenant.as_deref() {
        Some(tenant) => tenant_limits(&state, tenant).await,
        None => TenantLimitOverrides::default(),
    };
    let defaults = &state.settings.limits.defaults;
    let policy = match budget {
        Budget::Api => overrides.api_policy(defaults),
        Budget::Tokens => overrides.token_policy(defaults),
    };
    if policy.is_unlimited() {
        return next.run(request).await;
    }
    let owner = match &caller.tenant {
        Some(tenant) => Owner::Tenant(tenant.clone()),
        None => Owner::Key(hash),
    };
    match state.budgets.spend(owner, budget, policy) {
        Decision::Allowed { remaining } => {
            let mut response = next.run(request).await;
            let used = policy.burst.saturating_sub(remaining);
            add_headers(response.headers_mut(), budget, policy, remaining, used);
            response
        }
        Decision::Refused { wait } => refuse(&caller, budget, policy, wait),
    }
}

/// The 429 problem, with `Retry-After` and the RateLimit fields.
fn refuse(caller: &Caller, budget: Budget, policy: RatePolicy, wait: Duration) -> Response {
    let retry_after_secs = wait.as_secs_f64().ceil().max(1.0) as u64;
    let whose = match &caller.tenant {
        Some(tenant) => format!("tenant '{tenant}'"),
        None => format!("API key '{}'", caller.key_name),
    };
    let what = match budget {
        Budget::Api => "request",
        Budget::Tokens => "token",
    };
    let detail = format!(
        "{whose} has used its {what} budget ({} at once, refilled at {} per second, per service \
         replica); retry after {retry_after_secs} s",
        policy.burst, policy.per_second
    );
    let mut response = ApiError::TooManyRequests {
        detail,
        retry_after_secs,
        limit: i64::from(policy.burst),
    }
    .into_response();
    add_headers(response.headers_mut(), budget, policy, 0, policy.burst);
    response
}

/// `RateLimit-Policy` and `RateLimit` for the budget's state.
pub fn add_headers(
    headers: &mut HeaderMap,
    budget: Budget,
    policy: RatePolicy,
    remaining: u32,
    used: u32,
) {
    let name = budget.name();
    let policy_value = format!("\"{name}\";q={};w={}", policy.burst, policy.window_secs());
    let state_value = format!("\"{name}\";r={remaining};t={}", policy.refill_secs(used));
    if let (Ok(p), Ok(s)) = (
        HeaderValue::from_str(&policy_value),
        HeaderValue::from_str(&state_value),
    ) {
        headers.insert(POLICY_HEADER, p);
        headers.insert(STATE_HEADER, s);
    }
}

/// A tenant's own limits: from the cache, else one indexed read (then cached). If the database
/// cannot be read the defaults apply, uncached, rather than failing the request here.
async fn tenant_limits(state: &AppState, tenant: &str) -> TenantLimitOverrides {
    if let Some(limits) = state.cache.tenant_limits(tenant) {
        return *limits;
    }
    let epoch = state.cache.epoch();
    match db::tenant_limits::find(&state.pool, tenant).await {
        Ok(row) => {
            let limits = row.map(|r| r.overrides).unwrap_or_default();
            state
                .cache
                .put_tenant_limits(epoch, tenant.to_owned(), limits);
            limits
        }
        Err(error) => {
            tracing::warn!(%error, tenant, "cannot read the tenant's limits; the defaults apply");
            TenantLimitOverrides::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_budget_lets_its_burst_through_then_refuses_with_a_wait() {
        let budgets = RateBudgets::default();
        let policy = RatePolicy {
            per_second: 1,
            burst: 3,
        };
        let owner = || Owner::Tenant("a".into());
        let remaining: Vec<Decision> = (0..3)
            .map(|_| budgets.spend(owner(), Budget::Api, policy))
            .collect();
        assert_eq!(
            remaining,
            [2, 1, 0].map(|remaining| Decision::Allowed { remaining })
        );
        match budgets.spend(owner(), Budget::Api, policy) {
            Decision::Refused { wait } => assert!(wait <= Duration::from_secs(1), "{wait:?}"),
            other => panic!("expected a refusal, got {other:?}"),
        }
        // Another tenant and another budget of the same tenant are untouched.
        assert!(matches!(
            budgets.spend(Owner::Tenant("b".into()), Budget::Api, policy),
            Decision::Allowed { remaining: 2 }
        ));
        assert!(matches!(
            budgets.spend(owner(), Budget::Tokens, policy),
            Decision::Allowed { remaining: 2 }
        ));
        // A changed policy starts a new budget.
        let raised = RatePolicy {
            per_second: 1,
            burst: 10,
        };
        assert!(matches!(
            budgets.spend(owner(), Budget::Api, raised),
            Decision::Allowed { remaining: 9 }
        ));
    }

    #[test]
    fn headers_follow_the_ietf_draft_syntax() {
        let mut headers = HeaderMap::new();
        let policy = RatePolicy {
            per_second: 50,
            burst: 100,
        };
        add_headers(&mut headers, Budget::Tokens, policy, 57, 43);
        assert_eq!(headers[&POLICY_HEADER], "\"tokens\";q=100;w=2");
        assert_eq!(headers[&STATE_HEADER], "\"tokens\";r=57;t=1");
    }
}
