"""Geometry of the repository charts, drawn as inline SVG by a template: no charting script."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from events.display import format_absolute, format_duration
from events.models import Run

CHART_RUNS = 30
WIDTH = 600
HEIGHT = 150
LEFT = 56
TOP = 10
BOTTOM = 20
PLOT_WIDTH = WIDTH - LEFT - 4
PLOT_HEIGHT = HEIGHT - TOP - BOTTOM
# Bars keep the width of a full chart, so three runs do not draw three slabs.
MIN_SLOTS = 12


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    css: str
    title: str


@dataclass(frozen=True)
class Chart:
    bars: list[Bar]
    top_label: str
    bottom_label: str
    axis_y: float
    first_label: str
    last_label: str

    @property
    def is_empty(self) -> bool:
        return not self.bars


@dataclass(frozen=True)
class RepositoryCharts:
    duration: Chart
    counts: Chart
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    top: int = TOP
    plot_bottom: int = TOP + PLOT_HEIGHT
    plot_right: int = LEFT + PLOT_WIDTH


def _slot(runs: Sequence[Run]) -> float:
    return PLOT_WIDTH / max(len(runs), MIN_SLOTS)


def _label(run: Run, detail: str) -> str:
    return f"{format_absolute(run.started)} · {run.state} · {detail}"


def _time_labels(runs: Sequence[Run]) -> tuple[str, str]:
    if not runs:
        return "", ""
    return format_absolute(runs[0].started)[:16], format_absolute(runs[-1].started)[:16]


def _scaled(value: float, largest: float, height: float) -> float:
    return round(height * value / largest, 2) if largest else 0.0


def duration_chart(runs: Sequence[Run]) -> Chart:
    """One bar per finished run, its height the run's duration, coloured by result."""
    seconds = [max(run.duration().total_seconds(), 0.0) for run in runs]
    largest = max(seconds, default=0.0)
    slot = _slot(runs)
    bars = []
    for index, (run, value) in enumerate(zip(runs, seconds, strict=True)):
        height = max(_scaled(value, largest, PLOT_HEIGHT), 1.0)
        bars.append(
            Bar(
                x=round(LEFT + index * slot + slot * 0.15, 2),
                y=round(TOP + PLOT_HEIGHT - height, 2),
                width=round(slot * 0.7, 2),
                height=height,
                css=f"bar-{run.state}",
                title=_label(run, format_duration(value)),
            )
        )
    first, last = _time_labels(runs)
    return Chart(bars, format_duration(largest), "0s", TOP + PLOT_HEIGHT, first, last)


def _count(run: Run, field: str) -> int:
    return max(getattr(run, field) or 0, 0)


def counts_chart(runs: Sequence[Run]) -> Chart:
    """Added units above the axis, removed units below it, one pair of bars per run."""
    most_added = max((_count(run, "added_count") for run in runs), default=0)
    most_removed = max((_count(run, "removed_count") for run in runs), default=0)
    total = most_added + most_removed
    axis = TOP + (_scaled(most_added, total, PLOT_HEIGHT) if total else PLOT_HEIGHT / 2)
    slot = _slot(runs)
    bars = []
    for index, run in enumerate(runs):
        added, removed = _count(run, "added_count"), _count(run, "removed_count")
        x = round(LEFT + index * slot + slot * 0.15, 2)
        detail = f"+{added} / -{removed}"
        up = _scaled(added, total, PLOT_HEIGHT)
        down = _scaled(removed, total, PLOT_HEIGHT)
        bars.append(
            Bar(x, round(axis - up, 2), round(slot * 0.7, 2), up, "bar-added", _label(run, detail))
        )
        bars.append(Bar(x, axis, round(slot * 0.7, 2), down, "bar-removed", _label(run, detail)))
    first, last = _time_labels(runs)
    return Chart(bars, f"+{most_added}", f"-{most_removed}", round(axis, 2), first, last)


def repository_charts(runs: Sequence[Run]) -> RepositoryCharts:
    """Charts over finished syncs, oldest first."""
    return RepositoryCharts(duration=duration_chart(runs), counts=counts_chart(runs))
