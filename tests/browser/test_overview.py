from __future__ import annotations

import subprocess
import sys
from datetime import timedelta

from playwright.sync_api import Page, expect

from events import live, simulation
from tests.browser.helpers import (
    STALLED_AFTER,
    overview_row,
    sync_badge,
    synced_count,
    wait_until_live,
)
from tests.browser.pulp import PulpRepository, unique_repo_id
from tests.browser.server import HOST_NAME, LiveServer
from tests.servers import ROOT, server_env


def test_it_logs_in_through_the_login_form(anonymous_page: Page, server: LiveServer):
    page = anonymous_page
    page.goto("/")
    expect(page).to_have_url(f"{server.url}/login/?next=/")

    page.fill("#id_username", server.username)
    page.fill("#id_password", "not-the-password")
    page.click("#login-submit")
    expect(page).to_have_url(f"{server.url}/login/")
    expect(page.locator("#connection-state")).to_have_count(0)

    page.fill("#id_username", server.username)
    page.fill("#id_password", server.password)
    page.click("#login-submit")
    expect(page).to_have_url(f"{server.url}/")
    wait_until_live(page)
    expect(page.locator("#connection-state")).to_have_text("Live")


def test_it_shows_a_sync_start_and_its_finish_without_reload(page: Page, server: LiveServer):
    repo = PulpRepository(server, "centos-9-baseos")
    page.goto("/")
    wait_until_live(page)
    expect(overview_row(page, repo.repo_id)).to_have_count(0)
    page.evaluate("window.loadedOnce = true")

    task, _ = repo.start()
    expect(sync_badge(page, repo.repo_id)).to_have_attribute("data-state", "running")
    expect(sync_badge(page, repo.repo_id)).to_have_text("running")
    expect(overview_row(page, repo.repo_id).locator('[data-role="elapsed"]')).to_be_visible()

    repo.finish_sync(task, simulation.Outcome("success", added=233, updated=2, removed=4))
    row = overview_row(page, repo.repo_id)
    expect(sync_badge(page, repo.repo_id)).to_have_attribute("data-state", "success")
    expect(sync_badge(page, repo.repo_id)).to_have_text("success")
    expect(row.locator('[data-role="added"]')).to_have_text("233")
    expect(row.locator('[data-role="updated"]')).to_have_text("2")
    expect(row.locator('[data-role="removed"]')).to_have_text("4")
    expect(row.locator('[data-role="host"]')).to_have_text(HOST_NAME)
    assert page.evaluate("window.loadedOnce") is True


def test_it_keeps_a_filtered_overview_to_the_rows_that_match(page: Page, server: LiveServer):
    repo = PulpRepository(server, "docker-hub-postgres", plugin="docker")
    page.goto("/?state=running")
    wait_until_live(page)

    task, _ = repo.start()
    expect(sync_badge(page, repo.repo_id)).to_have_attribute("data-state", "running")

    repo.finish_sync(task, simulation.Outcome("success", added=3))
    expect(overview_row(page, repo.repo_id)).to_have_count(0)


def test_it_catches_up_after_the_websocket_drops(page: Page, server: LiveServer):
    repo = PulpRepository(server, "epel-9-everything")
    task, _ = repo.start()
    page.goto("/")
    wait_until_live(page)
    expect(sync_badge(page, repo.repo_id)).to_have_attribute("data-state", "running")
    synced = synced_count(page)

    server.proxy.cut()
    state = page.locator("#connection-state")
    expect(state).to_have_attribute("data-state", "reconnecting")
    expect(state).to_have_text("Reconnecting…")
    repo.finish_sync(task, simulation.Outcome("success", added=48))
    missed = PulpRepository(server, "rocky-9-appstream")
    missed.start()
    expect(sync_badge(page, repo.repo_id)).to_have_attribute("data-state", "running")

    server.proxy.restore()
    expect(state).to_have_attribute("data-state", "live")
    # A DOM wait, not wait_for_function: polling a string is an eval, which the CSP refuses.
    expect(page.locator("body")).not_to_have_attribute("data-synced", str(synced))
    expect(sync_badge(page, repo.repo_id)).to_have_attribute("data-state", "success")
    expect(overview_row(page, repo.repo_id).locator('[data-role="added"]')).to_have_text("48")
    expect(sync_badge(page, missed.repo_id)).to_have_attribute("data-state", "running")


