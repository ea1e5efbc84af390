"""Projects: researchers create them; members read theirs; the principal investigator
manages who is in."""

from __future__ import annotations

from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.decorators import api_view, authentication_classes, permission_classes
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from catalogue.selectors import visible_datasets
from hub.api import paged, validated
from hub.errors import NotFound, ValidationFailed

from .. import notices, selectors, services, visas
from ..models import AccessRequest, Notice
from .serializers import (
    AccessRequestPageSerializer,
    AccessRequestSerializer,
    DecisionSerializer,
    EntitlementPageSerializer,
    EntitlementSerializer,
    MemberWriteSerializer,
    MessageWriteSerializer,
    NoteSerializer,
    NoticePageSerializer,
    NoticeSerializer,
    ProjectPageSerializer,
    ProjectSerializer,
    ProjectWriteSerializer,
    ReasonSerializer,
    RequestEditSerializer,
    RequestWriteSerializer,
    VisaSerializer,
    VoteWriteSerializer,
)


class ProjectListView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        responses=ProjectPageSerializer, summary="Your projects", operation_id="projects_list"
    )
    def get(self, request):
        projects = selectors.projects_of(request.user).order_by("code")
        return Response(paged(request, projects, ProjectSerializer))

    @extend_schema(
        request=ProjectWriteSerializer,
        responses={201: ProjectSerializer},
        summary="Create a project (researchers); you become its principal investigator",
    )
    def post(self, request):
        project = services.create_project(
            by=request.user, **validated(ProjectWriteSerializer, request)
        )
        return Response(ProjectSerializer(project).data, status=status.HTTP_201_CREATED)


class ProjectDetailView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        responses=ProjectSerializer,
        summary="One of your projects",
        operation_id="projects_retrieve",
    )
    def get(self, request, code):
        return Response(ProjectSerializer(selectors.get_project(request.user, code)).data)


class ProjectMembersView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        request=MemberWriteSerializer,
        responses={200: ProjectSerializer},
        summary="Add a member, or name the principal investigator (the PI only)",
    )
    def post(self, request, code):
        project = selectors.get_project(request.user, code)
        data = validated(MemberWriteSerializer, request)
        user = selectors.user_by_username(data["username"])
        services.add_member(project=project, by=request.user, user=user, role=data["role"])
        project.refresh_from_db()
        return Response(ProjectSerializer(project).data)


class ProjectMemberView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses={204: None}, summary="Remove a member (the PI only)")
    def delete(self, request, code, username):
        project = selectors.get_project(request.user, code)
        user = selectors.user_by_username(username)
        services.remove_member(project=project, by=request.user, user=user)
        return Response(status=status.HTTP_204_NO_CONTENT)


# -- access requests ----------------------------------------------------------------------


def _shown(request, pk) -> dict:
    """The request as the caller may see it now, read with all it is shown with."""
    detailed = selectors.get_request(request.user, pk, detailed=True)
    context = {"viewer": selectors.viewer(request.user)}
    return AccessRequestSerializer(detailed, context=context).data


class AccessRequestListView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        parameters=[OpenApiParameter("state", str, enum=AccessRequest.State.values)],
        responses=AccessRequestPageSerializer,
        summary="Requests of your projects, and the parts your committee decides",
        operation_id="access_requests_list",
    )
    def get(self, request):
        requests = selectors.visible_requests(request.user)
        state = request.query_params.get("state", "")
        if state:
            if state not in AccessRequest.State.values:
                raise ValidationFailed(
                    f"state must be one of {', '.join(AccessRequest.State.values)}.",
                    field="state",
                )
            requests = requests.filter(state=state)
        context = {"viewer": selectors.viewer(request.user)}
        return Response(
            paged(request, selectors.with_details(requests), AccessRequestSerializer, context)
        )

    @extend_schema(
        request=RequestWriteSerializer,
        responses={201: AccessRequestSerializer},
        summary="Draft a request of one of your projects for some datasets",
    )
    def post(self, request):
        data = validated(RequestWriteSerializer, request)
        project = selectors.get_project(request.user, data["project"])
        datasets = list(visible_datasets(request.user).filter(pk__in=data["datasets"]))
        missing = {str(d) for d in data["datasets"]} - {str(d.pk) for d in datasets}
        if missing:
            raise ValidationFailed(
                f"datasets: no dataset {', '.join(sorted(missing))}.", field="datasets"
            )
        created = services.create_request(
            by=request.user, project=project, datasets=datasets, purpose=data["purpose"]
        )
        return Response(_shown(request, created.pk), status=status.HTTP_201_CREATED)


class AccessRequestDetailView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        responses=AccessRequestSerializer,
        summary="A request, with its timeline",
        operation_id="access_requests_retrieve",
    )
    def get(self, request, pk):
        return Response(_shown(request, pk))

    @extend_schema(
        request=RequestEditSerializer,
        responses=AccessRequestSerializer,
        summary="Complete a draft or a returned request (the requester)",
    )
    def patch(self, request, pk):
        access_request = selectors.get_request(request.user, pk)
        changes = validated(RequestEditSerializer, request)
        services.edit_request(request=access_request, by=request.user, **changes)
        return Response(_shown(request, pk))


def _request_action(name: str, summary: str, run):
    @extend_schema(request=None, responses=AccessRequestSerializer, summary=summary)
    @api_view(["POST"])
    @permission_classes([IsAuthenticated])
    def action(request, pk):
        access_request = selectors.get_request(request.user, pk)
        run(request=access_request, by=request.user)
        return Response(_shown(request, pk))

    action.__name__ = name
    return action


submit = _request_action(
    "submit", "Send the request to the committees (the requester)", services.submit_request
)
close = _request_action(
    "close", "Close a decided request, or withdraw a draft (the requester)", services.close_request
)


