"""Strict schemas for the event envelope and each payload; validation only, no storage."""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

MAX_DEPTH = 64
MAX_INT = 2**31 - 1
# bson stores at most signed 64-bit integers, so a real host never sends a larger one; Python
# would parse any size, and a 5,000-digit literal even raises outside the JSON error path.
MAX_JSON_INT = 2**63 - 1
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
# What a repository id may be: Pulp 2 allows letters, digits, '.', '_' and '-'; look-alike
# hosts add path-like ids ("rhel/9/baseos"). Nothing that needs escaping in a URL path beyond
# '/', and no empty, '.' or '..' segments, so every id maps to exactly one page URL.
REPO_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@+~-]*(/[A-Za-z0-9._:@+~-]+)*")
REPO_ID_MAX = 200
FRAME_PARTS = 8
MAX_TEXT = 1_000_000


class InvalidEvent(Exception):
    """A request we refuse; the message is what the sender sees."""

    def __init__(self, message: str, *, field: str | None = None, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.status = status


def _reject_constant(name: str) -> None:
    raise InvalidEvent(f"could not parse request body: {name} is not valid JSON")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        duplicate = next(key for key, _ in pairs if key in seen or seen.add(key))
        raise InvalidEvent(f"could not parse request body: duplicate key {duplicate!r}")
    return result


def _parse_int(literal: str) -> int:
    # Checked on the text first: int() refuses literals over 4,300 digits with a ValueError.
    value = int(literal) if len(literal.lstrip("-")) <= 19 else None
    if value is None or abs(value) > MAX_JSON_INT:
        raise InvalidEvent(f"could not parse request body: integer out of range: {literal[:40]}")
    return value


def _parse_float(literal: str) -> float:
    # 1e999 parses to infinity, which PostgreSQL's jsonb refuses and no host means.
    value = float(literal)
    if not math.isfinite(value):
        raise InvalidEvent(f"could not parse request body: number out of range: {literal[:40]}")
    return value


def _check_strings(value: Any, path: str, depth: int = 0) -> None:
    # PostgreSQL refuses NUL in text and jsonb, and lone surrogates cannot be encoded as
    # UTF-8: both would fail deep in the database, so they are refused here by path.
    if depth > MAX_DEPTH:
        raise InvalidEvent(f"body is nested deeper than {MAX_DEPTH} levels", field=path)
    if isinstance(value, str):
        _check_text(value, path)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(key, path or "body")
            _check_strings(item, f"{path}.{key}" if path else key, depth + 1)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_strings(item, f"{path}[{index}]", depth + 1)


def _check_text(text: str, path: str) -> None:
    if "\x00" in text:
        raise InvalidEvent(f"invalid {path}: contains a NUL character", field=path)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidEvent(f"invalid {path}: contains an unpaired surrogate", field=path) from None


def decode_body(text: str) -> dict[str, Any]:
    """Parse a request body into a JSON object, refusing anything a database would choke on."""
    try:
        data = json.loads(
            text,
            object_pairs_hook=_unique_keys,
            parse_constant=_reject_constant,
            parse_int=_parse_int,
            parse_float=_parse_float,
        )
    except json.JSONDecodeError as exc:
        # Some messages end in "at" ("Unterminated string starting at"): say it once.
        reason = exc.msg.removesuffix(" at")
        raise InvalidEvent(
            f"could not parse request body: {reason} at line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:
        raise InvalidEvent(f"body is nested deeper than {MAX_DEPTH} levels") from None
    if not isinstance(data, dict):
        raise InvalidEvent("body is not a JSON object")
    _check_strings(data, "")
    return data


def _parse_timestamp(value: Any) -> datetime:
    if isinstance(value, dict):
        return _parse_bson_date(value)
    if not isinstance(value, str):
        raise ValueError('expected an ISO 8601 string or {"$date": milliseconds}')
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"not an ISO 8601 timestamp: {value[:40]!r}") from None
    if parsed.tzinfo is None:
        # Pulp always writes UTC; a look-alike without an offset means the same.
        parsed = parsed.replace(tzinfo=UTC)
    return _in_range(parsed)


def _parse_bson_date(value: dict[str, Any]) -> datetime:
    if set(value) != {"$date"}:
        raise ValueError('an object timestamp must be {"$date": milliseconds}')
    millis = value["$date"]
    if isinstance(millis, dict) and set(millis) == {"$numberLong"}:
        millis = millis["$numberLong"]
        digits = millis.lstrip("-") if isinstance(millis, str) else ""
        # Bounded and ASCII: int() refuses "²" and literals over 4,300 digits with a ValueError.
        is_number = digits.isascii() and digits.isdigit() and len(digits) <= 19
        millis = int(millis) if is_number else None
    if isinstance(millis, str):
        return _parse_timestamp(millis)
    if type(millis) is not int:
        raise ValueError("$date must be an integer number of milliseconds")
    if not EARLIEST.timestamp() * 1000 <= millis < LATEST.timestamp() * 1000:
        raise ValueError("timestamp out of range (years 2000 to 2099)")
    return datetime.fromtimestamp(millis / 1000, tz=UTC)


def _in_range(moment: datetime) -> datetime:
    if not EARLIEST <= moment < LATEST:
        raise ValueError("timestamp out of range (years 2000 to 2099)")
    return moment.astimezone(UTC)


def _check_repo_id(value: str) -> str:
    if not value:
        raise ValueError("must not be empty")
    if len(value) > REPO_ID_MAX:
        raise ValueError(f"longer than {REPO_ID_MAX} characters")
    if not REPO_ID_PATTERN.fullmatch(value) or any(
        part in (".", "..") for part in value.split("/")
    ):
        raise ValueError(
            "may hold only letters, digits and . _ - : @ + ~, with / between non-empty parts"
        )
    return value


def _check_report(value: Any) -> Any:
    if value is not None and not isinstance(value, (dict, list, str)):
        raise ValueError("expected an object, a list, a string or null")
    if isinstance(value, str) and len(value) > MAX_TEXT:
        raise ValueError(f"string should have at most {MAX_TEXT} characters")
    return value


def _check_traceback(value: Any) -> Any:
    # Checked by hand: pydantic would name only the first member of the union it tried.
    if value is None or isinstance(value, str):
        return value
    if not isinstance(value, list):
        raise ValueError("expected null, a string or a list of frames")
    for index, frame in enumerate(value):
        if isinstance(frame, str):
            continue
        if (
            not isinstance(frame, list)
            or len(frame) > FRAME_PARTS
            or not all(part is None or type(part) in (str, int) for part in frame)
        ):
            raise ValueError(
                f"frame {index} is neither a string nor a [file, line, function, text] list"
            )
    return value


def _unwrap_oid(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"$oid"}:
        return value["$oid"]
    return value


Timestamp = Annotated[datetime, BeforeValidator(_parse_timestamp)]
RepoId = Annotated[str, AfterValidator(_check_repo_id)]
Name = Annotated[str, Field(min_length=1, max_length=100)]
Count = Annotated[int, Field(ge=-1, le=MAX_INT)] | None
Text = Annotated[str, Field(max_length=MAX_TEXT)] | None
Report = Annotated[dict[str, Any] | list[Any] | str | None, BeforeValidator(_check_report)]
Frame = Annotated[list[str | int | None], Field(max_length=FRAME_PARTS)]
Traceback = Annotated[
    Annotated[str, Field(max_length=MAX_TEXT)] | list[str | Frame] | None,
    BeforeValidator(_check_traceback),
]
ResultId = Annotated[str, BeforeValidator(_unwrap_oid), Field(pattern=r"^[0-9a-fA-F]{24}$")]


class _Strict(BaseModel):
    # Unknown payload keys are ignored rather than refused: a newer host adding a field must
    # not lose its events. They stay in the stored body.
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


class Envelope(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    event_type: Annotated[str, Field(min_length=1, max_length=64)]
    payload: dict[str, Any]
    call_report: dict[str, Any] | None = None


class CallReport(_Strict):
    task_id: Annotated[str, Field(min_length=1, max_length=64)] | None = None


class SyncStarted(_Strict):
    repo_id: RepoId


class PublishStarted(_Strict):
    repo_id: RepoId
    distributor_id: Name


class _Finished(_Strict):
    repo_id: RepoId
    started: Timestamp
    completed: Timestamp
    error_message: Text = None
    exception: Text = None
    traceback: Traceback = None
    summary: Report = None
    details: Report = None
    id: ResultId | None = None

    @model_validator(mode="after")
    def _completed_after_started(self) -> _Finished:
        if self.completed < self.started:
            raise InvalidEvent(
                "invalid payload.completed: before payload.started",
                field="payload.completed",
            )
        return self


class SyncFinished(_Finished):
    result: Literal["success", "failed", "error", "canceled"]
    importer_id: Name | None = None
    importer_type_id: Name | None = None
    added_count: Count = None
    updated_count: Count = None
    removed_count: Count = None


class PublishFinished(_Finished):
    result: Literal["success", "failed", "error", "skipped"]
    distributor_id: Name
    distributor_type_id: Name | None = None


def first_error(exc: ValidationError, prefix: str) -> InvalidEvent:
    """The first validation problem as one stable sentence naming the field."""
    error = exc.errors(include_url=False)[0]
    parts = [prefix, *(str(part) for part in error["loc"] if not _is_union_tag(part))]
    field = ".".join(part for part in parts if part)
    message = error["msg"]
    message = message.removeprefix("Value error, ")
    message = message[0].lower() + message[1:]
    if error["type"] == "extra_forbidden":
        return InvalidEvent(f"unexpected field: {field}", field=field)
    if error["type"] == "missing":
        return InvalidEvent(f"missing {field}", field=field)
    return InvalidEvent(f"invalid {field}: {message}", field=field)


def _is_union_tag(part: object) -> bool:
    # Pydantic names union members in the location ("str", "list[...]"); senders know fields.
    return isinstance(part, str) and (
        part in ("str", "int", "none", "function-after[_check_repo_id(), str]")
        or part.startswith(("list[", "dict[", "function-", "constrained-"))
    )


def parse_timestamp_leniently(value: Any) -> datetime | None:
    """A timestamp from the opaque call report, or None when it is missing or unreadable."""
    if value is None:
        return None
    try:
        return _parse_timestamp(value)
    except ValueError:
        return None
