//! Integration tests of the HTTP API and the CLI, against a real Postgres: each test gets a fresh
//! database and the real application on port 0 (see `helpers`). One test binary, so the crate
//! is linked once: `cargo test -p ivs-provisioner --test api`.

// The harness shared with the other test binaries (the database of each test); `tests/api` is a
// directory, so the path is given.
#[path = "../common/mod.rs"]
mod common;

mod audit;
mod auth;
mod broadcasts;
mod channels;
mod chat;
mod chat_room;
mod cli;
mod connections;
mod console;
mod control_chars;
mod custody;
mod drift;
mod health;
mod helpers;
mod keys;
mod limits_contract;
mod live_windows;
mod malformed;
mod metrics;
mod openapi;
mod pagination;
mod resilience;
mod spans;
mod streams;
mod tenants;
mod tokens;
mod validation;
mod webhooks;
