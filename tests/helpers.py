from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent / "fixtures" / "events"


def load_event(name: str) -> dict[str, Any]:
    """A host payload from tests/fixtures/events/<name>.json, parsed."""
    return json.loads((FIXTURES / f"{name}.json").read_text())


def fixture_names() -> list[str]:
    """Every event fixture's name, for tests that run over all of them."""
    return sorted(path.stem for path in FIXTURES.glob("*.json"))


def load_body(name: str) -> str:
    """The same payload as the exact text a host sends."""
    return (FIXTURES / f"{name}.json").read_text()


# Sentinels for event_variant's call_report: leave it as the fixture has it, or drop the key.
KEEP = object()
MISSING = object()


def event_variant(
    name: str,
    *,
    event_type: str | None = None,
    call_report: Any = KEEP,
    drop: tuple[str, ...] = (),
    **payload: Any,
) -> dict[str, Any]:
    """A fixture event with payload keys replaced or dropped, and its call_report replaced.

    call_report=None sends it as null; call_report=MISSING leaves the key out.
    """
    event = copy.deepcopy(load_event(name))
    if event_type is not None:
        event["event_type"] = event_type
    if call_report is MISSING:
        del event["call_report"]
    elif call_report is not KEEP:
        event["call_report"] = call_report
    event["payload"].update(payload)
    for key in drop:
        del event["payload"][key]
    return event


def object_id(number: int) -> str:
    """A 24-hex result id, distinct per number."""
    return f"{number:024x}"


def sync_started(repo_id: str, task_id: str) -> dict[str, Any]:
    """A sync start with no start_time, so its run starts when it arrives."""
    return event_variant("sync-started", repo_id=repo_id, call_report={"task_id": task_id})


FINISHED_FIXTURES = {
    "success": "sync-finished-success",
    "failed": "sync-finished-failed",
    "error": "sync-finished-error-traceback",
}


def sync_finished(
    repo_id: str, task_id: str, number: int, *, result: str = "success", **payload: Any
) -> dict[str, Any]:
    """The finish of that sync, from the fixture of its result, with its own result id."""
    return event_variant(
        FINISHED_FIXTURES.get(result, "sync-finished-success"),
        repo_id=repo_id,
        call_report={"task_id": task_id},
        id=object_id(number),
        result=result,
        **payload,
    )
