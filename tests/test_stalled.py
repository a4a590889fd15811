from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from events.models import Repository, Run, RunKind, RunState
from tests.helpers import load_event

STARTED = datetime(2023, 12, 7, 1, 0, 2, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _thresholds(settings):
    settings.RUN_STALLED_AFTER = 7200
    settings.RUN_STALLED_MIN_HISTORY = 5
    settings.RUN_STALLED_FACTOR = 3
    settings.RUN_STALLED_FLOOR = 600


def add_history(
    repository: Repository,
    seconds: list[int],
    *,
    kind: str = RunKind.SYNC,
    state: str = RunState.SUCCESS,
    days_ago: int = 10,
) -> None:
    for offset, duration in enumerate(seconds):
        started = STARTED - timedelta(days=days_ago, hours=offset)
        Run.objects.create(
            repository=repository,
            kind=kind,
            state=state,
            started=started,
            completed=started + timedelta(seconds=duration),
        )


def start_sync(post) -> Run:
    post(load_event("sync-started"), status=200)
    return Run.objects.get(state=RunState.RUNNING)


def test_it_gives_a_repository_without_history_the_configured_threshold(post):
    run = start_sync(post)

    assert run.started == STARTED
    assert run.stall_deadline == STARTED + timedelta(seconds=7200)
    assert run.stalled_deadline() == run.stall_deadline


def test_it_keeps_the_configured_threshold_below_the_minimum_history(post):
    repository = Repository.objects.create(repo_id="centos-9-baseos")
    add_history(repository, [60, 60, 60, 60])

    run = start_sync(post)

    assert run.stall_deadline == STARTED + timedelta(seconds=7200)


def test_it_learns_the_threshold_from_the_repositorys_p95(post):
    repository = Repository.objects.create(repo_id="centos-9-baseos")
    add_history(repository, [300, 400, 500, 600, 700, 800, 900, 1000, 1100, 1200])

    run = start_sync(post)

    assert run.stall_deadline == STARTED + timedelta(seconds=3 * 1200)


def test_it_takes_the_95th_percentile_not_the_maximum(post):
    repository = Repository.objects.create(repo_id="centos-9-baseos")
    add_history(repository, [1000] * 19 + [50_000])

    run = start_sync(post)

    assert run.stall_deadline == STARTED + timedelta(seconds=3 * 1000)


def test_it_lets_a_slow_repository_run_longer_than_the_configured_threshold(post):
    repository = Repository.objects.create(repo_id="centos-9-baseos")
    add_history(repository, [4 * 3600] * 5)

    run = start_sync(post)

    assert run.stall_deadline == STARTED + timedelta(hours=12)


def test_it_never_goes_below_the_floor(post):
    repository = Repository.objects.create(repo_id="centos-9-baseos")
    add_history(repository, [20] * 5)

    run = start_sync(post)

    assert run.stall_deadline == STARTED + timedelta(seconds=600)


def test_it_learns_only_from_successful_runs_of_the_same_kind(post):
    repository = Repository.objects.create(repo_id="centos-9-baseos")
    add_history(repository, [60] * 5, state=RunState.FAILED)
    add_history(repository, [60] * 5, kind=RunKind.PUBLISH)

    run = start_sync(post)

    assert run.stall_deadline == STARTED + timedelta(seconds=7200)


def test_it_learns_only_from_the_latest_twenty_runs(post):
    repository = Repository.objects.create(repo_id="centos-9-baseos")
    add_history(repository, [100_000] * 30, days_ago=100)
    add_history(repository, [1000] * 20, days_ago=10)

    run = start_sync(post)

    assert run.stall_deadline == STARTED + timedelta(seconds=3000)


def test_it_looks_no_further_back_than_the_latest_twenty_runs_for_successes(post):
    repository = Repository.objects.create(repo_id="centos-9-baseos")
    add_history(repository, [60] * 5, days_ago=100)
    add_history(repository, [60] * 20, state=RunState.FAILED, days_ago=10)

    run = start_sync(post)

    assert run.stall_deadline == STARTED + timedelta(seconds=7200)


def test_it_learns_publish_thresholds_from_publishes(post):
    repository = Repository.objects.create(repo_id="centos-9-baseos")
    add_history(repository, [400] * 5, kind=RunKind.PUBLISH)

    post(load_event("publish-started"), status=200)

    run = Run.objects.get(state=RunState.RUNNING)
    assert run.stall_deadline == run.started + timedelta(seconds=1200)


def test_it_flips_to_stalled_exactly_at_the_deadline(post):
    run = start_sync(post)
    deadline = STARTED + timedelta(seconds=7200)

    assert not run.is_stalled(now=deadline - timedelta(microseconds=1))
    assert run.is_stalled(now=deadline)
    assert list(Run.objects.stalled(now=deadline - timedelta(seconds=1))) == []
    assert list(Run.objects.stalled(now=deadline)) == [run]


def test_it_uses_the_current_time_when_no_moment_is_given(post, monkeypatch):
    run = start_sync(post)
    deadline = STARTED + timedelta(seconds=7200)

    monkeypatch.setattr("django.utils.timezone.now", lambda: deadline - timedelta(seconds=1))
    assert not run.is_stalled()
    assert Run.objects.stalled().count() == 0

    monkeypatch.setattr("django.utils.timezone.now", lambda: deadline)
    assert run.is_stalled()
    assert Run.objects.stalled().count() == 1


def test_it_never_counts_a_finished_run_as_stalled(post):
    start_sync(post)
    post(load_event("sync-finished-success"), status=200)

    run = Run.objects.get()
    far_future = STARTED + timedelta(days=365)
    assert run.state == RunState.SUCCESS
    assert run.stalled_deadline() is None
    assert not run.is_stalled(now=far_future)
    assert Run.objects.stalled(now=far_future).count() == 0


def test_it_falls_back_to_the_configured_threshold_for_runs_without_a_deadline(db):
    repository = Repository.objects.create(repo_id="old")
    run = Run.objects.create(
        repository=repository, kind=RunKind.SYNC, state=RunState.RUNNING, started=STARTED
    )

    assert run.stalled_deadline() == STARTED + timedelta(seconds=7200)


@pytest.mark.django_db(transaction=True)
def test_it_gives_runs_open_before_the_upgrade_the_configured_deadline():
    executor = MigrationExecutor(connection)
    executor.migrate([("events", "0001_initial")])
    old_apps = executor.loader.project_state([("events", "0001_initial")]).apps
    repository = old_apps.get_model("events", "Repository").objects.create(repo_id="old")
    runs = old_apps.get_model("events", "Run").objects
    running = runs.create(repository=repository, kind="sync", state="running", started=STARTED)
    finished = runs.create(repository=repository, kind="sync", state="success", started=STARTED)

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes("events"))

    assert Run.objects.get(pk=running.pk).stall_deadline == STARTED + timedelta(seconds=7200)
    assert Run.objects.get(pk=finished.pk).stall_deadline is None


@pytest.mark.django_db(transaction=True)
def test_it_copies_the_last_finished_syncs_state_onto_repositories_at_the_upgrade():
    executor = MigrationExecutor(connection)
    executor.migrate([("events", "0003_run_failures_by_completion")])
    old_apps = executor.loader.project_state([("events", "0003_run_failures_by_completion")]).apps
    repositories = old_apps.get_model("events", "Repository").objects
    runs = old_apps.get_model("events", "Run").objects
    failing = repositories.create(repo_id="failing")
    failed = runs.create(repository=failing, kind="sync", state="error", started=STARTED)
    failing.latest_finished_sync = failed
    failing.save()
    never_finished = repositories.create(repo_id="never-finished")

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes("events"))

    assert Repository.objects.get(pk=failing.pk).finished_sync_state == RunState.ERROR
    assert Repository.objects.get(pk=failing.pk).is_failing()
    assert Repository.objects.get(pk=never_finished.pk).finished_sync_state == ""
