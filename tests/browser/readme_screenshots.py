"""The README's pictures of the console: docs/images/console-overview.png and
docs/images/console-channel.png, from dev mode with a few channels in the states an operator
meets (ready, live, failed, still provisioning) and a failing webhook endpoint.

Run by scripts/console-screenshots.sh (after `cargo test --workspace --no-run`).
"""

from __future__ import annotations

import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

from console import sign_in, wait_live
from harness import CHROMIUM, CHROMIUM_ARGS, ROOT, DevService, until

IMAGES = ROOT / "docs" / "images"
VIEWPORT = {"width": 1280, "height": 900}


def stage(service: DevService) -> dict[str, str]:
    """Channels and an endpoint worth looking at; returns the ids by name."""
    # First, so the channels' events are sent to it (and fail: nothing listens on port 9).
    r = service.api("POST", "/v1/webhook-endpoints",
                    {"url": "http://127.0.0.1:9/hooks", "tenant": "acme"})
    assert r.status == 201, r.body
    ids = {}
    for tenant, name, spec in [
        ("acme", "yoga-101", {"authorized": True, "recording": {"s3_bucket_name": "acme-recordings"}}),
        ("acme", "pilates-202", {"authorized": True}),
        ("globex", "boxing-1", {}),
        ("globex", "spin-303", {"latency_mode": "NORMAL"}),
    ]:
        ids[name] = service.create_channel(tenant, name, **spec)
    for channel in ids.values():
        service.wait_phase(channel, "ready")
    service.fail_next("ivs:CreateChannel", "AccessDeniedException")
    ids["hiit-404"] = service.create_channel("acme", "hiit-404")
    service.wait_phase(ids["hiit-404"], "failed")
    # Held short of ready by throttling until the pictures are taken.
    service.fail_next("ivs:CreateChannel", "ThrottlingException", count=10_000)
    ids["barre-505"] = service.create_channel("globex", "barre-505")
    arn = service.channel(ids["yoga-101"])["status"]["outputs"]["channel_arn"]
    service.sim_call("POST", "/_sim/broadcast/start",
                     {"channelArn": arn, "health": "HEALTHY", "viewerCount": 42})
    return ids


def main() -> int:
    IMAGES.mkdir(parents=True, exist_ok=True)
    service = DevService().start()
    try:
        ids = stage(service)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_context(viewport=VIEWPORT, timezone_id="UTC").new_page()
            sign_in(page, service.base, service.key)
            until("the overview listing the failing webhook endpoint",
                  lambda: page.goto(f"{service.base}/console/")
                  and page.locator("#failing-webhooks tbody tr").count() > 0, 30, every=0.5)
            wait_live(page)
            page.screenshot(path=str(IMAGES / "console-overview.png"), full_page=True)
            page.goto(f"{service.base}/console/channels/{ids['yoga-101']}")
            wait_live(page)
            until("the channel page showing the live broadcast",
                  lambda: page.locator("#live").inner_text().strip() != "", 10)
            page.screenshot(path=str(IMAGES / "console-channel.png"), full_page=True)
            browser.close()
    finally:
        service.stop()
    for name in ("console-overview.png", "console-channel.png"):
        print(IMAGES / name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
