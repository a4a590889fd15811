from __future__ import annotations

import random
import re
import socket
import uuid
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connections
from django.test import Client

from events import simulation
from events.management.commands import simulate
from events.models import Event, EventOutcome, Repository, Run, RunKind, RunState, SyncHost


class ClientTransport:
    """The simulator's network edge, through Django's test client instead of a socket."""

    def __init__(self, url: str, token: str) -> None:
        self.client = Client(HTTP_HOST="localhost")
        self.token = token

    def post(self, body: bytes) -> simulate.Reply:
        response = self.client.post(
            "/api/events/",
            body,
            content_type="application/json",
            headers={"Authorization": f"Bearer {self.token}"},
        )
        return simulate.Reply(response.status_code, response.json())

    def close(self) -> None:
        # Each sending thread opened its own database connection.
        connections.close_all()


@pytest.fixture
def through_client(monkeypatch) -> None:
    monkeypatch.setattr(simulate.Command, "transport_class", ClientTransport)


def run_simulate(*args: str) -> str:
    out = StringIO()
    call_command("simulate", *args, stdout=out)
    return out.getvalue()


def make_task(plugin: str, kind: str = "sync") -> simulation.Task:
    repo_id = next(name for name, kind_ in simulation.REPOSITORIES if kind_ == plugin)
    started = simulation.now_utc() - timedelta(minutes=3)
    repo = simulation.Repo(repo_id, plugin, "reserved_resource_worker-0@pulp1.example.org")
    return simulation.Task(repo, kind, str(uuid.uuid4()), simulation.object_id(started), started)


def finished_outcome(plugin: str, result: str) -> simulation.Outcome:
    if result == "failed":
        step, error = simulation.FAILED_STEPS[plugin][0]
        return simulation.Outcome("failed", added=3, failed_step=step, step_error=error)
    return simulation.Outcome(result, added=12, updated=1, removed=2)


@pytest.mark.django_db(transaction=True)
def test_it_posts_traffic_that_the_server_accepts(through_client, token):
    output = run_simulate(
        "--token", token, "--repos", "7", "--count", "40", "--rate", "5000", "--workers", "2",
        "--seed", "7", "--failure-rate", "0.5",
    )  # fmt: skip

    assert "Sent 40 events" in output
    assert "40 accepted, 0 refused." in output
    assert Event.objects.count() == 40
    assert set(Event.objects.values_list("outcome", flat=True)) == {EventOutcome.APPLIED}
    assert set(Repository.objects.values_list("repo_id", flat=True)) == {
        repo.repo_id for repo in simulation.make_repos(7)
    }
    states = set(Run.objects.filter(kind=RunKind.SYNC).values_list("state", flat=True))
    assert {RunState.SUCCESS, RunState.FAILED, RunState.ERROR} <= states
    assert Run.objects.filter(kind=RunKind.PUBLISH).exists()
    assert output.count(" 200 applied run ") == 40


@pytest.mark.django_db(transaction=True)
def test_it_sends_the_same_traffic_for_the_same_seed(through_client, token):
    args = ["--token", token, "--repos", "4", "--count", "20", "--rate", "5000", "--seed", "3"]
    first = run_simulate(*args)
    first_runs = sorted(Run.objects.values_list("repository__repo_id", "kind", "state"))
    second = run_simulate(*args)

    assert Event.objects.count() == 40
    assert set(Event.objects.values_list("outcome", flat=True)) == {EventOutcome.APPLIED}
    second_runs = Run.objects.exclude(
        pk__in=Event.objects.order_by("id")[:20].values("run")
    ).values_list("repository__repo_id", "kind", "state")
    assert sorted(second_runs) == first_runs
    assert first.splitlines()[-1] == second.splitlines()[-1]


@pytest.mark.parametrize("plugin", sorted(simulation.PLUGINS))
@pytest.mark.parametrize("result", ["success", "failed", "error", "canceled"])
def test_it_builds_sync_finishes_that_fold_into_their_result(post, plugin, result):
    task = make_task(plugin)
    post(simulation.start_event(task).body, status=200)

    post(
        simulation.sync_finish_event(task, finished_outcome(plugin, result), random.Random(2)).body,
        status=200,
    )

    run = Run.objects.get(task_id=task.task_id)
    assert run.state == result
    assert run.repository.repo_id == task.repo.repo_id
    assert run.plugin == simulation.PLUGINS[plugin][0]
    if result in ("failed", "error"):
        assert run.explanation()
        assert run.fingerprint
    if result == "error":
        assert run.traceback.startswith("Traceback (most recent call last):")
        assert run.exception
    else:
        assert run.added_count == (3 if result == "failed" else 12)


