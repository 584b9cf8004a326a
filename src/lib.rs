//! ivs-provisioner: declare Amazon IVS channels over HTTP; the service stores the desired state in
//! Postgres reconciles AWS to match it, and mints playback tokens.

pub mod api;
/// API keys, scopes and the authenticated caller.
pub mod auth;
pub mod aws;
pub mod cache;
pub mod cli;
pub mod commands;
pub mod db;
pub mod domain;
pub mod error;
pub mod live;
pub mod metrics;
pub mod playback_keys;
pub mod reconciler;
pub mod startup;
pub mod telemetry;
pub mod tokens;
