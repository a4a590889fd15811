"""Percentiles and plain-text tables, shared by the benchmark scripts."""

from __future__ import annotations

import math
import os
import platform
import subprocess
from collections.abc import Sequence
from datetime import UTC, datetime


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def ms(seconds: float) -> str:
    return "-" if math.isnan(seconds) else f"{seconds * 1000:.1f}"


def ratio(value: float, ceiling: float) -> str:
    if not ceiling or math.isnan(value) or math.isnan(ceiling):
        return "-"
    return f"{value / ceiling:.2f}"


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table, readable in a terminal and pasteable into BENCHMARKS.md."""
    cells = [[str(cell) for cell in row] for row in rows]
    widths = [max(len(str(h)), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    lines = [
        "| " + " | ".join(str(h).ljust(w) for h, w in zip(headers, widths, strict=True)) + " |",
        "|" + "|".join("-" * (w + 2) for w in widths) + "|",
    ]
    lines += [
        "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"
        for row in cells
    ]
    return "\n".join(lines)


def conclude(failures: Sequence[str], misses: Sequence[str]) -> int:
    """Print what went wrong; the exit status is 1 only when data was lost or requests failed.

    A missed performance target is printed but does not fail the run: the tables say by how
    much, and BENCHMARKS.md says why.
    """
    for miss in misses:
        print("TARGET MISSED", miss)
    for failure in failures:
        print("FAIL", failure)
    if not failures and not misses:
        print("OK: no data lost, no errors, every target met")
    elif not failures:
        print("OK: no data lost, no errors")
    return 1 if failures else 0


def machine() -> str:
    """Date, cores, CPU model, Python and git revision: the header of every result."""
    model = "unknown"
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.partition(":")[2].strip()
                break
    revision = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return (
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores ({model}), "
        f"Python {platform.python_version()}, revision {revision or 'unknown'}"
    )
