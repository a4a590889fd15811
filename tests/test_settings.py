"""Settings read from the environment: strict parsing, safe defaults, a passing deploy check."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from dashboard.settings import envbool, envint

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION_ENV = ROOT / "deploy" / "production.env"
PRINT_SETTINGS = """
import json, sys
from django.conf import settings
print(json.dumps({name: getattr(settings, name) for name in sys.argv[1:]}, default=str))
"""


def _clean_env(**values: str) -> dict[str, str]:
    return {"PATH": os.environ["PATH"], "DJANGO_SETTINGS_MODULE": "dashboard.settings", **values}


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def settings_under(env: dict[str, str], *names: str) -> dict:
    result = _run(["-c", PRINT_SETTINGS, *names], _clean_env(**env))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def production_env() -> dict[str, str]:
    """deploy/production.env as documented, with a freshly generated SECRET_KEY."""
    env = {}
    for line in PRODUCTION_ENV.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, value = line.partition("=")
            env[name] = value
    env["SECRET_KEY"] = secrets.token_urlsafe(50)
    return env


@pytest.mark.parametrize(("raw", "expected"), [("true", True), ("FALSE", False), ("True", True)])
def test_it_reads_booleans(monkeypatch, raw, expected):
    monkeypatch.setenv("SOME_FLAG", raw)

    assert envbool("SOME_FLAG", "false") is expected


@pytest.mark.parametrize("raw", ["1", "yes", "on", "", "truee"])
def test_it_refuses_booleans_that_are_not_true_or_false(monkeypatch, raw):
    monkeypatch.setenv("SOME_FLAG", raw)

    with pytest.raises(
        ImproperlyConfigured, match=f"SOME_FLAG must be 'true' or 'false', not '{raw}'"
    ):
        envbool("SOME_FLAG", "false")


def test_it_reads_integers_and_defaults(monkeypatch):
    monkeypatch.setenv("SOME_NUMBER", "42")
    monkeypatch.delenv("UNSET_NUMBER", raising=False)

    assert envint("SOME_NUMBER", "7") == 42
    assert envint("UNSET_NUMBER", "7") == 7


@pytest.mark.parametrize("raw", ["10s", "1.5", "", "ten"])
def test_it_refuses_integers_that_are_not_integers(monkeypatch, raw):
    monkeypatch.setenv("SOME_NUMBER", raw)

    with pytest.raises(ImproperlyConfigured, match=f"SOME_NUMBER must be an integer, not '{raw}'"):
        envint("SOME_NUMBER", "7")


def test_it_refuses_to_start_without_a_secret_key_when_debug_is_off():
    result = _run(["-c", PRINT_SETTINGS, "DEBUG"], _clean_env())

    assert result.returncode != 0
    assert "SECRET_KEY is required when DEBUG is off" in result.stderr


def test_it_keeps_debug_off_unless_asked():
    assert settings_under({"SECRET_KEY": "k"}, "DEBUG") == {"DEBUG": False}
    assert settings_under({"DEBUG": "true"}, "DEBUG") == {"DEBUG": True}


def test_it_passes_the_deploy_check_with_the_documented_production_environment():
    result = _run(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        _clean_env(**production_env()),
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_it_fails_the_deploy_check_without_secure_cookies():
    env = production_env()
    env["SECURE_COOKIES"] = "false"

    result = _run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], _clean_env(**env))

    assert result.returncode != 0
    assert "security.W012" in result.stderr
    assert "security.W016" in result.stderr


def test_it_configures_postgresql_with_a_pool_and_no_persistent_connections():
    env = {"SECRET_KEY": "k", "DATABASE_URL": "postgres://app:pw@db.example.org:5433/dash"}

    database = settings_under(env, "DATABASES")["DATABASES"]["default"]

    assert database["ENGINE"] == "django.db.backends.postgresql"
    assert (database["HOST"], database["PORT"], database["NAME"]) == (
        "db.example.org",
        5433,
        "dash",
    )
    assert database["CONN_MAX_AGE"] == 0
    assert database["CONN_HEALTH_CHECKS"] is True
    assert database["OPTIONS"]["pool"] == {"min_size": 2, "max_size": 20, "timeout": 10}


def test_it_uses_sqlite_and_the_in_memory_layer_without_service_urls():
    found = settings_under({"SECRET_KEY": "k"}, "DATABASES", "CHANNEL_LAYERS")

    assert found["DATABASES"]["default"]["ENGINE"] == "django.db.backends.sqlite3"
    assert found["CHANNEL_LAYERS"]["default"]["BACKEND"] == "channels.layers.InMemoryChannelLayer"


def test_it_sets_the_redis_layer_capacity_and_expiry_deliberately():
    env = {"SECRET_KEY": "k", "REDIS_URL": "redis://cache.example.org:6379/3"}

    layer = settings_under(env, "CHANNEL_LAYERS")["CHANNEL_LAYERS"]["default"]

    assert layer["BACKEND"] == "channels_redis.core.RedisChannelLayer"
    assert layer["CONFIG"]["capacity"] == 5000
    assert layer["CONFIG"]["group_expiry"] == 86400
    (host,) = layer["CONFIG"]["hosts"]
    assert host["address"] == "redis://cache.example.org:6379/3"
    assert (host["socket_timeout"], host["socket_connect_timeout"]) == (10, 2)


def test_it_prefixes_script_name_and_static_url_with_url_prefix():
    env = {"SECRET_KEY": "k", "URL_PREFIX": "/pulp-dashboard/"}

    found = settings_under(env, "FORCE_SCRIPT_NAME", "STATIC_URL")

    assert found == {
        "FORCE_SCRIPT_NAME": "/pulp-dashboard",
        "STATIC_URL": "/pulp-dashboard/static/",
    }


def test_it_hashes_static_names_in_production_and_not_in_the_suite():
    production = settings_under({"SECRET_KEY": "k"}, "STORAGES")["STORAGES"]
    suite = settings_under({"SECRET_KEY": "k", "STATIC_MANIFEST": "false"}, "STORAGES")["STORAGES"]

    assert production["staticfiles"]["BACKEND"] == (
        "servestatic.storage.CompressedManifestStaticFilesStorage"
    )
    assert (
        suite["staticfiles"]["BACKEND"] == "django.contrib.staticfiles.storage.StaticFilesStorage"
    )


def test_it_selects_the_pubsub_layer_and_refuses_an_unknown_one():
    env = {"SECRET_KEY": "k", "REDIS_URL": "redis://127.0.0.1:6379/0", "CHANNEL_LAYER": "pubsub"}
    layer = settings_under(env, "CHANNEL_LAYERS")["CHANNEL_LAYERS"]["default"]

    result = _run(
        ["-c", PRINT_SETTINGS, "DEBUG"], _clean_env(**{**env, "CHANNEL_LAYER": "rabbitmq"})
    )

    assert layer["BACKEND"] == "channels_redis.pubsub.RedisPubSubChannelLayer"
    assert result.returncode != 0
    assert "CHANNEL_LAYER must be 'core' or 'pubsub', not 'rabbitmq'" in result.stderr
