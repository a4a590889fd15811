from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.db.models import Count, Max
from django.test.utils import CaptureQueriesContext
from django.urls import reverse, set_script_prefix
from django.utils import timezone

from events import live
from events.models import (
    FAILURE_STATES,
    Event,
    EventOutcome,
    Repository,
    Run,
    RunKind,
    RunState,
    SyncHost,
)
from tests.helpers import event_variant, load_event, object_id, sync_finished, sync_started

SCRIPT = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _recently(minutes: int = 5) -> dict[str, str]:
    now = timezone.now()
    return {"started": _iso(now - timedelta(minutes=minutes)), "completed": _iso(now)}


def _sync(post, repo_id: str, number: int, *, result: str = "success", **payload) -> Run:
    task = f"task-{repo_id}-{number}"
    post(sync_started(repo_id, task), status=200)
    post(sync_finished(repo_id, task, number, result=result, **payload), status=200)
    return Run.objects.get(task_id=task)


def _counter(html: str, name: str) -> int:
    match = re.search(rf'data-counter="{name}"><span class="counter-value">(\d+)<', html)
    assert match, name
    return int(match[1])


def _row_ids(html: str) -> list[str]:
    return re.findall(r'role="row" class="tr[^"]*" data-repo-id="([^"]*)"', html)


def _make_repository(repo_id: str, *, state: str = RunState.SUCCESS, runs: int = 1) -> Repository:
    """A repository and its sync runs written directly, for tests that need many rows fast."""
    repository = Repository.objects.create(repo_id=repo_id)
    now = timezone.now()
    run = None
    for index in range(runs):
        started = now - timedelta(minutes=10 * (runs - index))
        run = Run.objects.create(
            repository=repository,
            kind=RunKind.SYNC,
            state=state,
            task_id=f"{repo_id}-{index}",
            started=started,
            completed=None if state == RunState.RUNNING else started + timedelta(minutes=3),
            added_count=index,
            removed_count=1,
            error_message="mirror unreachable" if state == RunState.FAILED else "",
        )
    repository.latest_sync = run
    repository.latest_finished_sync = run if state != RunState.RUNNING else None
    repository.sync_state = state
    repository.finished_sync_state = state if state != RunState.RUNNING else ""
    repository.save()
    return repository


