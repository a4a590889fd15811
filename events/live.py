"""What each live page shows, and the fragments a push sends: one set of partials for both."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from django.db.models import Case, Count, Max, Min, Prefetch, Q, QuerySet, Value, When
from django.template.loader import render_to_string
from django.utils import timezone

from events import charts
from events.models import FAILURE_STATES, Event, Repository, Run, RunKind, RunState

GROUP_PATTERN = r"overview|activity|repo-[1-9][0-9]{0,18}|run-[1-9][0-9]{0,18}"
OVERVIEW_GROUP = "overview"
# Pages that summarise many rows (failures, hosts, the event log) are only told that an event
# was stored, and re-fetch their region: rendering them per event would cost every ingest.
ACTIVITY_GROUP = "activity"
OVERVIEW_PAGE_SIZE = 50
HISTORY_PAGE_SIZE = 50
EVENTS_PAGE_SIZE = 100
FAILURE_GROUPS_SHOWN = 100
REPOSITORIES_NAMED = 8
NO_FINGERPRINT = "none"
STATE_FILTERS = {"all": "All", "running": "Running", "failed": "Failed", "stalled": "Stalled"}
# Each sort ends on repo_id so the order is total: page boundaries and the page's script agree.
SORTS = {
    "repo": ("repo_id",),
    "-repo": ("-repo_id",),
    "recent": ("-last_seen", "repo_id"),
    "-recent": ("last_seen", "repo_id"),
}
SORT_LABELS = {
    "repo": "Repository A-Z",
    "-repo": "Repository Z-A",
    "recent": "Latest activity first",
    "-recent": "Oldest activity first",
}
RUN_REGIONS = (
    "run_header",
    "run_explanation",
    "run_traceback",
    "run_data",
    "run_events",
    "run_nav",
)
FAILING = Q(finished_sync_state__in=FAILURE_STATES) | Q(publish_state__in=FAILURE_STATES)
RUNNING = Q(sync_state=RunState.RUNNING) | Q(publish_state=RunState.RUNNING)


def repository_group(pk: int) -> str:
    return f"repo-{pk}"


def run_group(pk: int) -> str:
    return f"run-{pk}"


def render_sequence(group: str, sequence: int) -> str:
    return render_to_string("events/partials/sequence.html", {"group": group, "sequence": sequence})


# Overview


@dataclass(frozen=True)
class OverviewQuery:
    state: str = "all"
    search: str = ""
    sort: str = "repo"
    failed_first: bool = False
    page: int = 1

    def querystring(self, **changes: Any) -> str:
        """This query as URL parameters, with changes; defaults are left out."""
        query = replace(self, **changes)
        params = {
            "state": query.state if query.state != "all" else "",
            "q": query.search,
            "sort": query.sort if query.sort != "repo" else "",
            "failed_first": "1" if query.failed_first else "",
            "page": str(query.page) if query.page > 1 else "",
        }
        return urlencode({key: value for key, value in params.items() if value})


@dataclass
class OverviewPage:
    query: OverviewQuery
    repositories: list[Repository]
    has_next: bool
    counters: dict[str, Any]

    @property
    def has_previous(self) -> bool:
        return self.query.page > 1

    def previous_querystring(self) -> str:
        return self.query.querystring(page=self.query.page - 1)

    def next_querystring(self) -> str:
        return self.query.querystring(page=self.query.page + 1)

    def state_links(self) -> list[dict[str, Any]]:
        counts = {
            "all": self.counters["repositories"],
            "running": self.counters["running"],
            "failed": self.counters["failing"],
            "stalled": self.counters["stalled"],
        }
        return [
            {
                "state": state,
                "label": label,
                "count": counts[state],
                "querystring": self.query.querystring(state=state, page=1),
                "active": state == self.query.state,
            }
            for state, label in STATE_FILTERS.items()
        ]

    @property
    def page_size(self) -> int:
        return OVERVIEW_PAGE_SIZE


def overview_repositories() -> QuerySet[Repository]:
    return Repository.objects.select_related(
        "latest_sync", "latest_finished_sync", "latest_publish", "last_host"
    )


def _stalled_repository_ids(now: datetime) -> QuerySet:
    return Run.objects.stalled(now).values("repository_id")


def overview_counters(now: datetime | None = None) -> dict[str, Any]:
    """The overview's counters: one aggregate over repositories, one over recent failures."""
    now = now or timezone.now()
    counters = Repository.objects.aggregate(
        repositories=Count("pk"),
        syncing=Count("pk", filter=Q(sync_state=RunState.RUNNING)),
        publishing=Count("pk", filter=Q(publish_state=RunState.RUNNING)),
        running=Count("pk", filter=RUNNING),
        failing=Count("pk", filter=FAILING),
        stalled=Count("pk", filter=Q(pk__in=_stalled_repository_ids(now))),
    )
    counters["failed_24h"] = Run.objects.filter(
        state__in=FAILURE_STATES, completed__gte=now - timedelta(hours=24)
    ).count()
    # The page re-syncs at this moment, so counters and filters learn of a stall that no
    # event announces.
    counters["next_stall"] = Run.objects.filter(
        state=RunState.RUNNING, stall_deadline__gt=now
    ).aggregate(moment=Min("stall_deadline"))["moment"]
    return counters


