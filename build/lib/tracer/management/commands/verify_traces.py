from django.core.management.base import BaseCommand, CommandError

from tracer.chain import ChainUnavailable
from tracer.services import chain_from_settings
from tracer.verification import verify_all


class Command(BaseCommand):
    help = (
        "Check every anchored trace against the chain: content unchanged since recording, "
        "proof leading to the batch root on chain, no trace or batch missing. Exit 1 on any problem."
    )

    def handle(self, *args, **options):
        try:
            report = verify_all(chain_from_settings())
        except ChainUnavailable as exc:
            raise CommandError(f"Cannot verify: {exc}") from None
        for problem in report.problems:
            self.stderr.write(self.style.ERROR(f"MISMATCH {problem}"))
        summary = (
            f"{report.traces} anchored traces in {report.batches} batches checked; "
            f"{report.pending} waiting to be anchored; {len(report.problems)} problem(s)."
        )
        if report.problems:
            raise CommandError(summary)
        self.stdout.write(self.style.SUCCESS(summary))
