"""Simulated Pulp 2 traffic: event bodies shaped as each plugin sends them, and repositories
living the life a Pulp 2 server gives them.

A sync starts and finishes after a while, and a successful sync is followed by its
auto-publish. Some syncs fail the ways Pulp's plugins fail (an `error` with a traceback, a
`failed` step with the error inside the details, per-item download errors), some are canceled,
and now and then a finish is never sent. `manage.py simulate`, the browser tests and the
screenshots all post these bodies.
"""

from __future__ import annotations

import json
import random
import secrets
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

WORKER_NAME = "reserved_resource_worker-{n}@pulp{m}.example.org"
SITES = ["dc2", "dc3", "lab", "edge", "dr"]

# (repository id, plugin): interleaved so that a handful of repositories already mixes plugins.
REPOSITORIES = [
    ("centos-9-baseos", "yum"),
    ("epel-9-everything", "yum"),
    ("docker-hub-nginx", "docker"),
    ("rocky-9-appstream", "yum"),
    ("puppet-forge-stdlib", "puppet"),
    ("ostree-fedora-iot", "ostree"),
    ("iso-rhel-9", "iso"),
    ("centos-9-appstream", "yum"),
    ("docker-hub-postgres", "docker"),
    ("almalinux-9-baseos", "yum"),
    ("epel-8-everything", "yum"),
    ("rhel-9-baseos-rpms", "yum"),
    ("puppet-forge-apache", "puppet"),
    ("docker-hub-redis", "docker"),
    ("rocky-9-baseos", "yum"),
    ("rhel-8-appstream-rpms", "yum"),
    ("ostree-fedora-silverblue", "ostree"),
    ("fedora-40-updates", "yum"),
    ("quay-prometheus", "docker"),
    ("iso-centos-stream-9", "iso"),
    ("oraclelinux-9-baseos", "yum"),
    ("postgresql-16-el9", "yum"),
    ("puppet-forge-concat", "puppet"),
    ("zabbix-7-el9", "yum"),
    ("docker-hub-alpine", "docker"),
    ("centos-9-crb", "yum"),
    ("iso-fedora-workstation-40", "iso"),
    ("docker-ce-stable-el9", "yum"),
]

# Plugin ids as Pulp 2 registers them: (importer type, distributor id, distributor type).
PLUGINS = {
    "yum": ("yum_importer", "yum_distributor", "yum_distributor"),
    "docker": ("docker_importer", "docker_web_distributor_name_cli", "docker_distributor_web"),
    "puppet": ("puppet_importer", "puppet_distributor", "puppet_distributor"),
    "ostree": ("ostree_web_importer", "ostree_web_distributor_name_cli", "ostree_web_distributor"),
    "iso": ("iso_importer", "iso_distributor", "iso_distributor"),
}
SITE_PACKAGES = "/usr/lib/python2.7/site-packages"
SYNC_FRAME = (
    f'  File "{SITE_PACKAGES}/pulp/server/controllers/repository.py", line 802, in sync\n'
    "    sync_report = sync_repo(transfer_repo, conduit, call_config)\n"
)
TASK_FRAME = (
    f'  File "{SITE_PACKAGES}/pulp/server/async/tasks.py", line 529, in wrap_f\n'
    "    return f(*args, **kwargs)\n"
)
SKIPPED = "Skipped. Nothing changed since last publish"
PUBLISH_ERROR = "[Errno 28] No space left on device: '/var/lib/pulp/published'"


# Failures as each plugin reports them. Messages repeat across repositories on purpose: one
# upstream outage fails many repositories the same way.


def _frames(*frames: tuple[str, int, str, str]) -> list[str]:
    """Frame strings in traceback.format_tb's shape, after Pulp's own two outer frames."""
    tail = [
        f'  File "{SITE_PACKAGES}/{path}", line {line}, in {function}\n    {code}\n'
        for path, line, function, code in frames
    ]
    return [SYNC_FRAME, TASK_FRAME, *tail]


