"""The console's page contract (docs/console.md) as the tests use it: sign-in, selectors, and the
data the pages are seeded with."""

from __future__ import annotations

import re
from dataclasses import dataclass

from playwright.sync_api import expect

from harness import DevService, until

SIGN_IN = "/console/sign-in"


def sign_in(page, base: str, key: str) -> None:
    page.goto(f"{base}{SIGN_IN}")
    page.fill("#api_key", key)
    page.click('[data-testid="sign-in-submit"]')
    expect(page).to_have_url(re.compile(re.escape(base) + r"/console/(\?.*)?$"))


def badge(page, channel_id: str):
    """The phase badge of a channel (on the channel page, or its row on the channels page)."""
    return page.locator(f'[data-testid="phase-badge"][data-channel-id="{channel_id}"], '
                        f'[data-channel-id="{channel_id}"] [data-testid="phase-badge"]').first


def wait_live(page) -> None:
    """Waits until the page's EventSource is open (pages that subscribe mark <body>)."""
    expect(page.locator("body")).to_have_attribute("data-sse", "connected")


def mark_document(page) -> None:
    """Puts a marker on this document: gone after any reload or navigation."""
    page.evaluate("() => { window.__notReloaded = true; }")


def not_reloaded(page) -> bool:
    return page.evaluate("() => window.__notReloaded === true")


@dataclass
class Seed:
    """What the pages show: channels in two tenants (ready, failed) and a failing webhook endpoint."""

    ready: str
    failed: str
    other_tenant: str
    endpoint: str
    webhook_secret: str


def seed(service: DevService) -> Seed:
    ready = service.create_channel("acme", "yoga-101", authorized=True)
    other = service.create_channel("globex", "pilates-7")
    for channel in (ready, other):
        service.wait_phase(channel, "ready")
    # Armed only now: a fail-next rule goes to whichever CreateChannel comes next.
    service.fail_next("ivs:CreateChannel", "AccessDeniedException")
    failed = service.create_channel("acme", "broken-201")
    service.wait_phase(failed, "failed")
    # Nothing listens on port 9: its deliveries fail, so the endpoint shows up as failing.
    r = service.api("POST", "/v1/webhook-endpoints",
                    {"url": "http://127.0.0.1:9/hooks", "tenant": "acme"})
    assert r.status == 201, f"POST /v1/webhook-endpoints: {r.status} {r.body[:300]!r}"
    endpoint = r.json()
    return Seed(ready=ready, failed=failed, other_tenant=other, endpoint=endpoint["id"],
                webhook_secret=endpoint["secret"])


def stream_key(service: DevService, channel_id: str) -> str:
    r = service.api("GET", f"/v1/channels/{channel_id}/stream-key")
    assert r.status == 200, f"GET stream-key: {r.status} {r.body[:300]!r}"
    return r.json()["stream_key"]


def events(service: DevService, channel_id: str) -> list[dict]:
    r = service.api("GET", f"/v1/channels/{channel_id}/events")
    assert r.status == 200
    return r.json()["items"]


__all__ = ["sign_in", "badge", "wait_live", "mark_document", "not_reloaded", "seed", "Seed",
           "stream_key", "events", "until"]
