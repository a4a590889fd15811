"""A simulated Pulp 2 repository whose events a browser test posts to the live server."""

from __future__ import annotations

import random
import uuid
from datetime import datetime, timedelta

from events import simulation
from tests.browser.server import LiveServer

WORKER = "reserved_resource_worker-0@pulp1.example.org"


def unique_repo_id(name: str) -> str:
    """A realistic id no other test uses, so each test owns its overview row."""
    return f"{name}-{uuid.uuid4().hex[:6]}"


class PulpRepository:
    def __init__(
        self, server: LiveServer, name: str, plugin: str = "yum", *, unique: bool = True
    ) -> None:
        self.server = server
        repo_id = unique_repo_id(name) if unique else name
        self.repo = simulation.Repo(repo_id, plugin, WORKER)
        self.rng = random.Random(name)

    @property
    def repo_id(self) -> str:
        return self.repo.repo_id

    def task(self, kind: str, started: datetime | None = None) -> simulation.Task:
        """A task of this repository; post its finish alone for a run whose start was lost."""
        started = started or simulation.now_utc() - timedelta(seconds=1)
        return simulation.Task(
            self.repo, kind, str(uuid.uuid4()), simulation.object_id(started), started
        )

    def start(
        self, kind: str = "sync", *, started: datetime | None = None
    ) -> tuple[simulation.Task, int]:
        """Post a start event; returns the task its finish must name and the run's pk."""
        task = self.task(kind, started)
        return task, self.server.post(simulation.start_event(task).body)["run"]

    def finish_sync(self, task: simulation.Task, outcome: simulation.Outcome, **payload) -> int:
        """Post the sync's finish (payload keys override the built ones); returns the run's pk."""
        body = simulation.sync_finish_event(task, outcome, self.rng).body
        body["payload"].update(payload)
        return self.server.post(body)["run"]

    def finish_publish(self, task: simulation.Task, result: str = "success", **payload) -> int:
        body = simulation.publish_finish_event(task, result).body
        body["payload"].update(payload)
        return self.server.post(body)["run"]
