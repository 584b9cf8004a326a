#!/usr/bin/env bash
# Provisioning benchmark: a burst of N `POST /v1/channels` (private, recorded) against the AWS
# simulator, timed until every channel is `ready`, beside the lower bound AWS's rates set.
#
#   scripts/bench-provision.sh [N] [real|unlimited]     # default: 100 real
#
# real:      the simulator and the client both at IVS's and SSM's default rates. Bound:
#            max(N/5 s of CreateChannel, 3N PutParameter at 3/s = N s): SSM dominates.
# unlimited: rates lifted on both sides: what the reconciler itself sustains on this machine.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

N="${1:-100}"
MODE="${2:-real}"
SERVER_URL="${BENCH_DATABASE_SERVER:-postgres://postgres@127.0.0.1:5432}"
export DATABASE_URL="$SERVER_URL/ivsp_bench_provision"
export RUST_LOG="${RUST_LOG:-warn}"
export AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_EC2_METADATA_DISABLED=true
export RECONCILER_CONCURRENCY="${RECONCILER_CONCURRENCY:-16}" DRIFT_SWEEP_SECS=0
# N creates and the status polls from one key: provisioning is measured, not the request budget.
export TENANT_REQUESTS_PER_SECOND=0
# Two connections per reconciler slot plus the API's (the service refuses a smaller pool).
export DB_MAX_CONNECTIONS="${DB_MAX_CONNECTIONS:-$((2 * RECONCILER_CONCURRENCY + 8))}"
TARGET="${CARGO_TARGET_DIR:-target}/release"

section() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

section "cargo build --release"
cargo build --release -p ivs-provisioner -p aws-sim

section "fresh database, simulator ($MODE rates), service"
psql "$SERVER_URL/postgres" -qc "drop database if exists ivsp_bench_provision with (force)"
psql "$SERVER_URL/postgres" -qc "create database ivsp_bench_provision"
"$TARGET/ivs-provisioner" migrate >/dev/null
KEY="$("$TARGET/ivs-provisioner" api-key create --name bench --scope admin | tail -n 1)"

SIM_PORT="$(free_port)"
SIM_ARGS=(--port "$SIM_PORT")
if [ "$MODE" = unlimited ]; then
    SIM_ARGS+=(--sim-rates-enabled false)
    export IVS_CHANNEL_TPS=0 IVS_RESOURCE_TPS=0 IVS_STREAM_TPS=0 IVS_TAG_TPS=0 SSM_WRITE_TPS=0 SSM_READ_TPS=0
fi
"$TARGET/aws-sim" "${SIM_ARGS[@]}" >/tmp/ivsp-bench-sim.log 2>&1 &
SIM_PID=$!
export AWS_ENDPOINT_URL="http://127.0.0.1:$SIM_PORT"
PORT="$(free_port)"
BASE="http://127.0.0.1:$PORT"
"$TARGET/ivs-provisioner" serve --bind "127.0.0.1:$PORT" --skip-migrations >/tmp/ivsp-bench-provision.log 2>&1 &
SERVER_PID=$!
trap 'kill "$SERVER_PID" "$SIM_PID" 2>/dev/null || true; wait 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do
    curl -fs "$BASE/readyz" >/dev/null && curl -fs "$AWS_ENDPOINT_URL/_sim/health" >/dev/null && break
    sleep 0.2
done

section "burst of $N POSTs"
started="$(date +%s.%N)"
seq 1 "$N" | xargs -P 32 -I{} curl -s -o /dev/null -w '%{http_code}\n' -X POST "$BASE/v1/channels" \
    -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
    -d '{"tenant":"bench","name":"class-{}","authorized":true,"recording":{"s3_bucket_name":"bench-recordings"}}' \
    | sort | uniq -c
posted="$(date +%s.%N)"
while :; do
    ready="$(psql "$DATABASE_URL" -Atc "select count(*) from channels where phase = 'ready'")"
    [ "$ready" -ge "$N" ] && break
    sleep 0.1
done
finished="$(date +%s.%N)"

section "result"
python3 - "$N" "$MODE" "$started" "$posted" "$finished" <<'PY'
import sys
n, mode, started, posted, finished = int(sys.argv[1]), sys.argv[2], *map(float, sys.argv[3:])
total = finished - started
print(f"channels: {n}; POSTs answered in {posted - started:.2f} s; all ready after {total:.2f} s ({n / total:.1f} channels/s)")
if mode == "real":
    create, ssm = n / 5, n * 3 / 3
    bound = max(create, ssm)
    print(f"lower bound {bound:.1f} s (CreateChannel at 5/s: {create:.1f} s; 3 PutParameter per channel at 3/s: {ssm:.1f} s)")
    print(f"time / bound: {total / bound * 100:.1f}%")
PY
echo "AWS calls by operation (attempts, SDK retries included):"
curl -s "$AWS_ENDPOINT_URL/_sim/calls" | python3 -c '
import json, sys
calls = json.load(sys.stdin)
print(json.dumps(calls))
extra = calls.get("ssm:PutParameter", 0) - 3 * int(sys.argv[1])
print(f"PutParameter attempts beyond 3 per channel (throttled and retried): {extra}")' "$N"
