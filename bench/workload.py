"""Realistic event bodies: start and finish pairs shaped like tests/fixtures/events.

Finish bodies are padded to 1-10 KB the way Pulp's own are large: the call report repeats the
task's progress report, step by step.
"""

from __future__ import annotations

import functools
import json
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "events"
# One pair in ten fails and one in ten errors with a traceback; the rest succeed.
SYNC_FINISHES = ["sync-finished-success"] * 8 + [
    "sync-finished-failed",
    "sync-finished-error-traceback",
]
PUBLISH_SHARE = 0.4


@functools.cache
def _fixture_text(name: str) -> str:
    return (FIXTURES / f"{name}.json").read_text()


def _fixture(name: str) -> dict:
    return json.loads(_fixture_text(name))


@dataclass(frozen=True)
class Pair:
    repo_id: str
    start: bytes
    finish: bytes


def _object_id(rng: random.Random) -> str:
    return f"{rng.getrandbits(96):024x}"


def _progress_step(index: int) -> dict:
    return {
        "num_success": index,
        "description": f"Processing step {index}",
        "step_type": f"step_{index}",
        "items_total": index,
        "state": "FINISHED",
        "error_details": [],
        "details": "",
        "num_failures": 0,
        "step_id": str(uuid.UUID(int=index)),
        "num_processed": index,
    }


def _pad(event: dict, size: int) -> bytes:
    steps: list[dict] = []
    event["call_report"]["progress_report"] = {"bench_importer": steps}
    body = json.dumps(event).encode()
    step_size = len(json.dumps(_progress_step(1))) + 2
    steps += [
        _progress_step(index + 1) for index in range(-(-max(0, size - len(body)) // step_size))
    ]
    return json.dumps(event).encode()


def _call_report(event: dict, *, task_id: str, repo_id: str, rng: random.Random) -> None:
    report = event["call_report"]
    report["task_id"] = task_id
    report["_href"] = f"/pulp/api/v2/tasks/{task_id}/"
    report["tags"] = [f"pulp:repository:{repo_id}", report["tags"][1]]
    report["id"] = _object_id(rng)
    report["_id"] = {"$oid": report["id"]}


def make_pair(repo_id: str, started: datetime, rng: random.Random) -> Pair:
    """One run's start and finish, with fresh task and result ids."""
    publish = rng.random() < PUBLISH_SHARE
    start = _fixture("publish-started" if publish else "sync-started")
    finish = _fixture("publish-finished-success" if publish else rng.choice(SYNC_FINISHES))
    task_id = str(uuid.UUID(int=rng.getrandbits(128)))
    stamp = started.strftime("%Y-%m-%dT%H:%M:%SZ")
    for event in (start, finish):
        _call_report(event, task_id=task_id, repo_id=repo_id, rng=rng)
        event["call_report"]["start_time"] = stamp
        event["payload"]["repo_id"] = repo_id
    finish["payload"]["started"] = stamp
    finish["payload"]["completed"] = (started + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    finish["payload"]["id"] = _object_id(rng)
    return Pair(
        repo_id,
        _pad(start, rng.randint(1000, 2000)),
        _pad(finish, rng.randint(1000, 10000)),
    )


def make_pairs(count: int, *, repositories: int, seed: int = 5) -> list[Pair]:
    """`count` pairs over `repositories` repositories, round-robin, each a minute apart."""
    rng = random.Random(seed)
    origin = datetime(2026, 1, 1, tzinfo=UTC)
    return [
        make_pair(f"bench-repo-{index % repositories}", origin + timedelta(minutes=index), rng)
        for index in range(count)
    ]
