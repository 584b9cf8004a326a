//! In-process caches that keep the token hot path off the database: authenticated API keys (by
//! hash: minting uses them, the rate limiter only to find a request's budget), the facts about a
//! channel that minting needs, and each tenant's own limits (the request budgets). Postgres
//! triggers `NOTIFY ivsp_cache` on every change to `api_keys`, `channels`, `tenant_limits` and
//! `playback_keys`, a listener clears the affected entries, and while the listener is not
//! connected the caches are bypassed altogether. An epoch guards against a read that raced with
//! an invalidation putting a stale entry back. A change is therefore seen within the
//! notification's latency (milliseconds); a short TTL bounds any remaining gap. Every map is
//! bounded (moka, which evicts the least useful entries first), so a flood of distinct keys or
//! channels cannot grow memory.

use std::hash::Hash;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::Notify;
use uuid::Uuid;

use super::auth::Caller;
use crate::domain::limits::TenantLimitOverrides;

pub const CHANNEL: &str = "ivsp_cache";
const TTL: Duration = Duration::from_secs(60);
/// The most entries a map keeps; entries are cheap to reload.
const MAX_ENTRIES: u64 = 50_000;

/// What minting needs to know about a channel.
#[derive(Debug, Clone)]
pub struct MintTarget {
    pub tenant: String,
    pub phase: crate::domain::Phase,
    pub authorized: bool,
    pub caller_key: bool,
    pub channel_arn: Option<String>,
    pub playback_url: Option<String>,
    /// The spec declares an enabled chat room.
    pub chat_enabled: bool,
    /// The room, once provisioned.
    pub chat_room_arn: Option<String>,
}

struct Map<K, V>(moka::sync::Cache<K, Arc<V>>);

impl<K: Eq + Hash + Send + Sync + 'static, V: Send + Sync + 'static> Map<K, V> {
    fn new() -> Self {
        Map(moka::sync::Cache::builder()
            .max_capacity(MAX_ENTRIES)
            .time_to_live(TTL)
            .build())
    }

    fn get(&self, key: &K) -> Option<Arc<V>> {
        self.0.get(key)
    }

    fn put(&self, key: K, value: Arc<V>) {
        self.0.insert(key, value);
    }

    fn remove(&self, key: &K) {
        self.0.invalidate(key);
    }

    fn clear(&self) {
        self.0.invalidate_all();
    }
}

pub struct HotCache {
    listening: AtomicBool,
    epoch: AtomicU64,
    api_keys: Map<[u8; 32], Caller>,
    channels: Map<Uuid, MintTarget>,
    /// Each tenant's own limits (the default, all `None`, when it has no row), for the request
    /// budgets: `tenant_limits:<tenant>` invalidates one.
    tenant_limits: Map<String, TenantLimitOverrides>,
    /// Woken on every `playback_keys` change (the key ring reloads).
    pub playback_keys_changed: Arc<Notify>,
}

impl Default for HotCache {
    fn default() -> Self {
        HotCache {
            listening: AtomicBool::new(false),
            epoch: AtomicU64::new(0),
            api_keys: Map::new(),
            channels: Map::new(),
            tenant_limits: Map::new(),
            playback_keys_changed: Arc::new(Notify::new()),
        }
    }
}

/// Read before the database lookup, handed back with the result: the entry is stored only if
/// nothing was invalidated in between. `None` while the cache is bypassed.
#[derive(Debug, Clone, Copy)]
pub struct Epoch(Option<u64>);

impl HotCache {
    fn enabled(&self) -> bool {
        self.listening.load(Ordering::Acquire)
    }

    pub fn epoch(&self) -> Epoch {
        Epoch(self.enabled().then(|| self.epoch.load(Ordering::Acquire)))
    }

    fn still(&self, epoch: Epoch) -> bool {
        epoch.0 == Some(self.epoch.load(Ordering::Acquire)) && self.enabled()
    }

    pub fn api_key(&self, hash: &[u8; 32]) -> Option<Arc<Caller>> {
        self.enabled().then(|| self.api_keys.get(hash)).flatten()
    }

    pub fn put_api_key(&self, epoch: Epoch, hash: [u8; 32], caller: Arc<Caller>) {
        if self.still(epoch) {
            self.api_keys.put(hash, caller);
        }
    }

    pub fn channel(&self, id: &Uuid) -> Option<Arc<MintTarget>> {
        self.enabled().then(|| self.channels.get(id)).flatten()
    }

    pub fn put_channel(&self, epoch: Epoch, id: Uuid, target: Arc<MintTarget>) {
        if self.still(epoch) {
            self.channels.put(id, target);
        }
    }

    pub fn tenant_limits(&self, tenant: &str) -> Option<Arc<TenantLimitOverrides>> {
        self.enabled()
            .then(|| self.tenant_limits.0.get(tenant))
            .flatten()
    }

    pub fn put_tenant_limits(&self, epoch: Epoch, tenant: String, limits: TenantLimitOverrides) {
        if self.still(epoch) {
            self.tenant_limits.put(tenant, Arc::new(limits));
        }
    }

