"""What each live group shows: fragments rendered from the same partials the pages include."""

from __future__ import annotations

from django.template.loader import render_to_string

from events.models import Repository

GROUP_PATTERN = r"overview|repo-[1-9][0-9]{0,18}|run-[1-9][0-9]{0,18}"
OVERVIEW_GROUP = "overview"


def repository_group(pk: int) -> str:
    return f"repo-{pk}"


def run_group(pk: int) -> str:
    return f"run-{pk}"


def render_sequence(group: str, sequence: int) -> str:
    return render_to_string("events/partials/sequence.html", {"group": group, "sequence": sequence})


def overview_repositories():
    return Repository.objects.select_related(
        "latest_sync", "latest_finished_sync", "latest_publish", "last_host"
    )


def render_changes(
    *, repository_pk: int, run_pks: list[int], event_pk: int
) -> dict[str, list[str]]:
    """Every fragment an ingested event changed, keyed by the group whose pages show it."""
    repository = overview_repositories().get(pk=repository_pk)
    row = render_to_string("events/partials/repository_row.html", {"repository": repository})
    return {OVERVIEW_GROUP: [row]}