def _yum_error(repo_id: str, rng: random.Random) -> dict[str, Any]:
    reason = rng.choice(["Service Unavailable", "Not Found", "Service Unavailable"])
    # Mirrors behind credentials leak them into messages; the dashboard redacts them.
    mirror = f"https://mirror:Xk29-sync@cdn.internal.example/{repo_id}/repodata/repomd.xml"
    return {
        "error_message": rng.choice(
            [f"Error retrieving metadata: {reason}", f"Error retrieving {mirror}: {reason}"]
        ),
        "exception": "PulpCodedException()",
        "traceback": _frames(
            ("pulp_rpm/plugins/importers/yum/importer.py", 318, "sync_repo", "return sync.run()"),
            (
                "pulp_rpm/plugins/importers/yum/sync.py",
                247,
                "run",
                "raise PulpCodedException(error_codes.RPM1004, reason=str(e))",
            ),
        ),
    }


def _docker_error(repo_id: str, rng: random.Random) -> dict[str, Any]:
    name = repo_id.removeprefix("docker-hub-").removeprefix("quay-")
    reason = rng.choice(["401 Client Error: Unauthorized", "429 Client Error: Too Many Requests"])
    frames = "".join(
        _frames(
            ("pulp_docker/plugins/importers/sync.py", 228, "process_main", "self.get_manifest()"),
            (
                "pulp_docker/plugins/registry.py",
                402,
                "get_manifest",
                "raise IOError(report.error_report.get('response_msg'))",
            ),
        )
    )
    return {
        "error_message": f"Could not fetch repository library/{name} from registry "
        f"https://registry-1.docker.io - {reason}",
        "exception": "PulpCodedException()",
        # Look-alike hosts send the whole text, header and exception line included.
        "traceback": f"Traceback (most recent call last):\n{frames}IOError: {reason}\n",
    }


def _puppet_error(repo_id: str, rng: random.Random) -> dict[str, Any]:
    importers = f"{SITE_PACKAGES}/pulp_puppet/plugins/importers"
    return {
        "error_message": "No JSON object could be decoded",
        "exception": "ValueError('No JSON object could be decoded',)",
        # pulp_puppet stores traceback.extract_tb(): [file, line, function, text] lists.
        "traceback": [
            [f"{importers}/importer.py", 96, "sync_repo", "report = self.sync_method(repo)"],
            [f"{importers}/forge.py", 133, "perform_sync", "metadata = self._fetch_metadata()"],
            [f"{importers}/forge.py", 209, "_fetch_metadata", "return json.loads(raw)"],
            ["/usr/lib64/python2.7/json/__init__.py", 338, "loads", "return _default_decoder"],
        ],
    }


def _ostree_error(repo_id: str, rng: random.Random) -> dict[str, Any]:
    return {
        "error_message": "Pull of remote branches failed: Server returned HTTP 503",
        "exception": "PulpCodedException()",
        "traceback": _frames(
            ("pulp_ostree/plugins/importers/steps.py", 171, "process_main", "self._pull(...)"),
            (
                "pulp_ostree/plugins/importers/steps.py",
                207,
                "_pull",
                "raise PulpCodedException(errors.OST0005, reason=str(le))",
            ),
        ),
    }


def _iso_error(repo_id: str, rng: random.Random) -> dict[str, Any]:
    return {
        "error_message": "Could not retrieve PULP_MANIFEST: 404 Not Found",
        "exception": "IOError(2, 'No such file or directory')",
        "traceback": _frames(
            ("pulp_rpm/plugins/importers/iso/sync.py", 118, "perform_sync", "self._download()"),
            ("pulp_rpm/plugins/importers/iso/sync.py", 302, "_download", "raise IOError(msg)"),
        ),
    }


ERRORS: dict[str, Callable[[str, random.Random], dict[str, Any]]] = {
    "yum": _yum_error,
    "docker": _docker_error,
    "puppet": _puppet_error,
    "ostree": _ostree_error,
    "iso": _iso_error,
}


