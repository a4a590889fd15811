"""Real processes for the production tests: daphne, a private Redis, nginx, a PostgreSQL database.

Every server listens on a free loopback port and is stopped by its context manager, so parallel
runs on one machine never share a port, a database or a Redis.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql
from websockets.sync.client import ClientConnection, connect

from tests.helpers import load_event

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
DAPHNE = str(Path(sys.executable).with_name("daphne"))
STARTUP_SECONDS = 30

SETUP_SCRIPT = """
import json
from django.contrib.auth import get_user_model
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from events.models import SyncHost

user = get_user_model().objects.create_user("viewer", password="viewer-password")
session = SessionStore()
session[SESSION_KEY] = str(user.pk)
session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
session[HASH_SESSION_KEY] = user.get_session_auth_hash()
session.create()
host, token = SyncHost.create_with_token("sync-production-test")
print(json.dumps({"session": session.session_key, "token": token}))
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on port {port} after {STARTUP_SECONDS} s")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# Passed on to servers: the system's, and the layer choice so the suite can run on either.
INHERITED = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "CHANNEL_LAYER")


def server_env(**overrides: str) -> dict[str, str]:
    """A production-like environment for a server process (DEBUG off, no TLS in front).

    Nothing else of the test run's environment leaks in: the suite's own database, Redis and
    static storage settings are not the server's.
    """
    env = {key: os.environ[key] for key in INHERITED if key in os.environ}
    env.update(
        DEBUG="false",
        SECRET_KEY="production-test-secret-key-" + "x" * 40,
        ALLOWED_HOSTS="127.0.0.1,localhost",
        DATABASE_POOL_TIMEOUT="3",
        STATIC_MANIFEST="false",
        PYTHONUNBUFFERED="1",
    )
    env.update(overrides)
    return env


def manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [PYTHON, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    if result.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stderr}")
    return result.stdout


@dataclass(frozen=True)
class Credentials:
    session: str
    token: str


def prepare_database(env: dict[str, str]) -> Credentials:
    """Migrate, then create a logged-in session and a sync host token."""
    manage(env, "migrate", "--noinput")
    output = manage(env, "shell", "-c", SETUP_SCRIPT)
    data = json.loads(output.strip().splitlines()[-1])
    return Credentials(session=data["session"], token=data["token"])


@contextmanager
def postgres_database(admin_url: str, purpose: str) -> Iterator[str]:
    """A fresh database named after its purpose; dropped afterwards. Yields its URL."""
    name = f"pulp_dashboard_{purpose}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    parts = urlsplit(admin_url)
    try:
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


class RedisServer:
    """A private redis-server on a fixed port that can be stopped and started again."""

    def __init__(self, program: str, workdir: Path) -> None:
        self.program = program
        self.workdir = workdir
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                self.program,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port, self.process)

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process)
            self.process = None


@contextmanager
def redis_server(program: str, workdir: Path) -> Iterator[RedisServer]:
    server = RedisServer(program, workdir)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def daphne(env: dict[str, str], log: Path, port: int | None = None) -> Iterator[str]:
    """A daphne process serving the project; yields its base URL."""
    port = port or free_port()
    with log.open("w") as output:
        process = subprocess.Popen(
            [DAPHNE, "-b", "127.0.0.1", "-p", str(port), "dashboard.asgi:application"],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        try:
            wait_for_port(port, process)
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}\n{log.read_text()}") from None
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(process)


def _substitute(pattern: str, replacement: str, text: str) -> str:
    result, count = re.subn(pattern, replacement, text, flags=re.MULTILINE | re.DOTALL)
    if count == 0:
        raise AssertionError(f"deploy/nginx.conf no longer matches {pattern!r}")
    return result


def nginx_config(template: str, *, upstreams: list[str], port: int, workdir: Path) -> str:
    """deploy/nginx.conf on the test's ports, plain HTTP, inside a main config for a non-root nginx.

    Only what a test cannot have is replaced: the certificate, the HTTPS redirect, the ports.
    """
    servers = "".join(f"    server {address};\n" for address in upstreams)
    site = _substitute(r"^(    server 127\.0\.0\.1:\d+;\n)+", servers, template)
    site = _substitute(r"^server \{\n    listen 80;\n.*?^\}\n", "", site)
    site = _substitute(r"^\s*ssl_certificate\S* [^;]+;\n", "", site)
    site = _substitute(r"listen 443 ssl;", f"listen 127.0.0.1:{port};", site)
    site = _substitute(
        r"access_log /var/log/nginx/pulp-dashboard\.access\.log",
        f"access_log {workdir / 'nginx-access.log'}",
        site,
    )
    temp = workdir / "nginx-temp"
    temp.mkdir(exist_ok=True)
    # Running as root, nginx's workers would switch to nobody, who cannot enter the test's
    # private temporary directory.
    user = "user root;\n" if os.geteuid() == 0 else ""
    return (
        f"{user}daemon off;\npid {workdir / 'nginx.pid'};\nerror_log {workdir / 'nginx-error.log'};\n"
        "events { worker_connections 256; }\n"
        "http {\n"
        f"  access_log {workdir / 'nginx-access.log'};\n"
        f"  client_body_temp_path {temp}/body;\n  proxy_temp_path {temp}/proxy;\n"
        f"  fastcgi_temp_path {temp}/fastcgi;\n  uwsgi_temp_path {temp}/uwsgi;\n"
        f"  scgi_temp_path {temp}/scgi;\n"
        f"{site}\n}}\n"
    )


