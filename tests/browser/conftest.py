"""Fixtures: one dev-mode service and one Chromium for the whole run; a fresh browser context
(no cookies) and a console watcher for each test."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from console import seed, sign_in
from harness import CHROMIUM, CHROMIUM_ARGS, Console, DevService


@pytest.fixture(scope="session")
def service():
    dev = DevService().start()
    yield dev
    dev.stop()


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing (scripts/test.sh installs Debian's chromium)")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def context(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    yield context
    context.close()


@pytest.fixture
def page(context):
    page = context.new_page()
    page.console = Console(page)
    yield page


@pytest.fixture(scope="session")
def seeded(service):
    """Channels in two tenants (ready, failed) and a failing webhook endpoint, made once."""
    return seed(service)


@pytest.fixture
def admin(page, service, seeded):
    """A page signed in with dev mode's admin key."""
    sign_in(page, service.base, service.key)
    return page


def pytest_runtest_makereport(item, call):
    # On a failure, the tail of the service's log goes into the report next to the assertion.
    if call.when == "call" and call.excinfo is not None and "service" in item.fixturenames:
        service = item.funcargs.get("service")
        if service is not None:
            item.add_report_section("call", "dev mode log (tail)", service.tail())
