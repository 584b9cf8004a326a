#!/usr/bin/env bash
# Token minting with and without 100 open operator consoles: the p99 of POST
# /v1/channels/{id}/playback-tokens (wrk, as scripts/bench-tokens.sh runs it: service on core 0,
# wrk on core 1, 64 connections) while nothing else is connected, and while CONSOLES console
# sessions each hold their live-update stream (GET /console/events, SSE) open.
#
#   scripts/bench-console-sse.sh      # CONSOLES=100 ROUNDS=3 DURATION=10s CONNECTIONS=64
#
# Release build, dev mode (embedded simulator) on a fresh database. The consoles are held by
# scripts/sse_consoles.py on core 1 beside wrk: it signs in CONSOLES times, opens the streams,
# checks that every stream hears a channel event, and holds them through the run; a stream the
# server closes fails the benchmark. The two arms alternate, ROUNDS times each, so drift of the
# machine falls on both. Prints each run, the mean p99 of each arm and their ratio (the goal:
# at most +10%).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

DURATION="${DURATION:-10s}"
CONNECTIONS="${CONNECTIONS:-64}"
CONSOLES="${CONSOLES:-100}"
ROUNDS="${ROUNDS:-3}"
# shellcheck source=lib/token-load.sh
. scripts/lib/token-load.sh

token_load_tools

section "cargo build --release"
# The same targets as bench-tokens.sh: one feature resolution, so they share one release build.
cargo build --release -p ivs-provisioner --bin ivs-provisioner --example sign_bench

section "fresh database ivsp_bench_console_sse; dev mode on core 0"
token_load_start ivsp_bench_console_sse
token_load_channel bench
token_load_minter bench
# No token budget: only the consoles differ between the two arms.
curl -fs -o /dev/null -X PUT "$BASE/v1/tenants/bench/limits" -H "Authorization: Bearer $KEY" \
    -H 'Content-Type: application/json' -d '{"token_requests_per_second":0}'

CONSOLES_PID=""
consoles_open() {
    taskset -c 1 python3 scripts/sse_consoles.py "$BASE" "$KEY" "$CONSOLES" >"$WORK/consoles.out" 2>&1 &
    CONSOLES_PID=$!
    for _ in $(seq 1 600); do
        grep -q '^READY' "$WORK/consoles.out" && break
        kill -0 "$CONSOLES_PID" 2>/dev/null || { cat "$WORK/consoles.out" >&2; exit 1; }
        sleep 0.1
    done
    grep '^READY' "$WORK/consoles.out" || { cat "$WORK/consoles.out" >&2; exit 1; }
}
consoles_close() {
    kill -TERM "$CONSOLES_PID"
    wait "$CONSOLES_PID" || { cat "$WORK/consoles.out" >&2; echo "a console stream was closed while held" >&2; exit 1; }
    grep '^HELD' "$WORK/consoles.out"
    CONSOLES_PID=""
}
trap '[ -z "$CONSOLES_PID" ] || kill "$CONSOLES_PID" 2>/dev/null || true; kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; rm -rf "$WORK"' EXIT

section "warm-up (2 s), then $ROUNDS rounds: wrk on core 1, $CONNECTIONS connections, $DURATION per run"
token_load_run 2s "$CONNECTIONS"
declare -A P99S=([none]="" [consoles]="") RATES=([none]="" [consoles]="")
for round in $(seq 1 "$ROUNDS"); do
    for arm in none consoles; do
        [ "$arm" = none ] || consoles_open
        token_load_run "$DURATION" "$CONNECTIONS"
        [ "$arm" = none ] || consoles_close
        printf 'round %s, %-26s %s tokens/s, p50 %s ms, p99 %s ms, non-2xx %s, socket errors %s\n' \
            "$round" "$([ "$arm" = none ] && echo 'no console:' || echo "$CONSOLES consoles on SSE:")" \
            "$HTTP" "$P50" "$P99" "$NON2XX" "$SOCKERR"
        [ "$NON2XX" = 0 ] && [ "$SOCKERR" = 0 ] || { echo "errors during the run" >&2; exit 1; }
        P99S[$arm]+="$P99 "
        RATES[$arm]+="$HTTP "
    done
done

section "summary (release build; service on core 0, wrk and the consoles on core 1)"
python3 - "${P99S[none]}" "${P99S[consoles]}" "${RATES[none]}" "${RATES[consoles]}" "$CONSOLES" <<'PY'
import statistics, sys
none, consoles, rate_none, rate_consoles = ([float(x) for x in a.split()] for a in sys.argv[1:5])
n = sys.argv[5]
a, b = statistics.mean(none), statistics.mean(consoles)
print(f"token mint p99, no console:        {a:.2f} ms (runs: {', '.join(f'{x:.2f}' for x in none)})")
print(f"token mint p99, {n} consoles on SSE: {b:.2f} ms (runs: {', '.join(f'{x:.2f}' for x in consoles)})")
print(f"change of p99:                     {(b - a) / a:+.1%} (goal: at most +10%)")
print(f"throughput:                        {statistics.mean(rate_none):.0f} vs {statistics.mean(rate_consoles):.0f} tokens/s")
PY