@contextmanager
def nginx(program: str, config: str, port: int, workdir: Path) -> Iterator[str]:
    path = workdir / "nginx.conf"
    path.write_text(config)
    process = subprocess.Popen(
        [program, "-c", str(path), "-e", str(workdir / "nginx-error.log")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for_port(port, process)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(process)


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]
    headers: dict[str, str]


def post_event(url: str, token: str | None, body: str | bytes, timeout: float = 30) -> Answer:
    """POST an event; with token None the URL must carry the credentials (?token=)."""
    data = body.encode() if isinstance(body, str) else body
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=data, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return Answer(response.status, json.loads(response.read()), dict(response.headers))
    except urllib.error.HTTPError as exc:
        return Answer(exc.code, json.loads(exc.read()), dict(exc.headers))


def post_form(url: str, fields: dict[str, str], **headers: str) -> tuple[int, Message]:
    """POST a form without following the redirect: status and headers (get_all for cookies)."""
    data = urllib.parse.urlencode(fields).encode()
    request = urllib.request.Request(url, data=data, method="POST", headers=headers)
    try:
        with _OPENER.open(request, timeout=10) as response:
            return response.status, response.headers
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


def get(url: str, timeout: float = 10, **headers: str) -> tuple[int, bytes, dict[str, str]]:
    """GET without following redirects: status, body and headers."""
    request = urllib.request.Request(url, headers=headers)
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), dict(exc.headers)


class CuttingProxy:
    """A TCP proxy to PostgreSQL that can drop a connection in the middle of a transaction.

    After cut_on(marker), the first client packet containing marker is not forwarded: both
    sides of that connection are closed, as when the database host dies mid-request.
    """

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.marker: bytes | None = None
        self.cuts = 0
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def cut_on(self, marker: bytes | None) -> None:
        with self._lock:
            self.marker = marker

    def close(self) -> None:
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _should_cut(self, data: bytes) -> bool:
        with self._lock:
            if self.marker is None or self.marker not in data:
                return False
            self.marker = None
            self.cuts += 1
            return True

    def _pump(self, source: socket.socket, sink: socket.socket, from_client: bool) -> None:
        try:
            while data := source.recv(65536):
                if from_client and self._should_cut(data):
                    break
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)
                end.close()


def through_port(url: str, port: int) -> str:
    """The same database URL on another port, unencrypted so a proxy can read the queries."""
    parts = urlsplit(url)
    netloc = f"{parts.username}@127.0.0.1:{port}" if parts.username else f"127.0.0.1:{port}"
    return urlunsplit(parts._replace(netloc=netloc, query="sslmode=disable"))


def rows(database_url: str, query: str, *params: Any) -> list[tuple]:
    with psycopg.connect(database_url) as db:
        return db.execute(query, params).fetchall()


def event_body(name: str, repo_id: str, task_id: str) -> str:
    """A fixture event for this repository and task, with a result id unique to the task."""
    event = load_event(name)
    event["payload"]["repo_id"] = repo_id
    event["call_report"]["task_id"] = task_id
    if "id" in event["payload"]:
        event["payload"]["id"] = uuid.uuid5(uuid.NAMESPACE_URL, task_id).hex[:24]
    return json.dumps(event)


def live_socket(
    base_url: str, session: str, groups: str = "overview", path: str = "/ws/live/"
) -> ClientConnection:
    """A logged-in page's websocket, with the Origin header a browser sends."""
    url = base_url.replace("http", "ws", 1) + f"{path}?groups={groups}"
    return connect(
        url,
        additional_headers={"Cookie": f"sessionid={session}", "Origin": base_url},
        open_timeout=10,
    )


def receive_containing(socket: ClientConnection, text: str, timeout: float = 10) -> str:
    """The first message that contains text; fails after timeout seconds."""
    deadline = time.monotonic() + timeout
    while (remaining := deadline - time.monotonic()) > 0:
        try:
            message = socket.recv(timeout=remaining)
        except TimeoutError:
            break
        if text in message:
            return message
    raise AssertionError(f"no message containing {text!r} within {timeout} s")