def _one_page(queryset: QuerySet, page: int, size: int) -> tuple[list, bool]:
    # One extra row says whether a next page exists, without a COUNT.
    offset = (page - 1) * size
    rows = list(queryset[offset : offset + size + 1])
    return rows[:size], len(rows) > size


def overview_page(query: OverviewQuery, now: datetime | None = None) -> OverviewPage:
    """One page of the overview: counters and the repositories matching the query."""
    now = now or timezone.now()
    repositories = overview_repositories()
    if query.state == "running":
        repositories = repositories.filter(RUNNING)
    elif query.state == "failed":
        repositories = repositories.filter(FAILING)
    elif query.state == "stalled":
        repositories = repositories.filter(pk__in=_stalled_repository_ids(now))
    if query.search:
        repositories = repositories.filter(repo_id__icontains=query.search)
    order = SORTS[query.sort]
    if query.failed_first:
        rank = Case(When(FAILING, then=Value(0)), default=Value(1))
        repositories = repositories.annotate(failing_rank=rank)
        order = ("failing_rank", *order)
    rows, has_next = _one_page(repositories.order_by(*order), query.page, OVERVIEW_PAGE_SIZE)
    return OverviewPage(query, rows, has_next, overview_counters(now))


def render_repository_row(repository: Repository) -> str:
    return render_to_string("events/partials/repository_row.html", {"repository": repository})


def render_overview_counters(counters: dict[str, Any]) -> str:
    return render_to_string("events/partials/overview_counters.html", {"counters": counters})


# Repository


@dataclass
class HistoryPage:
    repository: Repository
    runs: list[Run]
    kind: str
    page: int
    has_next: bool

    @property
    def has_previous(self) -> bool:
        return self.page > 1

    def querystring(self, **changes: Any) -> str:
        params = {"kind": self.kind, "page": self.page, **changes}
        return urlencode({key: value for key, value in params.items() if value and value != 1})

    @property
    def page_size(self) -> int:
        return HISTORY_PAGE_SIZE

    def previous_querystring(self) -> str:
        return self.querystring(page=self.page - 1)

    def next_querystring(self) -> str:
        return self.querystring(page=self.page + 1)

    def kind_links(self) -> list[dict[str, Any]]:
        kinds = {"": "All", RunKind.SYNC: "Syncs", RunKind.PUBLISH: "Publishes"}
        return [
            {
                "kind": kind or "all",
                "label": label,
                "querystring": self.querystring(kind=kind, page=1),
                "active": kind == self.kind,
            }
            for kind, label in kinds.items()
        ]


