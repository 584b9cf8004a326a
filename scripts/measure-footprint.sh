#!/usr/bin/env bash
# Start-up time and memory: the release binary in dev mode (fresh database, embedded simulator),
# time from exec to /readyz answering 200, resident memory at idle, and after 10,000 playback
# token requests (hey, 32 connections; hey sends a multiple of 32, so 10,016).
#
#   scripts/measure-footprint.sh [REQUESTS]
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

REQUESTS="${1:-10000}"
SERVER_URL="${BENCH_DATABASE_SERVER:-postgres://postgres@127.0.0.1:5432}"
export DATABASE_URL="$SERVER_URL/ivsp_footprint" RUST_LOG=warn
# 10,000 tokens from one key at once: more than the default token budget, which is not measured here.
export TENANT_TOKEN_REQUESTS_PER_SECOND=0
BIN="${CARGO_TARGET_DIR:-target}/release/ivs-provisioner"
command -v hey >/dev/null || apt-get install -y hey >/dev/null

cargo build --release -p ivs-provisioner
psql "$SERVER_URL/postgres" -qc "drop database if exists ivsp_footprint with (force)"
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
BASE="http://127.0.0.1:$PORT"
LOG="$(mktemp)"
start="$(date +%s.%N)"
"$BIN" dev --bind "127.0.0.1:$PORT" --unlimited-rates >"$LOG" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true; wait 2>/dev/null || true; rm -f "$LOG"' EXIT
until curl -fs "$BASE/readyz" >/dev/null 2>&1; do sleep 0.01; done
ready="$(date +%s.%N)"
rss() { awk '/VmRSS/ {print $2 / 1024 " MiB"}' "/proc/$PID/status"; }
sleep 2
echo "start-up to ready (new database: create, migrate, simulator, key): $(python3 -c "print(f'{$ready - $start:.2f} s')")"
echo "memory at idle: $(rss)"

KEY="$(grep -oE 'export IVSP_KEY=[^[:space:]]+' "$LOG" | cut -d= -f2)"
ID="$(curl -s -X POST "$BASE/v1/channels" -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
    -d '{"tenant":"acme","name":"footprint","authorized":true}' | sed -E 's/^[{]"id":"([^"]+)".*/\1/')"
until curl -s "$BASE/v1/channels/$ID" -H "Authorization: Bearer $KEY" | grep -q '"phase":"ready"'; do sleep 0.2; done
hey -n "$(( (REQUESTS + 31) / 32 * 32 ))" -c 32 -m POST -T application/json -H "Authorization: Bearer $KEY" \
    -d '{"viewer_id":"member-42","ttl_seconds":300}' "$BASE/v1/channels/$ID/playback-tokens" \
    | grep -E 'Requests/sec|\[[0-9]{3}\]|Error|error'
echo "memory after $REQUESTS token requests: $(rss)"