def _query_count(client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


# Login


@pytest.mark.parametrize(
    "url",
    ["/", "/repos/a/", "/runs/1/", "/failures/", "/failures/none/", "/hosts/", "/events/"],
)
def test_it_sends_anonymous_visitors_to_the_login_page(client, db, url):
    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"] == f"/login/?next={url}"


def test_it_shows_a_styled_login_page(client, db):
    response = client.get("/login/")

    assert response.status_code == 200
    content = response.content.decode()
    assert 'id="id_username"' in content
    assert 'id="login-submit"' in content
    assert "/static/css/app.css" in content
    assert 'id="logout-form"' not in content


def test_it_logs_in_and_lands_on_the_overview(client, django_user_model):
    django_user_model.objects.create_user("viewer", password="a-long-test-password")

    response = client.post("/login/", {"username": "viewer", "password": "a-long-test-password"})

    assert response.status_code == 302
    assert response["Location"] == "/"
    assert client.get("/").status_code == 200


def test_it_sends_a_signed_in_user_from_the_login_page_to_the_overview(admin_client):
    response = admin_client.get("/login/")

    assert response.status_code == 302
    assert response["Location"] == "/"


def test_it_rejects_a_wrong_password(client, django_user_model):
    django_user_model.objects.create_user("viewer", password="a-long-test-password")

    response = client.post("/login/", {"username": "viewer", "password": "wrong"})

    assert response.status_code == 200
    assert "did not match" in response.content.decode()


def test_it_logs_out_with_a_post_form(admin_client):
    page = admin_client.get("/").content.decode()
    assert '<form id="logout-form" method="post" action="/logout/">' in page

    response = admin_client.post("/logout/")

    assert response.status_code == 302
    assert admin_client.get("/").status_code == 302


# Overview


def test_it_works(admin_client, post):
    _sync(post, "centos-9-baseos", 1)

    response = admin_client.get("/")

    assert response.status_code == 200
    content = response.content.decode()
    repository = live.overview_repositories().get(repo_id="centos-9-baseos")
    assert live.render_repository_row(repository) in content
    assert 'data-repo-id="centos-9-baseos" data-sync-state="success"' in content
    assert '<div role="cell" class="td cell-num" data-role="added">233</div>' in content
    assert 'ws-connect="/ws/live/?groups=overview"' in content
    assert 'data-fragment-url="/?fragment=live"' in content


def test_it_shows_a_new_repository_that_has_never_synced(admin_client, post):
    post(event_variant("publish-started", call_report={"task_id": "publish-1"}), status=200)

    content = admin_client.get("/").content.decode()

    assert 'data-role="sync-state" data-state="never">never</span>' in content
    assert 'data-role="publish-state" data-state="running"' in content


def test_it_counts_repositories_by_state(admin_client, post):
    _sync(post, "ok-repo", 1)
    _sync(post, "broken-repo", 2, result="failed", **_recently())
    post(sync_started("busy-repo", "task-busy"), status=200)
    post(load_event("sync-started"), status=200)  # started in 2023: long stalled

    content = admin_client.get("/").content.decode()

    assert _counter(content, "repositories") == 4
    assert _counter(content, "syncing") == 2
    assert _counter(content, "publishing") == 0
    assert _counter(content, "failing") == 1
    assert _counter(content, "failed_24h") == 1
    assert _counter(content, "stalled") == 1
    assert 'data-failing="1"' in content


def test_it_counts_a_failure_older_than_a_day_as_failing_but_not_as_recent(admin_client, post):
    _sync(post, "broken-repo", 1, result="failed")  # the fixture's run ended in 2023

    content = admin_client.get("/").content.decode()

    assert _counter(content, "failing") == 1
    assert _counter(content, "failed_24h") == 0


def test_it_puts_the_failing_count_in_the_tab_title(admin_client, post):
    _sync(post, "broken-a", 1, result="failed")
    _sync(post, "broken-b", 2, result="error")

    content = admin_client.get("/").content.decode()

    assert "<title>(2) failing · Sync dashboard</title>" in content


def test_it_keeps_a_plain_title_when_nothing_fails(admin_client, post):
    _sync(post, "fine", 1)

    assert "<title>Sync dashboard</title>" in admin_client.get("/").content.decode()


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ("all", ["broken-repo", "busy-repo", "centos-9-baseos", "ok-repo"]),
        ("running", ["busy-repo", "centos-9-baseos"]),
        ("failed", ["broken-repo"]),
        ("stalled", ["centos-9-baseos"]),
    ],
)
def test_it_filters_by_state(admin_client, post, state, expected):
    _sync(post, "ok-repo", 1)
    _sync(post, "broken-repo", 2, result="failed")
    post(sync_started("busy-repo", "task-busy"), status=200)
    post(load_event("sync-started"), status=200)

    content = admin_client.get(f"/?state={state}").content.decode()

    assert _row_ids(content) == expected
    assert f'data-filter="{state}"' in content


def test_it_counts_a_failed_publish_as_failing(admin_client, post):
    post(load_event("publish-started"), status=200)
    post(
        event_variant("publish-finished-success", result="failed", error_message="rsync died"),
        status=200,
    )

    content = admin_client.get("/?state=failed").content.decode()

    assert _row_ids(content) == ["centos-9-baseos"]


