#!/usr/bin/env bash
# Chat-token benchmark: POST /v1/channels/{id}/chat-tokens through HTTP at IVS Chat's default
# rate. Every chat token is one CreateChatToken call (AWS: 200 per second per account and
# region), so the service paces them (IVSCHAT_TOKEN_TPS, default 200) and answers 429 with
# Retry-After to a request whose turn is further away than CHAT_WAIT_BUDGET_MS (default 2000).
#
#   scripts/bench-chat-tokens.sh        # DURATION=10s CONNECTIONS=64 OVERLOAD=600 by default
#   PROFILE=debug scripts/bench-chat-tokens.sh   # the debug build (the rate, not the CPU, is the bound)
#
# Dev mode (embedded simulator at AWS's real rates, so any call beyond 200/s would be throttled)
# on a fresh database, service on core 0, wrk on core 1. The tenant's token budget is lifted so
# that only the AWS pacing shapes the load. Two runs: CONNECTIONS clients (a class joining:
# tokens/s, p50, p99), then OVERLOAD clients (more than the wait budget holds: the share answered
# 429, never a 5xx). Each run also reads the simulator's CreateChatToken count (/_sim/calls) for
# the AWS call rate; /metrics shows that none was throttled.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

DURATION="${DURATION:-10s}"
CONNECTIONS="${CONNECTIONS:-64}"
OVERLOAD="${OVERLOAD:-600}"
SERVER_URL="${BENCH_DATABASE_SERVER:-postgres://postgres@127.0.0.1:5432}"
export DATABASE_URL="$SERVER_URL/ivsp_bench_chat_tokens"
export RUST_LOG="${RUST_LOG:-warn}"
PROFILE="${PROFILE:-release}"
TARGET="${CARGO_TARGET_DIR:-target}/$PROFILE"

section() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }

[ "$(nproc)" -ge 2 ] || { echo "needs 2 cores (service on 0, wrk on 1)" >&2; exit 1; }
if ! command -v wrk >/dev/null; then
    section "installing wrk"
    apt-get install -y wrk >/dev/null || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }
fi

section "cargo build ($PROFILE)"
if [ "$PROFILE" = release ]; then
    # The same targets as the other token benchmarks: a bare --bin build resolves other features
    # and rebuilds the whole AWS stack instead of reusing their release build.
    cargo build --release -p ivs-provisioner --bin ivs-provisioner --example sign_bench
else
    cargo build -p ivs-provisioner --bin ivs-provisioner
fi

section "fresh database ivsp_bench_chat_tokens; dev mode on core 0 (AWS's rates on both sides)"
psql "$SERVER_URL/postgres" -qc "drop database if exists ivsp_bench_chat_tokens with (force)"
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
BASE="http://127.0.0.1:$PORT"
WORK="$(mktemp -d)"
taskset -c 0 "$TARGET/ivs-provisioner" dev --bind "127.0.0.1:$PORT" >"$WORK/server.out" 2>"$WORK/server.err" &
SERVER_PID=$!
trap 'kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; rm -rf "$WORK"' EXIT
for _ in $(seq 1 100); do
    grep -q '^  export IVSP_KEY=' "$WORK/server.out" 2>/dev/null && break
    sleep 0.2
done
KEY="$(sed -n 's/^  export IVSP_KEY=//p' "$WORK/server.out")"
SIM="$(sed -n 's/^AWS simulator: \([^ ]*\).*/\1/p' "$WORK/server.out")"
[ -n "$KEY" ] && [ -n "$SIM" ] || { cat "$WORK/server.err"; echo "the server did not start" >&2; exit 1; }

ID="$(curl -fs -X POST "$BASE/v1/channels" -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
    -d '{"tenant":"bench","name":"chat-class","chat":{"enabled":true}}' | json '["id"]')"
for _ in $(seq 1 100); do
    phase="$(curl -fs "$BASE/v1/channels/$ID" -H "Authorization: Bearer $KEY" | json '["status"]["phase"]')"
    [ "$phase" = ready ] && break
    sleep 0.2
