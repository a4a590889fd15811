"""Explaining a failed run: tracebacks in one text form, the error report, the fingerprint."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

TRACEBACK_HEADER = "Traceback (most recent call last):"
MAX_EXAMPLES = 5
FAILED_STATES = {"FAILED", "FAILURE", "ERROR", "FAILED_WITH_ERRORS"}
_FRAME = re.compile(r'^  File "(?P<file>[^"]*)", line (?P<line>\d+|\?), in (?P<function>.*)$')
_VOLATILE = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{24,}|"
    r"https?://\S+|\d+",
    re.IGNORECASE,
)
LIBRARY_MARKERS = ("/site-packages/", "/dist-packages/", "/lib/python", "/lib64/python", "<frozen ")


def normalize_traceback(value: str | list[Any] | None) -> str:
    """One readable text form for the three shapes Pulp sends (frame strings, text, 4-lists)."""
    if not value:
        return ""
    if isinstance(value, str):
        return value.strip("\n")
    lines = [TRACEBACK_HEADER]
    for frame in value:
        lines.append(_format_frame(frame))
    return "\n".join(lines)


def _format_frame(frame: str | list[Any]) -> str:
    if isinstance(frame, str):
        return frame.rstrip("\n")
    parts = [("" if part is None else str(part)) for part in frame] + ["", "", "", ""]
    filename, line, function, text = parts[:4]
    formatted = f'  File "{filename}", line {line or "?"}, in {function}'
    return f"{formatted}\n    {text.strip()}" if text.strip() else formatted


@dataclass(frozen=True)
class Frame:
    file: str
    line: str
    function: str
    code: str

    def is_library(self) -> bool:
        return any(marker in self.file for marker in LIBRARY_MARKERS) and not any(
            name in self.file for name in ("/pulp/", "/pulp_")
        )


def parse_frames(traceback: str) -> list[Frame]:
    """Frames of a normalized traceback, outermost first; lines that are not frames are skipped."""
    frames: list[Frame] = []
    lines = traceback.splitlines()
    for index, line in enumerate(lines):
        match = _FRAME.match(line)
        if not match:
            continue
        following = lines[index + 1] if index + 1 < len(lines) else ""
        code = following.strip() if following.startswith("    ") else ""
        frames.append(Frame(match["file"], match["line"], match["function"], code))
    return frames


def build_error_report(summary: Any, details: Any) -> dict[str, Any]:
    """Failed steps with their errors and per-item errors, found anywhere in summary/details."""
    steps: dict[str, str] = {}
    items: list[Any] = []
    _walk(details, "", steps, items)
    _walk(summary, "", steps, [])
    report: dict[str, Any] = {
        "failed_steps": [{"step": step, "error": error} for step, error in steps.items()],
        "item_error_count": len(items),
        "item_errors": items[:MAX_EXAMPLES],
    }
    report["message"] = _message(report, summary)
    return report


def _walk(value: Any, name: str, steps: dict[str, str], items: list[Any]) -> None:
    if isinstance(value, list):
        for entry in value:
            _walk(entry, name, steps, items)
        return
    if not isinstance(value, dict):
        return
    step = str(value.get("step_type") or value.get("description") or name)
    state = value.get("state")
    if isinstance(state, str) and state.upper() in FAILED_STATES:
        error = value.get("error") or value.get("error_message") or ""
        if step not in steps or not steps[step]:
            steps[step] = error if isinstance(error, str) else str(error)
    for key, child in value.items():
        if key == "error_details" and isinstance(child, list):
            items.extend(child)
        elif isinstance(child, (dict, list)):
            _walk(child, key if not name else f"{name}.{key}", steps, items)


def _message(report: dict[str, Any], summary: Any) -> str:
    parts = []
    for step in report["failed_steps"]:
        parts.append(
            f"step {step['step']} failed" + (f": {step['error']}" if step["error"] else "")
        )
    count = report["item_error_count"]
    if count:
        parts.append(f"{count} item{'s' if count != 1 else ''} failed")
    if not parts and isinstance(summary, str):
        parts.append(summary)
    message = "; ".join(parts)
    return message[:1].upper() + message[1:]


def fingerprint(*, exception: str, traceback: str, message: str) -> str:
    """A key shared by failures with the same cause: exception and top frames, else the message."""
    frames = parse_frames(traceback)
    if exception or frames:
        exception_type = exception.split("(", 1)[0].strip()
        top = [f"{frame.file.rsplit('/', 1)[-1]}:{frame.function}" for frame in frames[-3:]]
        basis = "|".join([exception_type, *top])
    else:
        basis = _VOLATILE.sub("#", message.lower()).strip()
    if not basis:
        return ""
    return hashlib.sha256(basis.encode()).hexdigest()[:16]
