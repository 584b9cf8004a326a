//! Validated domain types shared by the API and (later) the reconciler.

pub mod channel;
pub mod rules;
