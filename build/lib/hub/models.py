import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q


class Organisation(models.Model):
    """A data holder (hospital, repository) with its own provider staff and committee."""

    slug = models.SlugField(unique=True, help_text="Short stable name, used in OIDC groups.")
    name = models.CharField(max_length=200)
    homepage = models.URLField(blank=True)
    country = models.CharField(max_length=2, blank=True, help_text="ISO 3166 alpha-2")
    zenodo_token = models.CharField(
        max_length=200, blank=True, help_text="Zenodo personal access token; empty turns DOIs off."
    )
    zenodo_community = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def dois_enabled(self) -> bool:
        return bool(self.zenodo_token)


class Role(models.TextChoices):
    PROVIDER = "provider", "Provider (data holder)"
    COMMITTEE_MEMBER = "committee_member", "Data access committee member"
    RESEARCHER = "researcher", "Researcher"
    HUB_ADMIN = "hub_admin", "Hub administrator"
    TRACE_WRITER = "trace_writer", "Trace writer (machine account)"
    PROJECT_MEMBER = "project_member", "Project member"


ORGANISATION_ROLES = {Role.PROVIDER, Role.COMMITTEE_MEMBER}


class RoleAssignment(models.Model):
    """One role of one user, scoped to an organisation or a project where the role needs it.

    Assignments with source=oidc are rewritten at each OIDC sign-in from the
    token's groups; manual ones (made in the admin) are never touched by sign-in.
    """

    class Source(models.TextChoices):
        MANUAL = "manual", "Manual"
        OIDC = "oidc", "OpenID Connect groups"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="role_assignments"
    )
    role = models.CharField(max_length=32, choices=Role.choices)
    organisation = models.ForeignKey(
        Organisation, null=True, blank=True, on_delete=models.CASCADE, related_name="roles"
    )
    project_code = models.CharField(max_length=64, blank=True)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.MANUAL)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "role", "organisation", "project_code"], name="unique_role"
            ),
            models.CheckConstraint(
                name="organisation_roles_have_organisation",
                condition=~Q(role__in=["provider", "committee_member"])
                | Q(organisation__isnull=False),
            ),
            models.CheckConstraint(
                name="project_roles_have_project",
                condition=~Q(role="project_member") | ~Q(project_code=""),
            ),
        ]

    def __str__(self) -> str:
        scope = self.organisation or self.project_code
        return f"{self.user} {self.role}" + (f" @ {scope}" if scope else "")


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiToken(models.Model):
    """A machine credential. Only its hash is stored; the raw token is shown once."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100, blank=True)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    prefix = models.CharField(max_length=8, editable=False)
    created = models.DateTimeField(auto_now_add=True)
    last_used = models.DateTimeField(null=True, blank=True)
    revoked = models.BooleanField(default=False)

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user})"

    @staticmethod
    def new_raw_key() -> str:
        return "agora_" + secrets.token_urlsafe(32)
