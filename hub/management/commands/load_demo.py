"""Load the demo: two organisations, one account per role and ~200 synthetic datasets.

Idempotent: organisations, accounts and roles are created when missing, and
datasets are keyed on their `urn:agora-demo:` identifier, so a second run
adds nothing. `--reset` deletes the demo organisations, their datasets and the
demo accounts first, then loads everything again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.db.models import ProtectedError

from access_requests import demo as access_demo
from catalogue import demo_data
from catalogue.models import Dataset
from harvester import demo as harvester_demo
from harvester.models import Node
from hub import services
from hub.models import ApiToken, Organisation, Role, RoleAssignment
from tracer import services as tracer
from tracer.chain import ChainMismatch, ChainUnavailable
from tracer.models import Action

ORGANISATIONS = (
    {"slug": "la-fe", "name": "Hospital Universitari La Fe", "country": "ES"},
    {"slug": "int-milano", "name": "Istituto Tumori Milano", "country": "IT"},
)
PROJECT_CODE = "LUNG-AI"
MACHINE_USERNAME = "trace-writer"
TOKEN_NAME = "demo"


@dataclass(frozen=True)
class Account:
    username: str
    first_name: str
    last_name: str
    roles: tuple[tuple[str, str | None, str], ...]  # (role, organisation slug, project code)
    description: str
    admin: bool = False

    @property
    def password(self) -> str:
        # Fixed and printed on purpose: these accounts exist only in the demo.
        return f"demo-{self.username}"


ACCOUNTS = (
    Account(
        "provider-lafe",
        "Lucía",
        "Ferrer",
        ((Role.PROVIDER, "la-fe", ""),),
        "provider of Hospital Universitari La Fe",
    ),
    Account(
        "provider-int",
        "Marco",
        "Colombo",
        ((Role.PROVIDER, "int-milano", ""),),
        "provider of Istituto Tumori Milano",
    ),
    Account(
        "committee-lafe",
        "Carmen",
        "Soler",
        ((Role.COMMITTEE_MEMBER, "la-fe", ""),),
        "committee member of Hospital Universitari La Fe",
    ),
    Account(
        "committee-int",
        "Giulia",
        "Ferri",
        ((Role.COMMITTEE_MEMBER, "int-milano", ""),),
        "committee member of Istituto Tumori Milano",
    ),
    Account(
        "researcher",
        "Ana",
        "Researcher",
        ((Role.RESEARCHER, None, ""), (Role.PROJECT_MEMBER, None, PROJECT_CODE)),
        f"researcher, member of project {PROJECT_CODE}",
    ),
    Account(
        "hubadmin",
        "Hub",
        "Administrator",
        ((Role.HUB_ADMIN, None, ""),),
        "hub administrator (Django admin at /admin/)",
        admin=True,
    ),
)


class Command(BaseCommand):
    help = "Load the demo organisations, one account per role and ~200 synthetic datasets."

    def add_arguments(self, parser):
        parser.add_argument(
            "--reset",
            action="store_true",
            help="Delete the demo organisations, their datasets and accounts, then reload.",
        )

    def handle(self, *args, reset: bool, **options):
        started = time.monotonic()
        with transaction.atomic():
            if reset:
                self._wipe()
            organisations = {spec["slug"]: self._organisation(spec) for spec in ORGANISATIONS}
            users = {
                account.username: self._account(account, organisations) for account in ACCOUNTS
            }
            token = self._machine_token()
            specs = demo_data.generate({slug: org.name for slug, org in organisations.items()})
            providers = {  # each organisation's datasets are made by its own provider
                slug: users[account.username]
                for account in ACCOUNTS
                for role, slug, _ in account.roles
                if role == Role.PROVIDER
            }
            created = demo_data.load(
                specs, organisations=organisations, providers=providers, progress=self._progress
            )
            if created:
                self._sandbox_use_traces()
        elapsed = time.monotonic() - started
        if created:
            self.stdout.write(f"Created {created} demo datasets in {elapsed:.1f} s.")
        else:
            self.stdout.write(f"The {len(specs)} demo datasets were already loaded; nothing added.")
        self.stdout.write("Harvesting the demo nodes:")
        admin = next(u for u in users.values() if u.is_superuser)
        harvester_demo.load(
            admin=admin,
            hospital=organisations["la-fe"],
            biobank=organisations["int-milano"],
            say=self.stdout.write,
        )
        harvester_demo.load_agora_node(
            admin=admin, organisation=organisations["la-fe"], say=self.stdout.write
        )
        self.stdout.write("Access requests:")
        access_demo.load(
            code=PROJECT_CODE,
            researcher=users["researcher"],
            committees={"la-fe": users["committee-lafe"], "int-milano": users["committee-int"]},
            organisations=organisations,
            say=self.stdout.write,
        )
        self._anchor()
        self._print_credentials(token)

    def _sandbox_use_traces(self) -> None:
        """What a sandbox's tool reports through the trace API: the project's work on data."""
        published = Dataset.objects.filter(state=Dataset.State.PUBLISHED).order_by("created")
        ids = [str(pk) for pk in published.values_list("pk", flat=True)[:6]]
        for n, tool in enumerate((("jupyterlab", "4.6.6"), ("3d-slicer", "5.8.1"))):
            tracer.record(
                action=Action.USE_DATASETS,
                caller=MACHINE_USERNAME,
                user_id=f"{PROJECT_CODE.lower()}-member-{n + 1}",
                dataset_ids=ids[n * 3 : n * 3 + 3],
                tool_name=tool[0],
                tool_version=tool[1],
                subject_id=PROJECT_CODE,
            )

    def _anchor(self) -> None:
        """Anchor the demo's traces now, so the explorer shows proofs from the start."""
        try:
            run = tracer.anchor_pending()
        except (ChainUnavailable, ChainMismatch) as exc:
            self.stdout.write(f"Traces not anchored yet ({exc}); the worker will retry.")
            return
        self.stdout.write(f"Tracer: {run}.")

    def _progress(self, done: int, total: int, created: int) -> None:
        if created:
            self.stdout.write(f"  datasets {done}/{total}")

    def _wipe(self) -> None:
        organisations = list(
            Organisation.objects.filter(slug__in=[o["slug"] for o in ORGANISATIONS])
        )
        usernames = [a.username for a in ACCOUNTS] + [MACHINE_USERNAME]
        try:
            Node.objects.filter(organisation__in=organisations).delete()
            access_demo.delete(PROJECT_CODE)
            deleted = demo_data.delete(organisations)
            get_user_model().objects.filter(username__in=usernames).delete()
            Organisation.objects.filter(pk__in=[o.pk for o in organisations]).delete()
        except ProtectedError as exc:
            raise CommandError(
                f"Cannot reset: other records still point at the demo data ({exc.args[0]})."
            ) from exc
        self.stdout.write(
            f"Reset: removed {deleted} demo datasets, the demo accounts and organisations."
        )

    def _organisation(self, spec: dict[str, str]) -> Organisation:
        organisation, _ = Organisation.objects.get_or_create(
            slug=spec["slug"], defaults={"name": spec["name"], "country": spec["country"]}
        )
        if organisation.zenodo_token:
            # The demo never mints DOIs: nothing may try to reach Zenodo.
            organisation.zenodo_token = ""
            organisation.save(update_fields=["zenodo_token"])
            self.stdout.write(f"Removed the Zenodo token of demo organisation {organisation.slug}.")
        return organisation

    def _account(self, account: Account, organisations: dict[str, Organisation]):
        User = get_user_model()
        user, created = User.objects.get_or_create(
            username=account.username,
            defaults={
                "first_name": account.first_name,
                "last_name": account.last_name,
                "email": f"{account.username}@demo.agora.example",
                "is_staff": account.admin,
                "is_superuser": account.admin,
            },
        )
        if created or not user.has_usable_password():
            user.set_password(account.password)
            user.save(update_fields=["password"])
        for role, slug, code in account.roles:
            RoleAssignment.objects.get_or_create(
                user=user,
                role=role,
                organisation=organisations[slug] if slug else None,
                project_code=code,
            )
        return user

    def _machine_token(self) -> str | None:
        """A trace_writer token, made once: only its hash is stored, so it is printed only then."""
        has_token = ApiToken.objects.filter(
            user__username=MACHINE_USERNAME, name=TOKEN_NAME, revoked=False
        ).exists()
        if has_token:
            return None
        return services.create_api_token(
            username=MACHINE_USERNAME, name=TOKEN_NAME, machine_role=Role.TRACE_WRITER
        )

    def _print_credentials(self, token: str | None) -> None:
        rows = [("username", "password", "role")]
        rows += [(a.username, a.password, a.description) for a in ACCOUNTS]
        rows.append((MACHINE_USERNAME, "(API token only)", "trace_writer machine account"))
        widths = [max(len(row[i]) for row in rows) for i in range(3)]
        self.stdout.write("")
        self.stdout.write(self.style.SUCCESS("Demo accounts (fixed passwords, for the demo only):"))
        for n, row in enumerate(rows):
            cells = (cell.ljust(w) for cell, w in zip(row, widths, strict=True))
            self.stdout.write(("  " + "  ".join(cells)).rstrip())
            if n == 0:
                self.stdout.write("  " + "  ".join("-" * w for w in widths))
        if token:
            self.stdout.write("")
            self.stdout.write(
                self.style.SUCCESS(f"API token of {MACHINE_USERNAME} (shown only now):")
            )
            self.stdout.write(f"  {token}")
        else:
            self.stdout.write(
                f"The API token of {MACHINE_USERNAME} was printed when it was created; "
                f"make another with `manage.py create_api_token {MACHINE_USERNAME}`."
            )
