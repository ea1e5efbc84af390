"""The tracer's API, compatible with CHAIMELEON's tracer: post a trace (trusted components),
list and read traces (administrators, providers, their own for components), and the
public inclusion proof of any trace."""

from __future__ import annotations

from django.db import transaction
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import ParseError, UnsupportedMediaType
from rest_framework.parsers import JSONParser
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from hub.errors import ValidationFailed, require
from hub.models import ApiToken
from hub.paging import api_page

from .. import selectors, services
from ..models import Action
from .serializers import (
    TracePageSerializer,
    TraceProofSerializer,
    TraceSerializer,
    TraceWriteSerializer,
)

TRACE_ID = OpenApiParameter(
    "trace_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The trace's id."
)
FILTER_PARAMETERS = [
    OpenApiParameter("dataset", str, description="Traces concerning this dataset id."),
    OpenApiParameter("datasetId", str, description="CHAIMELEON's name for `dataset`."),
    OpenApiParameter("user", str, description="A username or a user pseudonym."),
    OpenApiParameter("userId", str, description="CHAIMELEON's name for `user`."),
    OpenApiParameter("caller", str, description="The component that recorded the trace."),
    OpenApiParameter("callerId", str, description="CHAIMELEON's name for `caller`."),
    OpenApiParameter("action", str, enum=Action.values),
    OpenApiParameter("userAction", str, enum=Action.values, description="Same as `action`."),
    OpenApiParameter("details", str, description="e.g. RELEASE, PUBLISH, INVALIDATE."),
    OpenApiParameter("since", str, description="ISO 8601 date or date-time (inclusive)."),
    OpenApiParameter("from", str, description="Same as `since`."),
    OpenApiParameter("until", str, description="ISO 8601 date (the whole day) or date-time."),
    OpenApiParameter("to", str, description="Same as `until`."),
    OpenApiParameter("batch", int, description="Traces of this anchoring batch."),
    OpenApiParameter(
        "pending",
        str,
        enum=["true", "false"],
        description="true: not yet anchored; false: anchored on chain.",
    ),
    OpenApiParameter("page", int),
    OpenApiParameter("page_size", int, description=f"At most {selectors.MAX_PAGE_SIZE}."),
]
PAGE_AND_FORMAT = selectors.PAGING_NAMES | {"format"}
NON_FIELD = api_settings.NON_FIELD_ERRORS_KEY


def _first_problem(errors, path: str = "") -> tuple[str, str]:
    """The first error of a DRF error tree, with where it is: ("resources[1].hash", "...")."""
    if isinstance(errors, dict):
        key, inner = next(iter(errors.items()))
        if isinstance(key, int):
            return _first_problem(inner, f"{path}[{key}]")
        if key == NON_FIELD:
            return _first_problem(inner, path)
        return _first_problem(inner, f"{path}.{key}" if path else str(key))
    if isinstance(errors, list):
        for index, inner in enumerate(errors):
            if isinstance(inner, dict):
                if inner:
                    return _first_problem(inner, f"{path}[{index}]")
            elif inner:
                return path, str(inner)
    return path, str(errors)


def _trace_body(request) -> dict:
    """The posted body as record() arguments; any problem is a 400 naming the field."""
    try:
        data = request.data
    except (ParseError, UnsupportedMediaType) as exc:
        raise ValidationFailed(f"The body must be a JSON object: {exc.detail}") from None
    if not isinstance(data, dict):
        raise ValidationFailed("The body must be a JSON object.")
    known = set(TraceWriteSerializer().fields)
    unknown = sorted(str(key)[:40] for key in data if key not in known)
    if unknown:
        raise ValidationFailed(
            f"Unknown field{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; "
            f"a trace has {', '.join(sorted(known))}.",
            field=unknown[0],
        )
    serializer = TraceWriteSerializer(data=data)
    if not serializer.is_valid():
        where, problem = _first_problem(serializer.errors)
        field = where.split("[")[0].split(".")[0]
        raise ValidationFailed(f"{where}: {problem}", field=field, errors=serializer.errors)
    body = serializer.validated_data
    single = [body["datasetId"]] if body.get("datasetId") else []
    return {
        "action": body["userAction"],
        "user_id": body.get("userId") or None,
        "dataset_ids": single + list(body.get("datasetsIds") or []),
        "details": body.get("details") or "",
        "resources": [dict(r) for r in body.get("resources") or []],
        "tool_name": body.get("toolName") or "",
        "tool_version": body.get("toolVersion") or "",
        "subject_id": body.get("subjectId") or "",
    }


