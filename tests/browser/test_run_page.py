from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from events import simulation
from tests.browser.helpers import overview_row, sync_badge, wait_until_live
from tests.browser.pulp import PulpRepository
from tests.browser.server import LiveServer

HOSTILE = "<script>alert('pushed')</script><img src=x onerror=\"alert('img')\"> in repomd.xml"


def test_it_explains_an_error_and_shows_its_traceback(page: Page, server: LiveServer):
    repo = PulpRepository(server, "rocky-9-appstream")
    page.goto("/")
    wait_until_live(page)
    task, _ = repo.start()
    run = repo.finish_sync(
        task, simulation.Outcome("error"), error_message="Error retrieving metadata: Not Found"
    )
    expect(sync_badge(page, repo.repo_id)).to_have_attribute("data-state", "error")
    expect(page).to_have_title(re.compile(r"^\([1-9][0-9]*\) failing · "))

    overview_row(page, repo.repo_id).locator('a[data-role="last-run"]').click()

    expect(page).to_have_url(f"{server.url}/runs/{run}/")
    explanation = page.locator(f"#run-explanation-{run}")
    expect(explanation.locator(".error-message")).to_have_text(
        "Error retrieving metadata: Not Found"
    )
    expect(explanation.locator(".exception")).to_contain_text("PulpCodedException")
    frames = page.locator(f"#run-traceback-{run} ol.frames > li.frame")
    expect(frames.last.locator(".frame-function")).to_have_text("run")
    expect(frames.last.locator(".frame-code")).to_have_text(
        "raise PulpCodedException(error_codes.RPM1004, reason=str(e))"
    )
    expect(page.locator(f"#traceback-raw-{run}")).to_contain_text(
        "Traceback (most recent call last):"
    )
    explanation_first = page.evaluate(
        f"""document.querySelector('#run-explanation-{run}').compareDocumentPosition(
            document.querySelector('#run-traceback-{run}')) & Node.DOCUMENT_POSITION_FOLLOWING"""
    )
    assert explanation_first


def test_it_explains_a_failed_step_from_the_details(page: Page, server: LiveServer):
    repo = PulpRepository(server, "epel-9-everything")
    task, _ = repo.start()
    step, error = simulation.FAILED_STEPS["yum"][0]
    run = repo.finish_sync(
        task, simulation.Outcome("failed", added=12, failed_step=step, step_error=error)
    )

    page.goto(f"/runs/{run}/")

    expect(page.locator(f"#run-header-{run} [data-role='run-state']")).to_have_text("failed")
    failed_steps = page.locator(f"#run-explanation-{run} ul.failed-steps > li")
    expect(failed_steps).to_have_count(1)
    expect(failed_steps).to_contain_text("comps.xml: mismatched tag: line 4012, column 6")


def test_it_updates_an_open_run_page_when_the_run_finishes(page: Page, server: LiveServer):
    repo = PulpRepository(server, "docker-hub-nginx", plugin="docker")
    task, run = repo.start()
    page.goto(f"/runs/{run}/")
    wait_until_live(page)
    state = page.locator(f"#run-header-{run} [data-role='run-state']")
    expect(state).to_have_text("running")

    repo.finish_sync(task, simulation.Outcome("success", added=7, updated=1))

    expect(state).to_have_text("success")
    expect(page.locator(f"#run-header-{run} [data-role='added']")).to_have_text("7")


def test_it_shows_markup_in_an_error_message_as_text(
    page: Page, server: LiveServer, dialogs: list[str]
):
    repo = PulpRepository(server, "centos-9-appstream")
    task, run = repo.start()
    page.goto(f"/runs/{run}/")
    wait_until_live(page)

    repo.finish_sync(task, simulation.Outcome("error"), error_message=HOSTILE)

    message = page.locator(f"#run-explanation-{run} .error-message")
    expect(message).to_have_text(HOSTILE)
    page.reload()
    expect(message).to_have_text(HOSTILE)
    expect(page.locator("main script")).to_have_count(0)
    expect(page.locator("main img[src='x']")).to_have_count(0)
    assert dialogs == []