    /// Forgets a channel this process just changed, so its own next request sees the change at
    /// once (other processes see it when the notification arrives).
    pub fn forget_channel(&self, id: &Uuid) {
        self.bump();
        self.channels.remove(id);
    }

    fn bump(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
    }

    fn clear(&self) {
        self.bump();
        self.api_keys.clear();
        self.channels.clear();
        self.tenant_limits.clear();
    }

    /// Applies one notification payload: `api_keys`, `channel:<id>`, `tenant_limits:<tenant>` or
    /// `playback_keys`.
    fn invalidate(&self, payload: &str) {
        self.bump();
        match payload.split_once(':') {
            Some(("channel", id)) => match id.parse::<Uuid>() {
                Ok(id) => self.channels.remove(&id),
                Err(_) => self.clear(),
            },
            Some(("tenant_limits", tenant)) => self.tenant_limits.0.invalidate(tenant),
            _ if payload == "api_keys" => self.api_keys.clear(),
            _ if payload == "playback_keys" => self.playback_keys_changed.notify_one(),
            _ => self.clear(),
        }
    }

    fn set_listening(&self, on: bool) {
        self.clear();
        self.listening.store(on, Ordering::Release);
        // Entries loaded while the listener was down may be stale.
        self.clear();
    }
}

/// Keeps `LISTEN ivsp_cache` open and applies every notification; on any connection trouble the
/// caches are emptied and bypassed until the listener is back.
pub async fn listen(pool: PgPool, cache: Arc<HotCache>) {
    loop {
        match listen_once(&pool, &cache).await {
            Ok(()) => {
                tracing::warn!("cache listener connection lost; caches bypassed until it is back")
            }
            Err(e) => {
                tracing::warn!(error = %e, "cache listener failed; caches bypassed until it is back")
            }
        }
        cache.set_listening(false);
        cache.playback_keys_changed.notify_one();
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn listen_once(pool: &PgPool, cache: &HotCache) -> sqlx::Result<()> {
    let mut listener = crate::db::listen(pool, CHANNEL).await?;
    cache.set_listening(true);
    // Changes made before LISTEN took effect were missed: let the key ring look again.
    cache.playback_keys_changed.notify_one();
    // `try_recv` returns None when the connection dropped (notifications may have been lost).
    while let Some(notification) = listener.try_recv().await? {
        cache.invalidate(notification.payload());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller() -> Caller {
        Caller {
            key_name: "k".into(),
            scopes: vec![],
            tenant: None,
        }
    }

    #[test]
    fn nothing_is_cached_while_the_listener_is_down() {
        let cache = HotCache::default();
        cache.put_api_key(cache.epoch(), [1; 32], Arc::new(caller()));
        assert!(cache.api_key(&[1; 32]).is_none());
        cache.set_listening(true);
        cache.put_api_key(cache.epoch(), [1; 32], Arc::new(caller()));
        assert!(cache.api_key(&[1; 32]).is_some());
        cache.set_listening(false);
        assert!(cache.api_key(&[1; 32]).is_none());
    }

    #[test]
    fn a_read_that_raced_with_an_invalidation_is_not_stored() {
        let cache = HotCache::default();
        cache.set_listening(true);
        let before = cache.epoch();
        cache.invalidate("api_keys");
        cache.put_api_key(before, [2; 32], Arc::new(caller()));
        assert!(cache.api_key(&[2; 32]).is_none());
    }

    #[test]
    fn notifications_clear_what_they_name() {
        let cache = HotCache::default();
        cache.set_listening(true);
        let id = Uuid::new_v4();
        let target = MintTarget {
            tenant: "t".into(),
            phase: crate::domain::Phase::Ready,
            authorized: true,
            caller_key: false,
            channel_arn: None,
            playback_url: None,
            chat_enabled: false,
            chat_room_arn: None,
        };
        cache.put_channel(cache.epoch(), id, Arc::new(target));
        cache.put_api_key(cache.epoch(), [3; 32], Arc::new(caller()));
        cache.invalidate(&format!("channel:{}", Uuid::new_v4()));
        assert!(cache.channel(&id).is_some() && cache.api_key(&[3; 32]).is_some());
        cache.invalidate(&format!("channel:{id}"));
        assert!(cache.channel(&id).is_none() && cache.api_key(&[3; 32]).is_some());
        cache.invalidate("api_keys");
        assert!(cache.api_key(&[3; 32]).is_none());
        let limits = TenantLimitOverrides {
            burst: Some(5),
            ..Default::default()
        };
        cache.put_tenant_limits(cache.epoch(), "t1".into(), limits);
        cache.put_tenant_limits(cache.epoch(), "t2".into(), limits);
        cache.invalidate("tenant_limits:t1");
        assert!(cache.tenant_limits("t1").is_none());
        assert_eq!(cache.tenant_limits("t2").as_deref(), Some(&limits));
    }
}