def repository_history(repository: Repository, *, kind: str, page: int) -> HistoryPage:
    runs = Run.objects.filter(repository=repository).select_related("host")
    if kind:
        runs = runs.filter(kind=kind)
    rows, has_next = _one_page(runs.order_by("-started", "-id"), page, HISTORY_PAGE_SIZE)
    return HistoryPage(repository, rows, kind, page, has_next)


def repository_charts(repository: Repository) -> charts.RepositoryCharts:
    recent = (
        Run.objects.filter(repository=repository, kind=RunKind.SYNC, completed__isnull=False)
        .order_by("-started", "-id")
        .only("pk", "state", "started", "completed", "added_count", "removed_count")
    )
    return charts.repository_charts(list(recent[: charts.CHART_RUNS])[::-1])


def render_repository_state(repository: Repository) -> str:
    return render_to_string("events/partials/repository_state.html", {"repository": repository})


def render_run_row(run: Run) -> str:
    return render_to_string("events/partials/run_row.html", {"run": run})


def render_repository_charts(repository: Repository, chart_set: charts.RepositoryCharts) -> str:
    return render_to_string(
        "events/partials/repository_charts.html",
        {"repository": repository, "charts": chart_set},
    )


# Run


def runs_with_events() -> QuerySet[Run]:
    events = Event.objects.defer("body").select_related("host").order_by("received", "id")
    return Run.objects.select_related("repository", "host").prefetch_related(
        Prefetch("events", queryset=events)
    )


def run_context(run: Run) -> dict[str, Any]:
    """Everything the run partials need, so templates never query."""
    return {"run": run, "previous_run": run.previous_run(), "next_run": run.next_run()}


def render_run_regions(context: dict[str, Any]) -> list[str]:
    return [render_to_string(f"events/partials/{name}.html", context) for name in RUN_REGIONS]


# Failures, events


@dataclass
class FailureGroup:
    """Failed runs sharing a fingerprint: one cause, however many repositories it hit."""

    fingerprint: str
    count: int
    repository_count: int
    first_seen: datetime
    last_seen: datetime
    example: Run
    repositories: list[str]

    @property
    def slug(self) -> str:
        return self.fingerprint or NO_FINGERPRINT


def failure_groups(since: datetime) -> list[FailureGroup]:
    """Groups of failed runs completed since a moment, the most recently seen first."""
    failed = Run.objects.filter(state__in=FAILURE_STATES, completed__gte=since)
    rows = list(
        failed.values("fingerprint")
        .annotate(
            count=Count("id"),
            repository_count=Count("repository", distinct=True),
            first_seen=Min("completed"),
            last_seen=Max("completed"),
            latest=Max("id"),
        )
        .order_by("-last_seen")[:FAILURE_GROUPS_SHOWN]
    )
    examples = Run.objects.select_related("repository").in_bulk([row["latest"] for row in rows])
    named = _recently_hit(failed, {row["fingerprint"]: row["repository_count"] for row in rows})
    return [
        FailureGroup(
            fingerprint=row["fingerprint"],
            count=row["count"],
            repository_count=row["repository_count"],
            first_seen=row["first_seen"],
            last_seen=row["last_seen"],
            example=examples[row["latest"]],
            repositories=named[row["fingerprint"]],
        )
        for row in rows
    ]


def _recently_hit(failed: QuerySet[Run], repository_counts: dict[str, int]) -> dict[str, list]:
    """Per fingerprint, the repositories its failures hit most recently, up to a few each.

    Reads the failures newest first and stops as soon as every group has its names: a group
    hitting many repositories names them from its latest failures, not from all of them.
    """
    wanted = {
        fingerprint: min(count, REPOSITORIES_NAMED)
        for fingerprint, count in repository_counts.items()
    }
    named: dict[str, list[int]] = {fingerprint: [] for fingerprint in wanted}
    missing = sum(wanted.values())
    recent = (
        failed.filter(fingerprint__in=wanted)
        .order_by("-completed", "-id")
        .values_list("fingerprint", "repository_id")
    )
    # A server-side cursor on PostgreSQL: stopping early leaves the rest unread.
    for fingerprint, repository_pk in recent.iterator(chunk_size=REPOSITORIES_NAMED * 50):
        names = named[fingerprint]
        if len(names) < wanted[fingerprint] and repository_pk not in names:
            names.append(repository_pk)
            missing -= 1
            if missing == 0:
                break
    pks = {pk for names in named.values() for pk in names}
    repo_ids = dict(Repository.objects.filter(pk__in=pks).values_list("pk", "repo_id"))
    return {
        fingerprint: [repo_ids[pk] for pk in names if pk in repo_ids]
        for fingerprint, names in named.items()
    }


