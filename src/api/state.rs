//! The state every handler can reach, and the HTTP settings it carries.

use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use super::cache::{self, HotCache};
use super::limits::LimitSettings;
use super::live::LiveStatus;
use super::rate_limit::RateBudgets;
use crate::aws::Aws;
use crate::domain::webhook::UrlPolicy;
use crate::playback_keys::{Tokens, lifecycle};

/// What every handler can reach: one `Arc`, so the clone each extractor makes is a single
/// reference-count increment (it is on the token hot path).
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

pub struct Shared {
    pub pool: PgPool,
    pub settings: HttpSettings,
    /// For the few endpoints that call AWS (stream keys, revocations, key rotation).
    pub aws: Aws,
    pub tokens: Arc<Tokens>,
    pub cache: Arc<HotCache>,
    /// Live stream status, cached for a few seconds.
    pub live: LiveStatus,
    /// The request budgets of this process (per tenant, or per key bound to no tenant).
    pub budgets: RateBudgets,
    /// Which webhook endpoint URLs are accepted (strict unless set otherwise).
    pub webhooks: UrlPolicy,
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    /// The state, with its background tasks: the cache listener and the signing-key refresher
    /// (which also maintains the managed keys in IVS when `maintain_keys` gives the max TTL).
    pub fn new(
        pool: PgPool,
        settings: HttpSettings,
        aws: Aws,
        tokens: Arc<Tokens>,
        maintain_keys: Option<Duration>,
        key_check: Duration,
    ) -> Self {
        let cache = Arc::new(HotCache::default());
        tokio::spawn(cache::listen(pool.clone(), cache.clone()));
        tokio::spawn(lifecycle::run(
            pool.clone(),
            aws.clone(),
            Some(tokens.ring.clone()),
            cache.playback_keys_changed.clone(),
            maintain_keys,
            key_check,
            CancellationToken::new(),
        ));
        AppState(Arc::new(Shared {
            pool,
            settings,
            aws,
            tokens,
            cache,
            live: LiveStatus::default(),
            budgets: RateBudgets::default(),
            webhooks: UrlPolicy::default(),
        }))
    }

    /// The webhook URL policy (`WEBHOOK_ALLOW_INSECURE`, `WEBHOOK_ALLOW_PRIVATE`); called right
    /// after [`AppState::new`], while this is the only reference to the state.
    pub fn with_webhook_policy(mut self, policy: UrlPolicy) -> Self {
        match Arc::get_mut(&mut self.0) {
            Some(shared) => shared.webhooks = policy,
            None => {
                tracing::error!("the webhook policy was set on a shared state; it stays strict")
            }
        }
        self
    }
}

/// The HTTP settings taken from the command line.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    pub request_timeout: Duration,
    pub max_body_bytes: usize,
    pub shutdown_grace: Duration,
    /// A connection must deliver a complete request head within this time.
    pub header_read_timeout: Duration,
    /// A connection idle between requests longer than this is closed.
    pub keep_alive_idle: Duration,
    /// At most this many connections at once (lowered to fit the open-files limit).
    pub max_connections: usize,
    /// Tenant limits (defaults) and the account-quota guard.
    pub limits: LimitSettings,
}
