"""A missing service skips its tests for a developer and fails them under REQUIRE_SERVICES=true."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from tests import servers


def run_pytest(test_file: str, **env: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, **env}
    environment.pop("PYTEST_CURRENT_TEST", None)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rsf", test_file],
        cwd=servers.ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def closed_postgres() -> str:
    return f"postgres://postgres@127.0.0.1:{servers.free_port()}/postgres"


def test_it_skips_postgres_tests_with_the_reason_when_postgres_is_missing(closed_postgres):
    result = run_pytest(
        "tests/test_production_concurrency.py",
        TEST_POSTGRES_URL=closed_postgres,
        REQUIRE_SERVICES="false",
    )

    assert result.returncode == 0, result.stdout
    assert f"PostgreSQL is not reachable at {closed_postgres}" in result.stdout
    assert re.search(r"^\d+ skipped in ", result.stdout, re.MULTILINE), result.stdout


def test_it_fails_postgres_tests_when_services_are_required(closed_postgres):
    result = run_pytest(
        "tests/test_production_concurrency.py",
        TEST_POSTGRES_URL=closed_postgres,
        REQUIRE_SERVICES="true",
    )

    assert result.returncode == 1
    assert "and REQUIRE_SERVICES=true" in result.stdout
    assert re.search(r"^\d+ errors in ", result.stdout, re.MULTILINE), result.stdout


def test_it_fails_nginx_tests_when_nginx_is_missing_and_services_are_required():
    result = run_pytest(
        "tests/test_production_scale_out.py::test_it_reports_both_services_healthy_through_nginx",
        NGINX="/nonexistent/nginx",
        REQUIRE_SERVICES="true",
    )

    assert result.returncode == 1
    assert "nginx is not installed at /nonexistent/nginx, and REQUIRE_SERVICES=true" in (
        result.stdout
    )


@pytest.mark.parametrize("layer", ["core", "pubsub"])
def test_it_carries_a_message_over_the_shared_redis_with_either_layer(
    requires_redis, tmp_path, layer
):
    env = servers.server_env(
        SQLITE_PATH=str(tmp_path / "db.sqlite3"), REDIS_URL=requires_redis, CHANNEL_LAYER=layer
    )

    output = servers.manage(env, "shell", "-c", "from events import health; print(health.check())")

    assert (
        output.strip().splitlines()[-1] == "{'database': 'ok', 'channel_layer': 'ok', 'ok': True}"
    )
