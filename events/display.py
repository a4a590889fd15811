"""How times, durations and JSON read on the pages: one wording for templates and charts."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from django.utils import timezone
from django.utils.dateformat import format as format_date

MAX_JSON_CHARS = 200_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def format_duration(value: timedelta | float | None) -> str:
    """3s, 4m 05s, 2h 07m, 3d 04h: two units at most, so a column stays narrow."""
    if value is None:
        return ""
    seconds = int(value.total_seconds() if isinstance(value, timedelta) else value)
    if seconds < 0:
        return "0s"
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days}d {hours:02d}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {seconds:02d}s"
    return f"{seconds}s"


def format_absolute(moment: datetime) -> str:
    """The moment in the dashboard's time zone, with the zone named."""
    return format_date(timezone.localtime(moment), "Y-m-d H:i:s T")


def format_ago(moment: datetime, now: datetime | None = None) -> str:
    """Coarse relative time; the page's script keeps it current between renders."""
    seconds = int(((now or timezone.now()) - moment).total_seconds())
    if seconds < 0:
        return "in the future"
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    if seconds < 86400:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} d ago"


def epoch_ms(moment: datetime | None) -> str:
    return "" if moment is None else str(int(moment.timestamp() * 1000))


def epoch_us(moment: datetime | None) -> str:
    """Microseconds since the epoch: the database orders by this precision, so scripts must too."""
    if moment is None:
        return ""
    return str((moment - EPOCH) // timedelta(microseconds=1))


def pretty_json(value: Any, limit: int | None = MAX_JSON_CHARS) -> str:
    """Indented JSON, cut at `limit` characters (the raw events keep the full text)."""
    text = json.dumps(value, indent=2, ensure_ascii=False)
    # A lone surrogate (Python 2 hosts send them) cannot be encoded for the response.
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    if limit is None or len(text) <= limit:
        return text
    return text[:limit] + f"\n… cut at {limit} characters; the raw events hold all of it"