def test_it_flips_a_run_to_stalled_without_a_new_event(page: Page, server: LiveServer):
    repo = PulpRepository(server, "ostree-fedora-iot", plugin="ostree")
    page.goto("/")
    wait_until_live(page)

    # This run reaches its stall deadline a few seconds from now, and nothing is posted after
    # its start: the page must flip it by itself.
    repo.start(started=simulation.now_utc() - timedelta(seconds=STALLED_AFTER - 8))

    expect(sync_badge(page, repo.repo_id)).to_have_attribute("data-state", "running")
    expect(sync_badge(page, repo.repo_id)).to_have_attribute("data-state", "stalled")
    expect(sync_badge(page, repo.repo_id)).to_have_text("stalled")


def test_it_shows_the_repositories_of_simulated_traffic(page: Page, server: LiveServer):
    env = server_env(SECRET_KEY="simulate-in-a-test-" + "x" * 40)
    result = subprocess.run(
        [sys.executable, "manage.py", "simulate", "--url", server.direct_url,
         "--token", server.token, "--repos", "3", "--count", "24", "--rate", "100",
         "--seed", "1", "--failure-rate", "0.3"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert "24 accepted, 0 refused." in result.stdout
    page.goto("/")
    for repo in simulation.make_repos(3):
        expect(overview_row(page, repo.repo_id)).to_have_count(1)


def test_it_moves_a_pushed_run_past_a_full_history_page_to_the_next_page(
    page: Page, server: LiveServer
):
    repo = PulpRepository(server, "epel-9-everything")
    first = simulation.now_utc() - timedelta(hours=live.HISTORY_PAGE_SIZE + 1)
    pks = [
        repo.start(started=first + timedelta(hours=hour))[1]
        for hour in range(live.HISTORY_PAGE_SIZE)
    ]
    page.goto(f"/repos/{repo.repo_id}/")
    wait_until_live(page)
    rows = page.locator("#run-history > [data-pk]")
    expect(rows).to_have_count(live.HISTORY_PAGE_SIZE)
    expect(page.locator('#history-pager a[rel="next"]')).to_be_hidden()

    _, newest = repo.start()

    expect(page.locator(f"#run-row-{newest}")).to_be_visible()
    expect(rows).to_have_count(live.HISTORY_PAGE_SIZE)
    expect(page.locator(f"#run-row-{pks[0]}")).to_have_count(0)
    expect(page.locator('#history-pager a[rel="next"]')).to_be_visible()
    expect(page.locator('#history-pager [data-role="no-next"]')).to_be_hidden()
    expect(page.locator("#run-history")).to_have_attribute("data-has-next", "1")


def test_it_refills_a_full_filtered_page_when_a_row_stops_matching(page: Page, server: LiveServer):
    # The server is shared: a search keeps the page to this test's repositories, and ids that
    # sort after every other test's keep them off the other tests' first overview page.
    prefix = unique_repo_id("zzzz-refill")
    repos = [
        PulpRepository(server, f"{prefix}-{number:02d}", unique=False)
        for number in range(live.OVERVIEW_PAGE_SIZE + 1)
    ]
    for repo in repos:
        repo.finish_sync(repo.task("sync"), simulation.Outcome("failed"))
    page.goto(f"/?state=failed&q={prefix}")
    wait_until_live(page)
    rows = page.locator("#repository-rows > [data-repo-id]")
    expect(rows).to_have_count(live.OVERVIEW_PAGE_SIZE)
    expect(overview_row(page, repos[-1].repo_id)).to_have_count(0)

    repos[0].finish_sync(repos[0].task("sync"), simulation.Outcome("success"))

    expect(overview_row(page, repos[0].repo_id)).to_have_count(0)
    expect(overview_row(page, repos[-1].repo_id)).to_have_count(1)
    expect(rows).to_have_count(live.OVERVIEW_PAGE_SIZE)
