//! `Simulator`: the shared handle (cheap to clone) holding the model and the request gate, and the
//! pipeline every AWS call goes through: count → latency → fail-next → random fault → rate limit →
//! operation → (apply_then_fail) → encode.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::call::{Call, Service};
use crate::config::{RateSettings, SimConfig};
use crate::faults::{CallCounts, FailMode, FailNext, FailQueue, FaultSettings};
use crate::ids::stream_id;
use crate::model::{Broadcast, State};
use crate::rates::RateLimits;
use crate::wire::{ApiError, OpResult};
use crate::{ivs, ivschat, ssm};

/// The request gate: faults, rate buckets and call counters.
struct Gate {
    faults: FaultSettings,
    fail_next: FailQueue,
    rates: RateLimits,
    calls: CallCounts,
}

struct Inner {
    state: Mutex<State>,
    gate: Mutex<Gate>,
}

/// The simulator. Clones share one in-memory account.
#[derive(Clone)]
pub struct Simulator {
    inner: Arc<Inner>,
}

/// A fake broadcast for `start_broadcast` (admin `POST /_sim/broadcast/start`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BroadcastSpec {
    pub channel_arn: String,
    #[serde(default = "default_health")]
    pub health: String,
    #[serde(default)]
    pub viewer_count: i64,
}

fn default_health() -> String {
    "HEALTHY".into()
}

impl BroadcastSpec {
    pub fn new(channel_arn: &str) -> Self {
        Self {
            channel_arn: channel_arn.into(),
            health: default_health(),
            viewer_count: 0,
        }
    }
}

