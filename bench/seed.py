"""Bulk-load a history into PostgreSQL with COPY: repositories, runs and their events.

Every repository gets the same number of runs but the first, the busiest, which gets more: a
sync or a publish every 12 hours (as a mirror synced and published daily). A share of the
finished runs fails, the failures of each state taking the few dozen causes in turn, and a share
of the repositories is still running, most of them long enough to be stalled. The denormalized columns the
pages read (a repository's latest runs and their states, a run's stall deadline) are computed
here exactly as ingestion would leave them. Columns this file does not know get their model
default, so a new nullable field or one with a default does not break the load.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import random
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.management.color import no_style
from django.db import connection, models, transaction

from events import failures
from events.models import Event, Repository, Run, SyncHost

HOSTS = 5
CAUSES = 40
# The repository with the longest history, and the cause of an outage: the rows whose pages the
# benchmark measures.
BUSIEST = 1
OUTAGE_CAUSE = 0
NOW = datetime.now(UTC).replace(microsecond=0)
START_BODY = (
    '{"call_report": {"task_id": "%(task)s", "state": "running", "start_time": "%(started)s", '
    '"tags": ["pulp:repository:%(repo)s", "pulp:action:%(kind)s"]}, '
    '"event_type": "repo.%(kind)s.start", "payload": {"repo_id": "%(repo)s"}}'
)
FINISH_BODY = (
    '{"call_report": {"task_id": "%(task)s", "state": "finished", "start_time": "%(started)s"}, '
    '"event_type": "repo.%(kind)s.finish", "payload": {"repo_id": "%(repo)s", '
    '"result": "%(state)s", "started": "%(started)s", "completed": "%(completed)s", '
    '"id": "%(result)s", "summary": %(summary)s}}'
)
SUMMARY = {"content": {"state": "FINISHED"}, "metadata": {"state": "FINISHED"}}
TRACEBACK = (
    "Traceback (most recent call last):\n"
    '  File "/usr/lib/python2.7/site-packages/pulp/server/controllers/repository.py", '
    "line 802, in sync\n    sync_report = sync_repo(transfer_repo, conduit, call_config)\n"
    '  File "/usr/lib/python2.7/site-packages/pulp_rpm/plugins/importers/yum/sync.py", '
    "line 247, in %s\n    raise PulpCodedException(error_codes.RPM1004, reason=str(e))\n"
    "PulpCodedException: %s\n"
)


@dataclass(frozen=True)
class Size:
    """How much history, and its shape.

    The defaults are a fleet's: one finished run in ten fails, one repository in twenty is
    still running. A small history raises the shares, so that the pages showing failures and
    open runs are as full on it as on a large one.
    """

    repositories: int
    runs_per_repository: int
    # Runs of repository BUSIEST.
    busiest_runs: int
    # Repositories whose newest run is still open, spread evenly over the primary keys.
    running_share: float = 0.05
    # Finished runs that fail, half of the syncs among them with an error and a traceback.
    failure_share: float = 0.1
    # Failed runs (not errors) caused by OUTAGE_CAUSE, on top of its turn among the causes.
    outage_share: float = 0.0
    events_per_run: int = 2


def repo_id(pk: int) -> str:
    return f"mirror-{pk:05d}-el{7 + pk % 3}-{('baseos', 'appstream', 'epel')[pk % 3]}"


def _spread(index: int, share: float) -> bool:
    """Whether item `index` is among a share of all items, taken evenly: every 20th for 0.05."""
    return int((index + 1) * share) > int(index * share)


def _columns(model: type[models.Model]) -> list[models.Field]:
    return [field for field in model._meta.concrete_fields]


def _defaults(model: type[models.Model]) -> dict[str, Any]:
    """What COPY writes for a column this seeder does not set: the model's own default."""
    values = {}
    for field in _columns(model):
        value = field.get_default() if field.has_default() else None
        if value is None and not field.null:
            value = "" if isinstance(field, models.CharField | models.TextField) else value
        if isinstance(field, models.JSONField) and value is not None:
            value = json.dumps(value)
        values[field.attname] = value
    return values


def _copy(model: type[models.Model], rows: Iterator[dict[str, Any]]) -> int:
    """COPY rows (dicts by column name) into the model's table; returns the count."""
    defaults = _defaults(model)
    names = [field.attname for field in _columns(model)]
    columns = ", ".join(connection.ops.quote_name(field.column) for field in _columns(model))
    count = 0
    with connection.cursor() as cursor:
        copy_sql = f"COPY {model._meta.db_table} ({columns}) FROM STDIN"
        with cursor.cursor.copy(copy_sql) as copy:
            for row in rows:
                values = defaults | row
                copy.write_row([values[name] for name in names])
                count += 1
    return count