def missing_packages(repo_id: str, rng: random.Random) -> list[dict[str, Any]]:
    """Per-item download errors as pulp_rpm lists them: 404s and checksum mismatches."""
    errors = []
    for _ in range(rng.choice([1, 2, 3, 7, 40])):
        package = f"{rng.choice(['kernel', 'glibc', 'openssl-libs', 'python3', 'systemd'])}-"
        package += f"{rng.randint(1, 6)}.{rng.randint(0, 40)}-{rng.randint(1, 400)}.el9.x86_64"
        if rng.random() < 0.7:
            errors.append(
                {
                    "url": f"https://cdn.example.org/{repo_id}/Packages/{package}.rpm",
                    "response_code": 404,
                    "response_msg": "Not Found",
                }
            )
        else:
            errors.append(
                {
                    "name": package,
                    "error_code": "checksum_verification",
                    "checksum_type": "sha256",
                    "expected": f"{rng.getrandbits(256):064x}",
                    "actual": f"{rng.getrandbits(256):064x}",
                }
            )
    return errors


# Summary and details, shaped per plugin.


@dataclass(frozen=True)
class Outcome:
    """How one simulated sync ends."""

    result: str  # a Pulp result, or "lost": no finish is ever sent
    added: int = 0
    updated: int = 0
    removed: int = 0
    item_errors: tuple[dict[str, Any], ...] = ()
    failed_step: str = ""
    step_error: str = ""

    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed)


def _yum_reports(outcome: Outcome) -> tuple[Any, Any]:
    states = dict.fromkeys(
        ["metadata", "content", "distribution", "errata", "comps", "purge_duplicates"],
        "FINISHED",
    )
    if outcome.result == "canceled":
        states.update(content="CANCELLED", errata="NOT_STARTED", comps="NOT_STARTED")
        states["purge_duplicates"] = "NOT_STARTED"
    if outcome.failed_step:
        states[outcome.failed_step] = "FAILED"
        states["purge_duplicates"] = "NOT_STARTED"
    items = outcome.added + outcome.updated + len(outcome.item_errors)
    details: dict[str, Any] = {step: {"state": state} for step, state in states.items()}
    details["content"].update(
        items_total=items,
        items_left=0,
        size_total=items * 1_400_000,
        size_left=0,
        error_details=list(outcome.item_errors),
        details={"rpm_total": items, "rpm_done": items, "drpm_total": 0, "drpm_done": 0},
    )
    details["distribution"].update(items_total=0, items_left=0, error_details=[])
    if outcome.step_error:
        details[outcome.failed_step]["error"] = outcome.step_error
    return {step: {"state": state} for step, state in states.items()}, details


STEP_TYPES = {
    "docker": [
        ("sync_step_metadata", "Retrieving metadata"),
        ("get_local", "Copying units already in pulp"),
        ("sync_step_download", "Downloading remote files"),
        ("sync_step_save", "Saving Manifests and Blobs"),
    ],
    "ostree": [
        ("import_create_repository", "Create Local Repository"),
        ("import_pull", "Pull Remote Branches"),
        ("import_add_unit", "Add Content Units"),
    ],
    "publish": [
        ("initialize_repo_metadata", "Initializing repo metadata"),
        ("publish_content", "Publishing content"),
        ("metadata", "Publishing Metadata."),
        ("publish_directory", "Publishing files to web"),
    ],
}


def _step_reports(
    steps: str, *, items: int, failed_step: str = "", error: str = ""
) -> tuple[Any, Any]:
    """Step-based plugins (docker, ostree, every publish): a list of step reports."""
    details = []
    failed = False
    for step_type, description in STEP_TYPES[steps]:
        state = "NOT_STARTED" if failed else "FINISHED"
        if step_type == failed_step:
            state, failed = "FAILED", True
        step = {
            "num_success": items if state == "FINISHED" else 0,
            "description": description,
            "step_type": step_type,
            "items_total": items,
            "state": state,
            "error_details": [],
            "details": "",
            "num_failures": int(state == "FAILED"),
            "step_id": str(uuid.uuid4()),
            "num_processed": items if state == "FINISHED" else 0,
        }
        if state == "FAILED":
            step["error"] = error
        details.append(step)
    return {step["step_type"]: step["state"] for step in details}, details


