from __future__ import annotations

from argparse import ArgumentTypeError
from datetime import datetime

from django.conf import settings
from django.core.management.base import BaseCommand
from django.utils import timezone

from events.services.retention import Policy, Report, prune


def _days(value: str) -> int | None:
    """A number of days; 0 keeps that kind of data forever."""
    if not value.isdigit():
        raise ArgumentTypeError(f"expected a whole number of days, not {value!r}")
    return int(value) or None


def _setting_days(name: str) -> int | None:
    return getattr(settings, name) or None


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "never"


class Command(BaseCommand):
    help = (
        "Delete old runs and their events (successes after PRUNE_SUCCESS_DAYS, failures after "
        "PRUNE_FAILURE_DAYS) and empty raw event bodies older than PRUNE_BODY_DAYS. Safe to "
        "run from cron while events arrive: it works in small batches and never deletes a "
        "run that a repository shows as its latest."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="count, delete nothing")
        for kind, setting in [
            ("success", "PRUNE_SUCCESS_DAYS"),
            ("failure", "PRUNE_FAILURE_DAYS"),
            ("body", "PRUNE_BODY_DAYS"),
        ]:
            parser.add_argument(
                f"--{kind}-days",
                type=_days,
                default=_setting_days(setting),
                help=f"override {setting} (now {getattr(settings, setting)}; 0 keeps forever)",
            )
        parser.add_argument("--batch-size", type=int, default=500)

    def handle(self, *args, **options) -> None:
        policy = Policy(
            success_days=options["success_days"],
            failure_days=options["failure_days"],
            body_days=options["body_days"],
            batch_size=options["batch_size"],
        )
        report = prune(policy, now=timezone.now(), dry_run=options["dry_run"])
        self._print(report, dry_run=options["dry_run"])

    def _print(self, report: Report, *, dry_run: bool) -> None:
        cutoffs = report.cutoffs
        lines = [
            f"successful runs started before {_when(cutoffs.get('success_runs'))}: "
            f"{report.success_runs}",
            f"failed runs started before {_when(cutoffs.get('failure_runs'))}: "
            f"{report.failure_runs}",
            f"events of those runs: {report.events}",
            f"raw bodies received before {_when(cutoffs.get('bodies'))} emptied: {report.bodies}",
        ]
        self.stdout.write("dry run, nothing deleted; would prune:" if dry_run else "pruned:")
        for line in lines:
            self.stdout.write(f"  {line}")