def _reset_sequence(model: type[models.Model]) -> None:
    with connection.cursor() as cursor:
        for statement in connection.ops.sequence_reset_sql(no_style(), [model]):
            cursor.execute(statement)


@dataclass
class PlannedRun:
    pk: int
    repository: int
    repo_id: str
    kind: str
    state: str
    started: datetime
    completed: datetime | None
    host: int
    cause: int = 0


def _state(size: Size, roll: float) -> str:
    if roll < 1 - size.failure_share:
        return "success"
    return "failed" if roll < 1 - size.failure_share / 2 else "error"


def _plan_repository(
    pk: int, *, size: Size, count: int, next_run: int, host: int, rng: random.Random
) -> list[PlannedRun]:
    runs = []
    # The newest run is recent for every repository; older ones go back 12 hours each.
    origin = NOW - timedelta(hours=12 * count) + timedelta(minutes=rng.randint(0, 600))
    still_running = _spread(pk - 1, size.running_share)
    for index in range(count):
        kind = "publish" if index % 5 in (1, 3) else "sync"
        started = origin + timedelta(hours=12 * index, minutes=rng.randint(0, 60))
        state = _state(size, rng.random())
        if kind == "publish" and state == "error":
            state = "failed"
        completed = started + timedelta(seconds=rng.randint(60, 3600))
        if still_running and index == count - 1:
            state, completed = "running", None
        runs.append(
            PlannedRun(
                next_run + index, pk, repo_id(pk), kind, state, started, completed, host=host
            )
        )
    return runs


def _assign_causes(runs: Iterable[PlannedRun], outage_share: float) -> None:
    """Give every failure a cause: an outage's share of the failed runs, the rest in turn.

    In turn per state, newest first, so that a history with few failures still shows every
    cause in the failures page's window (40 causes, two fingerprints each: the failed runs'
    message and the errors' traceback). The outage gives one failure group more runs.
    """
    turns = {"failed": itertools.count(), "error": itertools.count()}
    outage = itertools.count()
    failed = [run for run in runs if run.state in turns]
    for run in sorted(failed, key=lambda run: run.started, reverse=True):
        if run.state == "failed" and _spread(next(outage), outage_share):
            run.cause = OUTAGE_CAUSE
        else:
            run.cause = next(turns[run.state]) % CAUSES


def _run_row(run: PlannedRun) -> dict[str, Any]:
    failed = run.state in ("failed", "error")
    row = {
        "id": run.pk,
        "repository_id": run.repository,
        "kind": run.kind,
        "state": run.state,
        "host_id": run.host,
        "task_id": f"{run.pk:032x}",
        "result_id": None if run.completed is None else f"{run.pk:024x}",
        "plugin": "yum_importer" if run.kind == "sync" else "yum_distributor",
        "plugin_type": "yum_importer" if run.kind == "sync" else "yum_distributor",
        "started": run.started,
        "completed": run.completed,
        "summary": None if run.completed is None else json.dumps(SUMMARY),
        "created": run.started,
        "updated": run.completed or run.started,
        "item_error_count": 0,
    }
    if run.kind == "sync" and run.completed is not None:
        row |= {"added_count": run.pk % 50, "updated_count": run.pk % 7, "removed_count": 0}
    if run.state == "running":
        row["stall_deadline"] = run.started + timedelta(seconds=settings.RUN_STALLED_AFTER)
    if failed:
        row |= _failure(run.state, run.cause)
    return row


@functools.cache
def _failure(state: str, cause: int) -> dict[str, Any]:
    # Letters, not digits: fingerprints fold digits away, and each cause must stay distinct.
    name = "".join(chr(ord("a") + int(digit)) for digit in f"{cause:02d}")
    message = f"Error retrieving metadata from mirror-{name}.example.org"
    exception = "PulpCodedException()" if state == "error" else ""
    traceback = TRACEBACK % (f"fetch_{name}", message) if state == "error" else ""
    return {
        "error_message": message,
        "exception": exception,
        "traceback": traceback,
        "error_report": json.dumps({"message": message, "failed_steps": []}),
        "fingerprint": failures.fingerprint(
            exception=exception, traceback=traceback, message=message
        ),
    }


