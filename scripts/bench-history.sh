#!/usr/bin/env bash
# History benchmark: does a year of deleted channels slow the service down?
#
#   scripts/bench-history.sh            # ROWS=1000000 SAMPLES=200 IDLE_SECS=20
#
# Two databases, loaded the same way except for the history: a small one with the live rows
# only (5,000 ready channels and 100 failed ones backed off for an hour, every one with a future
# delete_after) and a large one with the same live rows plus ROWS - 5,100 deleted rows (a year
# of classes, each with its delete_after passed). Against each, the release build runs in dev
# mode (embedded simulator, rates lifted) and the script prints, side by side:
#   - p50/p95 of the list queries and of a /metrics scrape (SAMPLES sequential requests each,
#     at most 30 s per query, after 5 warm-up requests);
#   - the reconciler's claim statement and next-due query, EXPLAIN ANALYZE of the statements the
#     code runs (examples/explain_history.rs), median of 10;
#   - Postgres CPU while the service idles (IDLE_SECS), from /proc/<pid>/stat of the bench
#     database's backends, as a percentage of one core;
#   - a new channel's time to `ready` (median of 5).
# Local only; both databases are dropped at the end (BENCH_KEEP=1 keeps the last one).
# BENCH_EXPLAIN=0 skips the EXPLAIN step (to measure a build that predates the example).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

ROWS="${ROWS:-1000000}"
SAMPLES="${SAMPLES:-200}"
IDLE_SECS="${IDLE_SECS:-20}"
LIVE=5100 # 5,000 ready + 100 failed: the IVS channel quota plus some that failed
SERVER_URL="${BENCH_DATABASE_SERVER:-postgres://postgres@127.0.0.1:5432}"
BIN="${BENCH_BIN:-${CARGO_TARGET_DIR:-target}/release/ivs-provisioner}"
EXPLAIN_BIN="${CARGO_TARGET_DIR:-target}/release/examples/explain_history"
export RUST_LOG="${RUST_LOG:-warn}"
# No per-tenant request budget or channel cap, and no account quota guard: the bench holds
# 5,100 live channels and measures queries, not admission.
export TENANT_REQUESTS_PER_SECOND=0 TENANT_TOKEN_REQUESTS_PER_SECOND=0 TENANT_MAX_LIVE_CHANNELS=0 IVS_CHANNEL_QUOTA=0

section() { printf '\n\033[1m==> %s\033[0m\n' "$*" >&2; }

if [ -z "${BENCH_BIN:-}" ]; then
    section "cargo build --release"
    if [ "${BENCH_EXPLAIN:-1}" = 1 ]; then
        cargo build --release -p ivs-provisioner --bin ivs-provisioner --example explain_history
    else
        cargo build --release -p ivs-provisioner --bin ivs-provisioner
    fi
fi