def test_it_searches_repository_ids_ignoring_case(admin_client, post):
    _sync(post, "EPEL-9", 1)
    _sync(post, "epel-8", 2)
    _sync(post, "centos-9", 3)

    content = admin_client.get("/?q=epel").content.decode()

    assert _row_ids(content) == ["EPEL-9", "epel-8"]
    assert 'data-search="epel"' in content


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("sort=repo", ["a-repo", "b-repo", "c-repo"]),
        ("sort=-repo", ["c-repo", "b-repo", "a-repo"]),
        ("sort=recent", ["b-repo", "c-repo", "a-repo"]),
        ("sort=-recent", ["a-repo", "c-repo", "b-repo"]),
        ("sort=repo&failed_first=1", ["c-repo", "a-repo", "b-repo"]),
    ],
)
def test_it_sorts_and_lists_failed_repositories_first(admin_client, post, query, expected):
    _sync(post, "a-repo", 1)
    _sync(post, "c-repo", 2, result="failed")
    _sync(post, "b-repo", 3)

    content = admin_client.get(f"/?{query}").content.decode()

    assert _row_ids(content) == expected


def test_it_paginates_the_overview_in_the_url(admin_client):
    for number in range(live.OVERVIEW_PAGE_SIZE + 5):
        _make_repository(f"repo-{number:03d}")

    first = admin_client.get("/?q=repo").content.decode()
    second = admin_client.get("/?q=repo&page=2").content.decode()

    assert len(_row_ids(first)) == live.OVERVIEW_PAGE_SIZE
    assert '<a rel="next" href="?q=repo&amp;page=2">' in first
    assert 'data-has-next="1"' in first
    assert _row_ids(second) == [f"repo-{number:03d}" for number in range(50, 55)]
    assert '<a rel="prev" href="?q=repo">' in second
    assert 'data-has-previous="1" data-has-next="0"' in second


def test_it_says_when_no_repository_matches(admin_client, post):
    _sync(post, "fine", 1)

    content = admin_client.get("/?state=failed").content.decode()

    assert _row_ids(content) == []
    assert '<p id="repository-rows-empty" class="empty-note">' in content


def test_it_falls_back_to_defaults_for_unknown_query_values(admin_client, post):
    _sync(post, "fine", 1)

    response = admin_client.get("/?state=exploded&sort=sideways&page=-3&failed_first=yes")

    assert response.status_code == 200
    content = response.content.decode()
    assert 'data-filter="all"' in content
    assert 'data-sort="repo" data-failed-first="0" data-has-previous="0"' in content


def test_it_answers_a_fragment_request_with_the_live_regions_only(admin_client, post):
    _sync(post, "fine", 1)

    response = admin_client.get("/?state=all&fragment=live")

    content = response.content.decode()
    assert response.status_code == 200
    assert content.startswith('<section id="overview-counters"')
    assert '<div id="repository-table" class="table-wrap">' in content
    assert '<nav id="overview-pager"' in content
    assert "<html" not in content
    assert response["Cache-Control"].startswith("max-age=0")


def test_it_connects_the_socket_under_the_url_prefix(admin_client, settings):
    settings.FORCE_SCRIPT_NAME = "/dashboard"
    # The ASGI handler sets the prefix per request; the test client does not.
    set_script_prefix("/dashboard/")
    try:
        content = admin_client.get("/?state=failed").content.decode()
    finally:
        set_script_prefix("/")

    assert 'ws-connect="/dashboard/ws/live/?groups=overview"' in content
    assert 'data-fragment-url="/dashboard/?state=failed&amp;fragment=live"' in content


def test_it_renders_a_running_sync_with_ticking_time_and_its_stall_deadline(admin_client, post):
    post(sync_started("busy-repo", "task-busy"), status=200)
    run = Run.objects.get()

    content = admin_client.get("/").content.decode()

    deadline_ms = int(run.stalled_deadline().timestamp() * 1000)
    started_ms = int(run.started.timestamp() * 1000)
    assert (
        '<span class="badge badge-running" data-role="sync-state" data-state="running" '
        f'data-deadline="{deadline_ms}">running</span>'
    ) in content
    assert f'data-role="elapsed" data-since="{started_ms}"' in content
    assert 'data-matches="running"' in content


