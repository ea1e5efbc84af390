"""DCAT-AP 3 output: the whole catalogue (paged) and each dataset, for harvesters.

DRF views so that API tokens and sessions both identify the caller; the RDF
bodies are plain HttpResponses chosen here, and DRF renders only error bodies
(always JSON, through hub.errors' single mapping of domain errors).
"""

from __future__ import annotations

import hashlib
import re

from django.conf import settings
from django.db.models import Count, Max
from django.http import HttpResponse, QueryDict
from django.urls import reverse
from django.utils.cache import get_conditional_response, patch_vary_headers
from django.utils.http import urlencode
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.decorators import (
    api_view,
    content_negotiation_class,
    permission_classes,
    renderer_classes,
)
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer

from hub.errors import DomainError, NotFound, ValidationFailed

from . import dcat, selectors
from .search import parse_modified_since

CATALOGUE_PARAMS = ("format", "page", "modified_since")
# Stable under edits: ordering by creation keeps a dataset on its page while it is
# edited during a harvest, so a paging harvester never skips it.
ORDERING = ("created", "id")
# Large and not part of the DCAT description: left in the database.
UNUSED_FIELDS = ("source_rdf", "normalised_rdf", "studies")
_PAGE_NUMBER = re.compile(r"^[0-9]{1,9}$")


class NotAcceptable(DomainError):
    status_code = status.HTTP_406_NOT_ACCEPTABLE
    code = "not_acceptable"


