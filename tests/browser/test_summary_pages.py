from __future__ import annotations

from playwright.sync_api import Page, expect

from events import simulation
from tests.browser.helpers import wait_until_live
from tests.browser.pulp import PulpRepository
from tests.browser.server import LiveServer


def test_it_adds_a_new_event_to_the_open_event_log(page: Page, server: LiveServer):
    repo = PulpRepository(server, "rhel-9-live-log")
    page.goto("/events/")
    wait_until_live(page)
    log = page.locator("#events-region")
    expect(log.get_by_role("link", name=repo.repo_id)).to_have_count(0)

    repo.start()

    expect(log.get_by_role("link", name=repo.repo_id)).to_have_count(1)


def test_it_shows_a_new_failure_on_the_open_failures_page(page: Page, server: LiveServer):
    repo = PulpRepository(server, "epel-9-live-failure")
    page.goto("/failures/")
    wait_until_live(page)
    failures = page.locator("#failures-region")
    expect(failures.get_by_role("link", name=repo.repo_id)).to_have_count(0)

    task, _ = repo.start()
    repo.finish_sync(
        task,
        simulation.Outcome(
            "failed", failed_step="comps", step_error="comps.xml: unclosed group tag"
        ),
    )

    expect(failures.get_by_role("link", name=repo.repo_id).first).to_be_visible()
