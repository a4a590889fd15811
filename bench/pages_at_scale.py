"""Pages at scale: the same pages on 10,000 repositories / 1,000,000 runs and on 100 / 1,000.

Each size is loaded into its own fresh PostgreSQL database with COPY (bench/seed.py), then a
child process renders every page server side with Django's test client (the full middleware
stack, no network) and reports the median time, the number of queries and the slowest query.
The small history is the ceiling: a page whose cost does not grow with history takes about as
long on both. It is shaped so that every page lists as many rows on it as on the large history
(the row counts are compared, and a difference fails the run): otherwise a ratio would measure
how full a page is, not how much history lies behind it.

    .venv/bin/python bench/pages_at_scale.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

# Run as a script: make the project importable (bench.*, and the settings the server uses).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import report, server

if TYPE_CHECKING:
    from events.models import Repository, Run

TARGET_RATIO = 1.5
SIZES = {
    "large": {"repositories": 10_000, "runs_per_repository": 100, "busiest_runs": 1_000},
    # The ceiling: as many rows on every page as the large history, from 1,000 runs. Most
    # repositories are running (and stalled) or failing, half the failed runs share one cause,
    # and the busiest repository holds a tenth of the runs.
    "small": {
        "repositories": 100,
        "runs_per_repository": 9,
        "busiest_runs": 109,
        "running_share": 0.6,
        "failure_share": 0.6,
        "outage_share": 0.5,
    },
    "quick-large": {
        "repositories": 1_000,
        "runs_per_repository": 50,
        "busiest_runs": 500,
        "running_share": 0.1,
    },
}
# What a page lists: table rows, grid rows, failure groups.
ROW_MARKERS = (b"<tr", b'role="row"', b'class="card failure-group"')


def _measured() -> tuple[Repository, Run, str]:
    """The repository, run and failure group measured: the seeder makes each fill its page."""
    from bench import seed
    from events.models import Repository, Run

    repository = Repository.objects.get(repo_id=seed.repo_id(seed.BUSIEST))
    errors = Run.objects.filter(repository=repository, state="error")
    return repository, errors.order_by("-started", "-id").first(), seed.outage_fingerprint()


def _pages() -> list[tuple[str, str]]:
    """(label, URL) of every page measured, on the same rows at both sizes."""
    from django.urls import reverse

    repository, run, fingerprint = _measured()
    overview = reverse("events:overview")
    return [
        ("overview", overview),
        ("overview running", overview + "?state=running"),
        ("overview failed", overview + "?state=failed"),
        ("overview stalled", overview + "?state=stalled"),
        # "mirror-0000": repositories 1 to 9, at every size.
        ("overview search", overview + f"?q={repository.repo_id[:11]}"),
        ("overview recent first", overview + "?sort=recent"),
        ("repository", reverse("events:repository", args=[repository.repo_id])),
        ("run", reverse("events:run", args=[run.pk])),
        ("failures", reverse("events:failures")),
        ("failure group", reverse("events:failure-group", args=[fingerprint])),
        ("events", reverse("events:events")),
        ("hosts", reverse("events:hosts")),
    ]


def _shape() -> dict[str, int]:
    """How many rows the measured lists hold in all; each page shows 50 of them."""
    from events import live
    from events.models import FAILURE_STATES, Run

    repository, _, fingerprint = _measured()
    counters = live.overview_counters()
    group = Run.objects.filter(fingerprint=fingerprint, state__in=FAILURE_STATES)
    return {
        "repository runs": repository.runs.count(),
        "failure group runs": group.count(),
        "running": counters["running"],
        "failing": counters["failing"],
        "stalled": counters["stalled"],
    }


def _request(client, url: str) -> dict:
    """One timed request, with its queries captured (the capture costs the same at both sizes)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        response = client.get(url)
        seconds = time.perf_counter() - started
    if response.status_code != 200:
        raise RuntimeError(f"GET {url}: HTTP {response.status_code}")
    slowest = max(queries.captured_queries, key=lambda query: float(query["time"]), default=None)
    return {
        "seconds": seconds,
        "queries": len(queries.captured_queries),
        "slowest_ms": float(slowest["time"]) * 1000 if slowest else 0.0,
        "slowest_sql": slowest["sql"][:400] if slowest else "",
        # How full the page is: a page of 50 rows costs more than one of 10 at any size.
        "rows": sum(response.content.count(marker) for marker in ROW_MARKERS),
    }


