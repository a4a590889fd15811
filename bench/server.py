"""Start the server under test in its own process, on a fresh database, and stop it after."""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
POSTGRES_ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/11")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def base_env() -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DATABASE_URL", "REDIS_URL", "SQLITE_PATH")
    }
    env.update(
        DJANGO_SETTINGS_MODULE="bench.settings",
        DEBUG="false",
        SECRET_KEY="bench-" + uuid.uuid4().hex,
        ALLOWED_HOSTS="127.0.0.1,localhost",
        LOG_LEVEL="WARNING",
        # No collectstatic run: plain static URLs (the pages' HTML is the same size).
        STATIC_MANIFEST="false",
        PYTHONPATH=str(ROOT),
    )
    return env


@contextlib.contextmanager
def sqlite_database() -> Iterator[dict[str, str]]:
    """Environment for a fresh file SQLite database, deleted afterwards."""
    with tempfile.TemporaryDirectory(prefix="bench-sqlite-") as directory:
        yield {"SQLITE_PATH": str(Path(directory) / "bench.sqlite3")}


@contextlib.contextmanager
def postgres_database(label: str) -> Iterator[dict[str, str]]:
    """Environment for a dedicated, freshly created PostgreSQL database, dropped afterwards."""
    name = f"bench_{label}_{os.getpid()}"
    with psycopg.connect(POSTGRES_ADMIN_URL + "/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield {"DATABASE_URL": f"{POSTGRES_ADMIN_URL}/{name}"}
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL + "/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def prepare(env: dict[str, str]) -> dict[str, str]:
    """Migrate the database named by env; returns the sync host's token and a session key."""
    result = subprocess.run(
        [PYTHON, "-m", "bench.prepare"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


ROW_COUNTS = {
    "event": "SELECT count(*) FROM events_event",
    "run": "SELECT count(*) FROM events_run",
}


def count_rows(database: dict[str, str]) -> dict[str, int]:
    """Events and runs stored in the database an environment names."""
    if "DATABASE_URL" in database:
        with psycopg.connect(database["DATABASE_URL"]) as connection:
            return {k: connection.execute(q).fetchone()[0] for k, q in ROW_COUNTS.items()}
    with sqlite3.connect(database["SQLITE_PATH"]) as connection:
        return {k: connection.execute(q).fetchone()[0] for k, q in ROW_COUNTS.items()}


@dataclass
class Server:
    port: int
    process: subprocess.Popen
    log_path: Path

    def rss_bytes(self) -> int:
        """Resident memory of the server process, from /proc."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError("no VmRSS line for the server process")


def _wait_until_listening(server: Server, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"server exited early; see {server.log_path}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", server.port)):
            return
        time.sleep(0.1)
    raise RuntimeError(f"server did not listen within {timeout} s; see {server.log_path}")


@contextlib.contextmanager
def running_server(env: dict[str, str], *, log_name: str = "server") -> Iterator[Server]:
    """One daphne process serving bench.ceiling_asgi on a free port."""
    port = free_port()
    log_path = Path(tempfile.gettempdir()) / f"bench-{log_name}-{port}.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [
                PYTHON,
                "-m",
                "daphne",
                "-v",
                "0",
                "-b",
                "127.0.0.1",
                "-p",
                str(port),
                "bench.ceiling_asgi:application",
            ],
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = Server(port, process, log_path)
    try:
        _wait_until_listening(server, timeout=30)
        yield server
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def raise_fd_limit() -> int:
    """Lift the soft open-files limit to the hard one: a thousand sockets need it."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard
