from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from hub.api import validated
from hub.errors import ValidationFailed
from hub.models import Organisation
from hub.paging import api_page

from .. import selectors, services
from ..search import FILTER_PARAMS, parse_search
from .serializers import (
    DatasetDetailSerializer,
    DatasetSerializer,
    DatasetWriteSerializer,
    InvalidateSerializer,
    LifecycleEventSerializer,
    NewVersionSerializer,
    SearchResultSerializer,
)

SEARCH_PARAMETERS = [
    OpenApiParameter("q", str, description="Full text over title, description and keywords."),
    *[
        OpenApiParameter(
            p, str, many=True, description=f"Facet {p}; repeat or comma-separate for OR."
        )
        for p in FILTER_PARAMS
    ],
    OpenApiParameter(
        "age_min", int, description="Datasets whose age range overlaps [age_min, age_max]."
    ),
    OpenApiParameter("age_max", int),
    OpenApiParameter("min_subjects", int),
    OpenApiParameter("modified_since", str, description="ISO 8601 date or date-time."),
    OpenApiParameter(
        "sort",
        str,
        enum=["relevance", "title", "-title", "modified", "-modified", "subjects", "-subjects"],
    ),
    OpenApiParameter("page", int),
    OpenApiParameter("page_size", int),
    OpenApiParameter("facets", str, description="0 to skip facet counts."),
    OpenApiParameter(
        "purpose",
        str,
        many=True,
        description=(
            "Matches my purpose: DUO data-use permission terms of the research purpose "
            "(DUO:0000042 general research use, DUO:0000006 health/medical/biomedical, "
            "DUO:0000007 disease-specific, DUO:0000011 population origins or ancestry, "
            "DUO:0000004 no restriction; also DUO_0000007 or the OBO IRI). Only datasets "
            "whose DUO terms allow every one of them are kept (a dataset term allows itself "
            "and its DUO descendants; no restriction allows anything). Repeat or "
            "comma-separate."
        ),
    ),
    OpenApiParameter(
        "purpose_disease",
        str,
        many=True,
        description=(
            "ICD-10 codes, blocks or chapters studied (C34, C34.1, C30-C39, II), for "
            "disease-specific research (DUO:0000007): a disease-specific dataset is kept "
            "when its diagnoses cover every one of them. Without purpose, implies "
            "purpose=DUO:0000007; with purpose, one of its terms must be DUO:0000007."
        ),
    ),
]


class DatasetListView(APIView):
    def get_permissions(self):
        return [IsAuthenticated()] if self.request.method == "POST" else []

    @extend_schema(
        parameters=SEARCH_PARAMETERS, responses=SearchResultSerializer, summary="Search datasets"
    )
    def get(self, request):
        params = parse_search(
            request.query_params,
            default_page_size=settings.CATALOGUE_PAGE_SIZE,
            max_page_size=settings.CATALOGUE_MAX_PAGE_SIZE,
        )
        result = selectors.search_datasets(request.user, params)

        results = DatasetSerializer(result.datasets, many=True, context={"request": request}).data
        envelope = api_page(
            request,
            total=result.total,
            page=result.page,
            pages=result.pages,
            page_size=result.page_size,
            results=results,
        )
        return Response(
            envelope
            | {
                "facets": {
                    name: [
                        {"value": c.value, "count": c.count, "label": c.label or c.value}
                        for c in counts
                    ]
                    for name, counts in result.facets.items()
                },
            }
        )

    @extend_schema(
        request=DatasetWriteSerializer,
        responses={201: DatasetDetailSerializer},
        summary="Create a draft dataset",
    )
    def post(self, request):
        data = dict(validated(DatasetWriteSerializer, request))
        slug = data.pop("organisation", None)
        if not slug:
            raise ValidationFailed("organisation: this field is required.", field="organisation")
        organisation = Organisation.objects.filter(slug=slug).first()
        if organisation is None:
            raise ValidationFailed(f"organisation: no organisation {slug!r}.", field="organisation")
        dataset = services.create_dataset(organisation=organisation, by=request.user, **data)
        body = DatasetDetailSerializer(dataset, context={"request": request}).data
        return Response(body, status=status.HTTP_201_CREATED)


class DatasetDetailView(APIView):
    def get_permissions(self):
        return [IsAuthenticated()] if self.request.method == "PATCH" else []

    @extend_schema(
        responses=DatasetDetailSerializer,
        summary="One dataset (410 with its tombstone if invalidated)",
        operation_id="datasets_retrieve",
    )
    def get(self, request, pk):
        dataset = selectors.dataset_for(request.user, pk)
        return Response(DatasetDetailSerializer(dataset, context={"request": request}).data)

    @extend_schema(
        request=DatasetWriteSerializer, responses=DatasetDetailSerializer, summary="Edit a dataset"
    )
    def patch(self, request, pk):
        dataset = selectors.dataset_for(request.user, pk)
        data = dict(validated(DatasetWriteSerializer, request, partial=True))
        if "organisation" in data:
            raise ValidationFailed("organisation cannot be changed.", field="organisation")
        dataset = services.update_dataset(dataset=dataset, by=request.user, **data)
        return Response(DatasetDetailSerializer(dataset, context={"request": request}).data)


class DatasetHistoryView(APIView):
    @extend_schema(responses=LifecycleEventSerializer(many=True), summary="Lifecycle history")
    def get(self, request, pk):
        dataset = selectors.dataset_for(request.user, pk)
        return Response(
            LifecycleEventSerializer(selectors.lifecycle_history(dataset), many=True).data
        )


class TransitionView(APIView):
    """POST /datasets/<id>/<verb>/: one lifecycle transition."""

    permission_classes = [IsAuthenticated]
    service = None
    input_serializer = None
    success_status = status.HTTP_200_OK

    @extend_schema(request=None, responses=DatasetDetailSerializer)
    def post(self, request, pk):
        dataset = selectors.dataset_to_manage(request.user, pk)
        extra = dict(validated(self.input_serializer, request)) if self.input_serializer else {}
        dataset = type(self).service(dataset=dataset, by=request.user, **extra)
        body = DatasetDetailSerializer(dataset, context={"request": request}).data
        return Response(body, status=self.success_status)


def transition_view(service, input_serializer=None, success_status=status.HTTP_200_OK):
    name = service.__name__.title().replace("_", "")
    attrs = {
        "service": staticmethod(service),
        "input_serializer": input_serializer,
        "success_status": success_status,
    }
    view = type(f"{name}View", (TransitionView,), attrs)
    summary = service.__doc__.strip().splitlines()[0] if service.__doc__ else name
    view.post = extend_schema(
        request=input_serializer, responses=DatasetDetailSerializer, summary=summary
    )(TransitionView.post)
    return view.as_view()


release = transition_view(services.release_dataset)
publish = transition_view(services.publish_dataset)
unpublish = transition_view(services.unpublish_dataset)
invalidate = transition_view(services.invalidate_dataset, InvalidateSerializer)
reactivate = transition_view(services.reactivate_dataset)
new_version = transition_view(
    services.create_new_version, NewVersionSerializer, status.HTTP_201_CREATED
)
