"""Where an ingest request's time goes: cProfile over in-process requests, by step.

Not one of the four benchmarks: the tool behind the explanation in BENCHMARKS.md of why
ingestion is slower than the bare view. Posts the benchmark's event mix through Django's test
client on a fresh database (SQLite, or PostgreSQL with --database postgresql) with the
in-memory channel layer, then prints the time per request of each step (cumulative, so nested
steps are included in their callers) and the bare view's for comparison.

    .venv/bin/python bench/profile_ingest.py [--events 400] [--database postgresql]
        [--database-url postgresql://.../a_seeded_database]

--database-url profiles against an existing database (for example one loaded by bench/seed.py,
to see what ingestion costs beside a large history); it gains a host and the posted events.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import os
import pstats
import subprocess
import sys
import time
from pathlib import Path

# Run as a script: make the project importable (bench.*, and the settings the server uses).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import report, server
from bench.workload import make_pairs

# (label, file suffix, function name): the steps reported, outermost first.
STEPS = [
    ("whole request (Django's handler)", "django/core/handlers/base.py", "get_response"),
    ("ingest view", "events/views.py", "ingest_event"),
    ("authenticate host", "events/auth.py", "authenticate_host"),
    ("handle_event", "events/services/ingest.py", "handle_event"),
    ("redact", "events/redaction.py", "redact"),
    ("fold (transaction, with push)", "events/services/ingest.py", "_fold"),
    ("refresh repository pointers", "events/services/ingest.py", "_refresh_pointers"),
    ("publish_changes (on commit)", "events/services/broadcast.py", "publish_changes"),
    ("render_changes", "events/live.py", "render_changes"),
    ("overview_counters", "events/live.py", "overview_counters"),
    ("run_context", "events/live.py", "run_context"),
    ("repository_charts", "events/live.py", "repository_charts"),
    ("render_to_string (all fragments)", "django/template/loader.py", "render_to_string"),
    ("send (sequence numbers, group_send)", "events/services/broadcast.py", "send"),
    ("SQL execution", "django/db/backends/utils.py", "_execute"),
]


def _cumulative(stats: pstats.Stats, suffix: str, name: str) -> float:
    total = 0.0
    for (filename, _, function), (_, _, _, cumulative, _) in stats.stats.items():
        if function == name and filename.endswith(suffix):
            total += cumulative
    return total


def child(events: int, top: int = 0) -> None:
    import django

    django.setup()
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer
    from django.core.management import call_command
    from django.test import Client

    from events.models import SyncHost

    call_command("migrate", verbosity=0, interactive=False)
    # An open overview and failures page, as while an admin watches: pushes render for the
    # groups someone watches (events/services/broadcast.py `watched`).
    layer = get_channel_layer()
    for group in ("overview", "activity"):
        async_to_sync(layer.group_add)(group, f"profile.{group}")
    _, token = SyncHost.create_with_token(f"profile-host-{os.getpid()}")
    client = Client(HTTP_HOST="localhost")
    headers = {"Authorization": f"Bearer {token}"}
    pairs = make_pairs(events // 2 + 50, repositories=50)
    bodies = [body for pair in pairs for body in (pair.start, pair.finish)]

    def post(path: str, batch: list[bytes]) -> None:
        for body in batch:
            response = client.post(path, body, content_type="application/json", headers=headers)
            if response.status_code != 200:
                raise RuntimeError(f"{path}: HTTP {response.status_code} {response.content!r}")

    post("/api/events/", bodies[:100])
    started = time.perf_counter()
    post("/bench/bare/", bodies[:events])
    bare = (time.perf_counter() - started) / events
    profile = cProfile.Profile()
    profile.enable()
    post("/api/events/", bodies[100 : 100 + events])
    profile.disable()
    stats = pstats.Stats(profile)
    print(f"bare view, unprofiled: {bare * 1000:.2f} ms per request")
    rows = [
        [label, f"{_cumulative(stats, suffix, name) / events * 1000:.2f}"]
        for label, suffix, name in STEPS
    ]
    print(report.table(["step (profiled, cumulative)", "ms per ingest request"], rows))
    if top:
        stats.sort_stats("tottime").print_stats(top)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=400)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--database-url", help="an existing database to profile against")
    parser.add_argument("--top", type=int, default=0, help="also print the N costliest functions")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.events, args.top)
        return 0
    if args.database_url:
        database_context = contextlib.nullcontext({"DATABASE_URL": args.database_url})
    elif args.database == "postgresql":
        database_context = server.postgres_database("profile")
    else:
        database_context = server.sqlite_database()
    with database_context as database:
        where = "an existing database" if args.database_url else f"a fresh {args.database}"
        print(f"Ingest profile on {where} database: {report.machine()}")
        return subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
                "--events",
                str(args.events),
                "--top",
                str(args.top),
            ],
            # The test client has no event loop to push from after the response: push inline,
            # so the profile includes the push's cost.
            env=server.base_env() | database | {"LIVE_PUSH_AFTER_RESPONSE": "false"},
            cwd=server.ROOT,
            check=False,
        ).returncode


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    sys.exit(main())