def test_it_sends_each_plugins_traceback_in_its_own_shape():
    rng = random.Random(5)
    shapes = {
        plugin: simulation.ERRORS[plugin](make_task(plugin).repo.repo_id, rng)["traceback"]
        for plugin in simulation.PLUGINS
    }

    assert all(isinstance(frame, str) for frame in shapes["yum"])
    assert isinstance(shapes["docker"], str)
    assert shapes["docker"].startswith("Traceback (most recent call last):")
    assert all(isinstance(frame, list) and len(frame) == 4 for frame in shapes["puppet"])


@pytest.mark.parametrize("result", ["success", "failed", "skipped"])
def test_it_builds_publish_finishes_that_fold_into_their_result(post, result):
    task = make_task("yum", kind="publish")
    post(simulation.start_event(task).body, status=200)

    post(simulation.publish_finish_event(task, result).body, status=200)

    run = Run.objects.get(task_id=task.task_id)
    assert run.kind == RunKind.PUBLISH
    assert run.state == result
    assert run.plugin == "yum_distributor"
    assert run.completed is not None
    if result == "skipped":
        assert run.summary == simulation.SKIPPED


def test_it_reports_per_item_errors_of_a_successful_sync(post):
    task = make_task("yum")
    errors = tuple(simulation.missing_packages(task.repo.repo_id, random.Random(4)))
    outcome = simulation.Outcome("success", added=5, item_errors=errors)

    post(simulation.sync_finish_event(task, outcome, random.Random(4)).body, status=200)

    run = Run.objects.get(task_id=task.task_id)
    assert run.state == RunState.SUCCESS
    assert run.item_error_count == len(errors)


def test_it_follows_a_lost_sync_with_a_new_start():
    (life,) = simulation.lifecycles(simulation.make_repos(1), rate=1000, failure_rate=1.0, seed=11)
    stream = life.events()
    events = [item for item in (next(stream) for _ in range(400)) if not isinstance(item, float)]

    lost = [index for index, event in enumerate(events) if event.result == "lost"]
    assert lost
    for index in lost:
        assert events[index].event_type == "repo.sync.start"
        assert events[index + 1].event_type == "repo.sync.start"
        assert (
            events[index + 1].body["call_report"]["task_id"]
            != (events[index].body["call_report"]["task_id"])
        )


def test_it_names_repositories_beyond_the_built_in_list_uniquely():
    repos = simulation.make_repos(200)

    assert len({repo.repo_id for repo in repos}) == 200
    assert repos[0].repo_id == "centos-9-baseos"


@pytest.mark.django_db(transaction=True)
def test_it_fails_when_the_server_refuses_events(through_client):
    with pytest.raises(CommandError, match=r"5 of 5 events were refused, first: 401 wrong token"):
        run_simulate("--token", "not-a-token", "--count", "5", "--rate", "5000")

    assert Event.objects.count() == 0


def test_it_stops_when_the_server_cannot_be_reached():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    with pytest.raises(CommandError, match=r"could not reach the server: repo\.sync\.start"):
        run_simulate(
            "--url", f"http://127.0.0.1:{port}", "--token", "t", "--count", "50", "--rate", "5000"
        )


@pytest.mark.django_db(transaction=True)
def test_it_posts_as_the_local_simulator_host_without_a_token(through_client, settings):
    settings.SIMULATE_TOKEN = ""

    output = run_simulate("--count", "4", "--rate", "5000", "--repos", "2")

    assert "posting as sync host 'simulator'" in output
    host = SyncHost.objects.get(name="simulator")
    assert Event.objects.filter(host=host).count() == 4


@pytest.mark.django_db(transaction=True)
def test_it_posts_with_the_simulate_token_setting(through_client, settings, host_and_token):
    host, token = host_and_token
    settings.SIMULATE_TOKEN = token

    output = run_simulate("--count", "3", "--rate", "5000", "--repos", "1")

    assert "3 accepted, 0 refused." in output
    assert Event.objects.filter(host=host).count() == 3
    assert not SyncHost.objects.filter(name="simulator").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--rate", "0"], "--rate must be above 0"),
        (["--repos", "0"], "--repos must be at least 1"),
        (["--failure-rate", "1.5"], "--failure-rate must be between 0 and 1"),
        (["--workers", "0"], "--workers must be at least 1"),
        (["--count", "0"], "--count must be at least 1"),
        (["--duration", "-1"], "--duration must be above 0"),
        (["--url", "ftp://example.org"], "--url must be an http(s) URL"),
    ],
)
def test_it_rejects_bad_options(args, message):
    with pytest.raises(CommandError, match=re.escape(message)):
        run_simulate("--token", "t", *args)
