#!/usr/bin/env bash
# The console's pages with 1,000 channels: how long the server takes for GET /console/channels
# (unfiltered, each filter, a cursor page), the overview and a channel page.
#
#   scripts/bench-console-pages.sh      # CHANNELS=1000 TENANTS=10 SAMPLES=200
#
# Release build, dev mode (embedded simulator, rates lifted) on a fresh database; CHANNELS
# channels over TENANTS tenants declared through the API and provisioned until all are ready (so
# the reconciler is idle while pages are timed). One console session (signed in with the dev
# admin key) then requests each page SAMPLES times in a row on one keep-alive connection, after
# 5 warm-up requests; the time is from sending the request to the last byte of the page, on
# loopback (an upper bound of the server's time). Prints p50/p95/p99 per page; the goal is a
# channels-page p95 of at most 50 ms.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

CHANNELS="${CHANNELS:-1000}"
TENANTS="${TENANTS:-10}"
SAMPLES="${SAMPLES:-200}"
# No per-tenant request budget or channel cap: the bench measures pages, not admission.
export TENANT_REQUESTS_PER_SECOND=0 TENANT_MAX_LIVE_CHANNELS=0 IVS_CHANNEL_QUOTA=0
# shellcheck source=lib/token-load.sh
. scripts/lib/token-load.sh

section "cargo build --release"
# The same targets as bench-tokens.sh: one feature resolution, so they share one release build.
cargo build --release -p ivs-provisioner --bin ivs-provisioner --example sign_bench

section "fresh database ivsp_bench_console_pages; dev mode on core 0"
token_load_start ivsp_bench_console_pages

section "$CHANNELS channels over $TENANTS tenants, then pages timed from core 1"
taskset -c 1 python3 - "$BASE" "$KEY" "$CHANNELS" "$TENANTS" "$SAMPLES" <<'PY'
import http.client, json, re, statistics, sys, time, urllib.parse
from concurrent.futures import ThreadPoolExecutor

base, key, channels, tenants, samples = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:])
url = urllib.parse.urlsplit(base)
api = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

def request(conn, method, path, body=None, headers=None):
    conn.request(method, path, body, headers or {})
    r = conn.getresponse()
    return r, r.read()

def declare(n):
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    body = json.dumps({"tenant": f"tenant-{n % tenants:02d}", "name": f"class-{n:04d}"})
    r, data = request(conn, "POST", "/v1/channels", body, api)
    assert r.status in (200, 202), (r.status, data[:200])
    conn.close()

started = time.monotonic()
with ThreadPoolExecutor(8) as pool:
    list(pool.map(declare, range(channels)))
conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
def not_ready():
    count, cursor = 0, ""
    while True:
        r, data = request(conn, "GET", f"/v1/channels?limit=100{cursor}", None, api)
        page = json.loads(data)
        count += sum(c["status"]["phase"] != "ready" for c in page["items"])
        if not page.get("next_cursor"):
            return count
        cursor = f"&cursor={page['next_cursor']}"
while (left := not_ready()) > 0:
    if time.monotonic() - started > 600:
        sys.exit(f"{left} channels still not ready after 600 s")
    time.sleep(1)
print(f"{channels} channels declared and ready in {time.monotonic() - started:.1f} s")

r, _ = request(conn, "POST", "/console/sign-in", urllib.parse.urlencode({"api_key": key}),
               {"Content-Type": "application/x-www-form-urlencoded", "Origin": base})
cookie = r.getheader("set-cookie", "").split(";", 1)[0]
assert r.status == 303 and cookie.startswith("ivsp_console="), (r.status, cookie)
session = {"Cookie": cookie}

r, first = request(conn, "GET", "/console/channels", None, session)
assert r.status == 200, r.status
next_page = re.search(rb'data-testid="next-page"[^>]*href="([^"]+)"|href="([^"]+)"[^>]*data-testid="next-page"', first)
assert next_page, "the channels page has no next-page link"
next_path = (next_page.group(1) or next_page.group(2)).decode().replace("&amp;", "&")
some_channel = re.search(rb'data-channel-id="([0-9a-f-]{36})"', first).group(1).decode()

pages = [
    ("channels", "/console/channels"),
    ("channels, tenant filter", "/console/channels?tenant=tenant-03"),
    ("channels, phase filter", "/console/channels?phase=ready"),
    ("channels, name prefix", "/console/channels?name_prefix=class-05"),
    ("channels, next page (cursor)", next_path),
    ("overview", "/console/"),
    ("channel", f"/console/channels/{some_channel}"),
]
print(f"{'page':<30} {'p50':>8} {'p95':>8} {'p99':>8}  ({samples} requests each, ms)")
worst = 0.0
for name, path in pages:
    for _ in range(5):
        request(conn, "GET", path, None, session)
    times = []
    for _ in range(samples):
        t = time.perf_counter()
        r, body = request(conn, "GET", path, None, session)
        times.append((time.perf_counter() - t) * 1000)
        assert r.status == 200, (path, r.status)
    q = statistics.quantiles(times, n=100, method="inclusive")
    print(f"{name:<30} {q[49]:8.2f} {q[94]:8.2f} {q[98]:8.2f}")
    if name.startswith("channels"):
        worst = max(worst, q[94])
print(f"worst channels-page p95: {worst:.2f} ms (goal: at most 50 ms)")
PY
