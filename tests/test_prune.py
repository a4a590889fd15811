from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from events.models import Event, EventOutcome, Repository, Run, RunKind, RunState
from events.services import retention
from tests.helpers import load_event


@pytest.fixture(autouse=True)
def _ages(settings):
    settings.PRUNE_SUCCESS_DAYS = 30
    settings.PRUNE_FAILURE_DAYS = 180
    settings.PRUNE_BODY_DAYS = 14


@pytest.fixture
def repository(db) -> Repository:
    return Repository.objects.create(repo_id="centos-9-baseos")


def make_run(
    repository: Repository,
    state: str,
    days_ago: float,
    *,
    kind: str = RunKind.SYNC,
    events: int = 2,
) -> Run:
    started = timezone.now() - timedelta(days=days_ago)
    run = Run.objects.create(
        repository=repository,
        kind=kind,
        state=state,
        started=started,
        completed=None if state == RunState.RUNNING else started + timedelta(minutes=5),
    )
    for _ in range(events):
        Event.objects.create(
            event_type=f"repo.{kind}.finish",
            received=started,
            body='{"event_type": "..."}',
            body_sha256="0" * 64,
            repo_id=repository.repo_id,
            run=run,
            outcome=EventOutcome.APPLIED,
        )
    return run


def point_at(repository: Repository, run: Run) -> None:
    repository.latest_sync = run
    repository.latest_finished_sync = run
    repository.sync_state = run.state
    repository.finished_sync_state = run.state
    repository.save()


def prune(*args: str) -> str:
    out = StringIO()
    call_command("prune", *args, stdout=out)
    return out.getvalue()


def surviving() -> set[int]:
    return set(Run.objects.values_list("pk", flat=True))


def test_it_deletes_old_successful_runs_with_their_events(repository):
    old = make_run(repository, RunState.SUCCESS, 40)
    recent = make_run(repository, RunState.SUCCESS, 20)
    current = make_run(repository, RunState.SUCCESS, 1)
    point_at(repository, current)

    output = prune()

    assert surviving() == {recent.pk, current.pk}
    assert not Event.objects.filter(run=None).exists()
    assert Event.objects.count() == 4
    assert old.pk not in surviving()
    lines = output.splitlines()
    assert lines[0] == "pruned:"
    assert lines[1].startswith("  successful runs started before ")
    assert lines[1].endswith(": 1")
    assert lines[3] == "  events of those runs: 2"


def test_it_keeps_failures_longer_than_successes(repository):
    failed = make_run(repository, RunState.FAILED, 40)
    errored = make_run(repository, RunState.ERROR, 100)
    incomplete = make_run(repository, RunState.INCOMPLETE, 100)
    canceled = make_run(repository, RunState.CANCELED, 40)
    ancient_failure = make_run(repository, RunState.FAILED, 200)
    ancient_incomplete = make_run(repository, RunState.INCOMPLETE, 200)
    point_at(repository, make_run(repository, RunState.SUCCESS, 0))

    prune()

    kept = surviving()
    assert {failed.pk, errored.pk, incomplete.pk} <= kept
    assert not {canceled.pk, ancient_failure.pk, ancient_incomplete.pk} & kept


def test_it_never_deletes_an_open_run(repository):
    running = make_run(repository, RunState.RUNNING, 400)

    prune()

    assert surviving() == {running.pk}


def test_it_never_deletes_the_runs_a_repository_shows(repository):
    sync = make_run(repository, RunState.FAILED, 400)
    publish = make_run(repository, RunState.SUCCESS, 400, kind=RunKind.PUBLISH)
    older = make_run(repository, RunState.FAILED, 500)
    point_at(repository, sync)
    repository.latest_publish = publish
    repository.save()

    prune()

    assert surviving() == {sync.pk, publish.pk}
    repository.refresh_from_db()
    assert repository.latest_sync == sync
    assert repository.latest_finished_sync == sync
    assert repository.latest_publish == publish
    assert older.pk not in surviving()


def test_it_empties_old_bodies_but_keeps_the_events(repository):
    run = make_run(repository, RunState.SUCCESS, 20)
    fresh = make_run(repository, RunState.SUCCESS, 3)
    point_at(repository, fresh)

    output = prune()

    assert surviving() == {run.pk, fresh.pk}
    assert list(run.events.values_list("body", flat=True)) == ["", ""]
    assert all(body.startswith("{") for body in fresh.events.values_list("body", flat=True))
    assert run.events.get(pk=run.events.first().pk).body_sha256 == "0" * 64
    assert output.splitlines()[-1].endswith("emptied: 2")