def test_it_shows_times_relative_with_the_absolute_time_and_zone_in_the_title(admin_client, post):
    _sync(post, "fine", 1)

    content = admin_client.get("/").content.decode()

    assert (
        '<time datetime="2023-12-07T01:03:41+00:00" title="2023-12-07 01:03:41 UTC" data-relative>'
    ) in content


def test_it_keeps_overview_queries_constant_however_many_rows(admin_client):
    for number in range(3):
        _make_repository(f"few-{number}", state=RunState.FAILED)
    few = _query_count(admin_client, "/?failed_first=1")
    for number in range(60):
        _make_repository(f"many-{number}", state=RunState.RUNNING)

    many = _query_count(admin_client, "/?failed_first=1")

    assert many == few
    assert many <= 8


# Repository


def test_it_finds_repositories_whose_ids_hold_url_characters(admin_client, post):
    repo_id = "mirror/el9.x86_64:base@v2+extra~1"
    _sync(post, repo_id, 1)

    url = reverse("events:repository", args=[repo_id])
    response = admin_client.get(url)

    assert url == "/repos/mirror/el9.x86_64:base@v2+extra~1/"
    assert response.status_code == 200
    content = response.content.decode()
    assert f'<h1 class="page-title">{repo_id}</h1>' in content
    repository = Repository.objects.get(repo_id=repo_id)
    assert f'ws-connect="/ws/live/?groups=repo-{repository.pk}"' in content


def test_it_answers_404_for_an_unknown_repository(admin_client):
    assert admin_client.get("/repos/nothing-here/").status_code == 404


def test_it_interleaves_syncs_and_publishes_newest_first(admin_client, post):
    sync = _sync(post, "centos-9-baseos", 1)
    post(load_event("publish-started"), status=200)
    post(load_event("publish-finished-success"), status=200)
    publish = Run.objects.get(kind=RunKind.PUBLISH)

    content = admin_client.get("/repos/centos-9-baseos/").content.decode()
    publishes = admin_client.get("/repos/centos-9-baseos/?kind=publish").content.decode()

    assert re.findall(r'id="run-row-(\d+)"', content) == [str(publish.pk), str(sync.pk)]
    assert re.findall(r'id="run-row-(\d+)"', publishes) == [str(publish.pk)]
    assert 'data-kind-filter="publish" aria-current="page"' in publishes


def test_it_paginates_the_history(admin_client):
    _make_repository("long-history", runs=live.HISTORY_PAGE_SIZE + 3)

    first = admin_client.get("/repos/long-history/").content.decode()
    second = admin_client.get("/repos/long-history/?page=2").content.decode()

    assert len(re.findall(r'id="run-row-', first)) == live.HISTORY_PAGE_SIZE
    assert '<a rel="next" href="?page=2">Older →</a>' in first
    assert len(re.findall(r'id="run-row-', second)) == 3
    assert '<a rel="next" href="?page=3" hidden>Older →</a>' in second
    assert '<span class="muted" data-role="no-next">Older →</span>' in second


def test_it_draws_charts_of_the_recent_syncs(admin_client, post):
    _sync(post, "charted", 1)
    _sync(post, "charted", 2, result="failed")

    content = admin_client.get("/repos/charted/").content.decode()

    durations = re.search(r'<svg class="chart-duration".*?</svg>', content, re.S)[0]
    counts = re.search(r'<svg class="chart-counts".*?</svg>', content, re.S)[0]
    assert len(re.findall(r'<rect class="bar bar-(?:success|failed)"', durations)) == 2
    assert "<title>2023-12-07 02:00:05 UTC · failed · 11m 14s</title>" in durations
    assert len(re.findall(r'<rect class="bar bar-(?:added|removed)"', counts)) == 4
    assert ">+233</text>" in counts


def test_it_keeps_repository_queries_constant_however_long_the_history(admin_client):
    _make_repository("short", runs=2)
    _make_repository("long", runs=80)

    assert _query_count(admin_client, "/repos/long/") == _query_count(admin_client, "/repos/short/")


