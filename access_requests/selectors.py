"""Every read of projects, already filtered for the caller; other apps ask here who is in a
project (the sandbox launcher, the access requests)."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import Count, Prefetch, Q, QuerySet
from django.utils import timezone

from hub.errors import NotFound
from hub.models import Role, RoleAssignment
from hub.roles import is_hub_admin, organisation_ids_with_role, project_codes
from hyperontology import duo

from .models import (
    AccessRequest,
    Committee,
    Entitlement,
    Message,
    Notice,
    Project,
    ProjectMember,
    RequestEvent,
    RequestItem,
    RequestPart,
    Vote,
)


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
    today = today or timezone.localdate()
    return Entitlement.objects.filter(
        project=project, state=Entitlement.State.ACTIVE, start__lte=today, end__gte=today
    ).select_related("dataset")


def may_use(project: Project, dataset_id, today=None) -> bool:
    return active_entitlements(project, today).filter(dataset_id=dataset_id).exists()


# -- access requests ----------------------------------------------------------------------


def visible_requests(user):
    """Requests of the user's projects, and those with a part for an organisation whose
    committee the user sits on (of which they see only that part)."""
    requests = AccessRequest.objects.select_related("project", "requester")
    if is_hub_admin(user):
        return requests
    if not user or not user.is_authenticated:
        return requests.none()
    committees = organisation_ids_with_role(user, Role.COMMITTEE_MEMBER)
    mine = projects_of(user).values("pk")
    return requests.filter(
        Q(project__in=mine) | Q(parts__organisation_id__in=committees)
    ).distinct()


def get_request(user, pk, *, detailed: bool = False):
    """404 both for a missing request and for one the user may not see; `detailed` reads
    everything it is shown with (`with_details`) at once."""
    requests = visible_requests(user)
    try:
        return (with_details(requests) if detailed else requests).get(pk=pk)
    except (AccessRequest.DoesNotExist, ValueError, TypeError, ValidationError) as exc:
        raise NotFound(f"No access request {pk}.") from exc


def visible_parts(user, request):
    """The parts of `request` the user may see: all for its project's members and hub
    administrators, their organisation's for a committee member."""
    parts = request.parts.select_related("organisation")
    if is_hub_admin(user) or is_member(user, request.project):
        return parts
    return parts.filter(organisation_id__in=organisation_ids_with_role(user, Role.COMMITTEE_MEMBER))


@dataclass(frozen=True)
class Viewer:
    """Who is looking, read once per response: what each request shown to them reveals."""

    user: object
    admin: bool
    project_ids: frozenset
    committee_organisation_ids: frozenset

    def is_member(self, request: AccessRequest) -> bool:
        return self.admin or request.project_id in self.project_ids

    def parts_of(self, request: AccessRequest) -> list[RequestPart]:
        """The request's parts this viewer may see (from `with_details`' prefetch)."""
        parts = list(request.parts.all())
        if self.is_member(request):
            return parts
        return [p for p in parts if p.organisation_id in self.committee_organisation_ids]


def viewer(user) -> Viewer:
    return Viewer(
        user=user,
        admin=is_hub_admin(user),
        project_ids=frozenset(projects_of(user).values_list("pk", flat=True)),
        committee_organisation_ids=frozenset(committee_organisation_ids(user)),
    )


def with_details(requests: QuerySet[AccessRequest]) -> QuerySet[AccessRequest]:
    """Requests with everything they are shown with, in a fixed number of queries however
    many requests a page holds."""
    items = RequestItem.objects.select_related("dataset__organisation", "request")
    return requests.select_related("project", "requester").prefetch_related(
        Prefetch(
            "parts",
            RequestPart.objects.select_related("organisation").prefetch_related(
                Prefetch("items", items),
                Prefetch("votes", Vote.objects.select_related("voter").order_by("at", "id")),
                Prefetch("messages", Message.objects.select_related("author")),
            ),
        ),
        Prefetch("items", items),
        Prefetch("events", RequestEvent.objects.select_related("actor", "part__organisation")),
    )


def get_part(user, request, organisation_slug: str):
    part = visible_parts(user, request).filter(organisation__slug=organisation_slug).first()
    if part is None:
        raise NotFound(f"No part of request {request.pk} for {organisation_slug}.")
    return part


