"""The project's settings, with the benchmark-only routes added to the URLconf."""

from dashboard.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
