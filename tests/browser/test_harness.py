"""The harness's own checks catch what they are meant to catch (so a green console test means
something): each check on a page built to fail it, and on one built to pass. Pages are served by
Playwright's router under the same strict Content-Security-Policy the console sends."""

from __future__ import annotations

import pytest

from harness import Console, axe_violations, horizontal_overflow, screenshot, tab_through

ORIGIN = "http://harness.test"
CSP = "default-src 'self'; script-src 'self'; style-src 'self'; object-src 'none'; base-uri 'none'"

GOOD = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Good page</title></head>
<body><header><nav aria-label="Main"><a href="/good">Home</a></nav></header>
<main><h1>Good page</h1><form><label for="q">Name prefix</label><input id="q" name="q">
<button type="submit">Filter</button></form></main></body></html>"""

BAD = """<!doctype html><html><head><title>Bad page</title><link rel="stylesheet" href="/bad.css">
</head><body><main><img src="/nothing.png"><input name="unlabelled"><div class="wide">wide</div>
<button>No focus ring</button>
<script>console.log('inline ran')</script><script src="/boom.js"></script></main></body></html>"""


@pytest.fixture
def served(page):
    """Serves GOOD at /good, BAD at /bad (both with the CSP header) with its stylesheet and a
    script that throws; anything else is a 404."""

    def handle(route):
        path = route.request.url.removeprefix(ORIGIN)
        if path in ("/good", "/bad"):
            body = GOOD if path == "/good" else BAD
            route.fulfill(status=200, body=body, content_type="text/html; charset=utf-8",
                          headers={"Content-Security-Policy": CSP})
        elif path == "/bad.css":
            route.fulfill(status=200, body=".wide { width: 2000px } button { outline: none }",
                          content_type="text/css")
        elif path == "/boom.js":
            route.fulfill(status=200, body="throw new Error('boom')", content_type="text/javascript")
        else:
            route.fulfill(status=404, body="not here", content_type="text/plain")

    page.route(f"{ORIGIN}/**", handle)
    return page


def test_axe_passes_a_clean_page_and_flags_serious_violations_under_a_strict_csp(served):
    served.goto(f"{ORIGIN}/good")
    assert axe_violations(served) == []
    served.goto(f"{ORIGIN}/bad")
    found = {v["id"] for v in axe_violations(served)}
    # image-alt is critical, label is critical, html-has-lang is serious in axe-core 4.
    assert {"image-alt", "label", "html-has-lang"} <= found, found


def test_console_watch_sees_csp_blocks_missing_resources_and_exceptions(served):
    served.goto(f"{ORIGIN}/good")
    served.console.assert_clean()
    served.goto(f"{ORIGIN}/bad", wait_until="load")
    errors = "\n".join(served.console.errors)
    assert "Content Security Policy" in errors, errors
    assert "404" in errors, errors
    assert "boom" in errors, errors
    with pytest.raises(AssertionError):
        served.console.assert_clean()


def test_console_watch_allows_an_expected_error_by_pattern(page):
    watch = Console(page)
    watch.allow(r"status of 403")
    page.route(f"{ORIGIN}/**", lambda route: route.fulfill(status=403, body="no"))
    page.goto(f"{ORIGIN}/x")
    page.evaluate("() => fetch('/forged', {method: 'POST'}).then(r => r.status)")
    watch.assert_clean()


def test_overflow_and_focus_probes(served):
    served.set_viewport_size({"width": 375, "height": 800})
    served.goto(f"{ORIGIN}/good")
    assert horizontal_overflow(served) <= 0
    focused = tab_through(served)
    assert [f["tag"] for f in focused] == ["a", "input", "button"], focused
    assert all(f["focusVisible"] and f["indicator"] for f in focused), focused
    served.goto(f"{ORIGIN}/bad")
    assert horizontal_overflow(served) > 1000
    button = [f for f in tab_through(served) if f["tag"] == "button"]
    assert button and not button[0]["indicator"], button


def test_dev_mode_serves_the_api_reference_in_chromium(service, page):
    """The service fixture (dev mode, fresh database, simulator) and Chromium together."""
    response = page.goto(f"{service.base}/docs/")
    assert response is not None and response.status == 200
    page.wait_for_selector(".swagger-ui .info .title")
    screenshot(page, "harness-api-reference", full_page=False)
    # The simulator's admin hooks answer, and the admin key works.
    assert service.sim_call("GET", "/_sim/health").status == 200
    assert service.api("GET", "/v1/channels").status == 200