def _puppet_reports(outcome: Outcome) -> tuple[Any, Any]:
    failed = bool(outcome.failed_step)
    modules = {
        "state": "failed" if failed else "success",
        "total_count": outcome.added + outcome.updated,
        "finished_count": outcome.added + outcome.updated,
        "error_count": 2 if failed else 0,
        "error_message": outcome.step_error or None,
        "individual_errors": {
            "puppetlabs-stdlib-9.6.0": {"exception": "HTTPError 404", "traceback": None}
        }
        if failed
        else {},
    }
    details = {
        "metadata": {"state": "success", "query_finished_count": 1, "query_total_count": 1},
        "modules": modules,
    }
    return {"total_execution_time": 1840 + outcome.added * 35}, details


def _iso_reports(outcome: Outcome) -> tuple[Any, Any]:
    failed = bool(outcome.failed_step)
    summary = {
        "state": "failed" if failed else "complete",
        "num_isos": outcome.added + 1,
        "num_isos_finished": outcome.added + (0 if failed else 1),
        "size_total": (outcome.added + 1) * 9_663_676_416,
        "iso_error_messages": [{"name": "boot.iso", "error": outcome.step_error}] if failed else [],
        "error_message": outcome.step_error or None,
        "traceback": None,
    }
    return summary, None


def _stepped_reports(plugin: str, outcome: Outcome) -> tuple[Any, Any]:
    return _step_reports(
        plugin,
        items=max(outcome.added + outcome.updated, 1),
        failed_step=outcome.failed_step,
        error=outcome.step_error,
    )


# The finish payload's summary and details, in the shape each plugin gives them.
SYNC_REPORTS: dict[str, Callable[[Outcome], tuple[Any, Any]]] = {
    "yum": _yum_reports,
    "docker": partial(_stepped_reports, "docker"),
    "ostree": partial(_stepped_reports, "ostree"),
    "puppet": _puppet_reports,
    "iso": _iso_reports,
}


# (step, error) of a `failed` sync, per plugin: the error sits in the details, not in the
# payload's error fields.
FAILED_STEPS = {
    "yum": [
        ("comps", "comps.xml: mismatched tag: line 4012, column 6"),
        ("content", ""),
        ("errata", "updateinfo.xml: checksum mismatch (sha256)"),
    ],
    "docker": [("sync_step_download", "Manifest unknown: manifest tagged by 'latest' is gone")],
    "ostree": [("import_pull", "Server returned HTTP 404: refs/heads/fedora/stable/x86_64/iot")],
    "puppet": [("modules", "2 modules could not be downloaded")],
    "iso": [("download", "boot.iso: checksum mismatch (sha256)")],
}


def _publish_reports(result: str) -> tuple[Any, Any]:
    if result == "skipped":
        return SKIPPED, SKIPPED
    if result == "failed":
        return _step_reports(
            "publish", items=1, failed_step="publish_directory", error=PUBLISH_ERROR
        )
    return _step_reports("publish", items=1)


# Event bodies.


def now_utc() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def object_id(moment: datetime) -> str:
    """A 24-hex ObjectId like MongoDB's: 4 bytes of time, 8 random."""
    # Identifiers never come from the seeded generator: a second run with the same --seed
    # must not repeat the first run's ids, or the server would take its events as duplicates.
    return f"{int(moment.timestamp()):08x}{secrets.token_hex(8)}"


@dataclass(frozen=True)
class Repo:
    repo_id: str
    plugin: str
    worker: str


