#!/usr/bin/env bash
# Token minting benchmark: POST /v1/channels/{id}/playback-tokens through HTTP at 64 connections
# with the service pinned to core 0 and wrk to core 1, beside the raw ES384 signing rate of the
# same library (aws-lc-rs, key loaded once) on core 0, same claims, same run.
#
#   scripts/bench-tokens.sh           # DURATION=10s CONNECTIONS=64 by default
#
# The service runs in dev mode (embedded simulator, generated signing key) on a fresh database;
# a private channel is provisioned first, and the tokens are minted with a key bound to its tenant.
# The HTTP run is repeated (ROUNDS, default 2) with the tenant's token budget in the path but far
# above the load (checked on every request, never refusing) and with it switched off (0 =
# unlimited: no budget is checked), alternating, so the two differ only by the limiter. Prints raw
# tokens/s, HTTP tokens/s with and without the limiter, the ratios, p50, p99.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

DURATION="${DURATION:-10s}"
CONNECTIONS="${CONNECTIONS:-64}"
RAW_SECONDS="${RAW_SECONDS:-5}"
ROUNDS="${ROUNDS:-2}"
# shellcheck source=lib/token-load.sh
. scripts/lib/token-load.sh

token_load_tools

section "cargo build --release"
cargo build --release -p ivs-provisioner --bin ivs-provisioner --example sign_bench

section "fresh database ivsp_bench_tokens; dev mode on core 0"
token_load_start ivsp_bench_tokens
token_load_channel bench
token_load_minter bench
HTTP_TOKEN_LEN="$(curl -fs -X POST "$URL" -H "Authorization: Bearer $MINTER" -H 'Content-Type: application/json' -d "$BODY" \
    | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["token"]))')"
# The tenant's token budget: `on` is checked on every request but far above what one core mints.
budget() {
    local limits='{"token_requests_per_second":0}'
    [ "$1" = on ] && limits='{"token_requests_per_second":1000000,"token_burst":1000000}'
    curl -fs -o /dev/null -X PUT "$BASE/v1/tenants/bench/limits" -H "Authorization: Bearer $KEY" \
        -H 'Content-Type: application/json' -d "$limits"
    sleep 0.2 # the limits cache is invalidated by a Postgres notification
}

section "raw ES384 signing on core 0 (${RAW_SECONDS} s)"
RAW_LINE="$(taskset -c 0 "$TARGET/examples/sign_bench" "$RAW_SECONDS" "$ARN")"
read -r _ RAW RAW_TOKEN_LEN <<<"$RAW_LINE"
echo "$RAW tokens/s, token $RAW_TOKEN_LEN chars"

section "warm-up (2 s), then HTTP: wrk on core 1, $CONNECTIONS connections, $DURATION per run"
budget on
taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d2s -s "$WORK/mint.lua" "$URL" >/dev/null
# PERF_OUT=file records a CPU profile of the service during the first run (perf report -i file).
PERF_PID=""
if [ -n "${PERF_OUT:-}" ]; then
    perf record -F 999 -g -p "$SERVER_PID" -o "$PERF_OUT" -- sleep 5 >/dev/null 2>&1 &
    PERF_PID=$!
fi
declare -A SUM=([on]=0 [off]=0) LATENCY
for round in $(seq 1 "$ROUNDS"); do
    for limiter in on off; do
        budget "$limiter"
        token_load_run "$DURATION" "$CONNECTIONS"
        printf 'round %s, limiter %-3s: %s tokens/s, p50 %s ms, p99 %s ms, non-2xx %s, socket errors %s\n' \
            "$round" "$limiter" "$HTTP" "$P50" "$P99" "$NON2XX" "$SOCKERR"
        SUM[$limiter]=$((SUM[$limiter] + HTTP))
        LATENCY[$limiter]="$P50 ms / $P99 ms"
    done
done
# Only the profiler: a bare `wait` would also wait for the server and never return.
[ -z "$PERF_PID" ] || wait "$PERF_PID"
ON=$((SUM[on] / ROUNDS))
OFF=$((SUM[off] / ROUNDS))

section "summary (release build; service and raw signer on core 0, wrk on core 1)"
printf '%-40s %s\n' "raw ES384 signing (aws-lc-rs)" "$RAW tokens/s (token $RAW_TOKEN_LEN chars)"
printf '%-40s %s\n' "HTTP, token budget checked (mean)" "$ON tokens/s (token $HTTP_TOKEN_LEN chars), $(python3 -c "print(f'{$ON / $RAW:.0%}')") of raw"
printf '%-40s %s\n' "HTTP, no budget (mean)" "$OFF tokens/s, $(python3 -c "print(f'{$OFF / $RAW:.0%}')") of raw"
printf '%-40s %s\n' "limiter cost" "$(python3 -c "print(f'{($OFF - $ON) / $OFF:+.1%}')") of throughput"
printf '%-40s %s\n' "latency p50 / p99 (last run, budget)" "${LATENCY[on]}"
printf '%-40s %s\n' "latency p50 / p99 (last run, none)" "${LATENCY[off]}"
