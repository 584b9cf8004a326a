//! Fault injection: a random error rate, added latency, and per-operation "fail the next N calls"
//! rules, including `apply_then_fail` (the effect happens, the response is lost) for crash-safety
//! tests of callers that must adopt what a retried create already made.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::wire::ApiError;

/// Faults that apply to every AWS operation (not to `/_sim` admin calls).
#[derive(clap::Args, Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FaultSettings {
    /// Fraction (0.0–1.0) of calls answered with `error_code` instead of being served.
    #[arg(
        long = "sim-error-rate",
        env = "AWS_SIM_ERROR_RATE",
        default_value_t = 0.0
    )]
    pub error_rate: f64,
    /// Code of random errors: InternalServerException (500) or ServiceUnavailable (503); empty = 500.
    #[arg(
        long = "sim-error-code",
        env = "AWS_SIM_ERROR_CODE",
        default_value = ""
    )]
    pub error_code: String,
    /// Fraction (0.0–1.0) of calls answered with a ThrottlingException, on top of `error_rate`
    /// (so throttling and server errors can be injected together).
    #[arg(
        long = "sim-throttle-rate",
        env = "AWS_SIM_THROTTLE_RATE",
        default_value_t = 0.0
    )]
    pub throttle_rate: f64,
    /// Latency added to every call, in milliseconds.
    #[arg(
        long = "sim-latency-ms",
        env = "AWS_SIM_LATENCY_MS",
        default_value_t = 0
    )]
    pub latency_ms: u64,
}

impl FaultSettings {
    pub fn latency(&self) -> Duration {
        Duration::from_millis(self.latency_ms)
    }

    /// Rolls the dice for a random error: throttling first, then a server error.
    pub fn random_error(&self) -> Option<ApiError> {
        let roll = rand::random::<f64>();
        if roll < self.throttle_rate {
            return Some(ApiError::new(
                "ThrottlingException",
                "Rate exceeded (injected)",
            ));
        }
        if self.error_rate <= 0.0 || roll >= self.throttle_rate + self.error_rate {
            return None;
        }
        let code = if self.error_code.is_empty() {
            "InternalServerException"
        } else {
            &self.error_code
        };
        Some(ApiError::new(code, "Injected fault"))
    }
}

/// When a `fail_next` rule fires relative to the operation's effect.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailMode {
    /// Reject the call; nothing changes.
    #[default]
    Before,
    /// Perform the operation, then answer with the error (a lost response).
    ApplyThenFail,
}

/// "Fail the next `count` calls of `operation` with `error`", as sent to `POST /_sim/fail-next`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailNext {
    /// `CreateChannel` (either service) or qualified `ivs:CreateChannel` / `ssm:PutParameter`.
    pub operation: String,
    #[serde(default = "one")]
    pub count: u32,
    /// Error code, e.g. `ThrottlingException`, `InternalServerException`, `ServiceUnavailable`.
    pub error: String,
    #[serde(default)]
    pub mode: FailMode,
    #[serde(default)]
    pub message: Option<String>,
}

fn one() -> u32 {
    1
}

impl FailNext {
    pub fn new(operation: &str, count: u32, error: &str, mode: FailMode) -> Self {
        Self {
            operation: operation.into(),
            count,
            error: error.into(),
            mode,
            message: None,
        }
    }

    fn matches(&self, action: &str) -> bool {
        action == self.operation
            || action
                .split_once(':')
                .is_some_and(|(_, op)| op == self.operation)
    }

    pub fn error(&self) -> ApiError {
        ApiError::new(
            &self.error,
            self.message
                .clone()
                .unwrap_or_else(|| "Injected fault".into()),
        )
    }
}

/// Armed `fail_next` rules, consumed in arrival order per matching operation.
#[derive(Debug, Default)]
pub struct FailQueue {
    rules: VecDeque<FailNext>,
}

impl FailQueue {
    pub fn push(&mut self, rule: FailNext) {
        if rule.count > 0 {
            self.rules.push_back(rule);
        }
    }

    /// Takes one shot of the first rule matching `action` (an IAM-style `ivs:CreateChannel`).
    pub fn take(&mut self, action: &str) -> Option<FailNext> {
        let index = self.rules.iter().position(|rule| rule.matches(action))?;
        let rule = &mut self.rules[index];
        rule.count -= 1;
        let fired = rule.clone();
        if rule.count == 0 {
            self.rules.remove(index);
        }
        Some(fired)
    }

    pub fn pending(&self) -> Vec<FailNext> {
        self.rules.iter().cloned().collect()
    }

    pub fn clear(&mut self) {
        self.rules.clear();
    }
}

/// Per-operation call counters, keyed by IAM-style action name.
pub type CallCounts = HashMap<String, u64>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_fire_count_times_and_match_bare_names() {
        let mut queue = FailQueue::default();
        queue.push(FailNext::new(
            "CreateChannel",
            2,
            "InternalServerException",
            FailMode::Before,
        ));
        assert!(queue.take("ivs:GetChannel").is_none());
        assert!(queue.take("ivs:CreateChannel").is_some());
        assert!(queue.take("ivs:CreateChannel").is_some());
        assert!(queue.take("ivs:CreateChannel").is_none());
    }
}
