"""Parse, validate and fold one event into runs: the only code that knows event types."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any, NamedTuple

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from pydantic import BaseModel, ValidationError

from events import failures
from events.models import (
    Event,
    EventOutcome,
    Repository,
    Run,
    RunKind,
    RunState,
    SyncHost,
)
from events.redaction import redact
from events.schemas import (
    CallReport,
    Envelope,
    InvalidEvent,
    PublishFinished,
    PublishStarted,
    SyncFinished,
    SyncStarted,
    decode_body,
    first_error,
    parse_timestamp_leniently,
)
from events.services import broadcast

OPEN_STATES = (RunState.RUNNING, RunState.INCOMPLETE)


@dataclass
class Incoming:
    payload: Any
    task_id: str
    start_time: datetime | None
    host: SyncHost | None
    received: datetime
    body_sha256: str


@dataclass
class Folded:
    run: Run
    outcome: str
    closed: list[Run] = field(default_factory=list)


@dataclass(frozen=True)
class Ingested:
    event: Event
    run: Run
    outcome: str


def _find_by_task(repository: Repository, kind: str, task_id: str) -> Run | None:
    if not task_id:
        return None
    return repository.runs.filter(kind=kind, task_id=task_id).order_by("-id").first()


def _runs_of(repository: Repository, kind: str, plugin: str) -> Any:
    # Publishes of one repository by different distributors run side by side.
    runs = repository.runs.filter(kind=kind)
    return runs.filter(plugin=plugin) if kind == RunKind.PUBLISH else runs


def _open_runs(repository: Repository, kind: str, plugin: str) -> Any:
    return _runs_of(repository, kind, plugin).filter(state=RunState.RUNNING)


def _repeated_start(
    repository: Repository, kind: str, plugin: str, incoming: Incoming
) -> Run | None:
    # Without a task id, a retried POST is recognised by its identical body while its run is
    # still open, or by a run that started at the very moment the start reports.
    event = (
        Event.objects.filter(
            body_sha256=incoming.body_sha256,
            run__repository=repository,
            run__state=RunState.RUNNING,
        )
        .select_related("run")
        .first()
    )
    if event is not None:
        return event.run
    if incoming.start_time is None:
        return None
    return _runs_of(repository, kind, plugin).filter(started=incoming.start_time).first()


def _record_started(
    repository: Repository, incoming: Incoming, *, kind: str, plugin: str = ""
) -> Folded:
    existing = _find_by_task(repository, kind, incoming.task_id)
    if existing is None and not incoming.task_id:
        existing = _repeated_start(repository, kind, plugin, incoming)
    if existing is not None:
        # A repeated start, or a start arriving after its own finish: never reopen.
        return Folded(existing, EventOutcome.DUPLICATE)
    started = incoming.start_time or incoming.received
    # A start that arrives after a later run of the same repository began: its own run ended
    # without a finish we saw (a host runs one task per repository at a time), so it opens as
    # incomplete and leaves the later run alone. Its finish may still arrive and apply. Only
    # the host's own start time is compared with the host's times: our clock is not theirs.
    superseded = (
        incoming.start_time is not None
        and _runs_of(repository, kind, plugin).filter(started__gt=started).exists()
    )
    closed = [] if superseded else list(_open_runs(repository, kind, plugin))
    for stale in closed:
        # Its finish was lost, for the same reason.
        stale.state = RunState.INCOMPLETE
        stale.updated = incoming.received
        stale.save(update_fields=["state", "updated"])
    run = Run.objects.create(
        repository=repository,
        kind=kind,
        state=RunState.INCOMPLETE if superseded else RunState.RUNNING,
        host=incoming.host,
        task_id=incoming.task_id,
        plugin=plugin,
        started=started,
        stall_deadline=started + repository.stall_threshold(kind),
        created=incoming.received,
        updated=incoming.received,
    )
    return Folded(run, EventOutcome.APPLIED, closed)


def record_sync_started(repository: Repository, incoming: Incoming) -> Folded:
    return _record_started(repository, incoming, kind=RunKind.SYNC)


def record_publish_started(repository: Repository, incoming: Incoming) -> Folded:
    return _record_started(
        repository,
        incoming,
        kind=RunKind.PUBLISH,
        plugin=incoming.payload.distributor_id,
    )


def _count(value: int | None) -> int | None:
    return None if value is None or value < 0 else value


def _apply_result(run: Run, payload: SyncFinished | PublishFinished) -> None:
    run.state = payload.result
    run.started = payload.started
    run.completed = payload.completed
    run.result_id = payload.id
    run.summary = payload.summary
    run.details = payload.details
    run.error_message = payload.error_message or ""
    run.exception = payload.exception or ""
    run.traceback = failures.normalize_traceback(payload.traceback)
    if isinstance(payload, SyncFinished):
        run.added_count = _count(payload.added_count)
        run.updated_count = _count(payload.updated_count)
        run.removed_count = _count(payload.removed_count)
    report = failures.build_error_report(payload.summary, payload.details)
    run.item_error_count = report["item_error_count"]
    has_findings = report["failed_steps"] or report["item_error_count"]
    run.error_report = report if has_findings or run.is_failure() else None
    run.fingerprint = ""
    if run.is_failure():
        run.fingerprint = failures.fingerprint(
            exception=run.exception, traceback=run.traceback, message=run.explanation()
        )


def _already_applied(kind: str, incoming: Incoming) -> Run | None:
    result_id = incoming.payload.id
    if result_id:
        return Run.objects.filter(kind=kind, result_id=result_id).first()
    event = (
        Event.objects.filter(body_sha256=incoming.body_sha256, outcome=EventOutcome.APPLIED)
        .select_related("run")
        .first()
    )
    return event.run if event else None


def _record_finished(
    repository: Repository,
    incoming: Incoming,
    *,
    kind: str,
    plugin: str,
    plugin_type: str,
) -> Folded:
    applied = _already_applied(kind, incoming)
    if applied is not None:
        return Folded(applied, EventOutcome.DUPLICATE)
    if incoming.task_id:
        run = _find_by_task(repository, kind, incoming.task_id)
    else:
        run = _open_runs(repository, kind, plugin).order_by("-started", "-id").first()
    if run is not None and run.state not in OPEN_STATES:
        # The task already finished with another result: keep the first, record this one.
        return Folded(run, EventOutcome.IGNORED)
    if run is None:
        run = Run(
            repository=repository,
            kind=kind,
            task_id=incoming.task_id,
            created=incoming.received,
        )
    run.host = incoming.host or run.host
    run.plugin = plugin
    run.plugin_type = plugin_type
    run.updated = incoming.received
    _apply_result(run, incoming.payload)
    run.save()
    return Folded(run, EventOutcome.APPLIED)


def record_sync_finished(repository: Repository, incoming: Incoming) -> Folded:
    payload = incoming.payload
    return _record_finished(
        repository,
        incoming,
        kind=RunKind.SYNC,
        plugin=payload.importer_id or "",
        plugin_type=payload.importer_type_id or "",
    )


def record_publish_finished(repository: Repository, incoming: Incoming) -> Folded:
    payload = incoming.payload
    return _record_finished(
        repository,
        incoming,
        kind=RunKind.PUBLISH,
        plugin=payload.distributor_id,
        plugin_type=payload.distributor_type_id or "",
    )


class Handler(NamedTuple):
    schema: type[BaseModel]
    record: Callable[[Repository, Incoming], Folded]


HANDLERS: dict[str, Handler] = {
    "repo.sync.start": Handler(SyncStarted, record_sync_started),
    "repo.sync.finish": Handler(SyncFinished, record_sync_finished),
    "repo.publish.start": Handler(PublishStarted, record_publish_started),
    "repo.publish.finish": Handler(PublishFinished, record_publish_finished),
}
# The "Type IDs" of Pulp's documentation: no real Pulp sends them, hosts copying the docs do.
ALIASES = {
    "repo-sync-started": "repo.sync.start",
    "repo-sync-finished": "repo.sync.finish",
    "repo-publish-started": "repo.publish.start",
    "repo-publish-finished": "repo.publish.finish",
}


def _validate(schema: type[BaseModel], data: Any, prefix: str) -> Any:
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        raise first_error(exc, prefix) from None


def _handler_for(event_type: str) -> tuple[str, Handler]:
    name = ALIASES.get(event_type, event_type)
    handler = HANDLERS.get(name)
    if handler is None:
        accepted = ", ".join([*HANDLERS, *ALIASES])
        raise InvalidEvent(
            f"unsupported event type: {event_type[:64]} (accepted: {accepted})",
            field="event_type",
        )
    return name, handler


POINTERS = ("latest_sync", "latest_finished_sync", "latest_publish")
# What moving a pointer reads of a run is its kind, state and place in the order; results and
# tracebacks (kilobytes each) stay in the database.
POINTED_RUNS_LEFT_OUT = ("summary", "details", "error_message", "exception", "traceback")


def _lock_repository(repo_id: str, now: datetime) -> Repository:
    # Every event of one repository takes this row lock first, so concurrent posts for it
    # (a retried finish, a start racing its finish) fold one after another. The latest runs
    # come with it: the pointers are then moved without reading the history again.
    locked = (
        Repository.objects.select_for_update(of=("self",))
        .select_related(*POINTERS)
        .defer(*(f"{name}__{field}" for name in POINTERS for field in POINTED_RUNS_LEFT_OUT))
    )
    repository = locked.filter(repo_id=repo_id).first()
    if repository is None:
        # Two first events of one repository race on the unique repo_id: the loser's
        # transaction fails and handle_event folds it again, finding the winner's row.
        repository = Repository.objects.create(repo_id=repo_id, first_seen=now, last_seen=now)
    return repository


def _order(run: Run) -> tuple[datetime, int]:
    # The history's order: the latest run is the one that started last.
    return (run.started, run.pk)


def _is_finished_sync(run: Run) -> bool:
    # An incomplete run lost its finish: it has no result, so it is not the latest finished.
    return run.kind == RunKind.SYNC and run.state not in OPEN_STATES


POINTER_RULES: dict[str, Callable[[Run], bool]] = {
    "latest_sync": lambda run: run.kind == RunKind.SYNC,
    "latest_finished_sync": _is_finished_sync,
    "latest_publish": lambda run: run.kind == RunKind.PUBLISH,
}


def _move_pointer(repository: Repository, name: str, changed: dict[int, Run]) -> bool:
    """Point at the latest run matching the pointer's rule; False when the history must tell.

    The runs an event did not change kept their order and state, so the latest of them is
    still the current pointer, unless the event changed that very run and moved it back in
    the order or out of the rule.
    """
    rule = POINTER_RULES[name]
    current = getattr(repository, name)
    if current is not None and current.pk in changed:
        updated = changed[current.pk]
        if not rule(updated) or _order(updated) < _order(current):
            return False
        current = updated
    candidates = [run for run in changed.values() if rule(run)]
    if current is not None:
        candidates.append(current)
    setattr(repository, name, max(candidates, key=_order, default=None))
    return True


def _query_pointer(repository: Repository, name: str) -> Run | None:
    kind = RunKind.PUBLISH if name == "latest_publish" else RunKind.SYNC
    runs = repository.runs.filter(kind=kind).order_by("-started", "-id")
    if name == "latest_finished_sync":
        runs = runs.exclude(state__in=OPEN_STATES)
    return runs.first()


def _refresh_pointers(repository: Repository, changed: list[Run]) -> None:
    """Move the latest-run pointers, and the copies of their states, past the changed runs."""
    by_pk = {run.pk: run for run in changed}
    for name in POINTERS:
        if not _move_pointer(repository, name, by_pk):
            setattr(repository, name, _query_pointer(repository, name))
    latest_sync, finished, latest_publish = (getattr(repository, name) for name in POINTERS)
    repository.sync_state = latest_sync.state if latest_sync else ""
    repository.finished_sync_state = finished.state if finished else ""
    repository.publish_state = latest_publish.state if latest_publish else ""


def _fold(text: str, event_type: str, handler: Handler, incoming: Incoming) -> Ingested:
    with transaction.atomic():
        repository = _lock_repository(incoming.payload.repo_id, incoming.received)
        folded = handler.record(repository, incoming)
        event = Event.objects.create(
            event_type=event_type,
            host=incoming.host,
            received=incoming.received,
            body=text,
            body_sha256=incoming.body_sha256,
            repo_id=repository.repo_id,
            task_id=incoming.task_id,
            run=folded.run,
            outcome=folded.outcome,
        )
        if folded.outcome == EventOutcome.APPLIED:
            _refresh_pointers(repository, [folded.run, *folded.closed])
        repository.last_seen = incoming.received
        repository.last_host = incoming.host or repository.last_host
        repository.save()
        changed = [folded.run.pk, *(run.pk for run in folded.closed)]
        transaction.on_commit(
            partial(
                broadcast.publish_changes_soon,
                repository_pk=repository.pk,
                run_pks=changed,
            )
        )
    return Ingested(event, folded.run, folded.outcome)


def handle_event(text: str, *, host: SyncHost | None) -> Ingested:
    """Validate one request body and fold it into its run; raises InvalidEvent on bad input."""
    text = redact(text)
    envelope = _validate(Envelope, decode_body(text), "")
    event_type, handler = _handler_for(envelope.event_type)
    payload = _validate(handler.schema, envelope.payload, "payload")
    call_report = _validate(CallReport, envelope.call_report or {}, "call_report")
    incoming = Incoming(
        payload=payload,
        task_id=call_report.task_id or "",
        start_time=parse_timestamp_leniently((envelope.call_report or {}).get("start_time")),
        host=host,
        received=timezone.now(),
        body_sha256=hashlib.sha256(text.encode()).hexdigest(),
    )
    try:
        ingested = _fold(text, event_type, handler, incoming)
    except IntegrityError:
        # Two first events of one repository, or one result id posted for two repositories,
        # raced on a unique index; the retry sees the winner's row.
        ingested = _fold(text, event_type, handler, incoming)
    if host is not None:
        SyncHost.objects.filter(pk=host.pk).update(
            last_seen=incoming.received, event_count=F("event_count") + 1
        )
    return ingested
