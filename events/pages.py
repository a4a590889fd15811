"""The dashboard's pages: parse the query string, ask live.py for the rows, render."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import get_script_prefix
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from events import display, live
from events.models import Event, EventOutcome, RunKind, SyncHost
from events.services.ingest import HANDLERS

MAX_PAGE = 100_000
MAX_SEARCH = 200
FAILURE_DAYS = (1, 7, 30, 90)
LIVE_FRAGMENT = "live"


def _page_number(request: HttpRequest) -> int:
    raw = request.GET.get("page", "1")
    return int(raw) if raw.isascii() and raw.isdigit() and 1 <= int(raw) <= MAX_PAGE else 1


def _choice(request: HttpRequest, name: str, choices: Any, default: str = "") -> str:
    value = request.GET.get(name, default)
    return value if value in choices else default


def _wants_fragment(request: HttpRequest) -> bool:
    return request.GET.get("fragment") == LIVE_FRAGMENT


def _live(request: HttpRequest, groups: list[str]) -> dict[str, Any]:
    """Where the page's socket connects and where it re-fetches its live regions from."""
    params = request.GET.copy()
    params["fragment"] = LIVE_FRAGMENT
    return {
        "groups": groups,
        "ws_url": f"{get_script_prefix()}ws/live/?groups={','.join(groups)}",
        "fragment_url": f"{request.path}?{params.urlencode()}",
    }


def _page(request: HttpRequest, template: str, context: dict[str, Any], nav: str) -> HttpResponse:
    context = {**context, "nav": nav, "server_now_ms": display.epoch_ms(timezone.now())}
    return render(request, template, context)


def page_view(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Pages are for signed-in users, read-only, and never cached: they change every second."""
    return require_GET(never_cache(login_required(view)))


@page_view
def overview(request: HttpRequest) -> HttpResponse:
    query = live.OverviewQuery(
        state=_choice(request, "state", live.STATE_FILTERS, "all"),
        search=request.GET.get("q", "").strip()[:MAX_SEARCH],
        sort=_choice(request, "sort", live.SORTS, "repo"),
        failed_first=request.GET.get("failed_first") == "1",
        page=_page_number(request),
    )
    page = live.overview_page(query)
    if _wants_fragment(request):
        return render(request, "events/overview_live.html", {"page": page})
    context = {
        "page": page,
        "sorts": live.SORT_LABELS.items(),
        "live": _live(request, [live.OVERVIEW_GROUP]),
    }
    return _page(request, "events/overview.html", context, "overview")


@page_view
def repository(request: HttpRequest, repo_id: str) -> HttpResponse:
    repo = get_object_or_404(live.overview_repositories(), repo_id=repo_id)
    context = {
        "repository": repo,
        "history": live.repository_history(
            repo, kind=_choice(request, "kind", RunKind.values), page=_page_number(request)
        ),
        "charts": live.repository_charts(repo),
    }
    if _wants_fragment(request):
        return render(request, "events/repository_live.html", context)
    context["live"] = _live(request, [live.repository_group(repo.pk)])
    return _page(request, "events/repository.html", context, "overview")


@page_view
def run(request: HttpRequest, pk: int) -> HttpResponse:
    context = live.run_context(get_object_or_404(live.runs_with_events(), pk=pk))
    if _wants_fragment(request):
        return render(request, "events/run_live.html", context)
    context["live"] = _live(request, [live.run_group(pk)])
    return _page(request, "events/run.html", context, "overview")


@page_view
def failures(request: HttpRequest) -> HttpResponse:
    days = int(_choice(request, "days", [str(days) for days in FAILURE_DAYS], "7"))
    groups = live.failure_groups(timezone.now() - timedelta(days=days))
    context = {"groups": groups, "days": days}
    if _wants_fragment(request):
        return render(request, "events/partials/failures_region.html", context)
    context.update(day_choices=FAILURE_DAYS, live=_live(request, [live.ACTIVITY_GROUP]))
    return _page(request, "events/failures.html", context, "failures")


@page_view
def failure_group(request: HttpRequest, slug: str) -> HttpResponse:
    page = _page_number(request)
    runs, has_next = live.failure_group_runs(slug, page=page)
    context = {"slug": slug, "runs": runs, "page": page, "has_next": has_next}
    return _page(request, "events/failure_group.html", context, "failures")


@page_view
def hosts(request: HttpRequest) -> HttpResponse:
    context = {"hosts": SyncHost.objects.all()}
    if _wants_fragment(request):
        return render(request, "events/partials/hosts_region.html", context)
    context["live"] = _live(request, [live.ACTIVITY_GROUP])
    return _page(request, "events/hosts.html", context, "hosts")


@page_view
def events(request: HttpRequest) -> HttpResponse:
    filters = {
        "event_type": _choice(request, "type", HANDLERS),
        "host": request.GET.get("host", "")[:MAX_SEARCH],
        "outcome": _choice(request, "outcome", EventOutcome.values),
    }
    page = _page_number(request)
    rows, has_next = live.event_log(**filters, page=page)
    params = request.GET.copy()
    params.pop("page", None)
    params.pop("fragment", None)
    context = {
        "events": rows,
        "page": page,
        "has_next": has_next,
        "base_query": params.urlencode(),
    }
    if _wants_fragment(request):
        return render(request, "events/partials/events_region.html", context)
    context.update(
        filters=filters,
        event_types=list(HANDLERS),
        outcomes=EventOutcome.values,
        host_names=SyncHost.objects.values_list("name", flat=True),
        live=_live(request, [live.ACTIVITY_GROUP]),
    )
    return _page(request, "events/events.html", context, "events")


@page_view
def event(request: HttpRequest, pk: int) -> HttpResponse:
    record = get_object_or_404(Event.objects.select_related("host", "run__repository"), pk=pk)
    try:
        body = display.pretty_json(json.loads(record.body), limit=None)
    except ValueError:
        body = record.body
    return _page(request, "events/event.html", {"event": record, "body": body}, "events")
