"""deploy/serve.sh, which `make serve` runs: WORKERS processes on consecutive ports, one stop."""

from __future__ import annotations

import json
import signal
import socket
import subprocess

from tests import servers


def consecutive_free_ports(count: int) -> int:
    """The first of `count` consecutive ports that are free right now."""
    for _ in range(50):
        first = servers.free_port()
        if first + count > 65535:
            continue
        probes = []
        try:
            for port in range(first, first + count):
                probe = socket.socket()
                probes.append(probe)
                probe.bind(("127.0.0.1", port))
            return first
        except OSError:
            continue
        finally:
            for probe in probes:
                probe.close()
    raise RuntimeError(f"no {count} consecutive free ports")


def test_it_serves_from_every_worker_and_stops_them_all_on_sigterm(tmp_path):
    env = servers.server_env(SQLITE_PATH=str(tmp_path / "db.sqlite3"))
    servers.manage(env, "migrate", "--noinput")
    first = consecutive_free_ports(3)
    env.update(BIN=str(servers.Path(servers.DAPHNE).parent), PORT=str(first), WORKERS="3")

    with (tmp_path / "serve.log").open("w") as log:
        process = subprocess.Popen(
            [str(servers.ROOT / "deploy" / "serve.sh")], env=env, stdout=log, stderr=log
        )
    try:
        answers = []
        for port in range(first, first + 3):
            servers.wait_for_port(port, process)
            status, body, _ = servers.get(f"http://127.0.0.1:{port}/healthz")
            answers.append((status, json.loads(body)["ok"]))
    finally:
        process.send_signal(signal.SIGTERM)
        # Raises if the script does not stop its workers and exit.
        process.wait(timeout=20)

    assert answers == [(200, True)] * 3
    for port in range(first, first + 3):
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still listens"
