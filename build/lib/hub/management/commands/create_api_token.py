from django.core.management.base import BaseCommand, CommandError

from hub import services
from hub.models import Role


class Command(BaseCommand):
    help = "Create an API token for a user and print it (it is shown only once)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="", help="What the token is for.")
        parser.add_argument(
            "--machine-role",
            choices=[Role.TRACE_WRITER, Role.HUB_ADMIN],
            help="Create the user as a machine account with this role if it does not exist.",
        )

    def handle(self, *args, username, name, machine_role, **options):
        try:
            raw = services.create_api_token(username=username, name=name, machine_role=machine_role)
        except (LookupError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(raw)