def test_it_changes_nothing_in_a_dry_run(repository):
    make_run(repository, RunState.SUCCESS, 40)
    make_run(repository, RunState.FAILED, 200, events=3)
    make_run(repository, RunState.SUCCESS, 20)
    point_at(repository, make_run(repository, RunState.SUCCESS, 1))
    bodies = list(Event.objects.order_by("pk").values_list("body", flat=True))

    output = prune("--dry-run")

    lines = output.splitlines()
    assert lines[0] == "dry run, nothing deleted; would prune:"
    assert lines[1].endswith(": 1")
    assert lines[2].endswith(": 1")
    assert lines[3] == "  events of those runs: 5"
    assert lines[4].endswith("emptied: 2")
    assert Run.objects.count() == 4
    assert list(Event.objects.order_by("pk").values_list("body", flat=True)) == bodies


def test_it_reports_what_a_dry_run_announced(repository):
    make_run(repository, RunState.SUCCESS, 40)
    make_run(repository, RunState.FAILED, 200, events=3)
    make_run(repository, RunState.SUCCESS, 20)
    point_at(repository, make_run(repository, RunState.SUCCESS, 1))

    announced = prune("--dry-run").splitlines()[1:]
    done = prune().splitlines()[1:]

    assert announced == done


def test_it_takes_the_ages_from_the_settings(repository, settings):
    settings.PRUNE_SUCCESS_DAYS = 5
    settings.PRUNE_FAILURE_DAYS = 10
    success = make_run(repository, RunState.SUCCESS, 6)
    failure = make_run(repository, RunState.FAILED, 8)
    point_at(repository, make_run(repository, RunState.SUCCESS, 0))

    prune()

    assert success.pk not in surviving()
    assert failure.pk in surviving()


def test_it_lets_flags_override_the_settings_and_zero_keep_forever(repository):
    success = make_run(repository, RunState.SUCCESS, 400)
    failure = make_run(repository, RunState.FAILED, 8)
    point_at(repository, make_run(repository, RunState.SUCCESS, 0))

    prune("--success-days", "0", "--failure-days", "7", "--body-days", "0")

    assert success.pk in surviving()
    assert failure.pk not in surviving()
    assert Event.objects.get(run=success, pk=success.events.first().pk).body != ""


def test_it_rejects_a_negative_age(db):
    with pytest.raises(CommandError, match="expected a whole number of days, not '-1'"):
        prune("--success-days", "-1")


def test_it_deletes_in_batches_until_done(repository):
    for day in range(40, 47):
        make_run(repository, RunState.SUCCESS, day, events=1)
    current = make_run(repository, RunState.SUCCESS, 0, events=1)
    point_at(repository, current)

    output = prune("--batch-size", "2")

    assert surviving() == {current.pk}
    assert list(Event.objects.values_list("run", flat=True)) == [current.pk]
    assert output.splitlines()[1].endswith(": 7")


def test_it_leaves_ingest_working_on_a_pruned_repository(repository, post):
    make_run(repository, RunState.SUCCESS, 40)
    point_at(repository, make_run(repository, RunState.SUCCESS, 35))
    prune()

    post(load_event("sync-started"), status=200)
    post(load_event("sync-finished-success"), status=200)

    repository.refresh_from_db()
    assert repository.sync_state == RunState.SUCCESS
    assert Run.objects.count() == 2


def test_it_spares_a_run_that_became_current_while_its_batch_was_chosen(repository, monkeypatch):
    old = [make_run(repository, RunState.SUCCESS, day, events=1) for day in (40, 41)]
    point_at(repository, make_run(repository, RunState.SUCCESS, 0))
    choose = retention._batches

    def choose_then_ingest(queryset, size):
        for batch in choose(queryset, size):
            if queryset.model is Run:
                # An event folded in between makes the first old run its repository's latest.
                point_at(repository, Run.objects.get(pk=batch[0]))
            yield batch

    monkeypatch.setattr(retention, "_batches", choose_then_ingest)

    prune()

    repository.refresh_from_db()
    assert repository.latest_sync_id in surviving()
    assert len(surviving() & {run.pk for run in old}) == 1
