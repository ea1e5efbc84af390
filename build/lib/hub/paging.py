"""Paging shared by every app's pages and API lists: one look, one JSON envelope."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from rest_framework import serializers

from .errors import ValidationFailed

MAX_PAGE = 1_000_000
_PAGE_NUMBER = re.compile(r"^[0-9]{1,7}$")


def query_page(
    params: Mapping[str, str], *, default_page_size: int, max_page_size: int
) -> tuple[int, int]:
    """(page, page size) from ?page= and ?page_size=; a bad value is a 400 naming it."""

    def number(name: str, high: int, default: int) -> int:
        raw = (params.get(name) or "").strip()
        if not raw:
            return default
        if not _PAGE_NUMBER.match(raw) or not 1 <= int(raw) <= high:
            raise ValidationFailed(f"{name} must be a whole number from 1 to {high}.", field=name)
        return int(raw)

    return number("page", MAX_PAGE, 1), number("page_size", max_page_size, default_page_size)


def page_links(current: int, pages: int, url_for: Callable[[int], str]) -> list[dict]:
    """Numbered links around the current page, with the first and the last, and gaps
    between (for hub/_pagination.html); empty when everything fits on one page."""
    if pages <= 1:
        return []
    wanted = sorted({1, pages, *range(max(1, current - 2), min(pages, current + 2) + 1)})
    links: list[dict] = []
    previous = 0
    for number in wanted:
        if number - previous > 1:
            links.append({"gap": True})
        links.append({"number": number, "url": url_for(number), "current": number == current})
        previous = number
    return links


def api_page(
    request, *, total: int, page: int, pages: int, page_size: int, results: Sequence[Any]
) -> dict:
    """The list envelope of the API: counts, page, links to the neighbours, results."""

    def link(n: int) -> str | None:
        if n < 1 or n > pages:
            return None
        query = request.query_params.copy()
        query["page"] = str(n)
        return request.build_absolute_uri(request.path + "?" + query.urlencode())

    return {
        "count": total,
        "page": page,
        "pages": pages,
        "page_size": page_size,
        "next": link(page + 1),
        "previous": link(page - 1),
        "results": results,
    }


class PageSerializer(serializers.Serializer):
    """The envelope of api_page(), for the OpenAPI document; subclasses add `results`."""

    count = serializers.IntegerField()
    page = serializers.IntegerField()
    pages = serializers.IntegerField()
    page_size = serializers.IntegerField()
    next = serializers.CharField(allow_null=True)
    previous = serializers.CharField(allow_null=True)
