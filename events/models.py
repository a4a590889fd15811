from __future__ import annotations

import hashlib
import json
import math
import secrets
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from django.conf import settings
from django.db import models
from django.utils import timezone

from events.failures import Frame, parse_frames

TOKEN_BYTES = 32
# How many of a repository's latest runs its stall threshold is learned from.
STALL_HISTORY = 20


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class SyncHost(models.Model):
    """A server allowed to post events, identified by a token stored only as a hash."""

    name = models.CharField(max_length=100, unique=True)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    is_active = models.BooleanField(default=True)
    created = models.DateTimeField(default=timezone.now, editable=False)
    last_seen = models.DateTimeField(null=True, blank=True, editable=False)
    event_count = models.PositiveBigIntegerField(default=0, editable=False)
    last_error = models.TextField(blank=True, editable=False)
    last_error_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @classmethod
    def create_with_token(cls, name: str) -> tuple[SyncHost, str]:
        host = cls(name=name)
        token = host.set_new_token()
        host.save()
        return host, token

    def set_new_token(self) -> str:
        """Replace the token; the plain value is returned once and never stored."""
        token = secrets.token_urlsafe(TOKEN_BYTES)
        # A leading "-" reads as an option on command lines (`simulate --token -x...`,
        # tools/post-event): draw again, as one token in 64 would start with it.
        while token.startswith("-"):
            token = secrets.token_urlsafe(TOKEN_BYTES)
        self.token_hash = hash_token(token)
        return token

    @classmethod
    def authenticate(cls, token: str) -> SyncHost | None:
        digest = hash_token(token)
        host = cls.objects.filter(token_hash=digest, is_active=True).first()
        # The lookup is by an index on the hash; comparing again in constant time keeps the
        # final decision free of timing differences.
        if host is None or not secrets.compare_digest(host.token_hash, digest):
            return None
        return host


class RunKind(models.TextChoices):
    SYNC = "sync"
    PUBLISH = "publish"


class RunState(models.TextChoices):
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    ERROR = "error"
    CANCELED = "canceled"
    SKIPPED = "skipped"
    INCOMPLETE = "incomplete"


FAILURE_STATES = (RunState.FAILED, RunState.ERROR)


