#!/usr/bin/env bash
# Memory under sustained load with nobody scraping /metrics: the release build in dev mode mints
# playback tokens (wrk, CHUNK_SECS at a time) until REQUESTS have been answered, and the
# service's resident memory is read after every chunk. Flat after warm-up means the metrics
# recorder's upkeep runs on its own; before it did, every request left its latency sample behind.
#
#   scripts/bench-memory.sh            # REQUESTS=1200000 CONNECTIONS=64 CHUNK_SECS=10
#   BENCH_BIN=/path/to/ivs-provisioner scripts/bench-memory.sh   # another build, not rebuilt
#
# Service on core 0, wrk on core 1; a fresh database, dropped at the end. Prints one line per
# chunk (requests so far, RSS) and the growth from the first chunk to the last.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

REQUESTS="${REQUESTS:-1200000}"
CONNECTIONS="${CONNECTIONS:-64}"
CHUNK_SECS="${CHUNK_SECS:-10}"
SERVER_URL="${BENCH_DATABASE_SERVER:-postgres://postgres@127.0.0.1:5432}"
DB=ivsp_bench_memory
BIN="${BENCH_BIN:-${CARGO_TARGET_DIR:-target}/release/ivs-provisioner}"
export RUST_LOG="${RUST_LOG:-warn}"
# Measure memory, not admission: no request budgets.
export TENANT_REQUESTS_PER_SECOND=0 TENANT_TOKEN_REQUESTS_PER_SECOND=0

section() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

[ "$(nproc)" -ge 2 ] || { echo "needs 2 cores (service on 0, wrk on 1)" >&2; exit 1; }
if ! command -v wrk >/dev/null; then
    section "installing wrk"
    apt-get install -y wrk >/dev/null || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }
fi
if [ -z "${BENCH_BIN:-}" ]; then
    section "cargo build --release"
    cargo build --release -p ivs-provisioner --bin ivs-provisioner
fi

section "fresh database $DB; dev mode on core 0"
psql "$SERVER_URL/postgres" -qc "drop database if exists $DB with (force)"
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
BASE="http://127.0.0.1:$PORT"
WORK="$(mktemp -d)"
DATABASE_URL="$SERVER_URL/$DB" taskset -c 0 "$BIN" dev --unlimited-rates --bind "127.0.0.1:$PORT" \
    >"$WORK/server.out" 2>"$WORK/server.err" &
SERVER_PID=$!
cleanup() {
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    psql "$SERVER_URL/postgres" -qc "drop database if exists $DB with (force)" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT
for _ in $(seq 1 150); do
    grep -q '^  export IVSP_KEY=' "$WORK/server.out" 2>/dev/null && break
    sleep 0.2
done
KEY="$(sed -n 's/^  export IVSP_KEY=//p' "$WORK/server.out")"
[ -n "$KEY" ] || { cat "$WORK/server.err"; echo "the server did not start" >&2; exit 1; }

ID="$(curl -fs -X POST "$BASE/v1/channels" -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
    -d '{"tenant":"bench","name":"private-class","authorized":true}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')"
for _ in $(seq 1 100); do
    phase="$(curl -fs "$BASE/v1/channels/$ID" -H "Authorization: Bearer $KEY" | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"]["phase"])')"
    [ "$phase" = ready ] && break
    sleep 0.2
done
[ "$phase" = ready ] || { echo "the channel did not become ready ($phase)" >&2; exit 1; }

cat >"$WORK/mint.lua" <<LUA
wrk.method = "POST"
wrk.body = '{"viewer_id":"member-4711","ttl_seconds":600}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $KEY"
function done(summary, latency, requests)
    io.write(string.format("RESULT %d %d %d\n", summary.requests, summary.errors.status,
        summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
LUA
rss_mib() { awk '/VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$SERVER_PID/status"; }

section "minting $REQUESTS tokens, $CONNECTIONS connections, RSS after each ${CHUNK_SECS} s chunk (no /metrics scrape)"
printf '%-8s %12s %10s %8s\n' chunk requests "RSS MiB" non-2xx
printf '%-8s %12s %10s %8s\n' idle 0 "$(rss_mib)" -
total=0 chunk=0 first="" first_total=0 errors=0
while [ "$total" -lt "$REQUESTS" ]; do
    chunk=$((chunk + 1))
    read -r _ done non2xx sockerr <<<"$(taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d"${CHUNK_SECS}s" -s "$WORK/mint.lua" "$BASE/v1/channels/$ID/playback-tokens" | grep '^RESULT')"
    total=$((total + done))
    errors=$((errors + non2xx + sockerr))
    rss="$(rss_mib)"
    [ -n "$first" ] || { first="$rss"; first_total="$total"; }
    printf '%-8s %12s %10s %8s\n' "$chunk" "$total" "$rss" "$non2xx"
done
sleep 6 # one more upkeep interval with no load
last="$(rss_mib)"
printf '%-8s %12s %10s %8s\n' "rest 6 s" "$total" "$last" -

section "summary"
echo "$total token requests, $errors errors, no scrape: RSS $first MiB after the first chunk (warm-up), $last MiB at the end"
python3 -c "print(f'growth after warm-up: {($last - $first):.1f} MiB over {$total - $first_total} requests, {($last - $first) * 1048576 / max($total - $first_total, 1):.1f} bytes per request')"
