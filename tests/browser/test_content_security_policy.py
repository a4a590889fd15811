from __future__ import annotations

from playwright.sync_api import Page

from tests.browser.helpers import wait_until_live
from tests.browser.pulp import PulpRepository
from tests.browser.server import LiveServer


def test_it_runs_the_live_pages_without_a_policy_violation(page: Page, server: LiveServer):
    violations: list[str] = []
    page.on(
        "console",
        lambda message: (
            violations.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    repo = PulpRepository(server, "csp-check")

    _, run = repo.start()
    for path in ["/", f"/repos/{repo.repo_id}/", f"/runs/{run}/"]:
        response = page.goto(path)
        assert "script-src 'self';" in response.headers["content-security-policy"]
        wait_until_live(page)
    for path in ["/failures/", "/hosts/", "/events/"]:
        page.goto(path)
        page.wait_for_load_state("load")
    page.goto("/admin/")
    page.wait_for_load_state("load")

    assert violations == []