done
[ "$phase" = ready ] || { echo "the channel did not become ready ($phase)" >&2; exit 1; }
# Only the AWS pacing shapes the load: the tenant's token budget is far above it.
curl -fs -o /dev/null -X PUT "$BASE/v1/tenants/bench/limits" -H "Authorization: Bearer $KEY" \
    -H 'Content-Type: application/json' -d '{"token_requests_per_second":1000000,"token_burst":1000000}'
MINTER="$("$TARGET/ivs-provisioner" api-key create --name bench-chat-minter --scope tokens:mint --tenant bench | tail -n 1)"
URL="$BASE/v1/channels/$ID/chat-tokens"
BODY='{"user_id":"member-4711","capabilities":["SEND_MESSAGE"],"attributes":{"display_name":"Ada"}}'
curl -fs -X POST "$URL" -H "Authorization: Bearer $MINTER" -H 'Content-Type: application/json' -d "$BODY" | json '["session_expires_at"]' >/dev/null

cat >"$WORK/mint.lua" <<LUA
wrk.method = "POST"
wrk.body = '$BODY'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $MINTER"
local ok, limited, other = 0, 0, 0
function response(status, headers, body)
    if status == 200 then ok = ok + 1
    elseif status == 429 then limited = limited + 1
    else other = other + 1; io.write("OTHER " .. status .. " " .. body .. "\n") end
end
function done(summary, latency, requests)
    io.write(string.format("RESULT %.1f %.2f %.2f %d %d\n",
        summary.requests / (summary.duration / 1e6),
        latency:percentile(50) / 1000, latency:percentile(99) / 1000,
        summary.errors.status, summary.errors.connect + summary.errors.read
            + summary.errors.write + summary.errors.timeout))
end
LUA

calls() { curl -fs "$SIM/_sim/calls" | json '.get("ivschat:CreateChatToken", 0)'; }
seconds="$(python3 -c "print(float('${DURATION%s}'))")"

run() {
    local connections=$1
    local before after out
    before="$(calls)"
    out="$(taskset -c 1 wrk -t1 -c"$connections" -d"$DURATION" --latency --timeout 10s -s "$WORK/mint.lua" "$URL")"
    after="$(calls)"
    read -r _ RATE P50 P99 NON2XX SOCKERR <<<"$(grep '^RESULT' <<<"$out")"
    OTHER="$(grep -c '^OTHER' <<<"$out" || true)"
    # What the answers that were neither a token nor a 429 were, if any (the first of each status).
    grep '^OTHER' <<<"$out" | sort -u -k2,2 | cut -c1-300 || true
    CALLS=$((after - before))
    TOKENS="$(python3 -c "print(f'{($RATE * $seconds - $NON2XX) / $seconds:.1f}')")"
    AWS_RATE="$(python3 -c "print(f'{$CALLS / $seconds:.1f}')")"
    printf '%4s connections: %s tokens/s (%s requests/s, %s answered 429 or other non-2xx, %s neither 200 nor 429), p50 %s ms, p99 %s ms, socket errors %s; CreateChatToken %s calls = %s/s\n' \
        "$connections" "$TOKENS" "$RATE" "$NON2XX" "$OTHER" "$P50" "$P99" "$SOCKERR" "$CALLS" "$AWS_RATE"
}

section "warm-up (2 s)"
taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d2s -s "$WORK/mint.lua" "$URL" >/dev/null
sleep 2.5 # the warm-up's queue of turns drains

section "wrk on core 1, $DURATION per run"
run "$CONNECTIONS"
sleep 2.5
run "$OVERLOAD"
# The service's own count of AWS answers (the SDK interceptor), by outcome.
echo "CreateChatToken answers by outcome (/metrics):"
curl -fs "$BASE/metrics" | grep '^aws_calls_total{' | grep 'operation="CreateChatToken"' || echo "  none"
