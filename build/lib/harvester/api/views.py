"""The harvester's API: nodes (administrators register, providers read theirs), runs, and
the push endpoint where a node sends its records with its own token."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import authentication, exceptions, status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from hub.api import paged, validated
from hub.errors import NotFound, PayloadTooLarge, ValidationFailed
from hub.models import Organisation

from .. import selectors, services
from ..models import HarvestRecord, Node
from .serializers import (
    HarvestJobSerializer,
    HarvestRecordPageSerializer,
    HarvestRecordSerializer,
    NodeCreatedSerializer,
    NodePageSerializer,
    NodeSerializer,
    NodeWriteSerializer,
)


class NodeListView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        responses=NodePageSerializer, summary="Nodes you may see", operation_id="nodes_list"
    )
    def get(self, request):
        return Response(paged(request, selectors.visible_nodes(request.user), NodeSerializer))

    @extend_schema(
        request=NodeWriteSerializer,
        responses={201: NodeCreatedSerializer},
        summary="Register a node (hub administrators); the answer holds its push token, once",
    )
    def post(self, request):
        data = validated(NodeWriteSerializer, request)
        slug = data.pop("organisation")
        organisation = Organisation.objects.filter(slug=slug).first()
        if organisation is None:
            raise ValidationFailed(f"organisation: no organisation {slug!r}.", field="organisation")
        node, token = services.register_node(by=request.user, organisation=organisation, **data)
        body = NodeSerializer(node, context={"request": request}).data | {"push_token": token}
        return Response(body, status=status.HTTP_201_CREATED)


class NodeDetailView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses=NodeSerializer, summary="One node", operation_id="nodes_retrieve")
    def get(self, request, pk):
        node = selectors.get_node(request.user, pk)
        return Response(NodeSerializer(node, context={"request": request}).data)


class NodeHarvestView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        request=None,
        responses={202: HarvestJobSerializer},
        summary="Harvest the node now (409 while a harvest of it is queued or running)",
    )
    def post(self, request, pk):
        node = selectors.get_node(request.user, pk)
        job = services.request_harvest(node=node, by=request.user)
        body = HarvestJobSerializer(job, context={"request": request}).data
        return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": body["url"]})


class NodeTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Token <node push token>` (or Bearer): the node, not a person."""

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header:
            return None
        if len(header) != 2 or header[0].lower() not in (b"token", b"bearer"):
            raise exceptions.AuthenticationFailed(
                "Authorization header must be 'Token <node push token>'."
            )
        try:
            raw = header[1].decode()
        except UnicodeError as exc:
            raise exceptions.AuthenticationFailed("Token contains invalid characters.") from exc
        node = selectors.node_by_push_token(raw)
        if node is None:
            raise exceptions.AuthenticationFailed("Invalid push token, or the node is disabled.")
        return AnonymousUser(), node

    def authenticate_header(self, request):
        return "Token"


class NodePushView(APIView):
    authentication_classes = [NodeTokenAuthentication]
    permission_classes = [AllowAny]  # checked below: the token must be this node's

    @extend_schema(
        request={
            "text/turtle": OpenApiTypes.STR,
            "application/ld+json": OpenApiTypes.OBJECT,
            "application/rdf+xml": OpenApiTypes.STR,
            "application/n-triples": OpenApiTypes.STR,
            "application/json": OpenApiTypes.OBJECT,
        },
        responses={200: HarvestJobSerializer},
        summary="A node sends its records: RDF (any serialisation) or MIABIS JSON",
        description="Authenticated with the node's push token. The answer is the per-record "
        "validation report; accepted records enter the catalogue as drafts of the node's "
        "organisation (released, if the node is set to auto-release).",
    )
    def post(self, request, pk):
        node = request.auth
        if not isinstance(node, Node):
            raise exceptions.NotAuthenticated("A node push token is required.")
        if str(node.pk) != str(pk):
            raise NotFound(f"No node {pk} for this token.")
        job = services.receive_push(
            node=node, body=_body(request), content_type=request.content_type
        )
        return Response(HarvestJobSerializer(job, context={"request": request}).data)


def _body(request) -> bytes:
    """The raw body up to the push limit (Django's own limit is for forms, far smaller)."""
    limit = settings.HARVEST_PUSH_MAX_BYTES
    body = request._request.read(limit + 1)
    if len(body) > limit:
        raise PayloadTooLarge(f"The body is larger than {limit} bytes; push in parts.")
    return body


JOB_ID = OpenApiParameter("pk", OpenApiTypes.UUID, OpenApiParameter.PATH)


class HarvestJobView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        parameters=[JOB_ID],
        responses=HarvestJobSerializer,
        summary="A run: status, progress, counts per result, rejected records with reasons",
    )
    def get(self, request, pk):
        job = selectors.get_job(request.user, pk)
        return Response(HarvestJobSerializer(job, context={"request": request}).data)


class HarvestJobRecordsView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        parameters=[
            JOB_ID,
            OpenApiParameter("result", str, enum=HarvestRecord.Result.values),
            OpenApiParameter("page", int),
            OpenApiParameter("page_size", int),
        ],
        responses=HarvestRecordPageSerializer,
        summary="Every record of a run with its result and reasons",
    )
    def get(self, request, pk):
        job = selectors.get_job(request.user, pk)
        result = request.query_params.get("result", "")
        if result and result not in HarvestRecord.Result.values:
            raise ValidationFailed(
                f"result must be one of {', '.join(HarvestRecord.Result.values)}.", field="result"
            )
        records = selectors.job_records(job, result)
        return Response(paged(request, records, HarvestRecordSerializer))
