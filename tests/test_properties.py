"""Property-based tests: whatever a host sends, no 5xx and no partial run."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from events.models import Event, Repository, Run, RunKind, RunState
from events.services.ingest import OPEN_STATES
from tests.conftest import row_counts
from tests.helpers import event_variant, fixture_names, load_event, object_id

SAMPLES = fixture_names()
EVENT_TYPES = [
    "repo.sync.start",
    "repo.sync.finish",
    "repo.publish.start",
    "repo.publish.finish",
    "repo-sync-finished",
    "repo.sync",
    "",
]
PAYLOAD_KEYS = sorted({key for name in SAMPLES for key in load_event(name)["payload"]})
PATHS = [
    ("event_type",),
    ("payload",),
    ("call_report",),
    ("call_report", "task_id"),
    ("call_report", "start_time"),
    *(("payload", key) for key in PAYLOAD_KEYS),
]
# Deterministic and bounded: the same examples on every run, fast enough for every commit.
BOUNDED = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

TRICKY = st.sampled_from(
    [
        "",
        "\x00",
        "\ud800",
        "a\udfff",
        "2023-12-07T01:00:00Z",
        "2023-12-07T01:00:00-04:00",
        "9999-12-31T23:59:59+14:00",
        {"$date": 1701910802000},
        {"$date": -(2**62)},
        {"$oid": "6571a2cd1c2d4e0012ab3402"},
        {"$oid": 1},
        -1,
        -2,
        2**31,
        2**63,
        10**30,
        1.5,
        True,
        "success",
        "skipped",
        "canceled",
        "repo/../x",
        "rhel/9/baseos",
        "x" * 300,
        [["f.py", 1, "f", "x"]],
        ['  File "a", line 1, in b\n'],
    ]
)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
JSON = st.recursive(
    SCALARS | TRICKY,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=10,
)
MUTATION = st.tuples(st.sampled_from(["drop", "set"]), st.sampled_from(PATHS), JSON)


def _mutate(event: dict[str, Any], mutation: tuple[str, tuple[str, ...], Any]) -> None:
    action, path, value = mutation
    parent: Any = event
    for key in path[:-1]:
        parent = parent.get(key) if isinstance(parent, dict) else None
    if not isinstance(parent, dict):
        return
    if action == "drop":
        parent.pop(path[-1], None)
    else:
        parent[path[-1]] = value


def _post(client, token: str, data: str | bytes, content_type: str = "application/json"):
    return client.generic(
        "POST",
        "/api/events/",
        data,
        content_type=content_type,
        headers={"Authorization": f"Bearer {token}"},
    )


def _check_repository(repository: Repository) -> None:
    syncs = repository.runs.filter(kind=RunKind.SYNC).order_by("-started", "-id")
    publishes = repository.runs.filter(kind=RunKind.PUBLISH).order_by("-started", "-id")
    assert repository.latest_sync == syncs.first()
    finished = syncs.exclude(state__in=OPEN_STATES).first()
    assert repository.latest_finished_sync == finished
    assert repository.finished_sync_state == (finished.state if finished else "")
    assert repository.latest_publish == publishes.first()
    assert repository.sync_state == (syncs.first().state if syncs.exists() else "")
    assert repository.publish_state == (publishes.first().state if publishes.exists() else "")


def _check_run(run: Run) -> None:
    assert run.state in RunState.values
    if run.state in OPEN_STATES:
        assert run.completed is None
        assert run.result_id is None
    else:
        assert run.completed is not None
        assert run.completed >= run.started
    if run.kind == RunKind.PUBLISH:
        assert (run.added_count, run.updated_count, run.removed_count) == (None, None, None)
    assert run.item_error_count >= 0


def _check_outcome(response, before: dict[str, int]) -> None:
    """Either 200 with a consistent event and run, or a 4xx that wrote nothing."""
    assert response.status_code < 500, response.content
    body = response.json()
    after = row_counts()
    if response.status_code != 200:
        assert response.status_code in (400, 413, 415)
        assert isinstance(body["error"], str)
        assert set(body) <= {"error", "field"}
        assert after == before
        return
    assert body["status"] in ("applied", "duplicate", "ignored")
    event = Event.objects.get(pk=body["event"])
    run = Run.objects.get(pk=body["run"])
    assert event.outcome == body["status"]
    assert event.run == run
    assert after["events"] == before["events"] + 1
    allowed_new_runs = (0, 1) if body["status"] == "applied" else (0,)
    assert after["runs"] - before["runs"] in allowed_new_runs
    _check_run(run)
    _check_repository(run.repository)
    if body["status"] == "applied":
        assert run.repository.repo_id == event.repo_id


@pytest.mark.django_db
@BOUNDED
@given(name=st.sampled_from(SAMPLES), mutations=st.lists(MUTATION, min_size=1, max_size=4))
def test_it_never_fails_on_a_mutated_sample(client, token, name, mutations):
    event = load_event(name)
    for mutation in mutations:
        _mutate(event, mutation)
    before = row_counts()

    response = _post(client, token, json.dumps(event))

    _check_outcome(response, before)


@pytest.mark.django_db
@BOUNDED
@given(
    name=st.sampled_from(SAMPLES),
    event_type=st.sampled_from(EVENT_TYPES),
    drop=st.sets(st.sampled_from(PAYLOAD_KEYS), max_size=3),
)
def test_it_never_fails_on_a_sample_under_another_type_or_without_keys(
    client, token, name, event_type, drop
):
    event = load_event(name)
    event["event_type"] = event_type
    for key in drop:
        event["payload"].pop(key, None)
    before = row_counts()

    response = _post(client, token, json.dumps(event))

    _check_outcome(response, before)


@pytest.mark.django_db
@BOUNDED
@given(body=JSON)
def test_it_never_fails_on_arbitrary_json(client, token, body):
    before = row_counts()

    response = _post(client, token, json.dumps(body))

    _check_outcome(response, before)


@pytest.mark.django_db
@BOUNDED
@given(data=st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_it_never_fails_on_arbitrary_bytes(client, token, data):
    before = row_counts()

    response = _post(client, token, data)

    _check_outcome(response, before)


@pytest.mark.django_db
@BOUNDED
@given(
    body=JSON,
    content_type=st.sampled_from(["text/plain", "application/json; charset=latin-1", ""]),
)
def test_it_never_fails_on_any_content_type(client, token, body, content_type):
    before = row_counts()

    response = _post(client, token, json.dumps(body).encode(), content_type=content_type)

    _check_outcome(response, before)


# One finish per task, each with its own result id; starts and finishes posted in any order,
# some twice, some lost.
TASKS = [("repo-a", "t1", 1), ("repo-a", "t2", 2), ("repo-a", "t3", 3), ("repo-b", "t4", 4)]
FOLD_EVENT = st.tuples(
    st.sampled_from(TASKS),
    st.sampled_from(["start", "finish"]),
    st.booleans(),
    st.sampled_from(["success", "failed", "error", "canceled"]),
)


def _fold_body(task: tuple[str, str, int], phase: str, with_task_id: bool, result: str) -> str:
    repo_id, task_id, number = task
    when = f"2023-12-07T0{number}:00:00Z"
    report = {"task_id": task_id, "start_time": when} if with_task_id else None
    if phase == "start":
        return json.dumps(event_variant("sync-started", call_report=report, repo_id=repo_id))
    body = event_variant(
        "sync-finished-success",
        call_report=report,
        repo_id=repo_id,
        result=result,
        started=when,
        completed=f"2023-12-07T0{number}:30:00Z",
        id=object_id(number),
    )
    return json.dumps(body)


@pytest.mark.django_db
@settings(BOUNDED, max_examples=50)
@given(sequence=st.lists(FOLD_EVENT, min_size=1, max_size=8))
def test_it_folds_any_order_of_starts_and_finishes_consistently(client, token, sequence):
    Event.objects.all().delete()
    Repository.objects.all().delete()

    for task, phase, with_task_id, result in sequence:
        response = _post(client, token, _fold_body(task, phase, with_task_id, result))
        assert response.status_code == 200, response.content

    assert Event.objects.count() == len(sequence)
    for repository in Repository.objects.all():
        _check_repository(repository)
        running = repository.runs.filter(state=RunState.RUNNING)
        assert running.count() <= 1
    for run in Run.objects.all():
        _check_run(run)
    finished = {task[2] for task, phase, _, _ in sequence if phase == "finish"}
    for number in finished:
        run = Run.objects.get(result_id=object_id(number))
        repo_id = next(task[0] for task in TASKS if task[2] == number)
        assert run.repository.repo_id == repo_id
