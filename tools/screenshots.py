"""Screenshots of the dashboard for the README: `make screenshots`.

Starts a server on a fresh database, posts a day of Pulp 2 traffic for a set of repositories
(history, then each one's latest sync in a telling state), and photographs the overview and the
run page of a failure with Debian's Chromium.
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")
# This process only builds event bodies; the server it starts has its own settings.
os.environ.setdefault("SECRET_KEY", "screenshots-builder-only-" + "x" * 40)
django.setup()

from playwright.sync_api import Page, expect, sync_playwright  # noqa: E402

from events import simulation  # noqa: E402
from tests.browser.helpers import launch_chromium, log_in, wait_until_live  # noqa: E402
from tests.browser.pulp import PulpRepository  # noqa: E402
from tests.browser.server import LiveServer, live_server  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
VIEWPORT = {"width": 1360, "height": 900}
HISTORY = 6


@dataclass(frozen=True)
class Latest:
    """How a repository's latest sync looks in the picture."""

    result: str  # a sync result, "running", or "stalled"
    added: int = 0
    updated: int = 0
    removed: int = 0
    publish: str = "success"
    ago_minutes: int = 5


LATEST = {
    "centos-9-baseos": Latest("success", 233, 2, 4, ago_minutes=3),
    "epel-9-everything": Latest("failed", 12, 1, 0, ago_minutes=18),
    "docker-hub-nginx": Latest("running", ago_minutes=1),
    "rocky-9-appstream": Latest("error", ago_minutes=7),
    "puppet-forge-stdlib": Latest("success", publish="skipped", ago_minutes=41),
    "ostree-fedora-iot": Latest("success", 12, ago_minutes=26),
    "iso-rhel-9": Latest("success", 1, ago_minutes=95),
    "centos-9-appstream": Latest("error", ago_minutes=9),
    "docker-hub-postgres": Latest("success", 48, 3, 1, ago_minutes=12),
    "almalinux-9-baseos": Latest("running", ago_minutes=2),
    "epel-8-everything": Latest("success", 31, 6, 2, ago_minutes=33),
    "rhel-9-baseos-rpms": Latest("success", 17, publish="failed", ago_minutes=21),
    "puppet-forge-apache": Latest("canceled", 2, ago_minutes=64),
    "docker-hub-redis": Latest("success", 5, ago_minutes=15),
    "rocky-9-baseos": Latest("stalled", ago_minutes=190),
}


def _post_history(repo: PulpRepository, rng: random.Random) -> None:
    """Finished syncs and publishes every few hours over the last day."""
    now = simulation.now_utc()
    for index in range(HISTORY, 0, -1):
        started = now - timedelta(hours=4 * index, minutes=rng.randint(0, 50))
        completed = started + timedelta(seconds=rng.randint(40, 420))
        outcome = simulation.Outcome(
            "success", added=rng.choice([0, 3, 12, 48, 140]), removed=rng.choice([0, 0, 2])
        )
        repo.finish_sync(repo.task("sync", started), outcome, completed=simulation.iso(completed))
        published = completed + timedelta(seconds=rng.randint(5, 60))
        repo.finish_publish(
            repo.task("publish", completed),
            "success" if outcome.changed() else "skipped",
            completed={"$date": int(published.timestamp() * 1000)},
        )


def _post_latest(repo: PulpRepository, latest: Latest, rng: random.Random) -> int:
    """The latest sync (and its publish); returns the sync run's pk."""
    now = simulation.now_utc()
    started = now - timedelta(minutes=latest.ago_minutes, seconds=rng.randint(0, 50))
    task, run = repo.start(started=started)
    if latest.result in ("running", "stalled"):
        return run
    plugin = repo.repo.plugin
    step, error = simulation.FAILED_STEPS[plugin][0]
    outcome = simulation.Outcome(
        latest.result,
        added=latest.added,
        updated=latest.updated,
        removed=latest.removed,
        failed_step=step if latest.result == "failed" else "",
        step_error=error if latest.result == "failed" else "",
    )
    completed = started + timedelta(seconds=rng.randint(60, 240))
    repo.finish_sync(task, outcome, completed=simulation.iso(completed))
    if latest.result == "success":
        publish, _ = repo.start("publish", started=completed)
        done = completed + timedelta(seconds=rng.randint(5, 40))
        repo.finish_publish(
            publish, latest.publish, completed={"$date": int(done.timestamp() * 1000)}
        )
    return run


def post_traffic(server: LiveServer) -> int:
    """Post every repository's history and latest sync; returns the run to show as a failure."""
    rng = random.Random(2023)
    plugins = dict(simulation.REPOSITORIES)
    failure = 0
    for repo_id, latest in LATEST.items():
        repo = PulpRepository(server, repo_id, plugins[repo_id], unique=False)
        _post_history(repo, rng)
        run = _post_latest(repo, latest, rng)
        if repo_id == "rocky-9-appstream":
            failure = run
    return failure


def photograph(page: Page, path: Path) -> None:
    wait_until_live(page)
    page.screenshot(path=str(path), full_page=True, animations="disabled")
    print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


def take(server: LiveServer, failure: int, out: Path) -> None:
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        context = browser.new_context(base_url=server.url, viewport=VIEWPORT, color_scheme="light")
        page = context.new_page()
        log_in(page, server)
        stalled = page.locator('[data-repo-id="rocky-9-baseos"] [data-role="sync-state"]')
        expect(stalled).to_have_attribute("data-state", "stalled")
        photograph(page, out / "overview.png")
        page.goto(f"/runs/{failure}/")
        photograph(page, out / "failure.png")
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="screenshots-") as workdir:
        # Plain SQLite and the in-memory layer whatever the caller's environment says.
        os.environ.pop("DATABASE_URL", None)
        os.environ.pop("REDIS_URL", None)
        with live_server(Path(workdir), host_name="pulp2.example.org") as server:
            failure = post_traffic(server)
            take(server, failure, args.out)


if __name__ == "__main__":
    main()