# Run


def test_it_explains_a_failure_first_then_its_traceback(admin_client, post):
    run = _sync(post, "rocky-9-appstream", 1, result="error")

    content = admin_client.get(f"/runs/{run.pk}/").content.decode()

    explanation = content.index(f'id="run-explanation-{run.pk}"')
    assert explanation < content.index(f'id="run-traceback-{run.pk}"')
    assert '<p class="error-message">Error retrieving metadata: Service Unavailable</p>' in content
    assert "<code>PulpCodedException()</code>" in content
    assert '<span class="frame-function">sync_repo</span>' in content
    assert f'<pre id="traceback-raw-{run.pk}" class="raw" tabindex="0">Traceback' in content
    assert f'data-copy-target="traceback-raw-{run.pk}">Copy</button>' in content
    assert f'ws-connect="/ws/live/?groups=run-{run.pk}"' in content


def test_it_folds_library_frames_behind_a_count(admin_client, post):
    frames = [
        ["/usr/lib64/python2.7/threading.py", 812, "run", "self.__target()"],
        ["/usr/lib/python2.7/site-packages/celery/app/trace.py", 240, "trace_task", "R = fun()"],
        ["/usr/lib/python2.7/site-packages/pulp/server/async/tasks.py", 529, "wrap_f", "f()"],
        ["/usr/lib/python2.7/site-packages/requests/adapters.py", 502, "send", "raise Error"],
    ]
    run = _sync(post, "puppet-forge", 1, result="error", traceback=frames)

    content = admin_client.get(f"/runs/{run.pk}/").content.decode()

    assert f'<details class="library-frames" id="run-{run.pk}-frames-1">' in content
    assert "<summary>2 more frames</summary>" in content
    assert content.count('<li class="frame frame-library">') == 2
    assert content.count('<li class="frame">') == 2
    assert '<span class="frame-function">send</span>' in content


def test_it_derives_the_explanation_of_a_failure_without_a_message(admin_client, post):
    run = _sync(post, "epel-9-everything", 1, result="failed")

    content = admin_client.get(f"/runs/{run.pk}/").content.decode()

    assert (
        '<p class="error-message">Step comps failed: comps.xml: mismatched tag: line 4012, '
        "column 6</p>"
    ) in content
    assert '<strong class="step-name">comps</strong>: <span class="step-error">' in content


def test_it_shows_per_item_errors_as_a_table_with_their_count(admin_client, post):
    items = [{"url": f"http://mirror/p{number}.rpm", "error": "404"} for number in range(7)]
    details = {"content": {"state": "FAILED", "error": "7 units failed", "error_details": items}}
    run = _sync(post, "epel-9-everything", 1, result="failed", details=details)

    content = admin_client.get(f"/runs/{run.pk}/").content.decode()

    assert '<span class="count-pill" data-role="item-error-count">7</span>' in content
    assert "The first 5 of 7; the raw events hold every one." in content
    start = content.index('class="data-table item-errors"')
    table = content[start : content.index("</table>", start)]
    assert '<th scope="col">url</th><th scope="col">error</th>' in table
    assert "<td>http://mirror/p4.rpm</td><td>404</td>" in table
    assert "p5.rpm" not in table


def test_it_shows_summary_and_details_as_collapsible_json(admin_client, post):
    run = _sync(post, "centos-9-baseos", 1)

    content = admin_client.get(f"/runs/{run.pk}/").content.decode()

    assert f'<details class="json-block" id="run-{run.pk}-summary-json">' in content
    assert f'<details class="json-block" id="run-{run.pk}-details-json">' in content
    assert "  &quot;metadata&quot;: {\n    &quot;state&quot;: &quot;FINISHED&quot;" in content