/// Locks a mutex even if a panicking thread poisoned it: the model stays usable for the dump.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Simulator {
    pub fn new(config: SimConfig) -> Self {
        let gate = Gate {
            faults: config.faults.clone(),
            fail_next: FailQueue::default(),
            rates: RateLimits::new(config.rates.clone()),
            calls: CallCounts::new(),
        };
        let inner = Inner {
            state: Mutex::new(State::new(config)),
            gate: Mutex::new(gate),
        };
        Self {
            inner: Arc::new(inner),
        }
    }

    pub fn config(&self) -> SimConfig {
        lock(&self.inner.state).config.clone()
    }

    /// Serves one decoded AWS call through the gate.
    pub(crate) async fn serve(&self, call: Call) -> Response {
        let protocol = call.protocol();
        let (rule, latency) = {
            let mut gate = lock(&self.inner.gate);
            *gate.calls.entry(call.action()).or_default() += 1;
            (gate.fail_next.take(&call.action()), gate.faults.latency())
        };
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        let result = self.gated(&call, rule.as_ref());
        let result = match rule {
            Some(rule) if rule.mode == FailMode::ApplyThenFail => Err(rule.error()),
            _ => result,
        };
        match result {
            Ok(output) => output.into_response(protocol),
            Err(err) => err.into_response(protocol),
        }
    }

    /// Fail-next (before), random faults and rate limits, then the operation itself.
    fn gated(&self, call: &Call, rule: Option<&FailNext>) -> OpResult {
        if let Some(rule) = rule.filter(|r| r.mode == FailMode::Before) {
            return Err(rule.error());
        }
        {
            let mut gate = lock(&self.inner.gate);
            if let Some(err) = gate.faults.random_error() {
                return Err(err);
            }
            if !gate.rates.allow(&call.action()) {
                return Err(ApiError::throttling());
            }
        }
        let mut state = lock(&self.inner.state);
        state.settle(Instant::now());
        match call.service {
            Service::Ivs => ivs::handle(&mut state, call),
            Service::IvsChat => ivschat::handle(&mut state, call),
            Service::Ssm => ssm::handle(&mut state, call),
        }
    }

    /// Runs `f` on the model under its lock (for work outside an AWS call: the chat WebSocket).
    pub(crate) fn with_state<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        f(&mut lock(&self.inner.state))
    }

    /// Takes one call from `action`'s rate bucket (always true while rates are off).
    pub(crate) fn allow_rate(&self, action: &str) -> bool {
        lock(&self.inner.gate).rates.allow(action)
    }

    /// All state as JSON (values and secrets included) plus call counts and armed faults.
    pub fn dump(&self) -> Value {
        let mut dump = {
            let mut state = lock(&self.inner.state);
            state.settle(Instant::now());
            state.dump()
        };
        let gate = lock(&self.inner.gate);
        dump["callCounts"] = json!(gate.calls);
        dump["faults"] = json!(gate.faults);
        dump["failNext"] = json!(gate.fail_next.pending());
        dump["rates"] = json!(gate.rates.settings());
        dump
    }

    /// Forgets every resource, log, counter, armed fault and rate bucket; keeps the configuration.
    pub fn reset(&self) {
        let config = {
            let mut state = lock(&self.inner.state);
            *state = State::new(state.config.clone());
            state.config.clone()
        };
        let mut gate = lock(&self.inner.gate);
        gate.calls.clear();
        gate.fail_next.clear();
        gate.faults = config.faults.clone();
        gate.rates = RateLimits::new(config.rates);
    }

    pub fn set_faults(&self, faults: FaultSettings) {
        lock(&self.inner.gate).faults = faults;
    }

    pub fn faults(&self) -> FaultSettings {
        lock(&self.inner.gate).faults.clone()
    }

    /// Clears random errors, latency and every armed fail-next rule.
    pub fn clear_faults(&self) {
        let mut gate = lock(&self.inner.gate);
        gate.faults = FaultSettings::default();
        gate.fail_next.clear();
    }

    /// Fails the next `count` calls of `operation` (`CreateChannel` or `ivs:CreateChannel`) with `error`.
    pub fn fail_next(&self, operation: &str, count: u32, error: &str, mode: FailMode) {
        self.push_fail_next(FailNext::new(operation, count, error, mode));
    }

    pub fn push_fail_next(&self, rule: FailNext) {
        lock(&self.inner.gate).fail_next.push(rule);
    }

    /// Replaces the rate settings (fresh, full buckets).
    pub fn set_rates(&self, rates: RateSettings) {
        lock(&self.inner.gate).rates = RateLimits::new(rates);
    }

    /// Calls received per IAM-style action (`ivs:CreateChannel`), throttled and failed ones included.
    pub fn call_counts(&self) -> CallCounts {
        lock(&self.inner.gate).calls.clone()
    }

    /// Calls received for `operation` (bare `CreateChannel` or qualified `ivs:CreateChannel`).
    pub fn calls_of(&self, operation: &str) -> u64 {
        let counts = lock(&self.inner.gate);
        counts
            .calls
            .iter()
            .filter(|(action, _)| {
                *action == operation || action.ends_with(&format!(":{operation}"))
            })
            .map(|(_, n)| n)
            .sum()
    }

    /// Makes a channel live: GetStream then reports LIVE with `spec`'s health and viewer count.
    /// Restarting a live channel updates health/viewers and keeps its stream id.
    pub fn start_broadcast(&self, spec: BroadcastSpec) -> Result<Broadcast, ApiError> {
        crate::validate::one_of("health", &spec.health, &["HEALTHY", "STARVING", "UNKNOWN"])?;
        let mut state = lock(&self.inner.state);
        let channel = state
            .data
            .channels
            .get(&spec.channel_arn)
            .ok_or_else(|| ApiError::not_found(&spec.channel_arn))?;
        let playback_url = channel.playback_url.clone();
        let previous = state.data.broadcasts.get(&spec.channel_arn);
        let broadcast = Broadcast {
            channel_arn: spec.channel_arn.clone(),
            stream_id: previous.map_or_else(stream_id, |b| b.stream_id.clone()),
            playback_url,
            start_time: previous.map_or_else(
                || chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                |b| b.start_time.clone(),
            ),
            state: "LIVE".into(),
            health: spec.health,
            viewer_count: spec.viewer_count,
        };
        state
            .data
            .broadcasts
            .insert(spec.channel_arn, broadcast.clone());
        Ok(broadcast)
    }

    /// Ends a fake broadcast; returns whether the channel was live.
    pub fn stop_broadcast(&self, channel_arn: &str) -> bool {
        lock(&self.inner.state)
            .data
            .broadcasts
            .remove(channel_arn)
            .is_some()
    }
}
