"""Folding events into runs: pairing, duplicates, lost and reordered events, repository pointers."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from events.models import Event, EventOutcome, Repository, Run, RunKind, RunState, SyncHost
from events.schemas import InvalidEvent
from events.services import ingest
from tests.helpers import MISSING, event_variant, object_id

REPO = "centos-9-baseos"


def _report(task_id: str | None, start_time: str | None) -> object:
    if task_id is None and start_time is None:
        return MISSING
    report = {"task_id": task_id} if task_id else {}
    if start_time:
        report["start_time"] = start_time
    return report


def sync_start(
    task_id: str | None = "task-1", *, at: str | None = "2023-12-07T01:00:00Z", repo: str = REPO
) -> str:
    return json.dumps(event_variant("sync-started", call_report=_report(task_id, at), repo_id=repo))


def sync_finish(
    task_id: str | None = "task-1",
    *,
    result_id: int | None = 1,
    result: str = "success",
    started: str = "2023-12-07T01:00:00Z",
    completed: str = "2023-12-07T01:05:00Z",
    repo: str = REPO,
) -> str:
    body = event_variant(
        "sync-finished-success",
        call_report=_report(task_id, started),
        repo_id=repo,
        result=result,
        started=started,
        completed=completed,
    )
    if result_id is None:
        del body["payload"]["id"]
    else:
        body["payload"]["id"] = object_id(result_id)
    return json.dumps(body)


def publish_start(
    task_id: str | None = "publish-1",
    *,
    distributor: str = "yum_distributor",
    at: str | None = "2023-12-07T01:06:00Z",
) -> str:
    body = event_variant(
        "publish-started", call_report=_report(task_id, at), distributor_id=distributor
    )
    return json.dumps(body)


def publish_finish(
    task_id: str | None = "publish-1",
    *,
    distributor: str = "yum_distributor",
    result_id: int = 100,
    result: str = "success",
) -> str:
    body = event_variant(
        "publish-finished-success",
        call_report=_report(task_id, "2023-12-07T01:06:00Z"),
        distributor_id=distributor,
        result=result,
        started="2023-12-07T01:06:00Z",
        completed={"$date": 1701911220000},
        id=object_id(result_id),
    )
    return json.dumps(body)


@pytest.fixture
def host(db) -> SyncHost:
    return SyncHost.create_with_token("sync-a")[0]


@pytest.fixture
def handle(host):
    def _handle(text: str) -> ingest.Ingested:
        return ingest.handle_event(text, host=host)

    return _handle


def _repository() -> Repository:
    return Repository.objects.get(repo_id=REPO)


def test_it_pairs_start_and_finish_by_task_id(handle):
    started = handle(sync_start("task-1"))
    finished = handle(sync_finish("task-1"))

    assert finished.run.pk == started.run.pk
    assert (started.outcome, finished.outcome) == (EventOutcome.APPLIED, EventOutcome.APPLIED)
    run = Run.objects.get()
    assert run.state == RunState.SUCCESS
    assert run.task_id == "task-1"
    assert list(run.events.values_list("event_type", "outcome")) == [
        ("repo.sync.finish", "applied"),
        ("repo.sync.start", "applied"),
    ]


def test_it_pairs_by_task_id_rather_than_by_the_open_run(handle):
    handle(sync_start("task-1", at="2023-12-07T01:00:00Z"))
    handle(sync_start("task-2", at="2023-12-07T02:00:00Z"))

    late = handle(sync_finish("task-1", result_id=1))

    first, second = Run.objects.order_by("started")
    assert late.run == first
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.state == RunState.SUCCESS
    assert second.state == RunState.RUNNING


def test_it_pairs_without_task_id_by_the_open_run_of_the_repository(handle):
    started = handle(sync_start(None, at=None))
    finished = handle(sync_finish(None))

    assert finished.run.pk == started.run.pk
    run = Run.objects.get()
    assert run.state == RunState.SUCCESS
    assert run.task_id == ""
    assert run.started == datetime(2023, 12, 7, 1, 0, tzinfo=UTC)


def test_it_does_not_pair_a_finish_with_another_repositorys_open_run(handle):
    other = handle(sync_start(None, at=None, repo="other"))

    finished = handle(sync_finish(None))

    assert finished.run != other.run
    other.run.refresh_from_db()
    assert other.run.state == RunState.RUNNING
    assert finished.run.state == RunState.SUCCESS


def test_it_pairs_publishes_without_task_id_by_distributor(handle):
    yum = handle(publish_start(None, at=None, distributor="yum_distributor"))
    export = handle(publish_start(None, at=None, distributor="export_distributor"))

    finished = handle(publish_finish(None, distributor="export_distributor"))

    assert finished.run == export.run
    yum.run.refresh_from_db()
    export.run.refresh_from_db()
    assert yum.run.state == RunState.RUNNING
    assert export.run.state == RunState.SUCCESS
    assert export.run.plugin == "export_distributor"


def test_it_keeps_sync_and_publish_runs_apart(handle):
    sync = handle(sync_start("task-1"))
    publish = handle(publish_start("publish-1"))

    sync.run.refresh_from_db()
    assert sync.run.state == RunState.RUNNING
    assert publish.run.kind == RunKind.PUBLISH
    repository = _repository()
    assert (repository.latest_sync, repository.latest_publish) == (sync.run, publish.run)
    assert (repository.sync_state, repository.publish_state) == ("running", "running")


def test_it_creates_a_finished_run_for_a_finish_without_start(handle, host):
    finished = handle(sync_finish("task-1"))

    assert finished.outcome == EventOutcome.APPLIED
    run = Run.objects.get()
    assert run.state == RunState.SUCCESS
    assert run.task_id == "task-1"
    assert run.host == host
    assert run.started == datetime(2023, 12, 7, 1, 0, tzinfo=UTC)
    assert run.completed == datetime(2023, 12, 7, 1, 5, tzinfo=UTC)
    assert _repository().latest_finished_sync == run


def test_it_treats_a_repeated_finish_id_as_a_duplicate_that_changes_nothing(handle):
    handle(sync_start("task-1"))
    first = handle(sync_finish("task-1", result_id=1))
    run = Run.objects.get()
    snapshot = (run.state, run.completed, run.updated, run.summary)

    again = handle(
        sync_finish("task-9", result_id=1, result="failed", completed="2023-12-07T03:00:00Z")
    )

    assert again.outcome == EventOutcome.DUPLICATE
    assert again.run == first.run
    run.refresh_from_db()
    assert (run.state, run.completed, run.updated, run.summary) == snapshot
    assert Run.objects.count() == 1
    assert list(Event.objects.order_by("id").values_list("outcome", flat=True)) == [
        "applied",
        "applied",
        "duplicate",
    ]


def test_it_treats_an_identical_finish_without_id_as_a_duplicate(handle):
    first = handle(sync_finish(None, result_id=None))

    again = handle(sync_finish(None, result_id=None))

    assert again.outcome == EventOutcome.DUPLICATE
    assert again.run == first.run
    assert Run.objects.count() == 1


def test_it_treats_a_repeated_start_as_a_duplicate(handle):
    first = handle(sync_start("task-1"))

    again = handle(sync_start("task-1"))

    assert again.outcome == EventOutcome.DUPLICATE
    assert again.run == first.run
    run = Run.objects.get()
    assert run.state == RunState.RUNNING


def test_it_treats_a_repeated_start_without_task_id_as_a_duplicate(handle):
    first = handle(sync_start(None, at="2023-12-07T01:00:00Z"))
    body = sync_start(None, at="2023-12-07T01:00:00Z")

    again = handle(body)

    assert again.outcome == EventOutcome.DUPLICATE
    assert again.run == first.run
    assert Run.objects.get().state == RunState.RUNNING


def test_it_does_not_reopen_a_run_when_its_start_arrives_after_its_finish(handle):
    finished = handle(sync_finish("task-1"))

    late = handle(sync_start("task-1"))

    assert late.outcome == EventOutcome.DUPLICATE
    assert late.run == finished.run
    run = Run.objects.get()
    assert run.state == RunState.SUCCESS
    assert _repository().sync_state == RunState.SUCCESS


def test_it_closes_an_open_run_as_incomplete_when_a_new_one_starts(handle):
    old = handle(sync_start("task-1", at="2023-12-07T01:00:00Z"))

    new = handle(sync_start("task-2", at="2023-12-07T02:00:00Z"))

    old.run.refresh_from_db()
    assert old.run.state == RunState.INCOMPLETE
    assert new.run.state == RunState.RUNNING
    repository = _repository()
    assert repository.latest_sync == new.run
    assert repository.sync_state == RunState.RUNNING
    assert repository.latest_finished_sync is None


def test_it_closes_only_the_open_publish_of_the_same_distributor(handle):
    yum = handle(publish_start("p-1", distributor="yum_distributor"))
    export = handle(publish_start("p-2", distributor="export_distributor"))

    handle(publish_start("p-3", distributor="yum_distributor", at="2023-12-07T03:00:00Z"))

    yum.run.refresh_from_db()
    export.run.refresh_from_db()
    assert yum.run.state == RunState.INCOMPLETE
    assert export.run.state == RunState.RUNNING


def test_it_applies_a_late_finish_to_an_incomplete_run(handle):
    old = handle(sync_start("task-1", at="2023-12-07T01:00:00Z"))
    new = handle(sync_start("task-2", at="2023-12-07T02:00:00Z"))

    late = handle(sync_finish("task-1", result_id=1, result="failed"))

    assert late.outcome == EventOutcome.APPLIED
    assert late.run == old.run
    old.run.refresh_from_db()
    assert old.run.state == RunState.FAILED
    repository = _repository()
    assert repository.latest_sync == new.run
    assert repository.sync_state == RunState.RUNNING
    assert repository.latest_finished_sync == old.run
    assert repository.is_failing()


def test_it_ignores_a_second_result_for_a_finished_task(handle):
    first = handle(sync_finish("task-1", result_id=1, result="success"))

    other = handle(sync_finish("task-1", result_id=2, result="failed"))

    assert other.outcome == EventOutcome.IGNORED
    assert other.run == first.run
    run = Run.objects.get()
    assert run.state == RunState.SUCCESS
    assert run.result_id == object_id(1)
    assert Event.objects.filter(outcome=EventOutcome.IGNORED, run=run).count() == 1


def test_it_keeps_pointers_right_when_events_arrive_out_of_order(handle):
    handle(
        sync_finish(
            "task-2",
            result_id=2,
            result="failed",
            started="2023-12-07T02:00:00Z",
            completed="2023-12-07T02:05:00Z",
        )
    )
    handle(sync_start("task-1", at="2023-12-07T01:00:00Z"))
    handle(sync_finish("task-1", result_id=1, result="success"))

    newer = Run.objects.get(task_id="task-2")
    repository = _repository()
    assert repository.latest_sync == newer
    assert repository.latest_finished_sync == newer
    assert repository.sync_state == RunState.FAILED
    assert repository.is_failing()


def test_it_moves_the_pointers_to_a_newer_run(handle):
    handle(sync_finish("task-1", result_id=1, result="failed"))
    handle(publish_finish("publish-1", result_id=100))
    newer = handle(sync_start("task-2", at="2023-12-07T03:00:00Z"))

    repository = _repository()
    assert repository.latest_sync == newer.run
    assert repository.sync_state == RunState.RUNNING
    assert repository.latest_finished_sync == Run.objects.get(task_id="task-1")
    assert repository.latest_publish == Run.objects.get(task_id="publish-1")
    assert repository.publish_state == RunState.SUCCESS

    handle(
        sync_finish(
            "task-2",
            result_id=2,
            started="2023-12-07T03:00:00Z",
            completed="2023-12-07T03:04:00Z",
        )
    )

    repository.refresh_from_db()
    assert repository.latest_finished_sync == newer.run
    assert repository.sync_state == RunState.SUCCESS
    assert not repository.is_failing()


def test_it_leaves_the_pointers_alone_on_a_duplicate(handle):
    handle(sync_finish("task-1", result_id=1))
    handle(sync_start("task-2", at="2023-12-07T03:00:00Z"))

    handle(sync_finish("task-1", result_id=1))

    repository = _repository()
    assert repository.latest_sync == Run.objects.get(task_id="task-2")
    assert repository.sync_state == RunState.RUNNING


def test_it_stores_every_accepted_event_with_its_outcome_and_run(handle, host):
    handle(sync_start("task-1"))
    handle(sync_start("task-1"))
    handle(sync_finish("task-1"))

    run = Run.objects.get()
    events = list(Event.objects.order_by("id"))
    assert [(event.event_type, event.outcome, event.run) for event in events] == [
        ("repo.sync.start", "applied", run),
        ("repo.sync.start", "duplicate", run),
        ("repo.sync.finish", "applied", run),
    ]
    assert all(event.host == host and event.repo_id == REPO for event in events)
    host.refresh_from_db()
    assert host.event_count == 3
    assert host.last_seen == events[-1].received


def test_it_records_the_repository_first_and_last_seen(handle, host):
    first = handle(sync_start("task-1"))
    last = handle(sync_finish("task-1"))

    repository = _repository()
    assert repository.first_seen == first.event.received
    assert repository.last_seen == last.event.received
    assert repository.last_host == host


def test_it_stores_nothing_for_an_invalid_event(handle):
    with pytest.raises(InvalidEvent) as raised:
        handle(sync_finish("task-1", completed="2023-12-07T00:00:00Z"))

    assert raised.value.message == "invalid payload.completed: before payload.started"
    assert raised.value.field == "payload.completed"
    assert (Event.objects.count(), Run.objects.count(), Repository.objects.count()) == (0, 0, 0)


def test_it_does_not_reopen_a_run_when_its_start_without_task_id_arrives_late(handle):
    finished = handle(sync_finish(None, started="2023-12-07T01:00:00Z"))

    late = handle(sync_start(None, at="2023-12-07T01:00:00Z"))

    assert late.outcome == EventOutcome.DUPLICATE
    assert late.run == finished.run
    assert Run.objects.get().state == RunState.SUCCESS


def test_it_skips_incomplete_runs_for_the_latest_finished_sync(handle):
    finished = handle(sync_finish("task-1", result_id=1, result="failed"))
    handle(sync_start("task-2", at="2023-12-07T02:00:00Z"))
    handle(sync_start("task-3", at="2023-12-07T03:00:00Z"))

    assert Run.objects.get(task_id="task-2").state == RunState.INCOMPLETE
    repository = _repository()
    assert repository.latest_finished_sync == finished.run
    assert repository.latest_sync == Run.objects.get(task_id="task-3")
    assert repository.is_failing()


def test_it_opens_a_late_older_start_as_incomplete_and_leaves_the_newer_run_running(handle):
    newer = handle(sync_start("task-2", at="2023-12-07T02:00:00Z"))

    older = handle(sync_start("task-1", at="2023-12-07T01:00:00Z"))

    assert older.outcome == EventOutcome.APPLIED
    assert older.run.state == RunState.INCOMPLETE
    newer.run.refresh_from_db()
    assert newer.run.state == RunState.RUNNING
    repository = _repository()
    assert repository.latest_sync == newer.run
    assert repository.sync_state == RunState.RUNNING

    late = handle(sync_finish("task-1", result_id=1, result="canceled"))

    assert late.run == older.run
    assert Run.objects.get(pk=older.run.pk).state == RunState.CANCELED
    assert Run.objects.get(pk=newer.run.pk).state == RunState.RUNNING


def test_it_opens_a_start_older_than_a_finished_run_as_incomplete(handle):
    handle(
        sync_finish(
            "task-2",
            result_id=2,
            started="2023-12-07T02:00:00Z",
            completed="2023-12-07T02:05:00Z",
        )
    )

    older = handle(sync_start("task-1", at="2023-12-07T01:00:00Z"))

    assert older.run.state == RunState.INCOMPLETE
    repository = _repository()
    assert repository.latest_sync == Run.objects.get(task_id="task-2")
    assert repository.sync_state == RunState.SUCCESS


def test_it_tells_publish_starts_without_task_id_apart_by_distributor(handle):
    yum = handle(publish_start(None, distributor="yum_distributor", at="2023-12-07T01:06:00Z"))

    export = handle(
        publish_start(None, distributor="export_distributor", at="2023-12-07T01:06:00Z")
    )

    assert export.outcome == EventOutcome.APPLIED
    assert export.run != yum.run
    assert Run.objects.filter(state=RunState.RUNNING).count() == 2


def test_it_links_a_late_start_without_task_id_to_its_own_finished_run(handle):
    own = handle(sync_finish(None, result_id=1, started="2023-12-07T01:00:00Z"))
    current = handle(sync_start(None, at="2023-12-07T02:00:00Z"))

    late = handle(sync_start(None, at="2023-12-07T01:00:00Z"))

    assert late.outcome == EventOutcome.DUPLICATE
    assert late.run == own.run
    current.run.refresh_from_db()
    assert current.run.state == RunState.RUNNING


def test_it_finds_the_latest_run_again_when_a_finish_moves_it_back(handle):
    earlier = handle(sync_start("task-1", at="2023-12-07T01:00:00Z"))
    handle(sync_start("task-2", at="2023-12-07T02:00:00Z"))

    # The host's result says task-2 really started before task-1.
    handle(
        sync_finish(
            "task-2",
            result_id=2,
            started="2023-12-07T00:30:00Z",
            completed="2023-12-07T00:40:00Z",
        )
    )

    repository = _repository()
    assert repository.latest_sync == earlier.run
    assert repository.sync_state == RunState.INCOMPLETE
    assert repository.latest_finished_sync == Run.objects.get(task_id="task-2")
    assert repository.finished_sync_state == RunState.SUCCESS


def test_it_moves_the_pointers_without_reading_the_history(handle):
    handle(sync_finish("task-1", result_id=1, result="failed"))
    handle(sync_start("task-2", at="2023-12-07T03:00:00Z"))
    history = f'FROM "{Run._meta.db_table}" WHERE ("{Run._meta.db_table}"."repository_id" ='

    with CaptureQueriesContext(connection) as queries:
        handle(
            sync_finish(
                "task-2",
                result_id=2,
                started="2023-12-07T03:00:00Z",
                completed="2023-12-07T03:04:00Z",
            )
        )

    pointer_reads = [
        query["sql"]
        for query in queries.captured_queries
        if history in query["sql"]
        and '"started" DESC' in query["sql"]
        and 'task_id" =' not in query["sql"]
    ]
    assert pointer_reads == []
    repository = _repository()
    assert repository.latest_finished_sync == Run.objects.get(task_id="task-2")
    assert repository.finished_sync_state == RunState.SUCCESS
    assert not repository.is_failing()
