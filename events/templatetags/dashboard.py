"""Tags for the pages: times that tick, state badges, durations, pretty JSON."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django import template
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

from events import display
from events.models import Run

register = template.Library()


@register.simple_tag
def moment(value: datetime | None) -> SafeString | str:
    """A relative time; the absolute time and its zone in the tooltip and datetime attribute."""
    if value is None:
        return ""
    return format_html(
        '<time datetime="{}" title="{}" data-relative>{}</time>',
        value.isoformat(),
        display.format_absolute(value),
        display.format_ago(value),
    )


@register.simple_tag
def elapsed(since: datetime) -> SafeString:
    """Time since a run started, kept ticking by the page's script."""
    return format_html(
        '<span class="elapsed" data-role="elapsed" data-since="{}">{}</span>',
        display.epoch_ms(since),
        display.format_duration(timezone.now() - since),
    )


@register.simple_tag
def state_badge(run: Run | None, role: str) -> SafeString:
    """A run's state as a coloured label; a running one carries its stall deadline."""
    if run is None:
        return format_html(
            '<span class="badge badge-never" data-role="{}" data-state="never">never</span>', role
        )
    state = run.display_state()
    deadline = run.stalled_deadline() if state == "running" else None
    return format_html(
        '<span class="badge badge-{}" data-role="{}" data-state="{}"{}>{}</span>',
        state,
        role,
        state,
        format_html(' data-deadline="{}"', display.epoch_ms(deadline)) if deadline else "",
        state,
    )


@register.filter
def duration(value: Any) -> str:
    # A missing run reaches templates as "", not None.
    if not isinstance(value, (timedelta, int, float)):
        return ""
    return display.format_duration(value)


@register.filter
def pretty_json(value: Any) -> str:
    return display.pretty_json(value)


@register.filter
def epoch_us(value: datetime | None) -> str:
    return display.epoch_us(value)


@register.filter
def epoch_ms(value: datetime | None) -> str:
    return display.epoch_ms(value)


@register.filter
def count(value: Any) -> str:
    """A unit count; unknown (the host sent -1 or nothing, or no run yet) reads as a dash."""
    return str(value) if isinstance(value, int) else "\u2013"
