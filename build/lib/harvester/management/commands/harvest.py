"""python manage.py harvest <node>: pull one node now, in this process, with progress."""

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q

from harvester import services
from harvester.models import HarvestJob, Node
from hub.errors import DomainError


class Command(BaseCommand):
    help = "Harvest a node now (by id or name) and print the run's report."

    def add_arguments(self, parser):
        parser.add_argument("node", help="The node's id or its exact name.")
        parser.add_argument(
            "--show", type=int, default=20, help="Rejected records to list (default 20)."
        )

    def handle(self, *args, node: str, show: int, **options):
        found = list(Node.objects.filter(Q(name=node) | Q(pk=_uuid_or_none(node)))[:2])
        if not found:
            raise CommandError(f"No node {node!r}. `python manage.py harvest --help` for usage.")
        if len(found) > 1:
            raise CommandError(f"Several nodes are named {node!r}; give its id.")
        try:
            job = services.request_harvest(node=found[0], by=None, requested_by="command line")
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        job = services.run_pull(job.pk, on_page=self._progress)
        self.stderr.write("")
        self._report(job, show)
        if job.status == HarvestJob.Status.FAILED:
            raise CommandError(f"Harvest failed: {job.error}")

    def _progress(self, job: HarvestJob) -> None:
        total = f" of {job.total_items}" if job.total_items else ""
        percent = f" ({job.progress_percent}%)" if job.progress_percent is not None else ""
        self.stderr.write(
            f"\rpage {job.pages_done}: {job.records_seen}{total} records{percent}", ending=""
        )

    def _report(self, job: HarvestJob, show: int) -> None:
        counts = ", ".join(f"{n} {name}" for name, n in job.counts.items())
        self.stdout.write(f"{job.node}: {job.status} ({counts}); job {job.pk}")
        for record in job.records.filter(result="rejected")[:show]:
            for message in record.violations:
                self.stdout.write(f"  rejected: {message}")


def _uuid_or_none(value: str):
    import uuid

    try:
        return uuid.UUID(value)
    except ValueError:
        return None