def test_it_lists_the_raw_events_of_the_run(admin_client, post):
    run = _sync(post, "centos-9-baseos", 1)
    events = list(Event.objects.filter(run=run).order_by("id"))

    content = admin_client.get(f"/runs/{run.pk}/").content.decode()

    assert 'Raw events <span class="muted">(2)</span>' in content
    for event in events:
        assert f'<a data-role="event-link" href="/events/{event.pk}/">' in content


def test_it_links_the_previous_and_next_run_of_the_repository(admin_client, post):
    first = _sync(post, "centos-9-baseos", 1, **_recently(30))
    second = _sync(post, "centos-9-baseos", 2, **_recently(20))
    third = _sync(post, "centos-9-baseos", 3, **_recently(10))
    _sync(post, "other-repo", 4, **_recently(15))

    content = admin_client.get(f"/runs/{second.pk}/").content.decode()
    oldest = admin_client.get(f"/runs/{first.pk}/").content.decode()

    assert f'<a rel="prev" href="/runs/{first.pk}/">' in content
    assert f'<a rel="next" href="/runs/{third.pk}/">' in content
    assert "No earlier run" in oldest


def test_it_answers_404_for_an_unknown_run(admin_client):
    assert admin_client.get("/runs/999/").status_code == 404


def test_it_keeps_run_page_queries_constant_however_many_events(admin_client, post):
    run = _sync(post, "centos-9-baseos", 1)
    few = _query_count(admin_client, f"/runs/{run.pk}/")
    for _ in range(20):
        post(sync_finished("centos-9-baseos", run.task_id, 1), status=200)

    assert _query_count(admin_client, f"/runs/{run.pk}/") == few


# Failures


def test_it_groups_failures_by_their_cause(admin_client, post):
    for number, repo_id in enumerate(["mirror-a", "mirror-b", "mirror-c"], start=1):
        _sync(post, repo_id, number, result="error", **_recently())
    _sync(post, "mirror-d", 9, result="error", exception="OSError()", traceback=None, **_recently())

    content = admin_client.get("/failures/").content.decode()

    groups = re.findall(r'<article class="card failure-group" data-fingerprint="([^"]+)">', content)
    assert len(groups) == 2
    shared = Run.objects.get(repository__repo_id="mirror-a").fingerprint
    assert shared in groups
    group = content[content.index(f'data-fingerprint="{shared}"') :]
    assert '<span class="failure-count" title="failed runs">3</span>' in group
    # Named newest failure first (completed in the same second: the later run first).
    named = re.search(r'<dd class="failure-repos">(.*?)</dd>', group)[1]
    assert re.findall(r'href="/repos/([^/]+)/"', named) == ["mirror-c", "mirror-b", "mirror-a"]
    runs = admin_client.get(f"/failures/{shared}/").content.decode()
    assert len(re.findall(r'data-role="run-link"', runs)) == 3


def test_it_names_the_repositories_a_cause_hit_most_recently(admin_client, post):
    now = timezone.now()

    def ago(minutes: int) -> dict[str, str]:
        started = now - timedelta(minutes=minutes + 1)
        return {"started": _iso(started), "completed": _iso(now - timedelta(minutes=minutes))}

    # mirror-00 failed a minute ago, mirror-01 two minutes ago, and so on.
    minutes = range(live.REPOSITORIES_NAMED + 4)
    for minute in minutes:
        _sync(post, f"mirror-{minute:02d}", minute + 1, result="error", **ago(minute + 1))
    # The repository that failed longest ago fails again, now: it leads, and is named once.
    _sync(post, "mirror-11", 99, result="error", **ago(0))

    [group] = live.failure_groups(timezone.now() - timedelta(days=1))

    assert group.count == len(minutes) + 1
    assert group.repository_count == len(minutes)
    assert group.repositories == [
        "mirror-11",
        *(f"mirror-{minute:02d}" for minute in range(live.REPOSITORIES_NAMED - 1)),
    ]


def test_it_leaves_out_failures_older_than_the_period(admin_client, post):
    _sync(post, "old-failure", 1, result="error")  # completed in 2023

    content = admin_client.get("/failures/?days=90").content.decode()

    assert "No failures in the last 90 days." in content