@dataclass(frozen=True)
class Task:
    """One Pulp task (a sync or a publish) of one repository."""

    repo: Repo
    kind: str
    task_id: str
    status_id: str
    started: datetime

    def call_report(self, progress: Any = None) -> dict[str, Any]:
        return {
            "exception": None,
            "task_type": f"pulp.server.managers.repo.{self.kind}.{self.kind}",
            "_href": f"/pulp/api/v2/tasks/{self.task_id}/",
            "task_id": self.task_id,
            "tags": [f"pulp:repository:{self.repo.repo_id}", f"pulp:action:{self.kind}"],
            "finish_time": None,
            "_ns": "task_status",
            "start_time": iso(self.started),
            "traceback": None,
            "spawned_tasks": [],
            "progress_report": progress or {},
            "state": "running",
            "worker_name": self.repo.worker,
            "result": None,
            "error": None,
            "_id": {"$oid": self.status_id},
            "id": self.status_id,
        }


@dataclass(frozen=True)
class Outgoing:
    """One event to send, with what the log line says about it."""

    event_type: str
    repo_id: str
    result: str  # a finish's result; on a start, "lost" when its finish will never come
    body: dict[str, Any]

    def encode(self) -> bytes:
        # Pulp 2 serializes with Python 2's json: one line, ASCII only.
        return json.dumps(self.body).encode("ascii")


def start_event(task: Task, *, note: str = "") -> Outgoing:
    payload: dict[str, Any] = {"repo_id": task.repo.repo_id}
    if task.kind == "publish":
        payload["distributor_id"] = PLUGINS[task.repo.plugin][1]
    event_type = f"repo.{task.kind}.start"
    body = {"event_type": event_type, "payload": payload, "call_report": task.call_report()}
    return Outgoing(event_type, task.repo.repo_id, note, body)


def sync_finish_event(task: Task, outcome: Outcome, rng: random.Random) -> Outgoing:
    completed = now_utc()
    plugin = task.repo.plugin
    summary, details = SYNC_REPORTS[plugin](outcome)
    error = ERRORS[plugin](task.repo.repo_id, rng) if outcome.result == "error" else {}
    counts = (-1, -1, -1) if error else (outcome.added, outcome.updated, outcome.removed)
    payload = {
        "result": outcome.result,
        "importer_id": PLUGINS[plugin][0],
        "exception": error.get("exception"),
        "repo_id": task.repo.repo_id,
        "traceback": error.get("traceback"),
        "started": iso(task.started),
        "_ns": "repo_sync_results",
        "completed": iso(completed),
        "importer_type_id": PLUGINS[plugin][0],
        "error_message": error.get("error_message"),
        "summary": None if error else summary,
        "added_count": counts[0],
        "removed_count": counts[2],
        "updated_count": counts[1],
        "details": None if error else details,
        "id": object_id(completed),
    }
    progress = {} if error else {PLUGINS[plugin][0]: details}
    body = {
        "event_type": "repo.sync.finish",
        "payload": payload,
        "call_report": task.call_report(progress),
    }
    return Outgoing("repo.sync.finish", task.repo.repo_id, outcome.result, body)


def publish_finish_event(task: Task, result: str) -> Outgoing:
    completed = now_utc()
    _, distributor, distributor_type = PLUGINS[task.repo.plugin]
    summary, details = _publish_reports(result)
    payload = {
        "result": result,
        "exception": None,
        "repo_id": task.repo.repo_id,
        "traceback": None,
        "started": iso(task.started),
        "_ns": "repo_publish_results",
        # From Pulp 2.8 on a publish's completed is a BSON date while started stays a string.
        "completed": {"$date": int(completed.timestamp() * 1000)},
        "distributor_id": distributor,
        "distributor_type_id": distributor_type,
        "error_message": None,
        "summary": summary,
        "details": details,
        "id": object_id(completed),
    }
    progress = {} if result == "skipped" else {distributor_type: details}
    body = {
        "event_type": "repo.publish.finish",
        "payload": payload,
        "call_report": task.call_report(progress),
    }
    return Outgoing("repo.publish.finish", task.repo.repo_id, result, body)


