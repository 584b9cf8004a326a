#!/usr/bin/env bash
# API fuzzing: schemathesis against the running service, driven by the committed OpenAPI document.
#
#   scripts/fuzz-api.sh [extra `st run` arguments]
#
# Builds the debug binary, creates a fresh database (ivsp_fuzz), starts `ivs-provisioner dev
# --unlimited-rates` (embedded AWS simulator) on a free port, captures the admin key dev mode
# prints, then runs `st run openapi/openapi.json` against it with that key. Every response must
# be a non-5xx (not_a_server_error) that matches the document: its schemas
# (response_schema_conformance), its status codes (status_code_conformance) and its content
# types (content_type_conformance). Prints the operation, request and failure counts and exits
# non-zero on any failure.
#
# Settings (environment):
#   FUZZ_MAX_EXAMPLES   test cases per operation and phase (default 100)
#   FUZZ_SEED           schemathesis seed, for a reproducible run (default 1)
#   FUZZ_CHECKS         comma-separated checks (default: the four above)
#   FUZZ_PHASES         comma-separated phases (default: examples,coverage,fuzzing,stateful)
#   FUZZ_WORKERS        concurrent schemathesis workers (default 2)
#   FUZZ_ADMIN_DATABASE_URL  a database to run CREATE/DROP DATABASE from
#                       (default postgres://postgres@127.0.0.1:5432/postgres)
#   FUZZ_REPORT_DIR     where the junit/har/ndjson reports go (default target/fuzz-report)
#   CARGO_TARGET_DIR    as for cargo (default target)
# Needs the .venv that scripts/test.sh prepares (schemathesis is in scripts/requirements-test.txt).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

section() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
fail() { printf '\n\033[31mFAILED: %s\033[0m\n' "$*" >&2; exit 1; }

max_examples="${FUZZ_MAX_EXAMPLES:-100}"
seed="${FUZZ_SEED:-1}"
checks="${FUZZ_CHECKS:-not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance}"
phases="${FUZZ_PHASES:-examples,coverage,fuzzing,stateful}"
workers="${FUZZ_WORKERS:-2}"
admin_url="${FUZZ_ADMIN_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
target_dir="${CARGO_TARGET_DIR:-target}"
report_dir="${FUZZ_REPORT_DIR:-$target_dir/fuzz-report}"
schema=openapi/openapi.json
st=.venv/bin/st
# One database per checkout, so two checkouts (git worktrees) can fuzz at the same time.
db="ivsp_fuzz_$(printf '%s' "$PWD" | sha256sum | cut -c1-8)"
database_url="${admin_url%/*}/$db"

[ -x "$st" ] || fail "$st is missing: run scripts/test.sh once (it installs scripts/requirements-test.txt into .venv)"
pg_isready -q -d "$admin_url" || fail "Postgres does not accept connections at $admin_url"

section "cargo build (debug)"
# The same feature resolution as the test command's `cargo test --workspace`, so after it this
# is a no-op (a plain `cargo build` would rebuild crates whose features differ without dev-deps).
cargo test --workspace --no-run --quiet || fail "build failed"
bin="$target_dir/debug/ivs-provisioner"

section "fresh database $db"
psql "$admin_url" -qc "drop database if exists $db with (force)" || fail "cannot drop $db"
psql "$admin_url" -qc "create database $db" || fail "cannot create $db"

section "ivs-provisioner dev --unlimited-rates"
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"
mkdir -p "$report_dir"
server_log="$report_dir/server.log"
# Budgets far above schemathesis's pace: the fuzzer exercises every operation, not the 429
# (tests/api/tenants.rs does); 429 stays documented on every operation all the same.
DATABASE_URL="$database_url" BIND_ADDR="127.0.0.1:$port" RUST_LOG="${RUST_LOG:-warn}" \
    TENANT_REQUESTS_PER_SECOND="${TENANT_REQUESTS_PER_SECOND:-10000}" TENANT_BURST="${TENANT_BURST:-10000}" \
    "$bin" dev --unlimited-rates >"$server_log" 2>&1 &
server_pid=$!
trap 'kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true' EXIT

key=""
for _ in $(seq 1 120); do
    kill -0 "$server_pid" 2>/dev/null || { cat "$server_log" >&2; fail "dev mode exited"; }
    key="$(grep -aoE 'export IVSP_KEY=[^[:space:]]+' "$server_log" | tail -n 1 | cut -d= -f2- || true)"
    if [ -n "$key" ] && [ "$(curl -s -o /dev/null -w '%{http_code}' "$base/readyz")" = 200 ]; then
        break
    fi
    sleep 0.5
done
[ -n "$key" ] || { cat "$server_log" >&2; fail "dev mode printed no 'export IVSP_KEY=' line within 60 s"; }
echo "listening on $base (log: $server_log)"

section "schemathesis: $schema, checks $checks"
echo "phases $phases; at most $max_examples test cases per operation and phase; seed $seed; $workers workers"
status=0
# Run from the report directory: schemathesis keeps its failure cache (.schemathesis/, replayed
# first on the next run) in the working directory.
root="$PWD"
(cd "$report_dir" && "$root/$st" run "$root/$schema" \
    --url "$base" \
    -H "Authorization: Bearer $key" \
    --checks "$checks" \
    --phases "$phases" \
    --max-examples "$max_examples" \
    --seed "$seed" \
    --workers "$workers" \
    --request-timeout 10 \
    --no-color \
    --report junit,har,ndjson \
    --report-dir . \
    --report-junit-path junit.xml \
    --report-har-path requests.har \
    --report-ndjson-path events.ndjson \
    "$@") || status=$?

section "counts"
python3 - "$report_dir" <<'EOF'
import json, re, sys, xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

d = Path(sys.argv[1])
cases = ET.parse(d / "junit.xml").getroot().findall(".//testcase")
operations = [c for c in cases if c.get("name") != "Stateful tests"]
entries = json.loads((d / "requests.har").read_text())["log"]["entries"]
classes = Counter(f"{e['response']['status'] // 100}xx" for e in entries)
# Each <failure> holds one or more numbered test cases, each with its checks and a curl line.
found = []
for c in cases:
    for f in c.findall("failure") + c.findall("error"):
        for block in re.split(r"\n(?=\d+\. Test Case ID)", (f.text or f.get("message") or "").strip()):
            checks = re.findall(r"^- (ST\d+ .*)$", block, re.M) or [f.get("message") or "error"]
            curl = next((l.strip() for l in block.splitlines() if l.strip().startswith("curl ")), "")
            found.append((c.get("name"), checks, curl))
print(f"operations: {len(operations)}")
print(f"requests:   {len(entries)} ({', '.join(f'{k} {v}' for k, v in sorted(classes.items()))})")
print(f"failures:   {sum(len(checks) for _, checks, _ in found)} in {len(found)} test case(s)")
for name, checks, curl in found:
    print(f"  - {name}: {'; '.join(checks)}")
    if curl:
        print(f"      {curl[:300]}")
EOF
[ "$status" -eq 0 ] || fail "schemathesis found failures (exit $status); reports in $report_dir"
section "no failures"
