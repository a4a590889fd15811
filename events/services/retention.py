"""Retention: delete old runs (failures kept longer) and empty old raw bodies, in small batches."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q, QuerySet

from events.models import FAILURE_STATES, Event, Repository, Run, RunState

# Runs the overview points at stay, however old: deleting one would blank its repository's row.
POINTERS = ("latest_sync", "latest_finished_sync", "latest_publish")
# Kept as long as failures: a lost finish is as worth investigating as a failed one.
KEPT_LONGER = (*FAILURE_STATES, RunState.INCOMPLETE)


@dataclass(frozen=True)
class Policy:
    """Ages in days; None keeps that kind of data forever."""

    success_days: int | None
    failure_days: int | None
    body_days: int | None
    batch_size: int = 500


@dataclass
class Report:
    success_runs: int = 0
    failure_runs: int = 0
    events: int = 0
    bodies: int = 0
    cutoffs: dict[str, datetime] = field(default_factory=dict)


def _pointed_at() -> Q:
    pointed = Q()
    for name in POINTERS:
        targets = Repository.objects.filter(**{f"{name}__isnull": False}).values(name)
        pointed |= Q(pk__in=targets)
    return pointed


def _expired_runs(states: tuple[str, ...] | None, cutoff: datetime) -> QuerySet[Run]:
    # Open runs never expire here: "stalled" is for them, and their finish may still come.
    runs = Run.objects.filter(started__lt=cutoff).exclude(state=RunState.RUNNING)
    runs = runs.filter(state__in=states) if states else runs.exclude(state__in=KEPT_LONGER)
    return runs.exclude(_pointed_at())


def _batches(queryset: QuerySet, size: int) -> Iterator[list[int]]:
    # Walk by primary key so each batch is one short query, and rows that arrive meanwhile are
    # never revisited.
    last = 0
    while batch := list(
        queryset.filter(pk__gt=last).order_by("pk").values_list("pk", flat=True)[:size]
    ):
        yield batch
        last = batch[-1]


def _delete_runs(runs: QuerySet[Run], size: int) -> tuple[int, int]:
    deleted_runs = deleted_events = 0
    for batch in _batches(runs, size):
        # One short transaction per batch, so ingests wait at most one batch for the write
        # lock. The pointer check is repeated inside it: an event folded since the batch was
        # chosen may have made one of these runs current.
        with transaction.atomic():
            doomed = list(
                Run.objects.filter(pk__in=batch).exclude(_pointed_at()).values_list("pk", flat=True)
            )
            deleted_events += Event.objects.filter(run__in=doomed).delete()[0]
            deleted_runs += Run.objects.filter(pk__in=doomed).delete()[0]
    return deleted_runs, deleted_events


def _empty_bodies(events: QuerySet[Event], size: int) -> int:
    emptied = 0
    for batch in _batches(events, size):
        emptied += Event.objects.filter(pk__in=batch).exclude(body="").update(body="")
    return emptied


def _cutoff(now: datetime, days: int | None) -> datetime | None:
    return None if days is None else now - timedelta(days=days)


def prune(policy: Policy, *, now: datetime, dry_run: bool = False) -> Report:
    """Delete expired runs with their events and empty expired bodies; dry_run only counts."""
    report = Report()
    plans = [
        ("success_runs", _cutoff(now, policy.success_days), None),
        ("failure_runs", _cutoff(now, policy.failure_days), KEPT_LONGER),
    ]
    expired = Run.objects.none()
    for name, cutoff, states in plans:
        if cutoff is None:
            continue
        report.cutoffs[name] = cutoff
        runs = _expired_runs(states, cutoff)
        expired = expired | runs
        if dry_run:
            setattr(report, name, runs.count())
            report.events += Event.objects.filter(run__in=runs).count()
            continue
        deleted_runs, deleted_events = _delete_runs(runs, policy.batch_size)
        setattr(report, name, deleted_runs)
        report.events += deleted_events
    body_cutoff = _cutoff(now, policy.body_days)
    if body_cutoff is None:
        return report
    report.cutoffs["bodies"] = body_cutoff
    old = Event.objects.filter(received__lt=body_cutoff)
    if dry_run:
        # Bodies of events that go with their runs are not counted twice.
        report.bodies = old.exclude(body="").exclude(run__in=expired).count()
    else:
        report.bodies = _empty_bodies(old, policy.batch_size)
    return report
