#!/usr/bin/env bash
# Webhook delivery benchmark: 10,000 events (default) written into the outbox by eight writers
# while the delivery engine (serve's defaults: 64 in flight, 16 per endpoint) posts them to a
# receiver on 127.0.0.1; prints deliveries/s and the state-change-to-delivery latency (p50, p95,
# p99), then a steady phase (200 events/s for 10 s) for the latency a healthy receiver sees.
# Service, Postgres and receiver share this machine's cores. Release build.
#
# Usage: scripts/bench-webhooks.sh [events] [steady rate per s] [steady seconds]
# Environment: BENCH_ADMIN_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

events="${1:-10000}"
rate="${2:-200}"
secs="${3:-10}"
admin_url="${BENCH_ADMIN_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
db=ivsp_bench_webhooks
database_url="${admin_url%/*}/$db"

pg_isready -q -d "$admin_url" || { echo "Postgres does not accept connections at $admin_url" >&2; exit 1; }
cargo build --release --quiet --example webhook_bench
psql "$admin_url" -qc "drop database if exists $db with (force)"
psql "$admin_url" -qc "create database $db"
trap 'psql "$admin_url" -qc "drop database if exists $db with (force)" >/dev/null 2>&1 || true' EXIT
RUST_LOG="${RUST_LOG:-warn}" target/release/examples/webhook_bench "$database_url" "$events" "$rate" "$secs"
