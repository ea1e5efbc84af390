from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from hub.paging import PageSerializer

from .. import selectors
from ..models import (
    AccessRequest,
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


class MemberSerializer(serializers.Serializer):
    username = serializers.CharField(source="user.username")
    role = serializers.ChoiceField(choices=ProjectMember.Role.choices)
    source = serializers.ChoiceField(
        choices=[("hub", "added on the hub"), ("oidc", "an OIDC group")]
    )


class ProjectSerializer(serializers.ModelSerializer):
    principal_investigator = serializers.CharField(source="principal_investigator.username")
    members = serializers.SerializerMethodField()

    class Meta:
        model = Project
        fields = ["code", "title", "purpose", "principal_investigator", "members", "created"]

    def get_members(self, project: Project) -> list[dict]:
        return MemberSerializer(selectors.members(project), many=True).data


class ProjectWriteSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=64)
    title = serializers.CharField(max_length=300)
    purpose = serializers.CharField()


class MemberWriteSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    role = serializers.ChoiceField(choices=ProjectMember.Role.choices, default="member")


class ProjectPageSerializer(PageSerializer):
    results = ProjectSerializer(many=True)


class DuoMatchSerializer(serializers.Serializer):
    verdict = serializers.ChoiceField(choices=["match", "no_match", "needs_review"])
    reasons = serializers.ListField(child=serializers.CharField())
    modifiers = serializers.SerializerMethodField()

    def get_modifiers(self, match) -> list[str]:
        """The dataset's conditions no machine checks: for the committee to weigh."""
        return [f"{term.id} {term.label}" for term in match.modifiers]


class ItemSerializer(serializers.ModelSerializer):
    dataset = serializers.UUIDField(source="dataset_id")
    title = serializers.CharField(source="dataset.title")
    organisation = serializers.CharField(source="dataset.organisation.slug")
    duo_match = serializers.SerializerMethodField()

    class Meta:
        model = RequestItem
        fields = [
            "dataset",
            "title",
            "organisation",
            "terms_accepted",
            "state",
            "conditions",
            "end_date",
            "reason",
            "duo_match",
        ]

    @extend_schema_field(DuoMatchSerializer)
    def get_duo_match(self, item: RequestItem) -> dict:
        """Whether the request's purpose fits the dataset's data-use terms (DUO)."""
        request = item.request  # the same object for every item of a request
        match = selectors.duo_match(item.dataset, request.purpose_duo, request.purpose_icd10)
        return DuoMatchSerializer(match).data


class VoteSerializer(serializers.ModelSerializer):
    voter = serializers.CharField(source="voter.username")

    class Meta:
        model = Vote
        fields = ["voter", "choice", "comment", "at"]


class MessageSerializer(serializers.ModelSerializer):
    author = serializers.CharField(source="author.username")

    class Meta:
        model = Message
        fields = ["author", "text", "at"]


class PartSerializer(serializers.ModelSerializer):
    organisation = serializers.CharField(source="organisation.slug")
    items = ItemSerializer(many=True)
    votes = VoteSerializer(many=True)
    messages = MessageSerializer(many=True)

    class Meta:
        model = RequestPart
        fields = ["organisation", "state", "items", "votes", "messages"]


class EventSerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor.username", allow_null=True, default=None)
    organisation = serializers.CharField(
        source="part.organisation.slug", allow_null=True, default=None
    )

    class Meta:
        model = RequestEvent
        fields = ["at", "actor", "action", "from_state", "to_state", "note", "organisation"]


