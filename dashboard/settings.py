"""Project settings. The environment is read here and nowhere else."""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
import redis.exceptions
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def envbool(name: str, default: str) -> bool:
    value = os.environ.get(name, default).lower()
    if value not in ("true", "false"):
        raise ImproperlyConfigured(f"{name} must be 'true' or 'false', not {value!r}")
    return value == "true"


def envint(name: str, default: str) -> int:
    value = os.environ.get(name, default)
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, not {value!r}") from None


def envlist(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = envbool("DEBUG", "false")
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY is required when DEBUG is off")
    SECRET_KEY = "insecure-development-key-never-used-when-debug-is-off"  # noqa: S105

ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]")
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "servestatic.runserver_nostatic",
    "django.contrib.staticfiles",
    "channels",
    "events",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "servestatic.middleware.ServeStaticMiddleware",
    "events.security.content_security_policy_middleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "events.security.login_rate_limit_middleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "dashboard.urls"
ASGI_APPLICATION = "dashboard.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# SQLite waits for the write lock instead of failing at once, and IMMEDIATE makes every
# transaction take it up front, so two ingests never deadlock upgrading a read lock.
SQLITE_PATH = os.environ.get("SQLITE_PATH", str(BASE_DIR / "db.sqlite3"))
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": SQLITE_PATH,
        "OPTIONS": {"timeout": 20, "transaction_mode": "IMMEDIATE"},
        "TEST": {"NAME": os.environ.get("SQLITE_TEST_PATH", str(BASE_DIR / "test-db.sqlite3"))},
    }
}
DATABASE_URL = os.environ.get("DATABASE_URL", "")
if DATABASE_URL:
    # The pool hands out only connections that pass a check, so a restarted PostgreSQL costs
    # no failed request.
    DATABASES["default"] = dj_database_url.parse(
        DATABASE_URL, conn_max_age=0, conn_health_checks=True
    )
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        # Under ASGI every request runs in its own thread: persistent connections leak,
        # so a pool replaces CONN_MAX_AGE. The timeout bounds how long an ingest waits for
        # an unreachable database before answering 503.
        options = DATABASES["default"].setdefault("OPTIONS", {})
        options.setdefault("connect_timeout", envint("DATABASE_CONNECT_TIMEOUT", "5"))
        options["pool"] = {
            "min_size": envint("DATABASE_POOL_MIN", "2"),
            "max_size": envint("DATABASE_POOL_MAX", "20"),
            "timeout": envint("DATABASE_POOL_TIMEOUT", "10"),
        }

REDIS_URL = os.environ.get("REDIS_URL", "")
# Both channels-redis layers work. bench/channel_layers.py measured them: equally fast with CPU
# to spare, but under load PubSub gives up whole pushes (its publishes queue on one lock), so
# core is the default (deploy/README.md has the numbers).
CHANNEL_LAYER_BACKENDS = {
    "core": "channels_redis.core.RedisChannelLayer",
    "pubsub": "channels_redis.pubsub.RedisPubSubChannelLayer",
}
CHANNEL_LAYER = os.environ.get("CHANNEL_LAYER", "core")
if CHANNEL_LAYER not in CHANNEL_LAYER_BACKENDS:
    raise ImproperlyConfigured(f"CHANNEL_LAYER must be 'core' or 'pubsub', not {CHANNEL_LAYER!r}")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": CHANNEL_LAYER_BACKENDS[CHANNEL_LAYER],
            "CONFIG": {
                # redis-py 8 defaults socket_timeout to 5 s, racing the layer's 5 s blocking
                # pop and closing idle sockets; explicit timeouts avoid that. After a Redis
                # restart the first command on each pooled connection fails: retry it once.
                "hosts": [
                    {
                        "address": REDIS_URL,
                        "socket_timeout": 10,
                        "socket_connect_timeout": 2,
                        "retry_on_error": [redis.exceptions.ConnectionError],
                        # redis-py's async pool refuses a command beyond 100 connections at
                        # once instead of waiting: hundreds of pages reconnecting together
                        # (after a deploy) need more for their group_add calls.
                        "max_connections": envint("REDIS_MAX_CONNECTIONS", "1000"),
                    }
                ],
                # Messages waiting per socket: the default of 100 drops group messages
                # silently in a burst; a burst of thousands of events must arrive.
                "capacity": envint("CHANNEL_CAPACITY", "5000"),
                # A socket open longer than this stops getting group messages, silently.
                # deploy/serve.sh closes sockets after 12 h (pages reconnect and rejoin),
                # well inside this; a crashed process's memberships are gone after a day.
                "group_expiry": envint("CHANNEL_GROUP_EXPIRY", "86400"),
            },
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = False
USE_TZ = True

