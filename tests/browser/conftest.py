"""Browser tests: Debian's Chromium, driven by Playwright, against a real daphne server.

Every test here is marked `browser` (deselect with -m "not browser"). `make test` and CI run
them; without Chromium they skip, or fail under REQUIRE_SERVICES=true as CI sets it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Dialog, Page, expect, sync_playwright

from tests.browser.helpers import CHROMIUM, STALLED_AFTER, launch_chromium, log_in
from tests.browser.server import LiveServer, live_server
from tests.conftest import _missing

# Two cores shared with other work: a push that normally lands in milliseconds may take seconds.
expect.set_options(timeout=20_000)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "browser: drives Chromium against a live daphne server")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    browser_dir = Path(__file__).parent
    for item in items:
        if browser_dir in item.path.parents:
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def server(tmp_path_factory) -> Iterator[LiveServer]:
    # A repository without history counts a run as stalled RUN_STALLED_AFTER after its start;
    # the stall test posts a start that old, less a few seconds.
    workdir = tmp_path_factory.mktemp("browser-server")
    with live_server(workdir, RUN_STALLED_AFTER=str(STALLED_AFTER)) as running:
        yield running


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not os.access(CHROMIUM, os.X_OK):
        _missing(f"Chromium is not installed at {CHROMIUM} (`make system-deps` installs it)")
    with sync_playwright() as playwright:
        launched = launch_chromium(playwright)
        yield launched
        launched.close()


@pytest.fixture(scope="session")
def signed_in(browser: Browser, server: LiveServer) -> dict[str, Any]:
    """The storage state of a logged-in admin, so each test starts signed in."""
    context = browser.new_context(base_url=server.url)
    log_in(context.new_page(), server)
    state = context.storage_state()
    context.close()
    return state


@pytest.fixture
def anonymous_page(browser: Browser, server: LiveServer) -> Iterator[Page]:
    context = browser.new_context(base_url=server.url)
    yield context.new_page()
    context.close()


@pytest.fixture
def dialogs() -> list[str]:
    """Messages of every alert/confirm/prompt the page opened (each is dismissed)."""
    return []


@pytest.fixture
def page(browser: Browser, server: LiveServer, signed_in, dialogs) -> Iterator[Page]:
    context = browser.new_context(base_url=server.url, storage_state=signed_in)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    def record_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", record_dialog)
    yield page
    context.close()
    # Proxy cuts must never leak into the next test.
    server.proxy.restore()
    assert errors == [], f"script errors on the page: {errors}"