WORK="$(mktemp -d)"
SERVER_PID=""
DATABASES=()
cleanup() {
    if [ -n "$SERVER_PID" ]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    if [ "${BENCH_KEEP:-0}" != 1 ]; then
        for db in "${DATABASES[@]}"; do
            psql "$SERVER_URL/postgres" -qc "drop database if exists $db with (force)" >/dev/null 2>&1 || true
        done
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

# Latency sampler: sequential keep-alive requests, p50/p95 in milliseconds.
cat >"$WORK/sample.py" <<'PY'
import http.client, json, sys, time
port, key, samples = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
def get(path):
    headers = {"Authorization": f"Bearer {key}"} if not path.startswith("/metrics") else {}
    conn.request("GET", path, headers=headers)
    response = conn.getresponse()
    body = response.read()
    if response.status != 200:
        sys.exit(f"GET {path}: {response.status} {body[:200]!r}")
    return body
for line in sys.stdin:
    label, path = line.rstrip("\n").split("\t")
    body = get(path)
    count = len(json.loads(body)["items"]) if path.startswith("/v1/") else len(body.splitlines())
    for _ in range(4):
        get(path)
    times, deadline = [], time.monotonic() + 30
    while len(times) < samples and time.monotonic() < deadline:
        start = time.perf_counter()
        get(path)
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    pct = lambda p: times[min(len(times) - 1, int(round(p / 100 * len(times) + 0.5)) - 1)]
    print(f"{label}\t{pct(50):.1f}\t{pct(95):.1f}\t{len(times)}\t{count}", flush=True)
PY

# The rows. n numbers every row of the large table; the live rows are the newest n in both
# tables, so both hold exactly the same live rows. Ids are UUIDv7 from created_at (as the API
# makes them), names hash-like so that a name prefix matches history and live rows alike.
cat >"$WORK/load.sql" <<'SQL'
\set ON_ERROR_STOP on
create function pg_temp.uuid7(at timestamptz, n bigint) returns uuid language sql immutable as $$
    select (substr(t, 1, 8) || '-' || substr(t, 9, 4) || '-7' || substr(r, 1, 3) || '-8'
            || substr(r, 4, 3) || '-' || substr(r, 7, 12))::uuid
      from (select lpad(to_hex((extract(epoch from at) * 1000)::bigint), 12, '0') as t,
                   md5(n::text || 'id') as r) as parts
$$;
create temporary table bench_rows as
select n,
       pg_temp.uuid7(created, n) as id,
       'tenant-' || lpad((n % 50)::text, 2, '0') as tenant,
       'class-' || substr(md5(n::text), 1, 10) as name,
       created,
       n > :total - :live as live,
       n > :total - :live and n % 51 = 0 as failed
  from generate_series(case when :history then 1 else :total - :live + 1 end, :total) as n,
       lateral (select now() - interval '366 days' + (n::float8 / :total) * interval '365 days'
                    as created) as c;
insert into channels (id, tenant, name, spec, generation, observed_generation, phase, outputs,
                      last_error, delete_after, created_at, updated_at, deleted_at,
                      attempts, next_attempt_at)
select id, tenant, name,
       jsonb_build_object('tenant', tenant, 'name', name, 'type', 'STANDARD', 'preset', null,
                          'latency_mode', 'LOW', 'authorized', false, 'insecure_ingest', false,
                          'playback_public_key_pem', null, 'recording', null,
                          'tags', jsonb_build_object('course', name),
                          'delete_after', delete_after),
       1, case when failed then 0 else 1 end,
       case when failed then 'failed' when live then 'ready' else 'deleted' end,
       case when failed then '{}'::jsonb else jsonb_strip_nulls(jsonb_build_object(
           -- Live ready rows carry no ARN, so the drift sweep leaves them alone (the embedded
           -- simulator does not hold them); history rows look like real ones.
           'channel_arn', case when not live then arn end,
           'channel_id', case when not live then arn end,
           'channel_name', tenant || '-' || name,
           'ingest_endpoint', substr(md5(arn), 1, 12) || '.global-contribute.live-video.net',
           'playback_url', 'https://' || substr(md5(arn), 1, 12)
               || '.us-east-1.playback.live-video.net/api/video/v1/us-east-1.123456789012.channel.'
               || substr(md5(arn), 13, 12) || '.m3u8')) end,
       case when failed then jsonb_build_object('code', 'AccessDeniedException',
           'message', 'User is not authorized to perform: ivs:CreateChannel', 'at', now(),
           'attempts', 5, 'next_attempt_at', now() + interval '1 hour') end,
       delete_after, created,
       coalesce(deleted_at, created), deleted_at,
       case when failed then 5 else 0 end,
       case when failed then now() + interval '1 hour' else coalesce(deleted_at, created) end
  from bench_rows,
       lateral (select 'arn:aws:ivs:us-east-1:123456789012:channel/' || substr(md5(name), 1, 12) as arn,
                       case when live then now() + (1 + n % 30) * interval '1 day'
                            else created + interval '1 hour' end as delete_after,
                       case when not live then created + interval '61 minutes' end as deleted_at) as d;
SQL

PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
BASE="http://127.0.0.1:$PORT"

# Postgres CPU ticks (utime + stime) of every backend of one database, by pid.
backend_ticks() {
    local pids
    pids="$(psql "$SERVER_URL/postgres" -Atc "select pid from pg_stat_activity where datname = '$1'")"
    for pid in $pids; do
        [ -r "/proc/$pid/stat" ] && awk -v pid="$pid" '{print pid, $14 + $15}' "/proc/$pid/stat"
    done
    return 0
}

run_case() { # name history(true/false)
    local name="$1" history="$2" db="ivsp_bench_history_$1"
    DATABASES+=("$db")
    section "$name table: fresh database $db, dev mode"
    psql "$SERVER_URL/postgres" -qc "drop database if exists $db with (force)"
    DATABASE_URL="$SERVER_URL/$db" "$BIN" dev --unlimited-rates --bind "127.0.0.1:$PORT" \
        >"$WORK/server.out" 2>"$WORK/server.err" &
    SERVER_PID=$!
    for _ in $(seq 1 150); do
        grep -q '^  export IVSP_KEY=' "$WORK/server.out" 2>/dev/null && break
        sleep 0.2
    done
    KEY="$(sed -n 's/^  export IVSP_KEY=//p' "$WORK/server.out")"
    [ -n "$KEY" ] || { cat "$WORK/server.err" >&2; echo "the server did not start" >&2; exit 1; }

    section "$name table: loading rows (history: $history), vacuum analyze"
    local started=$SECONDS
    psql "$SERVER_URL/$db" -q -v total="$ROWS" -v live="$LIVE" -v history="$history" -f "$WORK/load.sql"
    psql "$SERVER_URL/$db" -qc "vacuum (analyze) channels"
    psql "$SERVER_URL/$db" -Atc "select phase, count(*) from channels group by phase order by 1" \
        | tr '\n' ' ' >&2
    echo "(loaded in $((SECONDS - started)) s)" >&2
    local prefix
    prefix="$(psql "$SERVER_URL/$db" -Atc "select left(name, 8) from channels where deleted_at is null order by id desc limit 1")"

    section "$name table: p50/p95 ($SAMPLES sequential requests each)"
    printf '%s\t%s\n' \
        "GET /v1/channels?limit=100" "/v1/channels?limit=100" \
        "  ?phase=failed" "/v1/channels?limit=100&phase=failed" \
        "  ?phase=ready" "/v1/channels?limit=100&phase=ready" \
        "  ?name_prefix=$prefix" "/v1/channels?limit=100&name_prefix=$prefix" \
        "  ?tenant=tenant-07" "/v1/channels?limit=100&tenant=tenant-07" \
        "  ?include_deleted=true" "/v1/channels?limit=100&include_deleted=true" \
        "GET /metrics" "/metrics" \
        | python3 "$WORK/sample.py" "$PORT" "$KEY" "$SAMPLES" | tee "$WORK/$name.http" >&2

    if [ "${BENCH_EXPLAIN:-1}" = 1 ]; then
        section "$name table: claim and next-due (EXPLAIN ANALYZE, median of 10)"
        DATABASE_URL="$SERVER_URL/$db" "$EXPLAIN_BIN" 10 | tee "$WORK/$name.explain" >&2
    else
        : >"$WORK/$name.explain"
    fi

    section "$name table: Postgres CPU while idle ($IDLE_SECS s)"
    sleep 3
    backend_ticks "$db" >"$WORK/ticks.before"
    sleep "$IDLE_SECS"
    backend_ticks "$db" >"$WORK/ticks.after"
    local hz
    hz="$(getconf CLK_TCK)"
    awk -v hz="$hz" -v secs="$IDLE_SECS" 'NR == FNR { before[$1] = $2; next }
        { used += $2 - (($1 in before) ? before[$1] : 0) }
        END { printf "idle Postgres CPU\t%.1f%%\n", 100 * used / hz / secs }' \
        "$WORK/ticks.before" "$WORK/ticks.after" | tee "$WORK/$name.cpu" >&2

    section "$name table: a new channel's time to ready (median of 5)"
    for i in 1 2 3 4 5; do
        python3 - "$PORT" "$KEY" "fresh-$i" <<'PY'
import http.client, json, sys, time
port, key, name = int(sys.argv[1]), sys.argv[2], sys.argv[3]
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
start = time.perf_counter()
conn.request("POST", "/v1/channels", json.dumps({"tenant": "bench", "name": name}), headers)
channel = json.loads(conn.getresponse().read())
while time.perf_counter() - start < 60:
    conn.request("GET", f"/v1/channels/{channel['id']}", headers=headers)
    if json.loads(conn.getresponse().read())["status"]["phase"] == "ready":
        break
    time.sleep(0.005)
print(f"{(time.perf_counter() - start) * 1000:.0f}")
PY
    done | sort -n | sed -n 3p | awk '{printf "time to ready\t%s ms\n", $1}' | tee "$WORK/$name.ready" >&2

    kill "$SERVER_PID"
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
    if [ "${BENCH_KEEP:-0}" != 1 ] || [ "$name" = small ]; then
        psql "$SERVER_URL/postgres" -qc "drop database if exists $db with (force)"
    fi
}

run_case small false
run_case large true

section "summary: $LIVE live rows vs $ROWS rows (release build, dev mode, rates lifted)"
{
    printf 'query\tsmall p50\tsmall p95\tlarge p50\tlarge p95\tlarge/small p95\n'
    paste "$WORK/small.http" "$WORK/large.http" \
        | awk -F'\t' '{ printf "%s\t%s ms\t%s ms\t%s ms\t%s ms\t%.1fx\n", $1, $2, $3, $7, $8, $8 / ($3 > 0 ? $3 : 0.1) }'
    paste "$WORK/small.explain" "$WORK/large.explain" \
        | awk -F'\t' '{ printf "%s\t \t%s\t \t%s\n", $1, $2, $5 }'
    for what in cpu ready; do
        paste "$WORK/small.$what" "$WORK/large.$what" \
            | awk -F'\t' '{ printf "%s\t \t%s\t \t%s\n", $1, $2, $4 }'
    done
} | column -t -s $'\t'
