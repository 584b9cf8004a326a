#!/usr/bin/env bash
# API load benchmark: the release binary on a fresh database, 32 concurrent connections, ~10 s
# per case, measured with wrk (Debian package).
#
#   scripts/bench-api.sh            # DURATION=10s CONNECTIONS=32 THREADS=2 by default
#
# Cases: POST /v1/channels creating a new channel per request, POST replaying the same body
# (idempotent 200), and GET /v1/channels/{id}. Prints requests/s, p50, p99 and non-2xx count.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

DURATION="${DURATION:-10s}"
CONNECTIONS="${CONNECTIONS:-32}"
THREADS="${THREADS:-2}"
SERVER_URL="${BENCH_DATABASE_SERVER:-postgres://postgres@127.0.0.1:5432}"
export DATABASE_URL="$SERVER_URL/ivsp_bench"
export RUST_LOG="${RUST_LOG:-warn}"
# The API alone: no reconciler workers calling AWS while we measure.
export RECONCILER_DISABLED=true
# No request budget (one key sends thousands of requests a second) and no account-quota guard
# (the create case declares tens of thousands of channels): this measures the API itself.
export TENANT_REQUESTS_PER_SECOND=0 IVS_CHANNEL_QUOTA=0
BIN="${CARGO_TARGET_DIR:-target}/release/ivs-provisioner"

section() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

if ! command -v wrk >/dev/null; then
    section "installing wrk"
    apt-get install -y wrk >/dev/null || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }
fi

section "cargo build --release"
cargo build --release -p ivs-provisioner

section "fresh database ivsp_bench"
psql "$SERVER_URL/postgres" -qc "drop database if exists ivsp_bench with (force)"
psql "$SERVER_URL/postgres" -qc "create database ivsp_bench"
"$BIN" migrate >/dev/null
KEY="$("$BIN" api-key create --name bench --scope admin | tail -n 1)"

PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
BASE="http://127.0.0.1:$PORT"
"$BIN" serve --bind "127.0.0.1:$PORT" --skip-migrations >/tmp/ivsp-bench-server.log 2>&1 &
SERVER_PID=$!
WORK="$(mktemp -d)"
trap 'kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; rm -rf "$WORK"' EXIT
for _ in $(seq 1 50); do
    curl -fs "$BASE/readyz" >/dev/null && break
    sleep 0.2
done
curl -fs "$BASE/readyz" >/dev/null || { cat /tmp/ivsp-bench-server.log; echo "the server did not start" >&2; exit 1; }

BODY='{"tenant":"bench","name":"NAME","type":"STANDARD","latency_mode":"LOW","authorized":true,"recording":{"s3_bucket_name":"bench-recordings"},"tags":{"Environment":"bench"}}'

# What every case reports: requests/s, p50 and p99 in ms, non-2xx responses, socket errors.
cat >"$WORK/report.lua" <<'LUA'
function done(summary, latency, requests)
    local socket_errors = summary.errors.connect + summary.errors.read
        + summary.errors.write + summary.errors.timeout
    io.write(string.format("RESULT %.0f %.2f %.2f %d %d\n",
        summary.requests / (summary.duration / 1e6),
        latency:percentile(50) / 1000, latency:percentile(99) / 1000,
        summary.errors.status, socket_errors))
end
LUA

# A new channel name per request: the thread's number and a per-thread counter.
cat >"$WORK/create.lua" <<LUA
local threads = 0
function setup(thread)
    threads = threads + 1
    thread:set("thread_number", threads)
end
local counter = 0
function request()
    counter = counter + 1
    local body = string.gsub('$BODY', "NAME", "ch-" .. thread_number .. "-" .. counter)
    return wrk.format("POST", "/v1/channels",
        {["Content-Type"] = "application/json", ["Authorization"] = "Bearer $KEY"}, body)
end
LUA
cat "$WORK/report.lua" >>"$WORK/create.lua"

REPLAY_BODY="${BODY/NAME/replayed}"
cat >"$WORK/replay.lua" <<LUA
wrk.method = "POST"
wrk.body = '$REPLAY_BODY'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $KEY"
LUA
cat "$WORK/report.lua" >>"$WORK/replay.lua"

cat >"$WORK/get.lua" <<LUA
wrk.headers["Authorization"] = "Bearer $KEY"
LUA
cat "$WORK/report.lua" >>"$WORK/get.lua"

# The replayed channel must exist before the replay run, and the GET needs an id.
curl -fs -X POST "$BASE/v1/channels" -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' -d "$REPLAY_BODY" >/dev/null
ID="$(curl -fs -X POST "$BASE/v1/channels" -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
    -d "${BODY/NAME/get-target}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')"

results=()
run_case() {
    local label="$1" script="$2" url="$3"
    section "$label ($CONNECTIONS connections, $DURATION)"
    local out
    out="$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s "$script" "$url")"
    echo "$out"
    local line
    line="$(grep '^RESULT' <<<"$out")"
    read -r _ rps p50 p99 non2xx sockerr <<<"$line"
    results+=("$(printf '%-42s %10s %9s %9s %8s %8s' "$label" "$rps" "$p50" "$p99" "$non2xx" "$sockerr")")
}

run_case "POST /v1/channels (new channel each)" "$WORK/create.lua" "$BASE/v1/channels"
run_case "POST /v1/channels (idempotent replay)" "$WORK/replay.lua" "$BASE/v1/channels"
run_case "GET /v1/channels/{id}" "$WORK/get.lua" "$BASE/v1/channels/$ID"

created="$(psql "$DATABASE_URL" -Atc "select count(*) from channels")"

section "summary ($(nproc) cores shared by server, Postgres and wrk; release build)"
printf '%-42s %10s %9s %9s %8s %8s\n' "case" "req/s" "p50 ms" "p99 ms" "non-2xx" "sockerr"
printf '%s\n' "${results[@]}"
echo "channels in ivsp_bench after the run: $created"