def visible_entitlements(user):
    entitlements = Entitlement.objects.select_related("project", "dataset", "dataset__organisation")
    if is_hub_admin(user):
        return entitlements
    if not user or not user.is_authenticated:
        return entitlements.none()
    committees = organisation_ids_with_role(user, Role.COMMITTEE_MEMBER)
    return entitlements.filter(
        Q(project__in=projects_of(user).values("pk")) | Q(dataset__organisation_id__in=committees)
    ).distinct()


def get_entitlement(user, pk):
    try:
        return visible_entitlements(user).get(pk=pk)
    except (Entitlement.DoesNotExist, ValueError, TypeError) as exc:
        raise NotFound(f"No entitlement {pk}.") from exc


# -- DUO matching ---------------------------------------------------------------------------


def duo_match(dataset, purpose_duo, purpose_icd10=()) -> duo.Match:
    """Whether a purpose (DUO terms, ICD-10 codes) fits a dataset's data-use terms."""
    return duo.match_dataset(dataset.duo_terms, dataset.diagnoses, purpose_duo, purpose_icd10)


def item_matches(request: AccessRequest, items) -> dict[int, duo.Match]:
    """The DUO verdict of each item's dataset for the request's purpose."""
    return {
        item.pk: duo_match(item.dataset, request.purpose_duo, request.purpose_icd10)
        for item in items
    }


# -- committees -----------------------------------------------------------------------------

OPEN_PART_STATES = (RequestPart.State.PENDING, RequestPart.State.UNDER_REVIEW)


def committee_organisation_ids(user) -> set[int]:
    return organisation_ids_with_role(user, Role.COMMITTEE_MEMBER) if user else set()


def committee_parts(user) -> QuerySet[RequestPart]:
    """The parts of requests the user's committees decide, newest submission first."""
    return (
        RequestPart.objects.filter(organisation_id__in=committee_organisation_ids(user))
        .select_related("organisation", "request__project", "request__requester")
        .annotate(datasets=Count("items", distinct=True))
        .order_by("-request__submitted_at", "-request_id", "organisation__name")
    )


def awaiting_vote(parts: QuerySet[RequestPart], user) -> QuerySet[RequestPart]:
    """Open parts the user has neither voted on nor declared a conflict on."""
    return (
        parts.filter(state__in=OPEN_PART_STATES)
        .exclude(votes__voter=user)
        .exclude(conflicts__member=user)
    )


def committee_for(organisation_id: int) -> Committee:
    committee, _ = Committee.objects.select_related("chair").get_or_create(
        organisation_id=organisation_id
    )
    return committee


@dataclass
class Tally:
    """Where a part's vote stands against its committee's rule."""

    yes: int
    no: int
    abstain: int
    quorum: int
    rule: str

    @property
    def cast(self) -> int:
        return self.yes + self.no

    @property
    def quorum_reached(self) -> bool:
        return self.rule != Committee.Rule.MAJORITY or self.cast >= self.quorum

    @property
    def outcome(self) -> str:
        """ "approve", "reject" or "" (no quorum yet, or a tie, which approves nothing)."""
        if self.rule != Committee.Rule.MAJORITY or not self.quorum_reached:
            return ""
        return "approve" if self.yes > self.no else "reject"


def tally(part: RequestPart, committee: Committee) -> Tally:
    choices = [vote.choice for vote in part.votes.all()]
    return Tally(
        yes=choices.count(Vote.Choice.YES),
        no=choices.count(Vote.Choice.NO),
        abstain=choices.count(Vote.Choice.ABSTAIN),
        quorum=committee.quorum,
        rule=committee.rule,
    )


def part_entitlements(part: RequestPart) -> QuerySet[Entitlement]:
    return Entitlement.objects.filter(item__part=part).select_related("dataset", "project")


def part_events(part: RequestPart) -> QuerySet[RequestEvent]:
    """The request's own steps and this part's: not what other committees did."""
    return part.request.events.filter(Q(part=part) | Q(part__isnull=True)).select_related(
        "actor", "part__organisation"
    )


def unread_notice_count(user) -> int:
    if not user or not user.is_authenticated:
        return 0
    return Notice.objects.filter(user=user, read_at__isnull=True).count()
