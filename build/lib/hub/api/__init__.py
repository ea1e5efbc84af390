"""What every app's API views share."""

from __future__ import annotations

from typing import Any

from django.core.paginator import Paginator

from hub.errors import ValidationFailed
from hub.paging import api_page, query_page

PAGE_SIZE, MAX_PAGE_SIZE = 50, 500


def validated(serializer_class, request, **kwargs) -> dict[str, Any]:
    """The serializer's validated data, or a 400 naming the first field at fault."""
    serializer = serializer_class(data=request.data, **kwargs)
    if not serializer.is_valid():
        name, problems = next(iter(serializer.errors.items()))
        problem = problems[0] if isinstance(problems, list) else problems
        raise ValidationFailed(f"{name}: {problem}", field=name, errors=serializer.errors)
    return dict(serializer.validated_data)


def paged(request, queryset, serializer_class, context: dict | None = None) -> dict:
    """One page of `queryset` in the API's list envelope (?page=, ?page_size=)."""
    number, size = query_page(
        request.query_params, default_page_size=PAGE_SIZE, max_page_size=MAX_PAGE_SIZE
    )
    paginator = Paginator(queryset, size)
    page = paginator.get_page(number)
    return api_page(
        request,
        total=paginator.count,
        page=page.number,
        pages=paginator.num_pages,
        page_size=size,
        results=serializer_class(
            page.object_list, many=True, context={"request": request} | (context or {})
        ).data,
    )