def child(size_name: str) -> None:
    """In the child: migrate, seed, announce the pages, then time one page per input line."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.test import Client

    from bench.seed import Size, seed

    call_command("migrate", verbosity=0, interactive=False)
    started = time.perf_counter()
    counts = seed(Size(**SIZES[size_name]))
    seeded = time.perf_counter() - started
    client = Client(HTTP_HOST="localhost")
    client.force_login(get_user_model().objects.create_superuser("bench", password="bench-pw"))
    pages = dict(_pages())
    ready = {"counts": counts, "seed_seconds": seeded, "pages": pages, "shape": _shape()}
    print(json.dumps(ready), flush=True)
    for line in sys.stdin:
        print(json.dumps(_request(client, pages[line.strip()])), flush=True)


class Child:
    """A seeded database and the process that renders its pages, driven line by line."""

    def __init__(self, size_name: str, database: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--child", size_name],
            env=server.base_env() | database,
            cwd=server.ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.ready: dict | None = None

    def wait_ready(self) -> dict:
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError("the page child exited before it was ready; see its stderr")
        self.ready = json.loads(line)
        return self.ready

    def request(self, label: str) -> dict:
        self.process.stdin.write(label + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the page child died on {label}; see its stderr")
        return json.loads(line)

    def stop(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=30)


def measure(large_name: str, repeats: int) -> dict[str, dict]:
    """Seed both sizes, then time every page alternating small and large, round after round."""
    with (
        server.postgres_database("pages_small") as small_database,
        server.postgres_database("pages_large") as large_database,
    ):
        children = {"small": Child("small", small_database)}
        children["small"].wait_ready()
        children["large"] = Child(large_name, large_database)
        children["large"].wait_ready()
        labels = list(children["small"].ready["pages"])
        samples: dict[str, dict[str, list[dict]]] = {name: {} for name in children}
        try:
            for round_number in range(repeats + 2):
                for label in labels:
                    for name, child_process in children.items():
                        sample = child_process.request(label)
                        if round_number >= 2:
                            samples[name].setdefault(label, []).append(sample)
        finally:
            for child_process in children.values():
                child_process.stop()
    return {
        name: {
            "counts": children[name].ready["counts"],
            "seed_seconds": children[name].ready["seed_seconds"],
            "shape": children[name].ready["shape"],
            "pages": {label: _summary(found) for label, found in samples[name].items()},
        }
        for name in children
    }


def _summary(samples: list[dict]) -> dict:
    slowest = max(samples, key=lambda sample: sample["slowest_ms"])
    return {
        "p50": report.percentile([sample["seconds"] for sample in samples], 0.5),
        "queries": max(sample["queries"] for sample in samples),
        "slowest_ms": report.percentile([sample["slowest_ms"] for sample in samples], 0.5),
        "slowest_sql": slowest["slowest_sql"],
        "rows": samples[-1]["rows"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 repositories, 50,000 runs")
    parser.add_argument("--repeats", type=int, help="timed requests per page")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    repeats = args.repeats or (5 if args.quick else 25)
    if args.child:
        child(args.child)
        return 0
    large_name = "quick-large" if args.quick else "large"
    results = measure(large_name, repeats)
    small, large = results["small"], results["large"]
    print(f"\nPages at scale: {report.machine()}")
    for name, result in results.items():
        counts = result["counts"]
        print(
            f"{name}: {counts['repositories']:,} repositories, {counts['runs']:,} runs, "
            f"{counts['events']:,} events, loaded with COPY in {result['seed_seconds']:.0f} s; "
            + ", ".join(f"{count:,} {name}" for name, count in result["shape"].items())
        )
    print(
        f"p50 of {repeats} requests per page, server side (Django test client), small and large "
        "alternating request by request\n"
    )
    rows, unfair, problems = [], [], []
    for label, big in large["pages"].items():
        ceiling = small["pages"][label]
        value = big["p50"] / ceiling["p50"]
        rows.append(
            [
                label,
                report.ms(ceiling["p50"]),
                report.ms(big["p50"]),
                f"{value:.2f}",
                ceiling["queries"],
                big["queries"],
                f"{ceiling['rows']} / {big['rows']}",
                f"{big['slowest_ms']:.1f}",
            ]
        )
        if value > TARGET_RATIO:
            problems.append(
                f"{label}: {value:.2f}x the small history's time; slowest query "
                f"{big['slowest_ms']:.1f} ms: {big['slowest_sql']}"
            )
        if big["rows"] != ceiling["rows"]:
            unfair.append(
                f"{label}: {ceiling['rows']} rows on the small history, {big['rows']} on the "
                "large one: the ratio measures how full the page is, not history"
            )
        if big["queries"] != ceiling["queries"]:
            problems.append(
                f"{label}: {ceiling['queries']} queries on the small history, {big['queries']} "
                "on the large one"
            )
    headers = ["page", "small p50 ms", "large p50 ms", "ratio", "queries small"]
    headers += ["queries large", "table rows small / large", "slowest query p50 ms (large)"]
    print(report.table(headers, rows))
    return report.conclude(unfair, problems)


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    sys.exit(main())