class TraceListView(APIView):
    permission_classes = [IsAuthenticated]
    parser_classes = [JSONParser]

    @extend_schema(
        parameters=FILTER_PARAMETERS,
        responses=TracePageSerializer,
        summary="List traces (administrators; providers: their datasets'; components: their own)",
        operation_id="traces_list",
    )
    def get(self, request):
        filters = selectors.query_filters(request.query_params, also_allowed=PAGE_AND_FORMAT)
        number, size = selectors.query_page(request.query_params)
        page = selectors.trace_page(request.user, filters, page=number, page_size=size)

        results = TraceSerializer(page.traces, many=True, context={"request": request}).data
        return Response(
            api_page(
                request,
                total=page.total,
                page=page.page,
                pages=page.pages,
                page_size=page.page_size,
                results=results,
            )
        )

    @extend_schema(
        request=TraceWriteSerializer,
        responses={200: TraceSerializer},
        summary="Record a trace (machine accounts with the trace_writer role)",
        description="CHAIMELEON's trace body. Answers 200 (CHAIMELEON's clients accept only "
        "200 or 204) with the trace and its address in `Location`.",
        operation_id="traces_create",
    )
    def post(self, request):
        require(
            selectors.can_post_traces(request.user),
            "Only machine accounts holding the trace_writer role may post traces; "
            "administrators and other users cannot.",
        )
        # A machine posts with its API token; a person signed in (even one in the
        # TRACE-WRITER group) does not, so a person's username never becomes a caller.
        require(
            isinstance(request.auth, ApiToken),
            "Traces are posted with a machine account's API token (Authorization: Token ...).",
        )
        fields = _trace_body(request)
        with transaction.atomic():
            trace = services.record(caller=request.user.get_username(), **fields)
        response = Response(TraceSerializer(trace, context={"request": request}).data)
        response["Location"] = request.build_absolute_uri(
            reverse("api:trace-detail", args=[str(trace.uuid)])
        )
        return response


class TraceDetailView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        parameters=[TRACE_ID],
        responses=TraceSerializer,
        summary="One trace (404 if unknown, 403 if not yours to see)",
        operation_id="traces_retrieve",
    )
    def get(self, request, trace_id):
        trace = selectors.trace_for(request.user, trace_id)
        return Response(TraceSerializer(trace, context={"request": request}).data)


class TraceProofView(APIView):
    """Public: a trace holds identifiers and hashes only, and anyone may check it."""

    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(
        parameters=[TRACE_ID],
        responses=TraceProofSerializer,
        summary="The inclusion proof of a trace, for anyone to verify against the chain",
        operation_id="traces_proof_retrieve",
    )
    def get(self, request, trace_id):
        trace = selectors.trace_for_proof(trace_id)
        return Response(TraceProofSerializer(trace).data)


class HashAlgorithmsView(APIView):
    """CHAIMELEON's clients ask which hash types the tracer accepts before they start."""

    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(
        responses={200: {"type": "array", "items": {"type": "string", "enum": ["SHA3_256"]}}},
        summary="The resource hash types accepted (CHAIMELEON's GET /traces/hashes)",
        operation_id="traces_hashes",
    )
    def get(self, request):
        return Response(["SHA3_256"])
