//! `Simulator`: the shared handle (cheap to clone) holding the model and the request gate, and the
//! pipeline every AWS call goes through: count → latency → fail-next → random fault → rate limit →
//! operation (an SQS long poll repeats it until a message arrives) → (apply_then_fail) → encode.
//! Also the entry points of the broadcast lifecycle and event-path hooks.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::call::{Call, Service};
use crate::config::{RateSettings, SimConfig};
use crate::faults::{CallCounts, FailMode, FailNext, FailQueue, FaultSettings};
use crate::model::events::EventFaults;
use crate::model::{Broadcast, State};
use crate::rates::RateLimits;
use crate::wire::{ApiError, OpResult, Output};
use crate::{events, ivs, ivschat, s3, sqs, ssm};

/// The request gate: faults, rate buckets, call counters and the latest calls in order.
struct Gate {
    faults: FaultSettings,
    fail_next: FailQueue,
    rates: RateLimits,
    calls: CallCounts,
    log: std::collections::VecDeque<String>,
}

/// How many calls the ordered log keeps (the oldest go first): enough for a test's story,
/// bounded for a long dev session.
pub const CALL_LOG_LIMIT: usize = 10_000;

struct Inner {
    state: Mutex<State>,
    gate: Mutex<Gate>,
    /// Woken after every call and hook, so a long-polling ReceiveMessage returns as soon as a
    /// message may have arrived.
    wake: tokio::sync::Notify,
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
    /// `"start"`: Recording Start Failure; `"end"`: the recording ends with Recording End Failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recording_failure: Option<String>,
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
            recording_failure: None,
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
            log: Default::default(),
        };
        let inner = Inner {
            state: Mutex::new(State::new(config)),
            gate: Mutex::new(gate),
            wake: tokio::sync::Notify::new(),
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
            if gate.log.len() == CALL_LOG_LIMIT {
                gate.log.pop_front();
            }
            gate.log.push_back(call.action());
            (gate.fail_next.take(&call.action()), gate.faults.latency())
        };
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        let result = match self.admit(&call, rule.as_ref()) {
            Err(err) => Err(err),
            Ok(()) if call.service == Service::Sqs && call.op == "ReceiveMessage" => {
                self.long_poll(&call).await
            }
            Ok(()) => self.run(&call),
        };
        self.inner.wake.notify_waiters();
        let result = match rule {
            Some(rule) if rule.mode == FailMode::ApplyThenFail => Err(rule.error()),
            _ => result,
        };
        match result {
            Ok(output) => output.into_response(protocol),
            Err(err) => err.into_response(protocol),
        }
    }

    /// Fail-next (before), random faults and rate limits.
    fn admit(&self, call: &Call, rule: Option<&FailNext>) -> Result<(), ApiError> {
        if let Some(rule) = rule.filter(|r| r.mode == FailMode::Before) {
            return Err(rule.error());
        }
        let mut gate = lock(&self.inner.gate);
        if let Some(err) = gate.faults.random_error() {
            return Err(err);
        }
        if !gate.rates.allow(&call.action()) {
            return Err(ApiError::throttling());
        }
        Ok(())
    }

    /// The operation itself, atomically under the state lock.
    fn run(&self, call: &Call) -> OpResult {
        let mut state = lock(&self.inner.state);
        state.settle(Instant::now());
        match call.service {
            Service::Ivs => ivs::handle(&mut state, call),
            Service::IvsChat => ivschat::handle(&mut state, call),
            Service::Ssm => ssm::handle(&mut state, call),
            Service::Sqs => sqs::handle(&mut state, call),
            Service::Events => events::handle(&mut state, call),
            Service::S3 => s3::handle(&mut state, call),
        }
    }

    /// ReceiveMessage with WaitTimeSeconds: tries again whenever another call or hook ran (or
    /// every 100 ms, for visibility timeouts and delayed events running out) until a message is
    /// there or the wait is over. Each try takes the state lock, so two receivers never get the
    /// same message while it is invisible.
    async fn long_poll(&self, call: &Call) -> OpResult {
        let wait = sqs::wait_seconds(&mut lock(&self.inner.state), call)?;
        let deadline = Instant::now() + Duration::from_secs(wait);
        loop {
            let woken = self.inner.wake.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            let result = self.run(call);
            let empty = matches!(&result, Ok(Output::Json(body)) if body.get("Messages").is_none());
            let now = Instant::now();
            if !empty || now >= deadline {
                return result;
            }
            let pause = (deadline - now).min(Duration::from_millis(100));
            let _ = tokio::time::timeout(pause, woken).await;
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
        gate.log.clear();
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

    /// The latest calls (at most [`CALL_LOG_LIMIT`]) as IAM-style actions, oldest first, in the
    /// order they arrived: for tests that assert an order (a key deleted before a stream stops).
    pub fn call_log(&self) -> Vec<String> {
        lock(&self.inner.gate).log.iter().cloned().collect()
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

    /// Makes a channel live: GetStream then reports LIVE with `spec`'s health and viewer count; a
    /// stream session starts, IVS's events go out and a recorded channel starts recording.
    /// Restarting a live channel updates health/viewers (a starvation event when that changes)
    /// and keeps its stream id.
    pub fn start_broadcast(&self, spec: BroadcastSpec) -> Result<Broadcast, ApiError> {
        let result = ivs::broadcast::start(&mut lock(&self.inner.state), spec);
        self.inner.wake.notify_waiters();
        result
    }

    /// Ends a fake broadcast (session end, events, the recording's objects in S3); returns whether
    /// the channel was live.
    pub fn stop_broadcast(&self, channel_arn: &str) -> bool {
        let stopped = ivs::broadcast::stop(&mut lock(&self.inner.state), channel_arn);
        self.inner.wake.notify_waiters();
        stopped
    }

    /// Chaos on the event path (drop, duplicate, reorder, delay; seeded). Releases what the
    /// previous settings held back.
    pub fn set_event_faults(&self, faults: EventFaults) {
        events::set_faults(&mut lock(&self.inner.state).data, faults);
        self.inner.wake.notify_waiters();
    }

    pub fn event_faults(&self) -> EventFaults {
        lock(&self.inner.state).data.events.faults.clone()
    }

    /// Injects an event as an AWS service would (through the chaos settings and the rules);
    /// missing envelope fields are filled in. Returns the completed event.
    pub fn emit_event(&self, event: Value) -> Value {
        let event = {
            let mut state = lock(&self.inner.state);
            let config = &state.config;
            let scope = crate::ids::Scope {
                region: config.default_region.clone(),
                account: config.account_id.clone(),
            };
            let event = events::complete(&scope, event);
            events::publish(&mut state.data, vec![event.clone()]);
            event
        };
        self.inner.wake.notify_waiters();
        event
    }

    /// Delivers held and delayed events now.
    pub fn flush_events(&self) {
        events::flush(&mut lock(&self.inner.state).data);
        self.inner.wake.notify_waiters();
    }

    /// Every event emitted so far with its fate.
    pub fn event_log(&self) -> Vec<Value> {
        lock(&self.inner.state).data.events.log.clone()
    }
}