FORCE_SCRIPT_NAME = os.environ.get("URL_PREFIX", "").rstrip("/") or None
_PREFIX = FORCE_SCRIPT_NAME or ""
STATIC_URL = f"{_PREFIX}/static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
# Hashed, compressed names let ServeStatic send far-future cache headers; they need
# `collectstatic` first, so the test suite (tests/environment.py) uses plain names.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "servestatic.storage.CompressedManifestStaticFilesStorage"
        if envbool("STATIC_MANIFEST", "true")
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
LOGIN_URL = "login"
# LOGIN_FAILURE_LIMIT failed logins for one username from one address lock that pair out for
# LOGIN_LOCKOUT_SECONDS (events/security.py).
LOGIN_FAILURE_LIMIT = envint("LOGIN_FAILURE_LIMIT", "5")
LOGIN_LOCKOUT_SECONDS = envint("LOGIN_LOCKOUT_SECONDS", "900")
LOGIN_REDIRECT_URL = "events:overview"
LOGOUT_REDIRECT_URL = "login"

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Pulp repeats a sync's error list in payload.details and call_report.progress_report: bodies
# of several megabytes are normal, so the limit is ours, far above Django's 2.5 MB default.
EVENTS_MAX_BODY_BYTES = envint("EVENTS_MAX_BODY_BYTES", str(32 * 1024 * 1024))
DATA_UPLOAD_MAX_MEMORY_SIZE = EVENTS_MAX_BODY_BYTES
# A run open longer than this is stalled, until its repository has RUN_STALLED_MIN_HISTORY
# successful runs; from then on RUN_STALLED_FACTOR times their p95, at least RUN_STALLED_FLOOR.
RUN_STALLED_AFTER = envint("RUN_STALLED_AFTER", "7200")
RUN_STALLED_MIN_HISTORY = envint("RUN_STALLED_MIN_HISTORY", "5")
RUN_STALLED_FACTOR = envint("RUN_STALLED_FACTOR", "3")
RUN_STALLED_FLOOR = envint("RUN_STALLED_FLOOR", "600")
# `manage.py prune` (run it from cron): successful runs are deleted after PRUNE_SUCCESS_DAYS,
# failed and incomplete ones after PRUNE_FAILURE_DAYS, raw event bodies emptied after
# PRUNE_BODY_DAYS. 0 keeps that kind of data forever.
PRUNE_SUCCESS_DAYS = envint("PRUNE_SUCCESS_DAYS", "30")
PRUNE_FAILURE_DAYS = envint("PRUNE_FAILURE_DAYS", "180")
PRUNE_BODY_DAYS = envint("PRUNE_BODY_DAYS", "14")
BROADCAST_TIMEOUT = float(os.environ.get("BROADCAST_TIMEOUT", "2"))
# Render and send live pushes after the ingest's response (on the server's event loop). Off,
# they are sent inside the request, before it answers: what the in-process tests need.
LIVE_PUSH_AFTER_RESPONSE = envbool("LIVE_PUSH_AFTER_RESPONSE", "true")
# The sync host token `manage.py simulate` posts with when --token is not given.
SIMULATE_TOKEN = os.environ.get("SIMULATE_TOKEN", "")

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
USE_X_FORWARDED_HOST = envbool("USE_X_FORWARDED_HOST", "false")
SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", "false")
# Load balancers probe the server ports directly, over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SESSION_COOKIE_SECURE = envbool("SECURE_COOKIES", "false")
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", "0")
SECURE_HSTS_INCLUDE_SUBDOMAINS = envbool("SECURE_HSTS_INCLUDE_SUBDOMAINS", "false")
SECURE_HSTS_PRELOAD = envbool("SECURE_HSTS_PRELOAD", "false")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"events": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")}},
}
