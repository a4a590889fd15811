"""Chromium, logging in, and what the browser tests look for on a page (the pages' ids)."""

from __future__ import annotations

import os
import re

from playwright.sync_api import Browser, Locator, Page, Playwright, expect

from tests.browser.server import LiveServer

# Debian's Chromium, never a browser Playwright downloads.
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SYNCED = re.compile(r"^[1-9][0-9]*$")
# RUN_STALLED_AFTER of the test server, in seconds.
STALLED_AFTER = 600


def launch_chromium(playwright: Playwright) -> Browser:
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)


def log_in(page: Page, server: LiveServer) -> None:
    """Sign in through the login form, as a person would."""
    page.goto("/login/")
    page.fill("#id_username", server.username)
    page.fill("#id_password", server.password)
    page.click("#login-submit")
    expect(page).to_have_url(f"{server.url}/")


def synced_count(page: Page) -> int:
    """How many times the page has re-fetched its live regions after (re)connecting."""
    return int(page.locator("body").get_attribute("data-synced") or "0")


def wait_until_live(page: Page) -> None:
    """Wait until the websocket is open and the page has synced its live regions over HTTP."""
    expect(page.locator("#connection-state")).to_have_attribute("data-state", "live")
    expect(page.locator("body")).to_have_attribute("data-synced", SYNCED)


def overview_row(page: Page, repo_id: str) -> Locator:
    return page.locator(f'#repository-rows [data-repo-id="{repo_id}"]')


def sync_badge(page: Page, repo_id: str) -> Locator:
    return overview_row(page, repo_id).locator('[data-role="sync-state"]')