class Repository(models.Model):
    repo_id = models.CharField(max_length=200, unique=True)
    first_seen = models.DateTimeField(default=timezone.now)
    last_seen = models.DateTimeField(default=timezone.now, db_index=True)
    latest_sync = models.ForeignKey(
        "Run", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    latest_finished_sync = models.ForeignKey(
        "Run", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    latest_publish = models.ForeignKey(
        "Run", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Copies of the latest runs' states, so the overview filters and counts on one table.
    sync_state = models.CharField(max_length=16, choices=RunState.choices, blank=True)
    finished_sync_state = models.CharField(max_length=16, choices=RunState.choices, blank=True)
    publish_state = models.CharField(max_length=16, choices=RunState.choices, blank=True)
    last_host = models.ForeignKey(
        SyncHost, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["repo_id"]
        verbose_name_plural = "repositories"
        indexes = [models.Index(fields=["sync_state", "repo_id"])]

    def __str__(self) -> str:
        return self.repo_id

    def is_failing(self) -> bool:
        """The last finished sync, or the latest publish, failed."""
        return self.finished_sync_state in FAILURE_STATES or self.publish_state in FAILURE_STATES

    def open_runs(self) -> list[Run]:
        latest = (self.latest_sync, self.latest_publish)
        return [run for run in latest if run is not None and run.is_running()]

    def is_stalled(self, now: datetime | None = None) -> bool:
        return any(run.is_stalled(now) for run in self.open_runs())

    def live_filters(self, now: datetime | None = None) -> list[str]:
        """The overview filters (besides "all") this repository matches right now."""
        matched = []
        if self.open_runs():
            matched.append("running")
        if self.is_stalled(now):
            matched.append("stalled")
        if self.is_failing():
            matched.append("failed")
        return matched

    def stall_threshold(self, kind: str) -> timedelta:
        """How long a new run of this kind may stay open before it counts as stalled.

        RUN_STALLED_AFTER until RUN_STALLED_MIN_HISTORY of the repository's latest runs
        succeeded, then RUN_STALLED_FACTOR times their 95th percentile duration, never below
        RUN_STALLED_FLOOR: a mirror that always takes four hours is not stalled at two, and one
        that takes a minute is long stalled at two hours.
        """
        # The latest runs whatever their state, so the query reads at most STALL_HISTORY rows
        # of the (repository, kind, -started) index even for a repository that always fails.
        recent = (
            self.runs.filter(kind=kind)
            .order_by("-started", "-id")
            .values_list("state", "started", "completed")[:STALL_HISTORY]
        )
        durations = sorted(
            (completed - started).total_seconds()
            for state, started, completed in recent
            if state == RunState.SUCCESS and completed is not None
        )
        if len(durations) < settings.RUN_STALLED_MIN_HISTORY:
            return timedelta(seconds=settings.RUN_STALLED_AFTER)
        p95 = durations[math.ceil(0.95 * len(durations)) - 1]
        seconds = max(settings.RUN_STALLED_FLOOR, settings.RUN_STALLED_FACTOR * p95)
        return timedelta(seconds=seconds)


class RunQuerySet(models.QuerySet):
    def stalled(self, now: datetime | None = None) -> RunQuerySet:
        """Open runs past their stall deadline: one lookup on the (state, stall_deadline) index."""
        return self.filter(state=RunState.RUNNING, stall_deadline__lte=now or timezone.now())


class Run(models.Model):
    """One sync or publish attempt, folded from its start and finish events."""

    repository = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="runs")
    kind = models.CharField(max_length=8, choices=RunKind.choices)
    state = models.CharField(max_length=16, choices=RunState.choices)
    host = models.ForeignKey(
        SyncHost, null=True, blank=True, on_delete=models.SET_NULL, related_name="runs"
    )
    task_id = models.CharField(max_length=64, blank=True)
    # NULL, not "", when absent: the unique constraint must ignore runs without a result id.
    result_id = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001
    plugin = models.CharField(max_length=100, blank=True, help_text="importer or distributor id")
    plugin_type = models.CharField(max_length=100, blank=True)
    started = models.DateTimeField()
    completed = models.DateTimeField(null=True, blank=True)
    added_count = models.IntegerField(null=True, blank=True)
    updated_count = models.IntegerField(null=True, blank=True)
    removed_count = models.IntegerField(null=True, blank=True)
    summary = models.JSONField(null=True, blank=True)
    details = models.JSONField(null=True, blank=True)
    error_message = models.TextField(blank=True)
    exception = models.TextField(blank=True)
    traceback = models.TextField(blank=True)
    error_report = models.JSONField(null=True, blank=True)
    item_error_count = models.IntegerField(default=0)
    fingerprint = models.CharField(max_length=40, blank=True)
    created = models.DateTimeField(default=timezone.now)
    updated = models.DateTimeField(default=timezone.now)
    # Fixed when the run starts, from its repository's history, so "stalled" is one indexed
    # comparison for the overview and a known moment for the page.
    stall_deadline = models.DateTimeField(null=True, blank=True)

    objects = RunQuerySet.as_manager()

    class Meta:
        ordering = ["-started", "-id"]
        indexes = [
            models.Index(fields=["state", "stall_deadline"]),
            models.Index(fields=["repository", "-started", "-id"]),
            models.Index(fields=["repository", "kind", "-started", "-id"]),
            models.Index(fields=["state", "-started"]),
            # Failures completed since a moment (the overview's 24-hour counter, the failures
            # page): a range on one index instead of every failure ever recorded.
            models.Index(fields=["state", "completed"]),
            models.Index(fields=["task_id"]),
            models.Index(fields=["fingerprint", "-completed"]),
            models.Index(fields=["-started", "-id"]),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "result_id"],
                condition=models.Q(result_id__isnull=False),
                name="unique_result_id_per_kind",
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} of {self.repository_id} #{self.pk}"

    def is_running(self) -> bool:
        return self.state == RunState.RUNNING

    def is_failure(self) -> bool:
        return self.state in FAILURE_STATES

    def duration(self) -> timedelta | None:
        if self.completed is None:
            return None
        return self.completed - self.started

    def stalled_deadline(self) -> datetime | None:
        """The moment this open run becomes stalled; None once it has finished."""
        if not self.is_running():
            return None
        return self.stall_deadline or self.started + timedelta(seconds=settings.RUN_STALLED_AFTER)

    def is_stalled(self, now: datetime | None = None) -> bool:
        deadline = self.stalled_deadline()
        return deadline is not None and (now or timezone.now()) >= deadline

    def explanation(self) -> str:
        """The one line that says why this run ended the way it did."""
        if self.error_message:
            return self.error_message
        report = self.error_report or {}
        return report.get("message", "")

    def display_state(self, now: datetime | None = None) -> str:
        """The state a page shows: "stalled" replaces "running" once the deadline has passed."""
        return "stalled" if self.is_stalled(now) else self.state

    def failed_steps(self) -> list[dict[str, str]]:
        return (self.error_report or {}).get("failed_steps", [])

    def item_error_table(self) -> tuple[list[str], list[list[str]]]:
        """The kept per-item error examples as table columns and rows of text."""
        items = (self.error_report or {}).get("item_errors", [])
        keys = (key for item in items if isinstance(item, dict) for key in item)
        columns = list(dict.fromkeys(keys)) or ["error"]
        rows = []
        for item in items:
            if isinstance(item, dict):
                rows.append([_cell_text(item.get(column)) for column in columns])
            else:
                rows.append([_cell_text(item)] + [""] * (len(columns) - 1))
        return columns, rows

    def frame_groups(self) -> list[FrameGroup]:
        """Traceback frames, runs of library frames grouped so a page can fold them.

        The innermost frame is never folded: it is where the error was raised.
        """
        frames = parse_frames(self.traceback)
        groups: list[FrameGroup] = []
        for index, frame in enumerate(frames):
            is_library = frame.is_library() and index < len(frames) - 1
            if groups and groups[-1].is_library == is_library:
                groups[-1].frames.append(frame)
            else:
                groups.append(FrameGroup(is_library, [frame]))
        return groups

    def previous_run(self) -> Run | None:
        """The run of the same repository that started just before this one."""
        earlier = models.Q(started__lt=self.started) | models.Q(
            started=self.started, id__lt=self.pk
        )
        siblings = Run.objects.filter(repository_id=self.repository_id)
        return siblings.filter(earlier).order_by("-started", "-id").first()

    def next_run(self) -> Run | None:
        """The run of the same repository that started just after this one."""
        later = models.Q(started__gt=self.started) | models.Q(started=self.started, id__gt=self.pk)
        siblings = Run.objects.filter(repository_id=self.repository_id)
        return siblings.filter(later).order_by("started", "id").first()


class FrameGroup(NamedTuple):
    is_library: bool
    frames: list[Frame]


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return str(value)


class EventOutcome(models.TextChoices):
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    IGNORED = "ignored"


class Event(models.Model):
    """Every accepted request body, kept as received (after redaction of credentials)."""

    event_type = models.CharField(max_length=32)
    host = models.ForeignKey(
        SyncHost,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="events",
    )
    received = models.DateTimeField(default=timezone.now)
    body = models.TextField()
    body_sha256 = models.CharField(max_length=64)
    repo_id = models.CharField(max_length=200)
    task_id = models.CharField(max_length=64, blank=True)
    run = models.ForeignKey(
        Run, null=True, blank=True, on_delete=models.SET_NULL, related_name="events"
    )
    outcome = models.CharField(max_length=16, choices=EventOutcome.choices)

    class Meta:
        ordering = ["-received", "-id"]
        indexes = [
            models.Index(fields=["-received", "-id"]),
            models.Index(fields=["run", "received"]),
            models.Index(fields=["body_sha256"]),
            models.Index(fields=["host", "-received"]),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.repo_id} ({self.outcome})"