class PartActionView(APIView):
    """POST .../parts/<organisation>/<action>: what a committee does with its part."""

    permission_classes = [IsAuthenticated]
    ACTIONS = {"vote", "decide", "return", "conflict", "message"}

    @extend_schema(
        request=VoteWriteSerializer,
        responses=AccessRequestSerializer,
        summary="Act on one organisation's part: vote (choice, comment), decide (decisions), "
        "return (note), conflict (note) for its committee; message (text) for the committee "
        "and the project's members",
    )
    def post(self, request, pk, organisation, action):
        if action not in self.ACTIONS:
            raise NotFound(f"No action {action}; one of {', '.join(sorted(self.ACTIONS))}.")
        access_request = selectors.get_request(request.user, pk)
        part = selectors.get_part(request.user, access_request, organisation)
        if action == "vote":
            data = validated(VoteWriteSerializer, request)
            services.vote(part=part, by=request.user, **data)
        elif action == "decide":
            data = validated(DecisionSerializer, request)
            decisions = {str(d.pop("dataset")): d for d in data["decisions"]}
            services.decide(part=part, by=request.user, decisions=decisions)
        elif action == "message":
            data = validated(MessageWriteSerializer, request)
            services.post_message(part=part, by=request.user, **data)
        elif action == "return":
            services.return_part(part=part, by=request.user, **validated(NoteSerializer, request))
        else:
            services.declare_conflict(
                part=part, by=request.user, **validated(NoteSerializer, request)
            )
        return Response(_shown(request, pk))


class EntitlementListView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        responses=EntitlementPageSerializer,
        summary="Entitlements of your projects, and of your committee's datasets",
    )
    def get(self, request):
        entitlements = selectors.visible_entitlements(request.user)
        return Response(paged(request, entitlements, EntitlementSerializer))


@extend_schema(
    request=ReasonSerializer,
    responses=EntitlementSerializer,
    summary="End a project's access to a dataset now (the dataset's committee)",
)
@api_view(["POST"])
@permission_classes([IsAuthenticated])
def revoke(request, pk):
    entitlement = selectors.get_entitlement(request.user, pk)
    data = validated(ReasonSerializer, request)
    entitlement = services.revoke_entitlement(entitlement=entitlement, by=request.user, **data)
    return Response(EntitlementSerializer(entitlement).data)


class NoticeListView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        parameters=[OpenApiParameter("unread", str, enum=["1"])],
        responses=NoticePageSerializer,
        summary="Your notices, newest first",
    )
    def get(self, request):
        mine = Notice.objects.filter(user=request.user)
        if request.query_params.get("unread") == "1":
            mine = mine.filter(read_at=None)
        return Response(paged(request, mine, NoticeSerializer))


@extend_schema(request=None, responses=NoticeSerializer, summary="Mark one of your notices read")
@api_view(["POST"])
@permission_classes([IsAuthenticated])
def read_notice(request, pk):
    notice = Notice.objects.filter(user=request.user, pk=pk).first()
    if notice is None:
        raise NotFound(f"No notice {pk}.")
    notices.mark_read(request.user, [notice])
    notice.refresh_from_db()
    return Response(NoticeSerializer(notice).data)


@extend_schema(
    responses={200: VisaSerializer},
    summary="A GA4GH ControlledAccessGrants visa for you (a project member)",
)
@api_view(["GET"])
@permission_classes([IsAuthenticated])
def visa(request, pk):
    entitlement = selectors.get_entitlement(request.user, pk)
    return Response({"visa": visas.issue_visa(entitlement=entitlement, user=request.user)})


@extend_schema(responses={200: OpenApiTypes.OBJECT}, summary="The keys that sign visas (JWKS)")
@api_view(["GET"])
@authentication_classes([])
@permission_classes([AllowAny])
def jwks(request):
    return Response(visas.jwks())


@extend_schema(
    request=NoteSerializer,
    responses={201: AccessRequestSerializer},
    summary="Draft a renewal of an entitlement (a project member); its approval extends it",
)
@api_view(["POST"])
@permission_classes([IsAuthenticated])
def renew(request, pk):
    entitlement = selectors.get_entitlement(request.user, pk)
    note = validated(NoteSerializer, request)["note"]
    renewal = services.request_renewal(by=request.user, entitlement=entitlement, purpose=note)
    return Response(_shown(request, renewal.pk), status=status.HTTP_201_CREATED)


class EthicsDocumentView(APIView):
    """The ethics approval of a request: the requester uploads it (multipart, field
    `document`, a PDF); the project's members and the committees deciding on it read it."""

    permission_classes = [IsAuthenticated]
    parser_classes = [MultiPartParser]

    @extend_schema(
        request={
            "multipart/form-data": {
                "type": "object",
                "properties": {"document": {"type": "string", "format": "binary"}},
            }
        },
        responses=AccessRequestSerializer,
        summary="Attach the ethics approval (a PDF) to a draft or returned request",
    )
    def post(self, request, pk):
        access_request = selectors.get_request(request.user, pk)
        upload = request.FILES.get("document")
        if upload is None:
            raise ValidationFailed(
                "document: attach the PDF as the `document` field.", field="document"
            )
        services.attach_ethics_document(request=access_request, by=request.user, upload=upload)
        return Response(_shown(request, pk))

    @extend_schema(
        responses={(200, "application/pdf"): OpenApiTypes.BINARY}, summary="The ethics approval"
    )
    def get(self, request, pk):
        access_request = selectors.get_request(request.user, pk)
        if not access_request.ethics_document:
            raise NotFound(f"Request {pk} has no ethics document.")
        return FileResponse(
            access_request.ethics_document.open("rb"),
            content_type="application/pdf",
            filename=f"ethics-approval-request-{pk}.pdf",
        )