def test_it_keeps_failures_queries_constant_however_many_groups(admin_client, post):
    _sync(post, "mirror-a", 1, result="error", **_recently())
    few = _query_count(admin_client, "/failures/")
    for number in range(2, 12):
        _sync(
            post,
            f"mirror-{number}",
            number,
            result="error",
            exception=f"E{number}()",
            **_recently(),
        )

    assert _query_count(admin_client, "/failures/") == few


# Hosts and events


def test_it_lists_hosts_with_last_seen_events_and_last_error(admin_client, post, host_and_token):
    host, _ = host_and_token
    _sync(post, "fine", 1)
    post({"event_type": "repo.delete", "payload": {}}, status=400)
    host.refresh_from_db()

    content = admin_client.get("/hosts/").content.decode()

    row = content[content.index('<tr class="host-row" data-host="sync-a">') :]
    assert f'<time datetime="{host.last_seen.isoformat()}"' in row
    assert '<td class="cell-num">2</td>' in row
    assert "unsupported event type: repo.delete" in row


def test_it_filters_the_event_log(admin_client, post):
    _sync(post, "fine", 1)
    post(sync_finished("fine", "task-fine-1", 1), status=200)  # a duplicate

    everything = admin_client.get("/events/").content.decode()
    duplicates = admin_client.get("/events/?outcome=duplicate").content.decode()
    starts = admin_client.get("/events/?type=repo.sync.start&host=sync-a").content.decode()
    nobody = admin_client.get("/events/?host=nobody").content.decode()

    assert everything.count('<tr class="event-row">') == 3
    assert duplicates.count('<tr class="event-row">') == 1
    assert starts.count('<tr class="event-row">') == 1
    assert "No events match." in nobody


def test_it_shows_an_event_body_as_pretty_json(admin_client, post):
    post(load_event("sync-started"), status=200)
    event = Event.objects.get()

    content = admin_client.get(f"/events/{event.pk}/").content.decode()

    assert f'<pre id="event-body-{event.pk}" class="raw event-body" tabindex="0">{{\n' in content
    assert "  &quot;event_type&quot;: &quot;repo.sync.start&quot;," in content


def test_it_keeps_event_log_queries_constant_however_many_events(admin_client, post):
    _sync(post, "fine", 1)
    few = _query_count(admin_client, "/events/")
    for number in range(2, 30):
        _sync(post, f"repo-{number}", number)

    assert _query_count(admin_client, "/events/") == few


def test_it_keeps_hosts_queries_constant_however_many_hosts(admin_client):
    SyncHost.create_with_token("one")
    few = _query_count(admin_client, "/hosts/")
    for number in range(20):
        SyncHost.create_with_token(f"host-{number}")

    assert _query_count(admin_client, "/hosts/") == few


# Everything a host sends is text


def test_it_escapes_an_error_message_everywhere(admin_client, post):
    run = _sync(post, "hostile", 1, result="error", error_message=SCRIPT, **_recently())

    for url in [
        f"/runs/{run.pk}/",
        "/repos/hostile/",
        "/failures/",
        f"/failures/{run.fingerprint}/",
    ]:
        content = admin_client.get(url).content.decode()
        assert SCRIPT not in content, url
        assert ESCAPED in content, url


def test_it_escapes_a_traceback(admin_client, post):
    traceback = f'Traceback (most recent call last):\n  File "{SCRIPT}", line 1, in x\n    {SCRIPT}'
    run = _sync(post, "hostile", 1, result="error", traceback=traceback)

    content = admin_client.get(f"/runs/{run.pk}/").content.decode()

    assert SCRIPT not in content
    assert f'<span class="frame-file">{ESCAPED}</span>' in content
    assert f'<code class="frame-code">{ESCAPED}</code>' in content