def outage_fingerprint() -> str:
    """The fingerprint of the failed runs of OUTAGE_CAUSE, the failure group an outage fills."""
    return _failure("failed", OUTAGE_CAUSE)["fingerprint"]


def _event_rows(run: PlannedRun, size: Size, next_event: Callable[[], int]) -> Iterator[dict]:
    values = {
        "task": f"{run.pk:032x}",
        "started": f"{run.started:%Y-%m-%dT%H:%M:%SZ}",
        "repo": run.repo_id,
        "kind": run.kind,
        "state": run.state,
        "completed": f"{run.completed or run.started:%Y-%m-%dT%H:%M:%SZ}",
        "result": f"{run.pk:024x}",
        "summary": json.dumps(SUMMARY),
    }
    bodies = [(START_BODY, run.started)]
    if run.completed is not None:
        bodies.append((FINISH_BODY, run.completed))
    for template, received in bodies[: size.events_per_run]:
        body = template % values
        yield {
            "id": next_event(),
            "event_type": f"repo.{run.kind}.{'start' if template is START_BODY else 'finish'}",
            "host_id": run.host,
            "received": received,
            "body": body,
            "body_sha256": hashlib.sha256(body.encode()).hexdigest(),
            "repo_id": run.repo_id,
            "task_id": f"{run.pk:032x}",
            "run_id": run.pk,
            "outcome": "applied",
        }


def _repository_row(pk: int, runs: list[PlannedRun]) -> dict[str, Any]:
    syncs = [run for run in runs if run.kind == "sync"]
    publishes = [run for run in runs if run.kind == "publish"]
    finished_syncs = [run for run in syncs if run.state != "running"]
    latest_sync = syncs[-1] if syncs else None
    latest_publish = publishes[-1] if publishes else None
    return {
        "id": pk,
        "repo_id": repo_id(pk),
        "first_seen": runs[0].started,
        "last_seen": runs[-1].completed or runs[-1].started,
        "latest_sync_id": latest_sync.pk if latest_sync else None,
        "latest_finished_sync_id": finished_syncs[-1].pk if finished_syncs else None,
        "latest_publish_id": latest_publish.pk if latest_publish else None,
        "sync_state": latest_sync.state if latest_sync else "",
        "finished_sync_state": finished_syncs[-1].state if finished_syncs else "",
        "publish_state": latest_publish.state if latest_publish else "",
        "last_host_id": runs[-1].host,
    }


def seed(size: Size, *, seed_value: int = 5) -> dict[str, int]:
    """Load the whole history in one transaction; returns the row counts."""
    rng = random.Random(seed_value)
    event_ids = iter(range(1, 10**9))
    with transaction.atomic(), connection.cursor() as cursor:
        # Foreign keys are deferred to COMMIT, where checking millions of rows one by one
        # takes longer than the load: the rows are consistent by construction, so the
        # checks are switched off for this transaction (the connection is a superuser's).
        cursor.execute("SET LOCAL session_replication_role = replica")
        hosts = SyncHost.objects.bulk_create(
            SyncHost(name=f"bench-sync-{index}", token_hash=f"{index:064x}")
            for index in range(HOSTS)
        )
        plans: list[tuple[int, list[PlannedRun]]] = []
        next_run = 1
        for pk in range(1, size.repositories + 1):
            count = size.busiest_runs if pk == BUSIEST else size.runs_per_repository
            host = hosts[pk % HOSTS].pk
            runs = _plan_repository(
                pk, size=size, count=count, next_run=next_run, host=host, rng=rng
            )
            next_run += len(runs)
            plans.append((pk, runs))
        _assign_causes((run for _, runs in plans for run in runs), size.outage_share)
        counts = {
            "repositories": _copy(Repository, (_repository_row(*plan) for plan in plans)),
            "runs": _copy(Run, (_run_row(run) for _, runs in plans for run in runs)),
            "events": _copy(
                Event,
                (
                    row
                    for _, runs in plans
                    for run in runs
                    for row in _event_rows(run, size, lambda: next(event_ids))
                ),
            ),
        }
        for model in (Repository, Run, Event):
            _reset_sequence(model)
    with connection.cursor() as cursor:
        # As autovacuum would leave a long-lived database: statistics, and a visibility map
        # that lets index-only scans skip the table.
        cursor.execute("VACUUM ANALYZE")
    return counts
