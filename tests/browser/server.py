"""A real dashboard for a browser: daphne in a subprocess on its own database, behind a proxy.

pytest-django's live_server is WSGI and cannot serve websockets, so the browser tests and
`make screenshots` start the ASGI server the way production does. The browser reaches it through
a proxy whose connections a test can cut, which drops the page's websocket for real.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from tests import servers

USERNAME = "admin"
HOST_NAME = "sync-browser-tests"


class SeverableProxy:
    """A TCP proxy that can cut every connection and refuse new ones, like a network outage."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self._up = threading.Event()
        self._up.set()
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def cut(self) -> None:
        """Close every open connection; refuse new ones until restore()."""
        self._up.clear()
        with self._lock:
            open_sockets = list(self._sockets)
        for sock in open_sockets:
            self._shut(sock)

    def restore(self) -> None:
        self._up.set()

    def close(self) -> None:
        self.cut()
        self._listener.close()

    def _shut(self, sock: socket.socket) -> None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()
        with self._lock:
            self._sockets.discard(sock)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if not self._up.is_set():
                self._shut(client)
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                self._shut(client)
                continue
            with self._lock:
                self._sockets.update((client, upstream))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            self._shut(source)
            self._shut(sink)


@dataclass(frozen=True)
class LiveServer:
    url: str  # what the browser opens: through the proxy
    direct_url: str  # daphne itself: where events are posted, unaffected by a cut
    token: str
    username: str
    password: str
    proxy: SeverableProxy
    log: Path

    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST one event as the sync host; fails unless the server answers 200."""
        request = urllib.request.Request(
            f"{self.direct_url}/api/events/",
            data=json.dumps(body).encode("ascii"),
            method="POST",
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise AssertionError(f"event refused: {exc.code} {exc.read()[:300]!r}") from None


def _maintenance_url(database_url: str) -> str:
    return urlunsplit(urlsplit(database_url)._replace(path="/postgres"))


def _other_redis_database(redis_url: str) -> str:
    # The suite empties its own Redis database before every test; the server's group
    # memberships and sequence numbers must survive that, so it gets the next database.
    parts = urlsplit(redis_url)
    index = int(parts.path.strip("/") or "0")
    return urlunsplit(parts._replace(path=f"/{(index + 1) % 16}"))


@contextmanager
def _database(workdir: Path) -> Iterator[dict[str, str]]:
    """The server's own database: a SQLite file, or a new PostgreSQL database when the suite
    runs on PostgreSQL (DATABASE_URL)."""
    database_url = os.environ.get("DATABASE_URL", "")
    if not database_url:
        yield {"SQLITE_PATH": str(workdir / "db.sqlite3")}
        return
    with servers.postgres_database(_maintenance_url(database_url), "browser") as url:
        yield {"DATABASE_URL": url}


def _prepare(env: dict[str, str], password: str, host_name: str) -> str:
    """Migrate, collect static files, create the admin and a sync host; return its token."""
    servers.manage(env, "migrate", "--noinput")
    servers.manage(env, "collectstatic", "--noinput", "--verbosity", "0")
    servers.manage(
        {**env, "DJANGO_SUPERUSER_PASSWORD": password},
        "createsuperuser",
        "--noinput",
        "--username",
        USERNAME,
        "--email",
        "admin@example.org",
    )
    return servers.manage(env, "addhost", host_name).strip().splitlines()[-1]


@contextmanager
def live_server(
    workdir: Path, *, host_name: str = HOST_NAME, **settings: str
) -> Iterator[LiveServer]:
    """A migrated, production-configured server with an admin account and a sync host token.

    Keyword arguments are extra environment variables for the server (RUN_STALLED_AFTER=...).
    DATABASE_URL and REDIS_URL of the calling process are followed, each with its own database.
    """
    password = secrets.token_urlsafe(16)
    redis_url = os.environ.get("REDIS_URL", "")
    with _database(workdir) as database:
        env = servers.server_env(
            STATIC_ROOT=str(workdir / "static"),
            STATIC_MANIFEST="true",
            **database,
            **({"REDIS_URL": _other_redis_database(redis_url)} if redis_url else {}),
            **settings,
        )
        token = _prepare(env, password, host_name)
        log = workdir / "daphne.log"
        with servers.daphne(env, log) as direct_url:
            proxy = SeverableProxy(urlsplit(direct_url).port)
            try:
                yield LiveServer(
                    url=f"http://127.0.0.1:{proxy.port}",
                    direct_url=direct_url,
                    token=token,
                    username=USERNAME,
                    password=password,
                    proxy=proxy,
                    log=log,
                )
            finally:
                proxy.close()
