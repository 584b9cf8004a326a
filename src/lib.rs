//! ivs-provisioner: declare Amazon IVS channels over HTTP; the service stores the desired state
//! in Postgres, reconciles AWS to match it, and mints playback tokens.
//!
//! Layers, with dependencies pointing inward (checked by `scripts/check-layers.py`):
//! `domain` (types and rules, no I/O) ← `db` (all SQL) and `aws` (the AWS facade) ← the engines
//! (`reconciler`, `playback_keys`, `webhooks`, `events`, `live`, `actions`) and the edges
//! (`api`, `console`, `cli`). Engines never import each other
//! or an edge; `cli` wires the process together.

pub mod actions;
pub mod api;
pub mod aws;
pub mod cli;
pub mod console;
pub mod db;
pub mod domain;
pub mod events;
pub mod live;
pub mod metrics;
pub mod playback_keys;
pub mod reconciler;
pub mod telemetry;
pub mod tokens;
pub mod webhooks;