class AccessRequestSerializer(serializers.ModelSerializer):
    project = serializers.CharField(source="project.code")
    requester = serializers.CharField(source="requester.username")
    parts = serializers.SerializerMethodField()
    items = serializers.SerializerMethodField()
    timeline = serializers.SerializerMethodField()
    has_ethics_document = serializers.SerializerMethodField()

    class Meta:
        model = AccessRequest
        fields = [
            "id",
            "project",
            "requester",
            "state",
            "purpose",
            "purpose_duo",
            "purpose_icd10",
            "duration_days",
            "ethics_reference",
            "has_ethics_document",
            "renewal_of",
            "created",
            "submitted_at",
            "decided_at",
            "items",
            "parts",
            "timeline",
        ]

    def get_has_ethics_document(self, request) -> bool:
        return bool(request.ethics_document)

    def _parts(self, request) -> list:
        return self.context["viewer"].parts_of(request)

    @extend_schema_field(PartSerializer(many=True))
    def get_parts(self, request) -> list[dict]:
        return PartSerializer(self._parts(request), many=True).data

    @extend_schema_field(ItemSerializer(many=True))
    def get_items(self, request) -> list[dict]:
        """Datasets not yet routed (a draft) for the requester; committees see theirs."""
        items = list(request.items.all())
        if not self.context["viewer"].is_member(request):
            shown = {p.pk for p in self._parts(request)}
            items = [i for i in items if i.part_id in shown]
        return ItemSerializer(items, many=True).data

    @extend_schema_field(EventSerializer(many=True))
    def get_timeline(self, request) -> list[dict]:
        parts = {p.pk for p in self._parts(request)}
        visible = [e for e in request.events.all() if e.part_id is None or e.part_id in parts]
        return EventSerializer(visible, many=True).data


class RequestWriteSerializer(serializers.Serializer):
    project = serializers.CharField(max_length=64)
    datasets = serializers.ListField(child=serializers.UUIDField(), min_length=1, max_length=100)
    purpose = serializers.CharField(required=False, allow_blank=True, default="")


class RequestEditSerializer(serializers.Serializer):
    purpose = serializers.CharField(required=False, allow_blank=True)
    purpose_duo = serializers.ListField(
        child=serializers.CharField(max_length=100), required=False, max_length=20
    )
    purpose_icd10 = serializers.ListField(
        child=serializers.CharField(max_length=100), required=False, max_length=50
    )
    duration_days = serializers.IntegerField(min_value=1, max_value=3650, required=False)
    ethics_reference = serializers.CharField(max_length=200, required=False, allow_blank=True)
    terms_accepted = serializers.ListField(child=serializers.UUIDField(), required=False)


class VoteWriteSerializer(serializers.Serializer):
    choice = serializers.ChoiceField(choices=Vote.Choice.choices)
    comment = serializers.CharField(required=False, allow_blank=True, default="")


class NoteSerializer(serializers.Serializer):
    note = serializers.CharField(required=False, allow_blank=True, default="")


class ItemDecisionSerializer(serializers.Serializer):
    dataset = serializers.UUIDField()
    approve = serializers.BooleanField()
    conditions = serializers.CharField(required=False, allow_blank=True, default="")
    end_date = serializers.DateField(required=False, allow_null=True, default=None)
    reason = serializers.CharField(required=False, allow_blank=True, default="")


class DecisionSerializer(serializers.Serializer):
    decisions = ItemDecisionSerializer(many=True)


class EntitlementSerializer(serializers.ModelSerializer):
    project = serializers.CharField(source="project.code")
    dataset = serializers.UUIDField(source="dataset_id")
    organisation = serializers.CharField(source="dataset.organisation.slug")

    class Meta:
        model = Entitlement
        fields = [
            "id",
            "project",
            "dataset",
            "organisation",
            "start",
            "end",
            "conditions",
            "state",
            "ended_reason",
            "ended_at",
        ]


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField()


class AccessRequestPageSerializer(PageSerializer):
    results = AccessRequestSerializer(many=True)


class EntitlementPageSerializer(PageSerializer):
    results = EntitlementSerializer(many=True)


class NoticeSerializer(serializers.ModelSerializer):
    request = serializers.IntegerField(source="request_id", allow_null=True)

    class Meta:
        model = Notice
        fields = ["id", "text", "request", "created", "read_at"]


class NoticePageSerializer(PageSerializer):
    results = NoticeSerializer(many=True)


class VisaSerializer(serializers.Serializer):
    visa = serializers.CharField(help_text="A signed JWT; verify it with /api/v1/passport/jwks.")


class MessageWriteSerializer(serializers.Serializer):
    text = serializers.CharField()
