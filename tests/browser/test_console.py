"""The operator console in headless Chromium, against the real binary in dev mode (the page
contract: docs/console.md). Faults come from the embedded simulator's admin hooks."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from console import (badge, events, mark_document, not_reloaded, sign_in, stream_key,
                     wait_live)
from harness import assert_accessible, tab_through, until


def post_from_page(page, path: str, fields: dict[str, str]) -> int:
    """A form POST sent by the page's own script (same origin, the session cookie goes along):
    what a forged action from a compromised or confused page looks like. Returns the status."""
    return page.evaluate(
        """async ([path, fields]) => {
            const r = await fetch(path, {method: 'POST', body: new URLSearchParams(fields),
                                         redirect: 'manual', credentials: 'same-origin'});
            return r.type === 'opaqueredirect' ? 303 : r.status;
        }""",
        [path, fields],
    )


def test_sign_in_with_an_api_key_and_sign_out(page, service, seeded):
    page.console.allow(r"status of 401")  # the refused sign-in answers 401, as documented
    page.goto(f"{service.base}/console/")
    expect(page).to_have_url(re.compile(r"/console/sign-in"))
    page.fill("#api_key", "ivsp_not-a-key")
    page.click('[data-testid="sign-in-submit"]')
    expect(page.locator('[data-testid="sign-in-error"]')).to_be_visible()
    assert not page.context.cookies(), "a refused sign-in set a cookie"

    sign_in(page, service.base, service.key)
    cookies = {c["name"]: c for c in page.context.cookies()}
    session = cookies["ivsp_console"]
    assert session["httpOnly"] and session["sameSite"] == "Strict", session
    assert session["path"] == "/console" and session["expires"] > 0, session
    assert not session["secure"], "plain http on localhost cannot carry a Secure cookie"
    assert service.key not in page.content()

    page.click('[data-testid="sign-out"]')
    expect(page).to_have_url(re.compile(r"/console/sign-in"))
    page.goto(f"{service.base}/console/channels")
    expect(page).to_have_url(re.compile(r"/console/sign-in"))
    page.console.assert_clean()


def test_a_new_channel_goes_from_pending_to_ready_without_a_reload(admin, service):
    # IVS throttles every CreateChannel until the test says so: the channel is held short of
    # ready, however slow the machine, while the page loads and subscribes.
    service.fail_next("ivs:CreateChannel", "ThrottlingException", count=10_000)
    channel = service.create_channel("acme", "sse-watch-1")
    admin.goto(f"{service.base}/console/channels?name_prefix=sse-watch")
    row_badge = badge(admin, channel)
    expect(row_badge).to_have_attribute("data-phase", re.compile(r"^(pending|provisioning)$"))
    wait_live(admin)
    mark_document(admin)

    service.clear_faults()
    service.api("POST", f"/v1/channels/{channel}/reconcile")  # due now rather than after backoff
    expect(row_badge).to_have_attribute("data-phase", "ready", timeout=20_000)
    expect(row_badge).to_have_text(re.compile(r"ready", re.I))
    assert not_reloaded(admin), "the page was reloaded: the phase must change in place"
    admin.console.assert_clean()


def test_a_failed_channel_shows_its_error_and_recovers_after_retry(admin, service):
    service.fail_next("ivs:CreateChannel", "AccessDeniedException")
    channel = service.create_channel("acme", "fails-once")
    service.wait_phase(channel, "failed")

    admin.goto(f"{service.base}/console/")
    failing = admin.locator(f'tr[data-testid="failing-channel"][data-channel-id="{channel}"]')
    expect(failing.locator('[data-testid="last-error"]')).to_contain_text("AccessDenied")

    admin.goto(f"{service.base}/console/channels/{channel}")
    expect(badge(admin, channel)).to_have_attribute("data-phase", "failed")
    expect(admin.locator('[data-testid="last-error"]')).to_contain_text("AccessDenied")
    # Retried, IVS throttles it until the page after the retry is subscribed (see above).
    service.fail_next("ivs:CreateChannel", "ThrottlingException", count=10_000)
    admin.click('[data-testid="retry-button"]')
    expect(admin).to_have_url(re.compile(r"done=retry"))
    expect(admin.locator('[role="status"][data-testid="flash"]')).to_be_visible()
    expect(badge(admin, channel)).to_have_attribute("data-phase", re.compile(r"^(pending|provisioning)$"))
    wait_live(admin)
    mark_document(admin)
    service.clear_faults()  # the reconciler's next attempt (after its backoff) succeeds
    expect(badge(admin, channel)).to_have_attribute("data-phase", "ready", timeout=30_000)
    assert not_reloaded(admin)
    assert service.channel(channel)["status"]["phase"] == "ready"
    assert any(e["kind"] == "retry_requested" for e in events(service, channel))
    admin.console.assert_clean()


def test_a_tenant_bound_key_sees_only_its_tenant(page, service, seeded):
    key = service.create_key(["channels:read"], tenant="acme")
    page.console.allow(r"status of 40[34]")  # the other tenant's page and the forged action
    sign_in(page, service.base, key)

    page.goto(f"{service.base}/console/channels")
    rows = page.locator('tr[data-testid="channel-row"]')
    expect(rows.first).to_be_visible()
    shown = rows.evaluate_all("rows => rows.map(r => r.dataset.channelId)")
    assert seeded.ready in shown and seeded.failed in shown, shown
    assert seeded.other_tenant not in shown, shown
    assert "globex" not in page.content()

    page.goto(f"{service.base}/console/channels?tenant=globex")
    expect(rows).to_have_count(0)
    response = page.goto(f"{service.base}/console/channels/{seeded.other_tenant}")
    assert response is not None and response.status == 404

    # Only the pages and actions its scopes allow are offered.
    page.goto(f"{service.base}/console/channels/{seeded.failed}")
    nav = page.locator('nav[aria-label="Console"]')
    for allowed in ("Overview", "Channels"):
        expect(nav.get_by_role("link", name=allowed, exact=True)).to_be_visible()
    for absent in ("Drift", "Playback keys", "Webhooks"):
        expect(nav.get_by_role("link", name=absent, exact=True)).to_have_count(0)
    for button in ("retry-button", "rotate-stream-key-button", "reveal-stream-key-button",
                   "delete-button", "mint-token-button"):
        expect(page.locator(f'[data-testid="{button}"]')).to_have_count(0)
    # Forged anyway, with a valid CSRF token: refused for the scope, and nothing recorded.
    token = page.locator('meta[name="csrf-token"]').get_attribute("content")
    before = len(events(service, seeded.failed))
    assert post_from_page(page, f"/console/channels/{seeded.failed}/retry",
                          {"csrf_token": token}) == 403
    assert len(events(service, seeded.failed)) == before
    page.console.assert_clean()


def test_a_forged_action_without_the_csrf_token_is_refused(admin, service, seeded):
    admin.console.allow(r"status of 403")
    admin.goto(f"{service.base}/console/channels/{seeded.ready}")
    path = f"/console/channels/{seeded.ready}/retry"
    retries = lambda: sum(e["kind"] == "retry_requested" for e in events(service, seeded.ready))
    before = retries()
    assert post_from_page(admin, path, {}) == 403
    assert post_from_page(admin, path, {"csrf_token": "forged"}) == 403
    assert retries() == before, "a refused action was carried out"
    # The same request with the page's token goes through: the token was the only difference.
    token = admin.locator('meta[name="csrf-token"]').get_attribute("content")
    assert post_from_page(admin, path, {"csrf_token": token}) == 303
    assert retries() == before + 1
    admin.console.assert_clean()


def test_the_stream_key_is_hidden_until_revealed(admin, service, seeded):
    key = stream_key(service, seeded.ready)
    response = admin.goto(f"{service.base}/console/channels/{seeded.ready}")
    assert response is not None and key not in response.text()
    expect(admin.locator('[data-testid="stream-key-hidden"]')).to_be_visible()
    assert key not in admin.content()

    with admin.expect_response(re.compile(r"/reveal-stream-key$")) as revealed:
        admin.click('[data-testid="reveal-stream-key-button"]')
    assert "no-store" in revealed.value.headers.get("cache-control", "")
    expect(admin.locator('[data-testid="stream-key"]')).to_have_text(key)
    assert_accessible(admin)

    admin.goto(f"{service.base}/console/channels/{seeded.ready}")
    expect(admin.locator('[data-testid="stream-key-hidden"]')).to_be_visible()
    assert key not in admin.content()
    admin.console.assert_clean()


def test_a_test_playback_token_can_be_minted(admin, service, seeded):
    admin.goto(f"{service.base}/console/channels/{seeded.ready}")
    with admin.expect_response(re.compile(r"/playback-token$")) as minted:
        admin.click('[data-testid="mint-token-button"]')
    assert "no-store" in minted.value.headers.get("cache-control", "")
    expect(admin.locator('[data-testid="playback-token"]')).to_have_text(re.compile(r"^\S+\.\S+\.\S+$"))
    expect(admin.locator('[data-testid="playback-url"]')).to_contain_text("token=")
    assert_accessible(admin)
    admin.console.assert_clean()


def test_main_actions_are_reachable_with_tab_and_show_focus(admin, service, seeded):
    # A provisioned channel offers every action (rotate, reveal and mint need one in IVS).
    admin.goto(f"{service.base}/console/channels/{seeded.ready}")
    focused = tab_through(admin, presses=80)
    assert focused and focused[0]["tag"] == "a" and "skip" in focused[0]["text"].lower(), focused[:3]
    reached = {f["testid"] for f in focused}
    for action in ("retry-button", "rotate-stream-key-button", "reveal-stream-key-button",
                   "delete-button", "mint-token-button", "sign-out"):
        assert action in reached, f"{action} is not reachable with Tab; reached: {sorted(filter(None, reached))}"
    unseen = [f for f in focused if not (f["focusVisible"] and f["indicator"])]
    assert not unseen, f"focused without a visible indicator: {unseen}"

    admin.goto(f"{service.base}/console/channels")
    focused = tab_through(admin, presses=80)
    ids = {f["id"] for f in focused}
    assert {"filter-tenant", "filter-phase", "filter-name-prefix"} <= ids, ids
    assert "channel-link" in {f["testid"] for f in focused}
    unseen = [f for f in focused if not (f["focusVisible"] and f["indicator"])]
    assert not unseen, f"focused without a visible indicator: {unseen}"
