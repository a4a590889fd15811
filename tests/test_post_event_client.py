"""tools/post-event, the sync-host client: against a real daphne, and a scripted fake server."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests import servers

CLIENT = servers.ROOT / "tools" / "post-event"
EXIT_SENT, EXIT_REFUSED, EXIT_USAGE, EXIT_SPOOLED = 0, 1, 2, 75


@dataclass(frozen=True)
class Dashboard:
    env: dict[str, str]
    database: Path
    token: str


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory) -> Dashboard:
    directory = tmp_path_factory.mktemp("post-event-dashboard")
    database = directory / "db.sqlite3"
    env = servers.server_env(SQLITE_PATH=str(database), STATIC_MANIFEST="false")
    credentials = servers.prepare_database(env)
    return Dashboard(env=env, database=database, token=credentials.token)


def run_client(
    *args: str, url: str, token: str, spool: Path, stdin: str = ""
) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/bin", "DASHBOARD_URL": url, "DASHBOARD_TOKEN": token}
    # Short pauses keep the suite fast; the Retry-After test asks for longer ones.
    pauses = [] if "--max-wait" in args else ["--max-wait", "0.2"]
    return subprocess.run(
        [sys.executable, str(CLIENT), *args, "--spool", str(spool), *pauses],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def spooled(spool: Path) -> list[Path]:
    return sorted(spool.glob("*.json"))


def stored_events(database: Path, repo_id: str) -> list[tuple[str, str]]:
    with sqlite3.connect(database) as connection:
        return connection.execute(
            "SELECT event_type, outcome FROM events_event WHERE repo_id = ? ORDER BY id",
            (repo_id,),
        ).fetchall()


def api_runs(url: str, token: str, repo_id: str) -> list[dict]:
    status, body, _ = servers.get(
        f"{url}/api/runs/?repo={repo_id}", Authorization=f"Bearer {token}"
    )
    assert status == 200, body
    return json.loads(body)["results"]


def test_it_spools_while_the_dashboard_is_down_and_flushes_each_event_once(dashboard, tmp_path):
    port = servers.free_port()
    url = f"http://127.0.0.1:{port}"
    spool = tmp_path / "spool"

    def client(*args: str) -> subprocess.CompletedProcess:
        return run_client(*args, "--retries", "1", url=url, token=dashboard.token, spool=spool)

    started = client("start", "--repo", "down/repo-a")
    finished = client("finish", "--repo", "down/repo-a", "--result", "success", "--added", "3")
    published = client(
        "start", "--repo", "down/repo-b", "--kind", "publish", "--distributor-id", "yum_dist"
    )
    failed = client(
        "finish",
        "--repo",
        "down/repo-b",
        "--kind",
        "publish",
        "--distributor-id",
        "yum_dist",
        "--result",
        "failed",
        "--error-message",
        "upload to https://cdn:hunter2@cdn.example.com failed",
    )

    assert [r.returncode for r in (started, finished, published, failed)] == [EXIT_SPOOLED] * 4
    assert "4 event(s) kept in" in failed.stderr
    assert len(spooled(spool)) == 4
    task_id = started.stdout.strip()

    with servers.daphne(dashboard.env, tmp_path / "daphne.log", port=port):
        flushed = client("flush")
        again = client("flush")
        sync_runs = api_runs(url, dashboard.token, "down/repo-a")
        publish_runs = api_runs(url, dashboard.token, "down/repo-b")

    assert flushed.returncode == EXIT_SENT, flushed.stderr
    assert again.returncode == EXIT_SENT, again.stderr
    assert spooled(spool) == []
    assert list((spool / "rejected").iterdir()) == []
    assert stored_events(dashboard.database, "down/repo-a") == [
        ("repo.sync.start", "applied"),
        ("repo.sync.finish", "applied"),
    ]
    assert stored_events(dashboard.database, "down/repo-b") == [
        ("repo.publish.start", "applied"),
        ("repo.publish.finish", "applied"),
    ]
    assert [(r["kind"], r["state"], r["task_id"], r["added_count"]) for r in sync_runs] == [
        ("sync", "success", task_id, 3)
    ]
    assert [(r["kind"], r["state"], r["plugin"]) for r in publish_runs] == [
        ("publish", "failed", "yum_dist")
    ]
    assert publish_runs[0]["explanation"] == (
        "upload to https://cdn:[redacted]@cdn.example.com failed"
    )


def test_it_sends_at_once_and_pairs_the_finish_with_its_start(dashboard, tmp_path):
    spool = tmp_path / "spool"
    traceback = tmp_path / "traceback.txt"
    traceback.write_text('Traceback (most recent call last):\n  File "x.py", line 1\nOSError\n')

    with servers.daphne(dashboard.env, tmp_path / "daphne.log") as url:
        started = run_client(
            "start", "--repo", "up-repo", url=url, token=dashboard.token, spool=spool
        )
        finished = run_client(
            "finish",
            "--repo",
            "up-repo",
            "--result",
            "error",
            "--exception",
            "OSError()",
            "--traceback-file",
            str(traceback),
            "--details",
            '{"attempts": 2}',
            url=url,
            token=dashboard.token,
            spool=spool,
        )
        runs = api_runs(url, dashboard.token, "up-repo")

    assert started.returncode == EXIT_SENT, started.stderr
    assert finished.returncode == EXIT_SENT, finished.stderr
    assert [(r["state"], r["task_id"]) for r in runs] == [("error", started.stdout.strip())]
    assert stored_events(dashboard.database, "up-repo") == [
        ("repo.sync.start", "applied"),
        ("repo.sync.finish", "applied"),
    ]
    assert spooled(spool) == []


# A scripted server: each request gets the next answer, and is recorded.


@dataclass
class FakeDashboard:
    url: str
    requests: list[tuple[float, dict]]
    answers: list[tuple[int, dict[str, str], dict]]


@contextmanager
def fake_dashboard(answers: list[tuple[int, dict[str, str], dict]]) -> Iterator[FakeDashboard]:
    fake = FakeDashboard(url="", requests=[], answers=list(answers))

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            fake.requests.append((time.monotonic(), body))
            status, headers, answer = fake.answers.pop(0) if fake.answers else (200, {}, {})
            data = json.dumps(answer).encode()
            self.send_response(status)
            for name, value in {**headers, "Content-Type": "application/json"}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()


def test_it_retries_a_5xx_honouring_retry_after(tmp_path):
    unavailable = (503, {"Retry-After": "1"}, {"error": "database unavailable"})
    with fake_dashboard([unavailable]) as fake:
        result = run_client(
            "finish",
            "--repo",
            "r",
            "--result",
            "success",
            "--max-wait",
            "5",
            url=fake.url,
            token="t",
            spool=tmp_path,
        )

    assert result.returncode == EXIT_SENT, result.stderr
    assert "503 database unavailable" in result.stderr
    (first_at, first), (second_at, second) = fake.requests
    assert second_at - first_at >= 1
    assert first == second
    assert len(first["payload"]["id"]) == 24


def test_it_backs_off_on_connection_errors_then_spools(tmp_path):
    url = f"http://127.0.0.1:{servers.free_port()}"

    result = run_client(
        "start",
        "--repo",
        "r",
        "--retries",
        "3",
        "--max-wait",
        "1",
        url=url,
        token="t",
        spool=tmp_path,
    )

    assert result.returncode == EXIT_SPOOLED
    waits = [line for line in result.stderr.splitlines() if "retrying in" in line]
    assert [line.rsplit("retrying in ", 1)[1] for line in waits] == ["0.5 s", "1 s", "1 s"]
    assert len(spooled(tmp_path)) == 1


def test_it_never_retries_a_4xx_and_shows_the_error(tmp_path):
    refusal = (400, {}, {"error": "invalid payload.repo_id: must not be empty"})
    with fake_dashboard([refusal]) as fake:
        result = run_client(
            "finish", "--repo", "r", "--result", "success", url=fake.url, token="t", spool=tmp_path
        )

    assert result.returncode == EXIT_REFUSED
    assert len(fake.requests) == 1
    assert "400 invalid payload.repo_id: must not be empty" in result.stderr
    assert spooled(tmp_path) == []
    assert len(list((tmp_path / "rejected").glob("*.json"))) == 1


def test_it_keeps_the_events_when_the_token_is_refused(tmp_path):
    with fake_dashboard([(401, {}, {"error": "wrong token"})]) as fake:
        result = run_client("start", "--repo", "r", url=fake.url, token="t", spool=tmp_path)

    assert result.returncode == EXIT_REFUSED
    assert "401 wrong token" in result.stderr
    assert len(fake.requests) == 1
    assert len(spooled(tmp_path)) == 1


def test_it_keeps_the_events_when_redirected_instead_of_resending_them_as_a_get(tmp_path):
    moved = (301, {"Location": "https://dashboard.example.org/api/events/"}, {})
    with fake_dashboard([moved]) as fake:
        result = run_client("start", "--repo", "r", url=fake.url, token="t", spool=tmp_path)

    assert result.returncode == EXIT_REFUSED
    assert "redirected to https://dashboard.example.org/api/events/" in result.stderr
    assert len(fake.requests) == 1
    assert len(spooled(tmp_path)) == 1


def test_it_sends_spooled_events_in_the_order_they_happened(tmp_path):
    down = f"http://127.0.0.1:{servers.free_port()}"
    for args in [
        ("start", "--repo", "a"),
        ("start", "--repo", "b"),
        ("finish", "--repo", "a", "--result", "success"),
        ("finish", "--repo", "b", "--result", "failed"),
    ]:
        run_client(*args, "--retries", "0", url=down, token="t", spool=tmp_path)

    with fake_dashboard([]) as fake:
        result = run_client("flush", url=fake.url, token="t", spool=tmp_path)

    assert result.returncode == EXIT_SENT
    sent = [(body["event_type"], body["payload"]["repo_id"]) for _, body in fake.requests]
    assert sent == [
        ("repo.sync.start", "a"),
        ("repo.sync.start", "b"),
        ("repo.sync.finish", "a"),
        ("repo.sync.finish", "b"),
    ]
    tasks = [body["call_report"]["task_id"] for _, body in fake.requests]
    assert tasks[0] == tasks[2]
    assert tasks[1] == tasks[3]
    assert tasks[0] != tasks[1]


def test_it_builds_pulps_envelope(tmp_path):
    with fake_dashboard([]) as fake:
        run_client(
            "finish",
            "--repo",
            "r",
            "--result",
            "failed",
            "--task-id",
            "task-1",
            "--started",
            "2024-01-02T03:04:05Z",
            "--completed",
            "2024-01-02T03:09:05Z",
            "--importer-id",
            "yum_importer",
            "--added",
            "1",
            "--updated",
            "0",
            "--removed",
            "-1",
            "--error-message",
            "boom",
            "--traceback-file",
            "-",
            "--summary",
            '{"a": 1}',
            url=fake.url,
            token="t",
            spool=tmp_path,
            stdin="Traceback ...\nOSError\n",
        )

    ((_, body),) = fake.requests
    result_id = body["payload"].pop("id")
    assert len(result_id) == 24
    int(result_id, 16)
    assert body == {
        "event_type": "repo.sync.finish",
        "payload": {
            "repo_id": "r",
            "result": "failed",
            "started": "2024-01-02T03:04:05Z",
            "completed": "2024-01-02T03:09:05Z",
            "error_message": "boom",
            "exception": None,
            "traceback": "Traceback ...\nOSError\n",
            "summary": {"a": 1},
            "details": None,
            "importer_id": "yum_importer",
            "importer_type_id": None,
            "added_count": 1,
            "updated_count": 0,
            "removed_count": -1,
        },
        "call_report": {"task_id": "task-1", "state": "finished"},
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("start",), "the following arguments are required: --repo"),
        (("start", "--repo", "r", "--kind", "publish"), "a publish needs --distributor-id"),
        (("finish", "--repo", "r", "--result", "great"), "invalid choice: 'great'"),
        (("finish", "--repo", "r", "--result", "success", "--added", "x"), "expected a count"),
    ],
)
def test_it_explains_bad_usage(tmp_path, args, message):
    result = run_client(*args, url="http://127.0.0.1:1", token="t", spool=tmp_path)

    assert result.returncode == EXIT_USAGE
    assert message in result.stderr
    assert spooled(tmp_path) == []


def test_it_needs_a_url_and_token(tmp_path):
    result = run_client("flush", url="", token="", spool=tmp_path)

    assert result.returncode == EXIT_USAGE
    assert "the dashboard URL and token are required" in result.stderr
