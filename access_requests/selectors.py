"""Every read of projects, already filtered for the caller; other apps ask here who is in a
project (the sandbox launcher, the access requests)."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet

from hub.errors import NotFound
from hub.models import Role, RoleAssignment
from hub.roles import is_hub_admin, project_codes

from .models import Project, ProjectMember


def projects_of(user) -> QuerySet[Project]:
    """The projects the user belongs to (on the hub or through an OIDC group); all of them
    for a hub administrator."""
    if is_hub_admin(user):
        return Project.objects.all()
    if not user or not user.is_authenticated:
        return Project.objects.none()
    return Project.objects.filter(
        Q(members__user=user) | Q(principal_investigator=user) | Q(code__in=project_codes(user))
    ).distinct()


def get_project(user, code: str) -> Project:
    """404 both for a missing project and for one the user is not part of."""
    project = projects_of(user).filter(code=code).first()
    if project is None:
        raise NotFound(f"No project {code}.")
    return project


def members(project: Project) -> list[dict]:
    """Everyone in the project, with their role and where the membership comes from."""
    out = {
        m.user_id: {"user": m.user, "role": m.role, "source": "hub"}
        for m in project.members.select_related("user")
    }
    through_groups = RoleAssignment.objects.filter(
        role=Role.PROJECT_MEMBER, project_code=project.code
    ).select_related("user")
    for assignment in through_groups:
        out.setdefault(
            assignment.user_id,
            {"user": assignment.user, "role": ProjectMember.Role.MEMBER, "source": "oidc"},
        )
    pi = out.setdefault(
        project.principal_investigator_id,
        {"user": project.principal_investigator, "role": ProjectMember.Role.PI, "source": "hub"},
    )
    pi["role"] = ProjectMember.Role.PI
    return sorted(
        out.values(), key=lambda m: (m["role"] != ProjectMember.Role.PI, m["user"].username)
    )


def is_member(user, project: Project) -> bool:
    if not user or not user.is_authenticated:
        return False
    return any(m["user"].pk == user.pk for m in members(project))


def user_by_username(username: str):
    user = get_user_model().objects.filter(username=username, is_active=True).first()
    if user is None:
        raise NotFound(f"No user {username}.")
    return user


def active_entitlements(project: Project, today=None):
    """What the project may use today: what its sandbox obeys."""
    from django.utils import timezone

    from .models import Entitlement

    today = today or timezone.localdate()
    return Entitlement.objects.filter(
        project=project, state=Entitlement.State.ACTIVE, start__lte=today, end__gte=today
    ).select_related("dataset")


def may_use(project: Project, dataset_id, today=None) -> bool:
    return active_entitlements(project, today).filter(dataset_id=dataset_id).exists()
