"""Who is what. Every permission check in the hub reads roles through here."""

from collections.abc import Iterable

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

from .models import Organisation, Role, RoleAssignment

UserLike = AbstractBaseUser | AnonymousUser


def _assignments(user: UserLike) -> list[RoleAssignment]:
    if not user or not user.is_authenticated:
        return []
    cached = getattr(user, "_agora_roles", None)
    if cached is None:
        cached = list(RoleAssignment.objects.filter(user=user).select_related("organisation"))
        user._agora_roles = cached
    return cached


def forget_roles(user: UserLike) -> None:
    if hasattr(user, "_agora_roles"):
        del user._agora_roles


def has_role(user: UserLike, role: str) -> bool:
    return any(a.role == role for a in _assignments(user))


def is_hub_admin(user: UserLike) -> bool:
    return bool(
        user and user.is_authenticated and (user.is_superuser or has_role(user, Role.HUB_ADMIN))
    )


def organisation_ids_with_role(user: UserLike, role: str) -> set[int]:
    return {a.organisation_id for a in _assignments(user) if a.role == role and a.organisation_id}


def provider_organisation_ids(user: UserLike) -> set[int]:
    return organisation_ids_with_role(user, Role.PROVIDER)


def provider_organisations(user: UserLike) -> list[Organisation]:
    if is_hub_admin(user):
        return list(Organisation.objects.all())
    return list(Organisation.objects.filter(id__in=provider_organisation_ids(user)))


def can_manage_organisation(user: UserLike, organisation_id: int) -> bool:
    """Provider staff of the organisation, or a hub administrator."""
    return is_hub_admin(user) or organisation_id in provider_organisation_ids(user)


def project_codes(user: UserLike) -> set[str]:
    return {a.project_code for a in _assignments(user) if a.role == Role.PROJECT_MEMBER}


def role_summary(user: UserLike) -> list[str]:
    """Human-readable roles, for the page header and the /api/v1/me answer."""
    out = []
    if is_hub_admin(user):
        out.append("hub administrator")
    for a in _assignments(user):
        if a.role == Role.HUB_ADMIN:
            continue
        label = Role(a.role).label.lower()
        scope = a.organisation.name if a.organisation else a.project_code
        out.append(f"{label} of {scope}" if scope else label)
    return out


def replace_oidc_roles(
    user: UserLike, wanted: Iterable[tuple[str, Organisation | None, str]]
) -> None:
    """Make the user's OIDC-sourced roles exactly `wanted` (role, organisation, project)."""
    wanted = set((role, org.pk if org else None, code) for role, org, code in wanted)
    existing = {
        (a.role, a.organisation_id, a.project_code): a
        for a in RoleAssignment.objects.filter(user=user, source=RoleAssignment.Source.OIDC)
    }
    for key, assignment in existing.items():
        if key not in wanted:
            assignment.delete()
    for role, org_id, code in wanted - existing.keys():
        RoleAssignment.objects.get_or_create(
            user=user,
            role=role,
            organisation_id=org_id,
            project_code=code,
            defaults={"source": RoleAssignment.Source.OIDC},
        )
    forget_roles(user)