def test_it_escapes_json_keys_and_item_errors(admin_client, post):
    details = {"content": {"state": "FAILED", "error": SCRIPT, "error_details": [{SCRIPT: SCRIPT}]}}
    run = _sync(post, "hostile", 1, result="failed", summary={SCRIPT: 1}, details=details)

    content = admin_client.get(f"/runs/{run.pk}/").content.decode()

    assert SCRIPT not in content
    assert f"&quot;{ESCAPED}&quot;: 1" in content
    assert f'<th scope="col">{ESCAPED}</th>' in content
    assert f'<span class="step-error">{ESCAPED}</span>' in content


def test_it_escapes_host_names(admin_client, post):
    host = SyncHost.objects.get()
    host.name = SCRIPT
    host.save()
    _sync(post, "fine", 1)

    for url in ["/", "/hosts/", "/events/"]:
        content = admin_client.get(url).content.decode()
        assert SCRIPT not in content, url
        assert ESCAPED in content, url


def test_it_escapes_repository_ids_stored_before_validation(admin_client):
    repository = _make_repository(f"legacy{SCRIPT}", state=RunState.FAILED)

    overview = admin_client.get("/").content.decode()
    page = admin_client.get(reverse("events:repository", args=[repository.repo_id]))

    assert page.status_code == 200
    for content in [overview, page.content.decode()]:
        assert SCRIPT not in content
        assert f'data-repo-id="legacy{ESCAPED}"' in content or f">legacy{ESCAPED}<" in content


def test_it_escapes_an_event_body(admin_client, post):
    post(event_variant("sync-started", call_report={"task_id": "t", "note": SCRIPT}), status=200)
    event = Event.objects.get()

    content = admin_client.get(f"/events/{event.pk}/").content.decode()

    assert SCRIPT not in content
    assert ESCAPED in content


def test_it_marks_duplicate_events_in_the_log(admin_client, post):
    post(load_event("sync-started"), status=200)
    post(load_event("sync-started"), status=200)

    content = admin_client.get("/events/").content.decode()

    assert Event.objects.filter(outcome=EventOutcome.DUPLICATE).count() == 1
    assert '<span class="outcome outcome-duplicate">duplicate</span>' in content


def test_it_shows_object_ids_of_results(admin_client, post):
    run = _sync(post, "centos-9-baseos", 7)

    content = admin_client.get(f"/runs/{run.pk}/").content.decode()

    assert f"<code>{object_id(7)}</code>" in content


@pytest.mark.parametrize(
    ("path", "region"),
    [
        ("/failures/?days=7", "failures-region"),
        ("/hosts/", "hosts-region"),
        ("/events/?outcome=applied", "events-region"),
    ],
)
def test_it_refreshes_summary_pages_on_every_stored_event(admin_client, post, path, region):
    _sync(post, "epel-9-everything", 1, result="failed", error_message="mirror <b>down</b>")

    page = admin_client.get(path).content.decode()
    fragment = admin_client.get(f"{path}&fragment=live" if "?" in path else f"{path}?fragment=live")

    assert 'ws-connect="/ws/live/?groups=activity"' in page
    assert "data-resync-on-push" in page
    assert '<span id="seq-activity" data-group="activity"' in page
    content = fragment.content.decode()
    assert fragment.status_code == 200
    assert content.startswith(f'<div id="{region}"')
    assert "<html" not in content
    assert content.strip() in page


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="a PostgreSQL-only index; the suite's PostgreSQL run (.ci/run) checks it",
)
def test_it_groups_failures_from_the_covering_index_on_postgresql(admin_client):
    _make_repository("failing", state=RunState.FAILED, runs=3)
    since = timezone.now() - timedelta(days=7)
    groups = live.failure_groups(since)
    assert [group.count for group in groups] == [3]
    failed = Run.objects.filter(state__in=FAILURE_STATES, completed__gte=since)
    aggregate = failed.values("fingerprint").annotate(count=Count("id"), latest=Max("id"))

    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        plan = aggregate.explain()

    assert "events_run_failures_covering" in plan