def failure_group_runs(slug: str, *, page: int) -> tuple[list[Run], bool]:
    fingerprint = "" if slug == NO_FINGERPRINT else slug
    runs = Run.objects.filter(fingerprint=fingerprint, state__in=FAILURE_STATES)
    runs = runs.select_related("repository", "host").order_by("-completed", "-id")
    return _one_page(runs, page, HISTORY_PAGE_SIZE)


def event_log(*, event_type: str, host: str, outcome: str, page: int) -> tuple[list[Event], bool]:
    """A page of the raw event log, newest first; bodies stay in the database until opened."""
    events = Event.objects.defer("body").select_related("host", "run")
    if event_type:
        events = events.filter(event_type=event_type)
    if host:
        events = events.filter(host__name=host)
    if outcome:
        events = events.filter(outcome=outcome)
    return _one_page(events.order_by("-received", "-id"), page, EVENTS_PAGE_SIZE)


# Push


def changed_groups(changes: Mapping[int, Sequence[int]]) -> list[str]:
    """Every group render_changes can send to for these changes (repository pk -> run pks)."""
    return [
        ACTIVITY_GROUP,
        OVERVIEW_GROUP,
        *(repository_group(pk) for pk in changes),
        *(run_group(pk) for run_pks in changes.values() for pk in run_pks),
    ]


def render_changes(
    changes: Mapping[int, Sequence[int]], *, groups: Collection[str] | None = None
) -> dict[str, list[str]]:
    """The fragments changed rows show, rendered once each, keyed by the group showing them.

    `changes` maps repository pks to the pks of their changed runs; `groups` limits the
    rendering to the groups someone watches (all by default). However many repositories
    changed, the counters are computed once and the queries do not grow with history.
    """

    def wanted(group: str) -> bool:
        return groups is None or group in groups

    fragments: dict[str, list[str]] = {}
    if wanted(ACTIVITY_GROUP):
        fragments[ACTIVITY_GROUP] = []
    repository_pks = [
        pk for pk in changes if wanted(OVERVIEW_GROUP) or wanted(repository_group(pk))
    ]
    repositories = overview_repositories().in_bulk(repository_pks) if repository_pks else {}
    if wanted(OVERVIEW_GROUP):
        fragments[OVERVIEW_GROUP] = [
            *(render_repository_row(repositories[pk]) for pk in changes if pk in repositories),
            render_overview_counters(overview_counters()),
        ]
    run_pks = [
        pk
        for repository_pk, pks in changes.items()
        for pk in pks
        if wanted(repository_group(repository_pk)) or wanted(run_group(pk))
    ]
    runs = runs_with_events().in_bulk(run_pks) if run_pks else {}
    for repository_pk, pks in changes.items():
        repository = repositories.get(repository_pk)
        if repository is None or not wanted(repository_group(repository_pk)):
            continue
        own = [runs[pk] for pk in pks if pk in runs and runs[pk].repository_id == repository_pk]
        fragments[repository_group(repository_pk)] = [
            render_repository_state(repository),
            *(render_run_row(run) for run in own),
            render_repository_charts(repository, repository_charts(repository)),
        ]
    for repository_pk, pks in changes.items():
        for pk in pks:
            run = runs.get(pk)
            if run is None or run.repository_id != repository_pk or not wanted(run_group(pk)):
                continue
            fragments[run_group(pk)] = render_run_regions(run_context(run))
    return fragments
