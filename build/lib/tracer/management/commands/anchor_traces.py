from django.core.management.base import BaseCommand, CommandError

from tracer.chain import ChainMismatch, ChainUnavailable
from tracer.services import anchor_pending


class Command(BaseCommand):
    help = "Anchor every pending trace now (what the worker does on its schedule)."

    def handle(self, *args, **options):
        try:
            run = anchor_pending()
        except (ChainUnavailable, ChainMismatch) as exc:
            raise CommandError(
                f"Anchoring stopped: {exc}. Pending traces wait; nothing is lost."
            ) from None
        self.stdout.write(str(run))
