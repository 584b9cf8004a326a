"""The browser tests' harness: the service in dev mode on a fresh database, its API and simulator,
Chromium from Debian, and the checks every page goes through (console errors, axe-core, focus,
horizontal scroll, screenshots).

Nothing here sleeps to wait: every wait is a poll with a deadline that fails with what it saw last.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[2]
TARGET_DIR = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
if not TARGET_DIR.is_absolute():
    TARGET_DIR = ROOT / TARGET_DIR
BINARY = Path(os.environ.get("IVSP_BINARY", TARGET_DIR / "debug" / "ivs-provisioner"))
SCREENSHOTS = Path(os.environ.get("CONSOLE_SCREENSHOTS", TARGET_DIR / "console-screenshots"))
# The server the test databases are made on: the one the Rust tests use (scripts/test.sh).
ADMIN_DATABASE_URL = os.environ.get(
    "TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"
)

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# Without the background-networking flags Chromium keeps trying Google's hosts, which a closed
# network refuses (noise, and slow starts); --no-sandbox because the tests run as root.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

AXE = Path(__file__).resolve().parent / "vendor" / "axe.min.js"
AXE_SHA256 = "29348999450cdf2849a8e70b7912fc2da85a849da39c0d0d5394f51d4a9ed95c"
# axe impacts that fail a page; "minor" and "moderate" are reported by the test output only.
BLOCKING_IMPACTS = ("serious", "critical")


class Deadline(AssertionError):
    """A poll ran out of time; the message says what it waited for and what it saw last."""


def until(what: str, probe: Callable[[], Any], timeout: float = 20.0, every: float = 0.05) -> Any:
    """Calls `probe` until it returns something truthy and returns that; fails after `timeout`."""
    end = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = probe()
        except Exception as e:  # a probe that raises is a "not yet" with a reason
            last = e
        else:
            if last:
                return last
        if time.monotonic() >= end:
            raise Deadline(f"{what}: not within {timeout:g} s (last seen: {last!r})")
        time.sleep(every)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def http(method: str, url: str, body: Any = None, headers: dict[str, str] | None = None,
         timeout: float = 10.0) -> Response:
    """One HTTP request (urllib; no redirects followed for 3xx checks is not needed here)."""
    data = None
    headers = dict(headers or {})
    if body is not None:
        data = json.dumps(body).encode()
        headers.setdefault("Content-Type", "application/json")
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as r:
            return Response(r.status, dict(r.headers.items()), r.read())
    except urllib.error.HTTPError as e:
        return Response(e.code, dict(e.headers.items()), e.read())


@dataclass
class DevService:
    """`ivs-provisioner dev` on a fresh database and a free port, with its embedded simulator.

    The database is named `ivsp_test_browser_…` so that scripts/test.sh drops it if a run dies
    before its teardown.
    """

    binary: Path = BINARY
    log_dir: Path = TARGET_DIR / "browser-tests"
    extra_env: dict[str, str] = field(default_factory=dict)
    base: str = ""
    sim: str = ""
    key: str = ""
    database_url: str = ""
    _db: str = ""
    _process: subprocess.Popen | None = None
    _keys: int = 0

    def start(self, timeout: float = 60.0) -> "DevService":
        if not self.binary.exists():
            raise RuntimeError(
                f"{self.binary} is missing: build it first (cargo test --workspace --no-run)"
            )
        self._db = f"ivsp_test_browser_{secrets.token_hex(4)}"
        self.database_url = f"{ADMIN_DATABASE_URL.rsplit('/', 1)[0]}/{self._db}"
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.log = self.log_dir / f"{self._db}.log"
        env = {
            **os.environ,
            "DATABASE_URL": self.database_url,
            "RUST_LOG": os.environ.get("RUST_LOG", "warn"),
            # Pages and tests send bursts; the request budget is tested in the API's tests.
            "TENANT_REQUESTS_PER_SECOND": "10000",
            "TENANT_BURST": "10000",
            "AWS_EC2_METADATA_DISABLED": "true",
            **self.extra_env,
        }
        with open(self.log, "wb") as log:
            self._process = subprocess.Popen(
                [str(self.binary), "dev", "--unlimited-rates", "--bind", f"127.0.0.1:{port}"],
                stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
            )
        try:
            self.key = until("dev mode's 'export IVSP_KEY=' line", self._printed_key, timeout)
            self.sim = until("dev mode's 'AWS simulator:' line", self._printed_sim, 5)
            until(f"{self.base}/readyz answering 200",
                  lambda: http("GET", f"{self.base}/readyz", timeout=2).status == 200, timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _output(self) -> str:
        if self._process is not None and self._process.poll() is not None:
            raise RuntimeError(f"dev mode exited ({self._process.returncode}):\n{self.tail()}")
        return self.log.read_bytes().decode(errors="replace")

    def _printed_key(self) -> str | None:
        found = re.findall(r"export IVSP_KEY=(\S+)", self._output())
        return found[-1] if found else None

    def _printed_sim(self) -> str | None:
        found = re.search(r"AWS simulator: (\S+)", self._output())
        return found.group(1).rstrip("/") if found else None

    def tail(self, lines: int = 25) -> str:
        try:
            text = self.log.read_bytes().decode(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=5)
        self._process = None
        if self._db:
            subprocess.run(
                ["psql", ADMIN_DATABASE_URL, "-qc", f'drop database if exists "{self._db}" with (force)'],
                check=False, capture_output=True, timeout=30,
            )
            self._db = ""

    # The service's API, as an admin by default.
    def api(self, method: str, path: str, body: Any = None, key: str | None = None,
            headers: dict[str, str] | None = None) -> Response:
        headers = {"Authorization": f"Bearer {key or self.key}", **(headers or {})}
        return http(method, f"{self.base}{path}", body, headers)

    def create_channel(self, tenant: str, name: str, **spec: Any) -> str:
        r = self.api("POST", "/v1/channels", {"tenant": tenant, "name": name, **spec})
        assert r.status in (200, 202), f"POST /v1/channels: {r.status} {r.body[:500]!r}"
        return r.json()["id"]

    def channel(self, channel_id: str) -> dict[str, Any]:
        r = self.api("GET", f"/v1/channels/{channel_id}")
        assert r.status == 200, f"GET /v1/channels/{channel_id}: {r.status} {r.body[:500]!r}"
        return r.json()

    def wait_phase(self, channel_id: str, phase: str, timeout: float = 30.0) -> dict[str, Any]:
        return until(
            f"channel {channel_id} in phase {phase} (API)",
            lambda: (c := self.channel(channel_id))["status"]["phase"] == phase and c,
            timeout,
        )

    def create_key(self, scopes: list[str], tenant: str | None = None) -> str:
        """A new API key through the CLI (the API has no key endpoint); returns the secret."""
        self._keys += 1
        args = [str(self.binary), "api-key", "create", "--name", f"browser-{self._db}-{self._keys}"]
        for scope in scopes:
            args += ["--scope", scope]
        if tenant:
            args += ["--tenant", tenant]
        out = subprocess.run(
            args, env={**os.environ, "DATABASE_URL": self.database_url, "RUST_LOG": "warn"},
            capture_output=True, text=True, timeout=30,
        )
        assert out.returncode == 0, f"api-key create failed: {out.stderr}"
        return out.stdout.strip().splitlines()[-1]

    # The embedded simulator's admin hooks (/_sim/...).
    def sim_call(self, method: str, path: str, body: Any = None) -> Response:
        r = http(method, f"{self.sim}{path}", body)
        assert r.status < 300, f"{method} {path}: {r.status} {r.body[:300]!r}"
        return r

    def fail_next(self, operation: str, error: str, count: int = 1) -> None:
        self.sim_call("POST", "/_sim/fail-next",
                      {"operation": operation, "count": count, "error": error})

    def set_faults(self, **faults: Any) -> None:
        self.sim_call("POST", "/_sim/faults", faults)

    def clear_faults(self) -> None:
        self.sim_call("DELETE", "/_sim/faults")


def axe_source() -> str:
    source = AXE.read_bytes()
    digest = hashlib.sha256(source).hexdigest()
    if digest != AXE_SHA256:
        raise RuntimeError(f"{AXE} changed (sha256 {digest}); see tests/browser/vendor/README.md")
    return source.decode()


class Console:
    """Everything a page said on its console, and the errors it threw.

    Chromium reports a blocked inline script (CSP), a failed subresource (404) and an uncaught
    exception as errors here, so "no errors" covers those too. A test that provokes an error on
    purpose (a refused forged request) allows it by pattern first.
    """

    def __init__(self, page) -> None:
        self.messages: list[str] = []
        self.errors: list[str] = []
        self._allowed: list[re.Pattern[str]] = []
        page.on("console", self._on_console)
        page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))

    def _on_console(self, message) -> None:
        line = f"{message.type}: {message.text} ({message.location.get('url', '')})"
        self.messages.append(line)
        if message.type == "error" and not any(p.search(message.text) for p in self._allowed):
            self.errors.append(line)

    def allow(self, pattern: str) -> None:
        self._allowed.append(re.compile(pattern))

    def assert_clean(self) -> None:
        assert not self.errors, "the browser console logged errors:\n  " + "\n  ".join(self.errors)


def axe_violations(page, blocking: tuple[str, ...] = BLOCKING_IMPACTS) -> list[dict[str, Any]]:
    """Runs axe-core on the page; returns the violations with a blocking impact.

    Injected through the DevTools protocol (page.evaluate), which a page's Content-Security-Policy
    does not apply to, so the console's CSP is tested as served.
    """
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(axe_source() + "\n;true")
    result = page.evaluate(
        "async () => { const r = await axe.run(document, {resultTypes: ['violations']});"
        " return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,"
        " nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)})); }"
    )
    return [v for v in result if v["impact"] in blocking]


def assert_accessible(page) -> None:
    violations = axe_violations(page)
    assert not violations, f"axe-core on {page.url}:\n" + "\n".join(
        f"  {v['impact']} {v['id']}: {v['help']} at {v['nodes']}" for v in violations
    )


def horizontal_overflow(page) -> int:
    """How many CSS pixels the page is wider than its viewport (0: no horizontal scroll)."""
    return page.evaluate(
        "() => Math.max(document.documentElement.scrollWidth, document.body ? document.body.scrollWidth : 0)"
        " - document.documentElement.clientWidth"
    )


FOCUS_PROBE = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const s = getComputedStyle(el);
  const outline = s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0;
  const shadow = s.boxShadow && s.boxShadow !== 'none';
  return {
    tag: el.tagName.toLowerCase(),
    id: el.id || null,
    testid: el.getAttribute('data-testid'),
    text: (el.innerText || el.value || el.getAttribute('aria-label') || '').trim().slice(0, 60),
    focusVisible: el.matches(':focus-visible'),
    indicator: outline || shadow,
  };
}"""


def tab_through(page, presses: int = 60) -> list[dict[str, Any]]:
    """Presses Tab from the top of the page; returns what got focus each time, in order."""
    page.evaluate("() => { if (document.activeElement) document.activeElement.blur(); }")
    seen = []
    for _ in range(presses):
        page.keyboard.press("Tab")
        focused = page.evaluate(FOCUS_PROBE)
        if focused is None:
            continue
        if seen and focused == seen[0]:
            break  # wrapped around
        seen.append(focused)
    return seen


def screenshot(page, name: str, full_page: bool = True) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path
