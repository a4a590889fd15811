"""A corpus of broken and hostile requests: each gets its own 4xx and message, and stores nothing."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from events.models import SyncHost
from tests.conftest import row_counts
from tests.helpers import event_variant, load_body, load_event

ACCEPTED = (
    "repo.sync.start, repo.sync.finish, repo.publish.start, repo.publish.finish, "
    "repo-sync-started, repo-sync-finished, repo-publish-started, repo-publish-finished"
)
REPO_ID_RULE = "may hold only letters, digits and . _ - : @ + ~, with / between non-empty parts"
PLACEHOLDER = "@@literal@@"


def finish(**payload: Any) -> str:
    return json.dumps(event_variant("sync-finished-success", **payload))


def start(**payload: Any) -> str:
    return json.dumps(event_variant("sync-started", **payload))


def publish_start(**payload: Any) -> str:
    return json.dumps(event_variant("publish-started", **payload))


def publish_finish(**payload: Any) -> str:
    return json.dumps(event_variant("publish-finished-success", **payload))


def finish_with_literal(field: str, literal: str) -> str:
    """A finish whose payload field holds a raw JSON literal that json.dumps cannot write."""
    return finish(**{field: PLACEHOLDER}).replace(f'"{PLACEHOLDER}"', literal)


def envelope(**fields: Any) -> str:
    body = json.loads(load_body("sync-started"))
    body.update(fields)
    return json.dumps({key: value for key, value in body.items() if value is not ...})


def nested(depth: int) -> Any:
    value: Any = "bottom"
    for _ in range(depth):
        value = [value]
    return value


SAMPLE = load_body("sync-finished-success")

# (id, body, message); every one of these is a 400.
BAD_BODIES = [
    # Not JSON at all, or not a JSON object.
    (
        "truncated",
        SAMPLE[:100],
        "could not parse request body: Unterminated string starting at line 1 column 98",
    ),
    (
        "truncated-at-brace",
        SAMPLE[:-1],
        "could not parse request body: Expecting ',' delimiter at line 1 column 2193",
    ),
    ("whitespace", "  \n ", "could not parse request body: Expecting value at line 2 column 2"),
    (
        "single-quotes",
        "{'event_type': 'repo.sync.start'}",
        "could not parse request body: Expecting property name enclosed in double quotes "
        "at line 1 column 2",
    ),
    (
        "trailing-garbage",
        load_body("sync-started") + " x",
        "could not parse request body: Extra data at line 1 column 689",
    ),
    (
        "trailing-comma",
        '{"event_type": "repo.sync.start", "payload": {"repo_id": "a",}}',
        "could not parse request body: Expecting property name enclosed in double quotes "
        "at line 1 column 62",
    ),
    ("array", "[" + load_body("sync-started") + "]", "body is not a JSON object"),
    ("string", '"repo.sync.start"', "body is not a JSON object"),
    ("null", "null", "body is not a JSON object"),
    ("number", "42", "body is not a JSON object"),
    ("true", "true", "body is not a JSON object"),
    # Numbers JSON allows but nobody means.
    (
        "nan",
        finish_with_literal("added_count", "NaN"),
        "could not parse request body: NaN is not valid JSON",
    ),
    (
        "infinity",
        finish_with_literal("summary", "Infinity"),
        "could not parse request body: Infinity is not valid JSON",
    ),
    (
        "minus-infinity",
        finish_with_literal("details", "-Infinity"),
        "could not parse request body: -Infinity is not valid JSON",
    ),
    (
        "float-overflow",
        finish_with_literal("details", "1e999"),
        "could not parse request body: number out of range: 1e999",
    ),
    (
        "integer-over-64-bits",
        finish_with_literal("details", str(2**63)),
        "could not parse request body: integer out of range: 9223372036854775808",
    ),
    (
        "integer-of-5000-digits",
        finish_with_literal("summary", "7" * 5000),
        "could not parse request body: integer out of range: " + "7" * 40,
    ),
    # Duplicated keys: which one would we believe?
    (
        "duplicate-envelope-key",
        '{"event_type": "repo.sync.start", "event_type": "repo.sync.finish", '
        '"payload": {"repo_id": "a"}}',
        "could not parse request body: duplicate key 'event_type'",
    ),
    (
        "duplicate-payload-key",
        '{"event_type": "repo.sync.start", "payload": {"repo_id": "a", "repo_id": "b"}}',
        "could not parse request body: duplicate key 'repo_id'",
    ),
    # Text a database cannot hold.
    (
        "raw-nul-byte",
        start(repo_id="PLACE").replace("PLACE", "a\x00b"),
        "could not parse request body: Invalid control character at line 1 column 671",
    ),
    (
        "escaped-nul",
        finish(error_message="before\u0000after"),
        "invalid payload.error_message: contains a NUL character",
    ),
    (
        "escaped-nul-in-key",
        finish(summary={"st\u0000ep": "FINISHED"}),
        "invalid payload.summary: contains a NUL character",
    ),
    (
        "escaped-nul-in-envelope-key",
        '{"event_type": "repo.sync.start", "payload": {"repo_id": "a"}, "x\\u0000": 1}',
        "invalid body: contains a NUL character",
    ),
    (
        "lone-high-surrogate",
        finish(error_message="PLACE").replace("PLACE", "broken \\ud83d here"),
        "invalid payload.error_message: contains an unpaired surrogate",
    ),
    (
        "lone-low-surrogate-in-repo-id",
        start(repo_id="PLACE").replace("PLACE", "repo\\udce6"),
        "invalid payload.repo_id: contains an unpaired surrogate",
    ),
    (
        "reversed-surrogate-pair",
        finish(exception="PLACE").replace("PLACE", "\\udce6\\ud83d"),
        "invalid payload.exception: contains an unpaired surrogate",
    ),
    # Depth bombs.
    (
        "nested-arrays",
        finish(details=nested(100)),
        "body is nested deeper than 64 levels",
    ),
    (
        "nested-brackets-unclosed",
        '{"event_type": "repo.sync.start", "payload": ' + "[" * 200_000,
        "body is nested deeper than 64 levels",
    ),
    (
        "nested-objects",
        '{"event_type": "repo.sync.start", "payload": {"repo_id": "a"}, "call_report": '
        + '{"a": ' * 80
        + "1"
        + "}" * 81,
        "body is nested deeper than 64 levels",
    ),
    # The envelope.
    ("missing-event-type", envelope(event_type=...), "missing event_type"),
    ("missing-payload", envelope(payload=...), "missing payload"),
    (
        "event-type-number",
        envelope(event_type=7),
        "invalid event_type: input should be a valid string",
    ),
    (
        "event-type-empty",
        envelope(event_type=""),
        "invalid event_type: string should have at least 1 character",
    ),
    (
        "event-type-huge",
        envelope(event_type="repo.sync.start" * 5),
        "invalid event_type: string should have at most 64 characters",
    ),
    (
        "event-type-unknown",
        envelope(event_type="repo.delete"),
        f"unsupported event type: repo.delete (accepted: {ACCEPTED})",
    ),
    (
        "event-type-wrong-case",
        envelope(event_type="REPO.SYNC.START"),
        f"unsupported event type: REPO.SYNC.START (accepted: {ACCEPTED})",
    ),
    (
        "payload-array",
        envelope(payload=[{"repo_id": "a"}]),
        "invalid payload: input should be a valid dictionary",
    ),
    ("payload-null", envelope(payload=None), "invalid payload: input should be a valid dictionary"),
    (
        "payload-string",
        envelope(payload="a"),
        "invalid payload: input should be a valid dictionary",
    ),
    (
        "call-report-array",
        envelope(call_report=[]),
        "invalid call_report: input should be a valid dictionary",
    ),
    (
        "call-report-task-id-number",
        envelope(call_report={"task_id": 12}),
        "invalid call_report.task_id: input should be a valid string",
    ),
    (
        "call-report-task-id-huge",
        envelope(call_report={"task_id": "t" * 65}),
        "invalid call_report.task_id: string should have at most 64 characters",
    ),
    ("extra-envelope-field", envelope(priority="high"), "unexpected field: priority"),
    # Repository ids.
    ("repo-id-missing", start(drop=("repo_id",)), "missing payload.repo_id"),
    (
        "repo-id-null",
        start(repo_id=None),
        "invalid payload.repo_id: input should be a valid string",
    ),
    (
        "repo-id-number",
        start(repo_id=12),
        "invalid payload.repo_id: input should be a valid string",
    ),
    (
        "repo-id-list",
        start(repo_id=["a"]),
        "invalid payload.repo_id: input should be a valid string",
    ),
    ("repo-id-empty", start(repo_id=""), "invalid payload.repo_id: must not be empty"),
    (
        "repo-id-too-long",
        start(repo_id="r" * 201),
        "invalid payload.repo_id: longer than 200 characters",
    ),
    ("repo-id-space", start(repo_id="my repo"), f"invalid payload.repo_id: {REPO_ID_RULE}"),
    ("repo-id-dotdot", start(repo_id="rhel/../etc"), f"invalid payload.repo_id: {REPO_ID_RULE}"),
    ("repo-id-dot-segment", start(repo_id="rhel/./9"), f"invalid payload.repo_id: {REPO_ID_RULE}"),
    ("repo-id-only-dots", start(repo_id=".."), f"invalid payload.repo_id: {REPO_ID_RULE}"),
    ("repo-id-leading-slash", start(repo_id="/rhel"), f"invalid payload.repo_id: {REPO_ID_RULE}"),
    ("repo-id-trailing-slash", start(repo_id="rhel/"), f"invalid payload.repo_id: {REPO_ID_RULE}"),
    ("repo-id-double-slash", start(repo_id="rhel//9"), f"invalid payload.repo_id: {REPO_ID_RULE}"),
    ("repo-id-html", start(repo_id="<script>"), f"invalid payload.repo_id: {REPO_ID_RULE}"),
    ("repo-id-percent", start(repo_id="a%2Fb"), f"invalid payload.repo_id: {REPO_ID_RULE}"),
    ("repo-id-query", start(repo_id="a?b=c"), f"invalid payload.repo_id: {REPO_ID_RULE}"),
    ("repo-id-backslash", start(repo_id="a\\b"), f"invalid payload.repo_id: {REPO_ID_RULE}"),
    ("repo-id-newline", start(repo_id="a\nb"), f"invalid payload.repo_id: {REPO_ID_RULE}"),
    (
        "repo-id-unicode",
        start(repo_id="d\u00e9p\u00f4t"),
        f"invalid payload.repo_id: {REPO_ID_RULE}",
    ),
    ("repo-id-leading-dash", start(repo_id="-rf"), f"invalid payload.repo_id: {REPO_ID_RULE}"),
    # Publish starts.
    (
        "distributor-missing",
        publish_start(drop=("distributor_id",)),
        "missing payload.distributor_id",
    ),
    (
        "distributor-empty",
        publish_start(distributor_id=""),
        "invalid payload.distributor_id: string should have at least 1 character",
    ),
    (
        "distributor-number",
        publish_start(distributor_id=3),
        "invalid payload.distributor_id: input should be a valid string",
    ),
    (
        "distributor-too-long",
        publish_start(distributor_id="d" * 101),
        "invalid payload.distributor_id: string should have at most 100 characters",
    ),
    # Timestamps.
    ("started-missing", finish(drop=("started",)), "missing payload.started"),
    ("completed-missing", finish(drop=("completed",)), "missing payload.completed"),
    (
        "started-null",
        finish(started=None),
        'invalid payload.started: expected an ISO 8601 string or {"$date": milliseconds}',
    ),
    (
        "started-unparseable",
        finish(started="yesterday"),
        "invalid payload.started: not an ISO 8601 timestamp: 'yesterday'",
    ),
    (
        "started-epoch-seconds",
        finish(started=1701910802),
        'invalid payload.started: expected an ISO 8601 string or {"$date": milliseconds}',
    ),
    (
        "started-invalid-date",
        finish(started="2023-02-30T00:00:00Z"),
        "invalid payload.started: not an ISO 8601 timestamp: '2023-02-30T00:00:00Z'",
    ),
    (
        "started-year-1970",
        finish(started="1970-01-01T00:00:00Z"),
        "invalid payload.started: timestamp out of range (years 2000 to 2099)",
    ),
    (
        "completed-year-2200",
        finish(completed="2200-01-01T00:00:00Z"),
        "invalid payload.completed: timestamp out of range (years 2000 to 2099)",
    ),
    (
        "completed-year-9999-offset",
        finish(completed="9999-12-31T23:59:59-23:59"),
        "invalid payload.completed: timestamp out of range (years 2000 to 2099)",
    ),
    (
        "completed-date-huge",
        finish(completed={"$date": 10**18}),
        "invalid payload.completed: timestamp out of range (years 2000 to 2099)",
    ),
    (
        "completed-date-negative",
        finish(completed={"$date": -1}),
        "invalid payload.completed: timestamp out of range (years 2000 to 2099)",
    ),
    (
        "completed-date-float",
        finish(completed={"$date": 1701911021000.5}),
        "invalid payload.completed: $date must be an integer number of milliseconds",
    ),
    (
        "completed-date-boolean",
        finish(completed={"$date": True}),
        "invalid payload.completed: $date must be an integer number of milliseconds",
    ),
    (
        "completed-date-extra-key",
        finish(completed={"$date": 1701911021000, "tz": "UTC"}),
        'invalid payload.completed: an object timestamp must be {"$date": milliseconds}',
    ),
    (
        "completed-number-long-superscript",
        finish(completed={"$date": {"$numberLong": "\u00b2"}}),
        "invalid payload.completed: $date must be an integer number of milliseconds",
    ),
    (
        "completed-number-long-huge",
        finish(completed={"$date": {"$numberLong": "9" * 5000}}),
        "invalid payload.completed: $date must be an integer number of milliseconds",
    ),
    (
        "completed-before-started",
        finish(completed="2023-12-07T00:59:59Z"),
        "invalid payload.completed: before payload.started",
    ),
    # Results.
    ("result-missing", finish(drop=("result",)), "missing payload.result"),
    (
        "result-unknown",
        finish(result="ok"),
        "invalid payload.result: input should be 'success', 'failed', 'error' or 'canceled'",
    ),
    (
        "result-skipped-sync",
        finish(result="skipped"),
        "invalid payload.result: input should be 'success', 'failed', 'error' or 'canceled'",
    ),
    (
        "result-canceled-publish",
        publish_finish(result="canceled"),
        "invalid payload.result: input should be 'success', 'failed', 'error' or 'skipped'",
    ),
    (
        "result-upper-case",
        finish(result="SUCCESS"),
        "invalid payload.result: input should be 'success', 'failed', 'error' or 'canceled'",
    ),
    (
        "result-null",
        finish(result=None),
        "invalid payload.result: input should be 'success', 'failed', 'error' or 'canceled'",
    ),
    # Counts.
    (
        "count-negative",
        finish(added_count=-2),
        "invalid payload.added_count: input should be greater than or equal to -1",
    ),
    (
        "count-float",
        finish(updated_count=1.5),
        "invalid payload.updated_count: input should be a valid integer",
    ),
    (
        "count-whole-float",
        finish(removed_count=3.0),
        "invalid payload.removed_count: input should be a valid integer",
    ),
    (
        "count-boolean",
        finish(added_count=True),
        "invalid payload.added_count: input should be a valid integer",
    ),
    (
        "count-string",
        finish(added_count="12"),
        "invalid payload.added_count: input should be a valid integer",
    ),
    (
        "count-over-32-bits",
        finish(added_count=2**31),
        "invalid payload.added_count: input should be less than or equal to 2147483647",
    ),
    # Reports and error text.
    (
        "summary-number",
        finish(summary=3),
        "invalid payload.summary: expected an object, a list, a string or null",
    ),
    (
        "details-boolean",
        finish(details=False),
        "invalid payload.details: expected an object, a list, a string or null",
    ),
    (
        "summary-huge-string",
        finish(summary="s" * 1_000_001),
        "invalid payload.summary: string should have at most 1000000 characters",
    ),
    (
        "error-message-huge",
        finish(error_message="e" * 1_000_001),
        "invalid payload.error_message: string should have at most 1000000 characters",
    ),
    (
        "error-message-number",
        finish(error_message=404),
        "invalid payload.error_message: input should be a valid string",
    ),
    (
        "exception-list",
        finish(exception=["IOError()"]),
        "invalid payload.exception: input should be a valid string",
    ),
    (
        "traceback-number",
        finish(traceback=7),
        "invalid payload.traceback: expected null, a string or a list of frames",
    ),
    (
        "traceback-object",
        finish(traceback={"frames": []}),
        "invalid payload.traceback: expected null, a string or a list of frames",
    ),
    (
        "traceback-frame-number",
        finish(traceback=["  File x", 12]),
        "invalid payload.traceback: frame 1 is neither a string nor a [file, line, function, "
        "text] list",
    ),
    (
        "traceback-frame-float",
        finish(traceback=[["sync.py", 1.5, "run", "x"]]),
        "invalid payload.traceback: frame 0 is neither a string nor a [file, line, function, "
        "text] list",
    ),
    (
        "traceback-frame-too-long",
        finish(traceback=[["a"] * 9]),
        "invalid payload.traceback: frame 0 is neither a string nor a [file, line, function, "
        "text] list",
    ),
    (
        "traceback-huge",
        finish(traceback="t" * 1_000_001),
        "invalid payload.traceback: string should have at most 1000000 characters",
    ),
    (
        "exception-huge",
        finish(exception="E" * 1_000_001),
        "invalid payload.exception: string should have at most 1000000 characters",
    ),
    # Result ids and plugin names.
    (
        "id-not-hex",
        finish(id="zz71a2cd1c2d4e0012ab3402"),
        "invalid payload.id: string should match pattern '^[0-9a-fA-F]{24}$'",
    ),
    (
        "id-too-short",
        finish(id="6571a2cd"),
        "invalid payload.id: string should match pattern '^[0-9a-fA-F]{24}$'",
    ),
    ("id-number", finish(id=6571), "invalid payload.id: input should be a valid string"),
    (
        "id-oid-number",
        finish(id={"$oid": 6571}),
        "invalid payload.id: input should be a valid string",
    ),
    (
        "importer-id-empty",
        finish(importer_id=""),
        "invalid payload.importer_id: string should have at least 1 character",
    ),
    (
        "importer-id-list",
        finish(importer_id=["yum_importer"]),
        "invalid payload.importer_id: input should be a valid string",
    ),
    (
        "distributor-type-number",
        publish_finish(distributor_type_id=7),
        "invalid payload.distributor_type_id: input should be a valid string",
    ),
    (
        "publish-finish-without-distributor",
        publish_finish(drop=("distributor_id",)),
        "missing payload.distributor_id",
    ),
    (
        "finish-payload-empty",
        finish(drop=tuple(load_event("sync-finished-success")["payload"])),
        "missing payload.repo_id",
    ),
    (
        "started-list",
        finish(started=["2023-12-07T01:00:02Z"]),
        'invalid payload.started: expected an ISO 8601 string or {"$date": milliseconds}',
    ),
    (
        "repo-id-object",
        start(repo_id={"$oid": "6571a2cd1c2d4e0012ab3402"}),
        "invalid payload.repo_id: input should be a valid string",
    ),
    (
        "event-type-null",
        envelope(event_type=None),
        "invalid event_type: input should be a valid string",
    ),
    (
        "importer-type-too-long",
        finish(importer_type_id="i" * 101),
        "invalid payload.importer_type_id: string should have at most 100 characters",
    ),
]


@pytest.mark.parametrize(
    ("body", "message"),
    [case[1:] for case in BAD_BODIES],
    ids=[case[0] for case in BAD_BODIES],
)
def test_it_rejects_a_bad_body(post, body, message):
    post(body, expect_error=message)


def test_it_keeps_fifty_distinct_cases_in_the_corpus():
    assert len({case[0] for case in BAD_BODIES}) == len(BAD_BODIES) >= 50
    assert len({case[1] for case in BAD_BODIES}) == len(BAD_BODIES)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (envelope(event_type=...), "event_type"),
        (envelope(priority="high"), "priority"),
        (start(repo_id=""), "payload.repo_id"),
        (finish(completed="2023-12-07T00:59:59Z"), "payload.completed"),
        (finish(traceback=[["a"] * 9]), "payload.traceback"),
        (finish(error_message="a\u0000"), "payload.error_message"),
        (envelope(call_report={"task_id": 12}), "call_report.task_id"),
        (envelope(event_type="repo.delete"), "event_type"),
    ],
)
def test_it_names_the_field_in_the_error_body(post, body, field):
    response = post(body, status=400)

    assert response.json()["field"] == field


def test_it_rejects_invalid_utf8(post):
    body = (
        load_body("sync-started")
        .replace("centos-9-baseos", "centos-\udcff")
        .encode("utf-8", "surrogateescape")
    )

    post(body, expect_error="could not parse request body: not valid utf-8")


def test_it_rejects_latin1_bytes_declared_as_json(post):
    body = finish(error_message="PLACE").replace("PLACE", "Pr\u00fcfsumme").encode("latin-1")

    post(body, expect_error="could not parse request body: not valid utf-8")


def test_it_rejects_an_empty_body(client, token):
    before = row_counts()

    response = client.generic(
        "POST",
        "/api/events/",
        b"",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )

    assert response.status_code == 400
    assert response.json() == {
        "error": "could not parse request body: Expecting value at line 1 column 1"
    }
    assert row_counts() == before


def test_it_rejects_a_post_without_content_type(client, token):
    response = client.generic(
        "POST", "/api/events/", b"", headers={"Authorization": f"Bearer {token}"}
    )

    assert response.status_code == 415
    assert response.json() == {"error": "unsupported content type: none (send application/json)"}
    assert row_counts() == {"events": 0, "runs": 0, "repositories": 0}


@pytest.mark.parametrize(
    ("content_type", "shown"),
    [
        ("text/plain", "text/plain"),
        ("application/x-www-form-urlencoded", "application/x-www-form-urlencoded"),
        ("multipart/form-data; boundary=x", "multipart/form-data"),
        ("application/jsonx", "application/jsonx"),
        ("text/json", "text/json"),
    ],
)
def test_it_rejects_a_wrong_content_type(post, content_type, shown):
    post(
        load_body("sync-started"),
        content_type=content_type,
        status=415,
        expect_error=f"unsupported content type: {shown} (send application/json)",
    )


def _basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


BAD_AUTH = [
    ("no-header", {"Authorization": None}, "missing token"),
    ("empty-header", {"Authorization": ""}, "missing token"),
    ("bearer-empty", {"Authorization": "Bearer "}, "missing token"),
    ("bearer-wrong", {"Authorization": "Bearer not-the-token"}, "wrong token"),
    ("scheme-unknown", {"Authorization": "Token abc"}, "unsupported authorization scheme"),
    ("scheme-only", {"Authorization": "Digest"}, "unsupported authorization scheme"),
    ("basic-wrong-password", {"Authorization": _basic("sync-a", "nope")}, "wrong token"),
    ("basic-empty-password", {"Authorization": _basic("sync-a", "")}, "missing token"),
    (
        "basic-not-base64",
        {"Authorization": "Basic !!!not-base64!!!"},
        "malformed basic authorization header",
    ),
    (
        "basic-not-utf8",
        {"Authorization": "Basic " + base64.b64encode(b"sync-a:\xff\xfe").decode()},
        "malformed basic authorization header",
    ),
    (
        "basic-no-colon",
        {"Authorization": "Basic " + base64.b64encode(b"justatoken").decode()},
        "missing token",
    ),
]


@pytest.mark.parametrize(
    ("headers", "message"),
    [case[1:] for case in BAD_AUTH],
    ids=[case[0] for case in BAD_AUTH],
)
def test_it_refuses_bad_authorization(post, headers, message):
    response = post(load_body("sync-started"), status=401, expect_error=message, **headers)

    assert response["WWW-Authenticate"] == 'Bearer realm="sync events"'


@pytest.mark.parametrize(
    ("query", "message"),
    [("?token=wrong", "wrong token"), ("?token=", "missing token"), ("?tok=x", "missing token")],
)
def test_it_refuses_a_bad_query_token(post, query, message):
    post(
        load_body("sync-started"),
        path=f"/api/events/{query}",
        Authorization=None,
        status=401,
        expect_error=message,
    )


def test_it_refuses_a_truncated_token(post, token):
    post(
        load_body("sync-started"),
        Authorization=f"Bearer {token[:-1]}",
        status=401,
        expect_error="wrong token",
    )


def test_it_refuses_a_deactivated_host(post, host_and_token):
    host = host_and_token[0]
    SyncHost.objects.filter(pk=host.pk).update(is_active=False)

    post(load_body("sync-started"), status=401, expect_error="wrong token")


def test_it_checks_the_token_before_the_body(post):
    post("{not json", Authorization="Bearer wrong", status=401, expect_error="wrong token")


def test_it_remembers_the_last_rejection_on_the_host(post, host_and_token):
    host, _ = host_and_token

    post(start(repo_id=""), expect_error="invalid payload.repo_id: must not be empty")

    host.refresh_from_db()
    assert host.last_error == "invalid payload.repo_id: must not be empty"
    assert host.last_error_at is not None
    assert host.event_count == 0
