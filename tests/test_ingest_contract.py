"""Every variant of EVENTS.md, posted over HTTP and checked in the database."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from events.models import Event, EventOutcome, Repository, Run, RunKind, RunState
from events.services.ingest import ALIASES
from tests.helpers import (
    MISSING,
    event_variant,
    fixture_names,
    load_body,
    load_event,
    object_id,
)

FIXTURES = fixture_names()
STARTED = datetime(2023, 12, 7, 1, 0, 2, tzinfo=UTC)
FRAMES = [
    '  File "/usr/lib/python2.7/site-packages/pulp/server/controllers/repository.py", line 802,'
    " in sync\n    sync_report = sync_repo(transfer_repo, conduit, call_config)\n",
    '  File "/usr/lib/python2.7/site-packages/pulp_rpm/plugins/importers/yum/sync.py", line 247,'
    " in run\n    raise PulpCodedException(error_codes.RPM1004, reason=str(e))\n",
]


def _applied(response) -> Run:
    assert response.status_code == 200, response.content
    event = Event.objects.get(pk=response.json()["event"])
    assert response.json() == {"status": "applied", "event": event.pk, "run": event.run_id}
    assert event.outcome == EventOutcome.APPLIED
    return Run.objects.get(pk=event.run_id)


@pytest.mark.parametrize("name", FIXTURES)
def test_it_accepts_every_fixture_verbatim(post, host_and_token, name):
    body = load_body(name)
    sent = load_event(name)

    run = _applied(post(body))

    event = Event.objects.get()
    assert event.body == body
    assert event.event_type == ALIASES.get(sent["event_type"], sent["event_type"])
    assert event.host == host_and_token[0]
    assert event.repo_id == sent["payload"]["repo_id"]
    assert event.task_id == (sent.get("call_report") or {}).get("task_id", "")
    assert run.repository.repo_id == event.repo_id
    assert run.host == host_and_token[0]
    assert run.state == sent["payload"].get("result", RunState.RUNNING)


def test_it_stores_a_sync_start_as_a_running_run(post):
    run = _applied(post(load_body("sync-started")))

    assert run.kind == RunKind.SYNC
    assert run.state == RunState.RUNNING
    assert run.task_id == "0d6b2f2e-3a51-4c55-9a0e-6f1f2b9f4a10"
    assert run.started == STARTED
    assert run.completed is None
    assert run.result_id is None
    repository = Repository.objects.get(repo_id="centos-9-baseos")
    assert repository.latest_sync == run
    assert repository.sync_state == RunState.RUNNING
    assert repository.latest_finished_sync is None


def test_it_completes_the_started_run_with_a_successful_finish(post):
    started = _applied(post(load_body("sync-started")))

    run = _applied(post(load_body("sync-finished-success")))

    assert run.pk == started.pk
    assert Run.objects.count() == 1
    assert run.state == RunState.SUCCESS
    assert run.result_id == "6571a2cd1c2d4e0012ab3402"
    assert run.started == STARTED
    assert run.completed == datetime(2023, 12, 7, 1, 3, 41, tzinfo=UTC)
    assert (run.added_count, run.updated_count, run.removed_count) == (233, 0, 4)
    assert run.plugin == "yum_importer"
    assert run.plugin_type == "yum_importer"
    assert run.summary == load_event("sync-finished-success")["payload"]["summary"]
    assert run.details == load_event("sync-finished-success")["payload"]["details"]
    assert (run.error_message, run.exception, run.traceback) == ("", "", "")
    assert run.error_report is None
    assert run.item_error_count == 0
    assert run.fingerprint == ""
    repository = run.repository
    assert repository.latest_sync == run
    assert repository.latest_finished_sync == run
    assert repository.sync_state == RunState.SUCCESS


def test_it_derives_the_error_report_of_a_failed_sync(post):
    run = _applied(post(load_body("sync-finished-failed")))

    assert run.state == RunState.FAILED
    assert run.error_message == ""
    assert run.error_report == {
        "failed_steps": [
            {"step": "comps", "error": "comps.xml: mismatched tag: line 4012, column 6"}
        ],
        "item_error_count": 0,
        "item_errors": [],
        "message": "Step comps failed: comps.xml: mismatched tag: line 4012, column 6",
    }
    assert run.explanation() == "Step comps failed: comps.xml: mismatched tag: line 4012, column 6"
    assert len(run.fingerprint) == 16
    assert (run.added_count, run.updated_count, run.removed_count) == (12, 1, 0)
    assert run.repository.is_failing()


def test_it_normalizes_the_traceback_of_an_errored_sync(post):
    run = _applied(post(load_body("sync-finished-error-traceback")))

    assert run.state == RunState.ERROR
    assert run.exception == "PulpCodedException()"
    assert run.error_message == "Error retrieving metadata: Service Unavailable"
    assert run.explanation() == "Error retrieving metadata: Service Unavailable"
    lines = run.traceback.splitlines()
    assert lines[0] == "Traceback (most recent call last):"
    assert lines[1] == (
        '  File "/usr/lib/python2.7/site-packages/pulp/server/controllers/repository.py",'
        " line 802, in sync"
    )
    assert lines[2] == "    sync_report = sync_repo(transfer_repo, conduit, call_config)"
    assert lines[-1] == "    raise PulpCodedException(error_codes.RPM1004, reason=str(e))"
    assert len(lines) == 9
    assert (run.added_count, run.updated_count, run.removed_count) == (None, None, None)
    assert run.summary is None
    assert run.details is None
    assert len(run.fingerprint) == 16


def test_it_stores_a_publish_start_per_distributor(post):
    run = _applied(post(load_body("publish-started")))

    assert run.kind == RunKind.PUBLISH
    assert run.state == RunState.RUNNING
    assert run.plugin == "yum_distributor"
    assert run.repository.latest_publish == run
    assert run.repository.publish_state == RunState.RUNNING


def test_it_reads_a_bson_date_completed_of_a_publish(post):
    started = _applied(post(load_body("publish-started")))

    run = _applied(post(load_body("publish-finished-success")))

    assert run.pk == started.pk
    assert run.state == RunState.SUCCESS
    assert run.started == datetime(2023, 12, 7, 1, 3, 44, tzinfo=UTC)
    assert run.completed == datetime(2023, 12, 7, 1, 4, 11, 250000, tzinfo=UTC)
    assert run.plugin_type == "yum_distributor"
    assert (run.added_count, run.updated_count, run.removed_count) == (None, None, None)
    assert isinstance(run.details, list)
    assert run.repository.publish_state == RunState.SUCCESS


@pytest.mark.parametrize(
    ("alias", "name", "canonical"),
    [
        ("repo-sync-started", "sync-started", "repo.sync.start"),
        ("repo-sync-finished", "sync-finished-success", "repo.sync.finish"),
        ("repo-publish-started", "publish-started", "repo.publish.start"),
        ("repo-publish-finished", "publish-finished-success", "repo.publish.finish"),
    ],
)
def test_it_accepts_the_hyphenated_type_ids(post, alias, name, canonical):
    run = _applied(post(event_variant(name, event_type=alias)))

    assert Event.objects.get().event_type == canonical
    expected = RunState.RUNNING if canonical.endswith("start") else RunState.SUCCESS
    assert run.state == expected


@pytest.mark.parametrize("call_report", [MISSING, None, {}])
def test_it_accepts_a_start_without_call_report(post, call_report):
    before = timezone.now()

    run = _applied(post(event_variant("sync-started", call_report=call_report)))

    assert run.task_id == ""
    assert run.state == RunState.RUNNING
    assert before <= run.started <= timezone.now()
    assert Event.objects.get().task_id == ""


@pytest.mark.parametrize("call_report", [MISSING, None])
def test_it_accepts_a_finish_without_call_report(post, call_report):
    run = _applied(post(event_variant("sync-finished-success", call_report=call_report)))

    assert run.task_id == ""
    assert run.state == RunState.SUCCESS
    assert run.started == STARTED


OLD_CALL_REPORT = {
    "response": "accepted",
    "reasons": [],
    "state": "running",
    "task_id": "9f3e6f4a-2c11-11e3-8ffd-0050568b6d3b",
    "task_group_id": None,
    "schedule_id": None,
    "progress": {},
    "result": None,
    "exception": None,
    "traceback": None,
    "start_time": "2013-09-26T10:15:02-04:00",
    "finish_time": None,
    "tags": ["pulp:repository:rhel-6-server", "pulp:action:sync"],
}


def test_it_pairs_the_old_call_report_shape_by_task_id(post):
    start = event_variant("sync-started", call_report=OLD_CALL_REPORT, repo_id="rhel-6-server")
    finish = event_variant(
        "sync-finished-success",
        call_report=OLD_CALL_REPORT,
        repo_id="rhel-6-server",
        started="2013-09-26T10:15:02-04:00",
        completed="2013-09-26T10:20:12-04:00",
    )

    started = _applied(post(start))
    run = _applied(post(finish))

    assert run.pk == started.pk
    assert run.task_id == "9f3e6f4a-2c11-11e3-8ffd-0050568b6d3b"
    assert run.started == datetime(2013, 9, 26, 14, 15, 2, tzinfo=UTC)
    assert run.completed == datetime(2013, 9, 26, 14, 20, 12, tzinfo=UTC)
    assert json.loads(Event.objects.get(run=run, event_type="repo.sync.start").body)[
        "call_report"
    ] == (OLD_CALL_REPORT)


@pytest.mark.parametrize(
    ("started", "completed", "expected_started", "expected_completed"),
    [
        (
            "2023-12-07T01:00:02Z",
            "2023-12-07T01:03:41Z",
            STARTED,
            datetime(2023, 12, 7, 1, 3, 41, tzinfo=UTC),
        ),
        (
            "2023-12-06T21:00:02-04:00",
            "2023-12-06T21:03:41-04:00",
            STARTED,
            datetime(2023, 12, 7, 1, 3, 41, tzinfo=UTC),
        ),
        (
            "2023-12-07T01:00:02.500000+00:00",
            {"$date": 1701911021250},
            STARTED + timedelta(milliseconds=500),
            datetime(2023, 12, 7, 1, 3, 41, 250000, tzinfo=UTC),
        ),
        (
            {"$date": 1701910802000},
            {"$date": 1701911021000},
            STARTED,
            datetime(2023, 12, 7, 1, 3, 41, tzinfo=UTC),
        ),
        (
            {"$date": {"$numberLong": "1701910802000"}},
            {"$date": "2023-12-07T01:03:41Z"},
            STARTED,
            datetime(2023, 12, 7, 1, 3, 41, tzinfo=UTC),
        ),
        (
            "2023-12-07T01:00:02",
            "2023-12-07T01:03:41",
            STARTED,
            datetime(2023, 12, 7, 1, 3, 41, tzinfo=UTC),
        ),
    ],
    ids=["zulu", "offset", "iso-then-bson", "bson-both", "bson-extended", "naive-as-utc"],
)
def test_it_reads_every_timestamp_form(
    post, started, completed, expected_started, expected_completed
):
    body = event_variant(
        "sync-finished-success", call_report=MISSING, started=started, completed=completed
    )

    run = _applied(post(body))

    assert run.started == expected_started
    assert run.completed == expected_completed
    assert run.duration() == expected_completed - expected_started


DOCKER_DETAILS = [
    {
        "step_type": "sync_step_metadata",
        "description": "Retrieving metadata",
        "state": "FINISHED",
        "error_details": [],
    },
    {
        "step_type": "sync_step_download",
        "description": "Downloading remote files",
        "state": "FAILED",
        "error": "401 Client Error: Unauthorized",
        "error_details": [
            {"url": "https://registry.example.org/v2/x/blobs/sha256:ab", "code": 401}
        ],
    },
]
SKIPPED = "Repository content has not changed since last publish."


@pytest.mark.parametrize(
    ("summary", "details"),
    [
        ({"content": {"state": "FINISHED"}}, {"content": {"state": "FINISHED"}}),
        ({"steps": 2}, DOCKER_DETAILS[:1]),
        (SKIPPED, SKIPPED),
        ({"generate sqlite": "SKIPPED"}, None),
        (None, None),
        ([], []),
    ],
    ids=["objects", "list-of-steps", "sentences", "iso-null-details", "nulls", "empty-lists"],
)
def test_it_stores_summary_and_details_as_given(post, summary, details):
    body = event_variant("sync-finished-success", summary=summary, details=details)

    run = _applied(post(body))

    assert run.summary == summary
    assert run.details == details
    assert run.error_report is None
    assert run.item_error_count == 0


def test_it_explains_a_failed_docker_sync_from_its_list_of_step_reports(post):
    body = event_variant(
        "sync-finished-success",
        result="failed",
        summary={"sync_step_download": "FAILED"},
        details=DOCKER_DETAILS,
        importer_type_id="docker_importer",
    )

    run = _applied(post(body))

    assert run.state == RunState.FAILED
    assert run.error_report == {
        "failed_steps": [{"step": "sync_step_download", "error": "401 Client Error: Unauthorized"}],
        "item_error_count": 1,
        "item_errors": [{"url": "https://registry.example.org/v2/x/blobs/sha256:ab", "code": 401}],
        "message": "Step sync_step_download failed: 401 Client Error: Unauthorized; 1 item failed",
    }
    assert run.item_error_count == 1


def test_it_stores_a_skipped_publish_with_its_sentences(post):
    body = event_variant(
        "publish-finished-success", result="skipped", summary=SKIPPED, details=SKIPPED
    )

    run = _applied(post(body))

    assert run.state == RunState.SKIPPED
    assert (run.summary, run.details) == (SKIPPED, SKIPPED)
    assert run.explanation() == ""
    assert run.fingerprint == ""
    assert run.repository.publish_state == RunState.SKIPPED


@pytest.mark.parametrize(
    ("count", "stored"),
    [(0, 0), (17, 17), (2**31 - 1, 2**31 - 1), (-1, None), (None, None)],
)
def test_it_stores_counts_with_minus_one_as_unknown(post, count, stored):
    body = event_variant(
        "sync-finished-success", added_count=count, updated_count=count, removed_count=count
    )

    run = _applied(post(body))

    assert (run.added_count, run.updated_count, run.removed_count) == (stored, stored, stored)


def test_it_accepts_a_finish_without_counts(post):
    body = event_variant(
        "sync-finished-success", drop=("added_count", "updated_count", "removed_count")
    )

    run = _applied(post(body))

    assert (run.added_count, run.updated_count, run.removed_count) == (None, None, None)


def _error_with_traceback(traceback) -> dict:
    return event_variant(
        "sync-finished-error-traceback", traceback=traceback, exception="IOError()"
    )


def test_it_stores_a_null_traceback_as_empty_text(post):
    run = _applied(post(_error_with_traceback(None)))

    assert run.traceback == ""


def test_it_joins_frame_strings_under_a_traceback_header(post):
    run = _applied(post(_error_with_traceback(FRAMES)))

    assert run.traceback == "Traceback (most recent call last):\n" + "".join(FRAMES).rstrip("\n")


def test_it_keeps_a_full_traceback_string(post):
    text = "Traceback (most recent call last):\n" + "".join(FRAMES) + "IOError: [Errno 28]\n"

    run = _applied(post(_error_with_traceback(text)))

    assert run.traceback == text.rstrip("\n")


def test_it_formats_puppet_frame_lists_like_python_frames(post):
    frames = [
        ["/usr/lib/python2.7/site-packages/pulp_puppet/forge.py", 118, "get_modules", "raise e"],
        ["/usr/lib/python2.7/site-packages/pulp_puppet/sync.py", 77, "run", None],
    ]

    run = _applied(post(_error_with_traceback(frames)))

    assert run.traceback == (
        "Traceback (most recent call last):\n"
        '  File "/usr/lib/python2.7/site-packages/pulp_puppet/forge.py", line 118, in get_modules\n'
        "    raise e\n"
        '  File "/usr/lib/python2.7/site-packages/pulp_puppet/sync.py", line 77, in run'
    )


@pytest.mark.parametrize("result", ["success", "failed", "error", "canceled"])
def test_it_accepts_every_sync_result(post, result):
    run = _applied(post(event_variant("sync-finished-success", result=result)))

    assert run.state == result
    assert run.repository.sync_state == result


@pytest.mark.parametrize("result", ["success", "failed", "error", "skipped"])
def test_it_accepts_every_publish_result(post, result):
    run = _applied(post(event_variant("publish-finished-success", result=result)))

    assert run.state == result
    assert run.repository.publish_state == result


def test_it_decodes_unicode_escapes_and_surrogate_pairs(post):
    body = json.dumps(
        event_variant(
            "sync-finished-error-traceback",
            error_message="Pr\u00fcfsumme falsch f\u00fcr \U0001f4e6 paket",
        )
    )
    assert "\\u00fc" in body
    assert "\\ud83d\\udce6" in body

    run = _applied(post(body))

    assert run.error_message == "Pr\u00fcfsumme falsch f\u00fcr \U0001f4e6 paket"
    assert Event.objects.get().body == body


def test_it_keeps_literal_python2_byte_escapes_as_text(post):
    body = r'"Error: \\xe4\\xf6 not decodable"'
    text = load_body("sync-finished-error-traceback").replace(
        '"Error retrieving metadata: Service Unavailable"', body
    )

    run = _applied(post(text))

    assert run.error_message == r"Error: \xe4\xf6 not decodable"


def test_it_unwraps_an_object_id_result_id(post):
    body = event_variant("sync-finished-success", id={"$oid": "6571a2cd1c2d4e0012ab3402"})

    run = _applied(post(body))

    assert run.result_id == "6571a2cd1c2d4e0012ab3402"


def test_it_accepts_a_finish_without_result_id(post):
    run = _applied(post(event_variant("sync-finished-success", drop=("id",))))

    assert run.result_id is None
    assert run.state == RunState.SUCCESS


def test_it_keeps_unknown_payload_keys_in_the_stored_body(post):
    body = event_variant("sync-finished-success", plugin_version="2.21.5")

    run = _applied(post(body))

    assert run.state == RunState.SUCCESS
    assert json.loads(Event.objects.get().body)["payload"]["plugin_version"] == "2.21.5"


def test_it_accepts_a_call_report_token_that_is_not_a_string(post):
    report = {**load_event("sync-started")["call_report"], "token": None, "password": 1234}

    run = _applied(post(event_variant("sync-started", call_report=report)))

    assert run.task_id == report["task_id"]
    stored = json.loads(Event.objects.get().body)["call_report"]
    assert (stored["token"], stored["password"]) == (None, 1234)


def _error_details(count: int) -> list[dict]:
    return [
        {
            "url": f"https://mirror.example.org/epel/9/Packages/p/package-{index}.rpm",
            "error_code": 404,
            "error_message": "Not Found",
            "checksum": f"{index:064x}",
        }
        for index in range(count)
    ]


def test_it_accepts_a_three_megabyte_body_with_thousands_of_item_errors(post):
    errors = _error_details(8000)
    details = {"content": {"state": "FINISHED", "error_details": errors}}
    report = {**load_event("sync-finished-success")["call_report"]}
    report["progress_report"] = {"yum_importer": details}
    body = json.dumps(event_variant("sync-finished-success", call_report=report, details=details))
    assert len(body) > 3 * 1024 * 1024

    run = _applied(post(body))

    assert run.state == RunState.SUCCESS
    assert run.item_error_count == 8000
    assert run.error_report["item_errors"] == errors[:5]
    assert run.error_report["message"] == "8000 items failed"
    assert run.fingerprint == ""
    assert len(Event.objects.get().body) == len(body)


@override_settings(EVENTS_MAX_BODY_BYTES=4096)
def test_it_refuses_a_body_over_the_configured_limit(post):
    body = json.dumps(event_variant("sync-finished-success", details=_error_details(40)))

    post(body, expect_error="body is larger than 4096 bytes", status=413)


@override_settings(EVENTS_MAX_BODY_BYTES=4096)
def test_it_accepts_a_body_just_under_the_configured_limit(post):
    body = load_body("sync-finished-success")
    assert len(body) < 4096

    _applied(post(body))


def test_it_records_item_errors_of_a_successful_sync(post):
    errors = _error_details(7)
    body = event_variant(
        "sync-finished-success", details={"content": {"state": "FINISHED", "error_details": errors}}
    )

    run = _applied(post(body))

    assert run.state == RunState.SUCCESS
    assert run.item_error_count == 7
    assert run.error_report == {
        "failed_steps": [],
        "item_error_count": 7,
        "item_errors": errors[:5],
        "message": "7 items failed",
    }
    assert run.explanation() == "7 items failed"
    assert not run.repository.is_failing()


def test_it_derives_a_report_for_a_failure_without_any_detail(post):
    body = event_variant("sync-finished-failed", summary=None, details=None)

    run = _applied(post(body))

    assert run.error_report == {
        "failed_steps": [],
        "item_error_count": 0,
        "item_errors": [],
        "message": "",
    }
    assert run.explanation() == ""


def _failed(repo_id: str, number: int, **payload) -> dict:
    return event_variant(
        "sync-finished-failed",
        call_report=MISSING,
        repo_id=repo_id,
        id=object_id(number),
        **payload,
    )


def test_it_gives_the_same_cause_the_same_fingerprint_across_repositories(post):
    first = _applied(post(_failed("epel-8", 1)))
    second = _applied(post(_failed("epel-9", 2)))

    assert first.repository != second.repository
    assert first.fingerprint
    assert first.fingerprint == second.fingerprint


def test_it_ignores_numbers_and_urls_when_fingerprinting_a_message(post):
    first = _applied(
        post(_failed("a", 1, error_message="Timeout after 30s fetching https://a.example/x"))
    )
    second = _applied(
        post(_failed("b", 2, error_message="Timeout after 45s fetching https://b.example/y"))
    )

    assert first.fingerprint == second.fingerprint


def test_it_gives_a_different_cause_a_different_fingerprint(post):
    first = _applied(post(_failed("epel-8", 1)))
    other_details = {"metadata": {"state": "FAILED", "error": "repomd.xml: 404 Not Found"}}
    second = _applied(post(_failed("epel-9", 2, summary=None, details=other_details)))

    assert second.fingerprint
    assert first.fingerprint != second.fingerprint


def test_it_fingerprints_tracebacks_by_exception_and_top_frames(post):
    errored = event_variant("sync-finished-error-traceback", call_report=MISSING)
    first = _applied(post({**errored, "payload": {**errored["payload"], "repo_id": "a"}}))
    moved = {**errored["payload"], "repo_id": "b", "id": object_id(9)}
    moved["error_message"] = "a different message"
    second = _applied(post({**errored, "payload": moved}))
    other = {**moved, "repo_id": "c", "id": object_id(10), "exception": "IOError()"}
    third = _applied(post({**errored, "payload": other}))

    assert first.fingerprint == second.fingerprint
    assert third.fingerprint != first.fingerprint


@pytest.mark.parametrize(
    "repo_id",
    [
        "rhel/9/baseos",
        "centos-stream.9_appstream",
        "docker:library/nginx@latest",
        "pkg+extras~1",
        "x",
        "9",
        "a..b",
        "a/.hidden",
        "R" * 200,
    ],
)
def test_it_accepts_every_repo_id_the_rule_allows(post, repo_id):
    run = _applied(post(event_variant("sync-started", repo_id=repo_id)))

    assert run.repository.repo_id == repo_id
    assert Event.objects.get().repo_id == repo_id


def test_it_accepts_a_lookalike_host_without_call_report(post):
    run = _applied(post(load_body("sync-started-lookalike")))

    assert Event.objects.get().event_type == "repo.sync.start"
    assert run.repository.repo_id == "rhel/9/baseos"
    assert run.task_id == ""
    assert run.state == RunState.RUNNING


def test_it_explains_the_docker_fixture_from_its_failed_step(post):
    run = _applied(post(load_body("sync-finished-docker-failed")))

    assert run.plugin_type == "docker_importer"
    assert run.item_error_count == 2
    assert run.error_report["failed_steps"] == [
        {
            "step": "sync_step_download",
            "error": "401 Client Error: Unauthorized for url: "
            "https://registry.example.org/v2/library/nginx/blobs/sha256:4f1c",
        }
    ]
    assert run.explanation() == (
        "Step sync_step_download failed: 401 Client Error: Unauthorized for url: "
        "https://registry.example.org/v2/library/nginx/blobs/sha256:4f1c; 2 items failed"
    )
    assert isinstance(run.details, list)


def test_it_stores_the_iso_fixture_with_null_details(post):
    run = _applied(post(load_body("sync-finished-iso-success")))

    assert run.details is None
    assert run.summary["num_isos"] == 3
    assert (run.added_count, run.updated_count, run.removed_count) == (3, 0, 0)
    assert run.error_report is None


def test_it_stores_the_skipped_publish_fixture(post):
    run = _applied(post(load_body("publish-finished-skipped")))

    assert run.state == RunState.SKIPPED
    assert run.summary == load_event("publish-finished-skipped")["payload"]["summary"]
    assert run.completed == datetime(2023, 12, 8, 1, 3, 44, 512000, tzinfo=UTC)
    assert run.repository.publish_state == RunState.SKIPPED


def test_it_normalizes_the_puppet_fixture_traceback(post):
    run = _applied(post(load_body("sync-finished-puppet-error")))

    assert run.traceback.splitlines()[:3] == [
        "Traceback (most recent call last):",
        '  File "/usr/lib/python2.7/site-packages/pulp/server/managers/repo/sync.py", line 106,'
        " in sync",
        "    sync_report = importer_instance.sync_repo(transfer_repo, conduit, call_config)",
    ]
    assert (
        run.traceback.splitlines()[-1] == '    raise ValueError("No JSON object could be decoded")'
    )
    assert (run.added_count, run.updated_count, run.removed_count) == (None, None, None)
    assert run.explanation() == "No JSON object could be decoded"


def test_it_reads_the_pulp_2_3_fixture(post):
    run = _applied(post(load_body("sync-finished-pulp23-error")))

    assert run.task_id == "0b7f3c2e-2c11-11e3-8ffd-0050568b6d3b"
    assert run.started == datetime(2013, 9, 26, 14, 15, 2, tzinfo=UTC)
    assert run.completed == datetime(2013, 9, 26, 14, 15, 9, tzinfo=UTC)
    assert run.error_message == (
        r"[Errno 2] No such file or directory: '/var/lib/pulp/working/M\xe4rz/repodata'"
    )
    assert run.traceback.startswith("Traceback (most recent call last):\n  File ")
    assert run.traceback.endswith(
        r"IOError: [Errno 2] No such file or directory: '/var/lib/pulp/working/M\xe4rz/repodata'"
    )
    assert (run.added_count, run.updated_count, run.removed_count) == (None, None, None)


def test_it_counts_item_errors_of_the_successful_yum_fixture(post):
    run = _applied(post(load_body("sync-finished-success-item-errors")))

    assert run.state == RunState.SUCCESS
    assert run.item_error_count == 7
    assert run.error_report["message"] == "7 items failed"
    assert len(run.error_report["item_errors"]) == 5
    assert run.error_report["item_errors"][0]["error_code"] == 404
    assert not run.repository.is_failing()
