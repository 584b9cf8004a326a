"""Every console page, as an admin: no browser console errors, axe-core with no serious or
critical violation, no secret in the HTML, readable at 375 px and at 1920x1080 without a
horizontal scroll, times in the browser's zone; a screenshot of each in target/console-screenshots/."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from console import sign_in, stream_key, wait_live
from harness import Console, assert_accessible, horizontal_overflow, screenshot

# (name, path, subscribes to SSE); {ready}, {failed}, {endpoint} come from the seed.
PAGES = [
    ("sign-in", "/console/sign-in", False),
    ("overview", "/console/", True),
    ("channels", "/console/channels", True),
    ("channel", "/console/channels/{ready}", True),
    ("channel-failed", "/console/channels/{failed}", True),
    ("drift", "/console/drift", False),
    ("playback-keys", "/console/playback-keys", False),
    ("webhooks", "/console/webhooks", False),
    ("webhook-endpoint", "/console/webhooks/{endpoint}", False),
]

VIEWPORTS = {"phone": {"width": 375, "height": 812}, "desktop": {"width": 1920, "height": 1080}}


@pytest.fixture
def tokyo(browser):
    """A browser set to Tokyo time (UTC+9, no daylight saving), so local times differ from UTC."""
    context = browser.new_context(viewport={"width": 1280, "height": 900},
                                  timezone_id="Asia/Tokyo", locale="en-GB")
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.console = Console(page)
    yield page
    context.close()


def secrets_of(service, seeded) -> list[str]:
    return [service.key, seeded.webhook_secret, stream_key(service, seeded.ready)]


@pytest.mark.parametrize("name,path,live", PAGES, ids=[p[0] for p in PAGES])
def test_page(tokyo, service, seeded, name, path, live):
    page = tokyo
    if name != "sign-in":
        sign_in(page, service.base, service.key)
    url = service.base + path.format(ready=seeded.ready, failed=seeded.failed,
                                     endpoint=seeded.endpoint)
    response = page.goto(url)
    assert response is not None and response.status == 200, f"{url}: {response and response.status}"
    assert "no-store" in response.headers.get("cache-control", "")
    csp = response.headers.get("content-security-policy", "")
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp, csp
    expect(page.locator("main#main")).to_be_visible()
    if live:
        wait_live(page)
    times = page.locator("time[datetime]")
    for i in range(min(times.count(), 5)):
        expect(times.nth(i)).to_have_attribute("data-local", "1")
        assert "UTC" in (times.nth(i).get_attribute("title") or "")

    html = page.content()
    for secret in secrets_of(service, seeded):
        assert secret not in html, f"a secret is in the HTML of {name}"
    assert_accessible(page)
    screenshot(page, name)

    for label, viewport in VIEWPORTS.items():
        page.set_viewport_size(viewport)
        overflow = horizontal_overflow(page)
        assert overflow <= 0, f"{name} at {viewport['width']} px scrolls sideways by {overflow} px"
        if label == "phone":
            screenshot(page, f"{name}-375")
    page.console.assert_clean()
