# Shared by the token-minting benchmarks (scripts/bench-tokens.sh, scripts/bench-console-sse.sh):
# dev mode from the release build on a fresh database pinned to core 0, a private channel, a
# tenant-bound minting key, and wrk on core 1 minting tokens. Source it, then call in order:
#
#   token_load_tools          # checks for 2 cores, installs wrk if missing
#   token_load_start DB       # builds nothing; starts dev mode: sets BASE, KEY, SERVER_PID, WORK
#   token_load_channel TENANT # a private channel, ready: sets ID, ARN, URL, BODY
#   token_load_minter TENANT  # a key with tokens:mint bound to TENANT, wrk's script: sets MINTER
#   token_load_run SECONDS CONNECTIONS  # one wrk run: sets HTTP P50 P99 NON2XX SOCKERR
#
# Settings: BENCH_DATABASE_SERVER (a Postgres server URL without database), CARGO_TARGET_DIR.

SERVER_URL="${BENCH_DATABASE_SERVER:-postgres://postgres@127.0.0.1:5432}"
TARGET="${CARGO_TARGET_DIR:-target}/release"

section() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

token_load_tools() {
    [ "$(nproc)" -ge 2 ] || { echo "needs 2 cores (service on 0, load on 1)" >&2; exit 1; }
    if ! command -v wrk >/dev/null; then
        echo "installing wrk"
        apt-get install -y wrk >/dev/null || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }
    fi
}

token_load_start() {
    local db="$1"
    export DATABASE_URL="$SERVER_URL/$db"
    export RUST_LOG="${RUST_LOG:-warn}"
    psql "$SERVER_URL/postgres" -qc "drop database if exists $db with (force)"
    PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    BASE="http://127.0.0.1:$PORT"
    WORK="$(mktemp -d)"
    taskset -c 0 "$TARGET/ivs-provisioner" dev --unlimited-rates --bind "127.0.0.1:$PORT" >"$WORK/server.out" 2>"$WORK/server.err" &
    SERVER_PID=$!
    trap 'kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; rm -rf "$WORK"' EXIT
    for _ in $(seq 1 100); do
        grep -q '^  export IVSP_KEY=' "$WORK/server.out" 2>/dev/null && break
        sleep 0.2
    done
    KEY="$(sed -n 's/^  export IVSP_KEY=//p' "$WORK/server.out")"
    [ -n "$KEY" ] || { cat "$WORK/server.err"; echo "the server did not start" >&2; exit 1; }
}

token_load_channel() {
    local tenant="$1" phase=""
    ID="$(curl -fs -X POST "$BASE/v1/channels" -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
        -d "{\"tenant\":\"$tenant\",\"name\":\"private-class\",\"authorized\":true}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')"
    for _ in $(seq 1 100); do
        phase="$(curl -fs "$BASE/v1/channels/$ID" -H "Authorization: Bearer $KEY" | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"]["phase"])')"
        [ "$phase" = ready ] && break
        sleep 0.2
    done
    [ "$phase" = ready ] || { echo "the channel did not become ready ($phase)" >&2; exit 1; }
    ARN="$(curl -fs "$BASE/v1/channels/$ID" -H "Authorization: Bearer $KEY" | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"]["outputs"]["channel_arn"])')"
    BODY='{"viewer_id":"member-4711","ttl_seconds":600,"allowed_origins":["https://classes.example.com"]}'
    URL="$BASE/v1/channels/$ID/playback-tokens"
}

token_load_minter() {
    local tenant="$1"
    # Tokens are minted by the tenant's own key, so the tenant's token budget applies.
    MINTER="$("$TARGET/ivs-provisioner" api-key create --name "bench-minter-$tenant" --scope tokens:mint --tenant "$tenant" | tail -n 1)"
    cat >"$WORK/mint.lua" <<LUA
wrk.method = "POST"
wrk.body = '$BODY'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $MINTER"
function done(summary, latency, requests)
    io.write(string.format("RESULT %.0f %.2f %.2f %d %d\n",
        summary.requests / (summary.duration / 1e6),
        latency:percentile(50) / 1000, latency:percentile(99) / 1000,
        summary.errors.status, summary.errors.connect + summary.errors.read
            + summary.errors.write + summary.errors.timeout))
end
LUA
}

token_load_run() {
    local out
    out="$(taskset -c 1 wrk -t1 -c"$2" -d"$1" --latency -s "$WORK/mint.lua" "$URL")"
    read -r _ HTTP P50 P99 NON2XX SOCKERR <<<"$(grep '^RESULT' <<<"$out")"
}
