//! ivs-provisioner: declare Amazon IVS channels over HTTP; the service stores the desired state in
//! Postgres and (in later components) reconciles AWS to match it.

pub mod api;
/// API keys, scopes and the authenticated caller.
pub mod auth;
pub mod aws;
pub mod cli;
pub mod commands;
pub mod db;
pub mod domain;
pub mod error;
pub mod reconciler;
pub mod startup;
pub mod telemetry;