class _ErrorsAsJson(BaseContentNegotiation):
    """Accept decides the RDF serialisation below; DRF only ever renders JSON errors."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


def _dcat_view(func):
    func = content_negotiation_class(_ErrorsAsJson)(func)
    func = renderer_classes([JSONRenderer])(func)
    func = permission_classes([AllowAny])(func)
    return api_view(["GET", "HEAD"])(func)


def _supported() -> str:
    return ", ".join(f.media_type for f in dcat.FORMATS.values())


def _accept_ranges(header: str) -> list[tuple[str, str, float]]:
    """(type, subtype, q) of each media range in an Accept header; malformed ones ignored."""
    ranges = []
    for item in header.split(","):
        media, *params = (part.strip() for part in item.split(";"))
        kind, _, sub = media.lower().partition("/")
        if not kind or not sub:
            continue
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = min(max(float(value.strip()), 0.0), 1.0)
                except ValueError:
                    q = 1.0
        ranges.append((kind, sub, q))
    return ranges


def _quality(media_type: str, ranges: list[tuple[str, str, float]]) -> float:
    """The q the most specific matching range gives `media_type`; 0 if none matches."""
    kind, sub = media_type.split("/")
    specificity = {(kind, sub): 2, (kind, "*"): 1, ("*", "*"): 0}
    matches = [(specificity[(k, s)], q) for k, s, q in ranges if (k, s) in specificity]
    return max(matches)[1] if matches else 0.0


def negotiate(accept: str) -> dcat.Format:
    """The serialisation for an Accept header: highest q wins, ties go to Turtle first.

    The most specific matching range gives a type its q (RFC 9110, 12.5.1), so
    `*/*;q=0.1, text/turtle;q=0` refuses Turtle.
    """
    if not accept.strip():
        return dcat.TURTLE
    ranges = _accept_ranges(accept)
    best, best_q = None, 0.0
    for fmt in dcat.FORMATS.values():
        q = _quality(fmt.media_type, ranges)
        if q > best_q:
            best, best_q = fmt, q
    if best is None:
        raise NotAcceptable(
            f"No media type in the Accept header can be served; supported: {_supported()}.",
            supported=[f.media_type for f in dcat.FORMATS.values()],
        )
    return best


def _single(query: QueryDict, name: str) -> str:
    values = query.getlist(name)
    if len(values) > 1:
        raise ValidationFailed(f"{name} may be given only once.", parameter=name)
    return values[0].strip() if values else ""


def _reject_unknown(query: QueryDict, allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(query.keys()) - set(allowed))
    if unknown:
        known = ", ".join(allowed) if allowed else "none"
        raise ValidationFailed(
            f"Unknown query parameter(s): {', '.join(unknown)}; accepted: {known}.",
            parameter=unknown[0],
        )


def _rdf_response(request, body: bytes, fmt: dcat.Format, *, vary_accept: bool) -> HttpResponse:
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    response = get_conditional_response(request, etag=etag) or HttpResponse(
        body, content_type=f"{fmt.media_type}; charset=utf-8"
    )
    response["ETag"] = etag
    # The body depends on who asks: shared caches must keep callers apart.
    patch_vary_headers(
        response,
        ["Accept", "Authorization", "Cookie"] if vary_accept else ["Authorization", "Cookie"],
    )
    if request.user.is_authenticated:
        response["Cache-Control"] = "private"
    return response


@extend_schema(
    summary="The catalogue as DCAT-AP 3 (Turtle, RDF/XML or JSON-LD), paged with Hydra",
    description=(
        "Every dataset the caller may see, in a stable order (creation, then id). "
        "The serialisation follows `format`, else the Accept header (default Turtle). "
        "Each page links the first, last, next and previous pages with Hydra terms."
    ),
    parameters=[
        OpenApiParameter(
            "format", str, enum=list(dcat.FORMATS), description="Overrides the Accept header."
        ),
        OpenApiParameter(
            "page", int, description="1 to the last page (hydra:last); other values answer 400."
        ),
        OpenApiParameter("modified_since", str, description="ISO 8601 date or date-time."),
    ],
    responses={
        (200, "text/turtle"): OpenApiTypes.STR,
        (200, "application/rdf+xml"): OpenApiTypes.STR,
        (200, "application/ld+json"): OpenApiTypes.OBJECT,
        400: OpenApiResponse(
            description="A parameter is unknown or malformed; the answer names it."
        ),
        406: OpenApiResponse(
            description="No supported media type in Accept; the answer lists them."
        ),
    },
)
@_dcat_view
def dcat_catalogue(request):
    query = request.query_params
    _reject_unknown(query, CATALOGUE_PARAMS)
    format_key = _single(query, "format")
    if format_key:
        fmt = dcat.FORMATS.get(format_key)
        if fmt is None:
            raise ValidationFailed(
                f"format must be one of {', '.join(dcat.FORMATS)}, not {format_key[:40]!r}.",
                parameter="format",
            )
    else:
        fmt = negotiate(request.headers.get("Accept", ""))
    since_raw = _single(query, "modified_since")
    modified_since = parse_modified_since(since_raw)
    page_raw = _single(query, "page") or "1"
    if not _PAGE_NUMBER.match(page_raw):
        raise ValidationFailed(
            f"page must be a whole number from 1, not {page_raw[:40]!r}.", parameter="page"
        )

    datasets = selectors.visible_datasets(request.user)
    if modified_since:
        datasets = datasets.filter(modified__gte=modified_since)
    summary = datasets.aggregate(total=Count("pk"), latest=Max("modified"))

    # Page links repeat the caller's own choices, normalised, with the page number last.
    kept = {
        name: value
        for name, value in (("format", format_key), ("modified_since", since_raw))
        if value
    }

    def page_url(number: int) -> str:
        query_string = urlencode(kept | {"page": number})
        return f"{settings.SITE_URL}{reverse('catalogue:dcat')}?{query_string}"

    size = settings.DCAT_PAGE_SIZE
    paging = dcat.Paging(number=int(page_raw), size=size, total=summary["total"], url=page_url)
    if not 1 <= paging.number <= paging.last:
        raise ValidationFailed(
            f"page must be from 1 to {paging.last} (the last page), not {page_raw}.",
            parameter="page",
        )

    start = (paging.number - 1) * size
    page = list(
        datasets.select_related("previous_version")
        .defer(*UNUSED_FIELDS, *(f"previous_version__{f}" for f in UNUSED_FIELDS))
        .order_by(*ORDERING)[start : start + size]
    )
    previous_ids = {d.previous_version_id for d in page if d.previous_version_id}
    linkable = (
        set(
            selectors.visible_datasets(request.user)
            .filter(pk__in=previous_ids)
            .values_list("pk", flat=True)
        )
        if previous_ids
        else set()
    )
    graph = dcat.catalogue_graph(page, paging=paging, modified=summary["latest"], linkable=linkable)
    return _rdf_response(request, dcat.serialise(graph, fmt), fmt, vary_accept=True)


@extend_schema(
    summary="One dataset as DCAT-AP 3; the extension (ttl, rdf, jsonld) chooses the serialisation",
    responses={
        (200, "text/turtle"): OpenApiTypes.STR,
        (200, "application/rdf+xml"): OpenApiTypes.STR,
        (200, "application/ld+json"): OpenApiTypes.OBJECT,
        404: OpenApiResponse(
            description="No such dataset for this caller, or an unknown extension."
        ),
        410: OpenApiResponse(description="Invalidated: the answer carries its tombstone."),
    },
)
@_dcat_view
def dcat_dataset(request, pk, ext):
    fmt = dcat.FORMATS.get(ext)
    if fmt is None:
        raise NotFound(
            f"No serialisation {ext[:40]!r}; use .{', .'.join(dcat.FORMATS)}.",
            parameter="extension",
        )
    _reject_unknown(request.query_params, ())
    dataset = selectors.dataset_for(request.user, pk)
    link_previous = bool(
        dataset.previous_version_id
        and selectors.visible_datasets(request.user).filter(pk=dataset.previous_version_id).exists()
    )
    graph = dcat.dataset_graph(dataset, link_previous=link_previous)
    return _rdf_response(request, dcat.serialise(graph, fmt), fmt, vary_accept=False)