# The traffic: every repository's endless life, interleaved by due time.


class Lifecycle:
    """One repository's endless life as Pulp 2 events, with the waits between them."""

    def __init__(self, repo: Repo, *, failure_rate: float, unit: float, rng: random.Random):
        self.repo = repo
        self.failure_rate = failure_rate
        # Seconds per repository per event: waits scale with it, so the rate stays as asked
        # whatever the number of repositories.
        self.unit = unit
        # One generator per repository: a seed then gives the same traffic however the
        # repositories' events interleave.
        self.rng = rng

    def _wait(self, low: float, high: float) -> float:
        return self.rng.uniform(low, high) * self.unit

    def _task(self, kind: str) -> Task:
        started = now_utc()
        return Task(self.repo, kind, str(uuid.uuid4()), object_id(started), started)

    def _sync_outcome(self) -> Outcome:
        rng, repo = self.rng, self.repo
        changes = {
            "added": rng.choice([0, 0, 0, 1, 3, 12, 48, 233]),
            "updated": rng.choice([0, 0, 0, 1, 2]),
            "removed": rng.choice([0, 0, 0, 0, 4]),
        }
        if rng.random() >= self.failure_rate:
            # A success may still carry per-package download errors.
            with_errors = repo.plugin == "yum" and rng.random() < 0.12
            item_errors = missing_packages(repo.repo_id, rng) if with_errors else []
            return Outcome("success", item_errors=tuple(item_errors), **changes)
        result = rng.choices(["error", "failed", "lost", "canceled"], weights=[45, 40, 8, 7])[0]
        if result in ("error", "lost"):
            return Outcome(result)
        if result == "canceled":
            return Outcome(result, **changes)
        step, error = rng.choice(FAILED_STEPS[repo.plugin])
        item_errors = () if error else tuple(missing_packages(repo.repo_id, rng))
        return Outcome(
            "failed", failed_step=step, step_error=error, item_errors=item_errors, **changes
        )

    def _publish_result(self, outcome: Outcome) -> str:
        if not outcome.changed():
            return "skipped"
        return "failed" if self.rng.random() < self.failure_rate / 4 else "success"

    def events(self) -> Iterator[float | Outgoing]:
        """Waits (seconds) and events, alternating, starting with a wait."""
        yield self._wait(0, 2)
        while True:
            sync = self._task("sync")
            outcome = self._sync_outcome()
            yield start_event(sync, note="lost" if outcome.result == "lost" else "")
            if outcome.result == "lost":
                # The host crashed or the plugin raised: stock Pulp sends no finish then.
                yield self._wait(8, 12)
                continue
            yield self._wait(0.5, 1.5)
            yield sync_finish_event(sync, outcome, self.rng)
            if outcome.result != "success":
                yield self._wait(1, 3)
                continue
            yield self._wait(0.05, 0.2)
            publish = self._task("publish")
            yield start_event(publish)
            yield self._wait(0.2, 0.6)
            yield publish_finish_event(publish, self._publish_result(outcome))
            yield self._wait(1, 3)


def lifecycles(
    repos: list[Repo], *, rate: float, failure_rate: float, seed: int | None
) -> list[Lifecycle]:
    unit = len(repos) / rate
    return [
        Lifecycle(
            repo,
            failure_rate=failure_rate,
            unit=unit,
            rng=random.Random(f"{seed}:{repo.repo_id}") if seed is not None else random.Random(),
        )
        for repo in repos
    ]


def make_repos(count: int) -> list[Repo]:
    repos = []
    for index in range(count):
        name, plugin = REPOSITORIES[index % len(REPOSITORIES)]
        lap = index // len(REPOSITORIES)
        if lap:
            name = f"{SITES[(lap - 1) % len(SITES)]}-{name}"
            if lap > len(SITES):
                name = f"{name}-{lap}"
        worker = WORKER_NAME.format(n=index % 4, m=index % 3 + 1)
        repos.append(Repo(name, plugin, worker))
    return repos
