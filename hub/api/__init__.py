"""What every app's API views share."""

from __future__ import annotations

from typing import Any

from hub.errors import ValidationFailed


def validated(serializer_class, request, **kwargs) -> dict[str, Any]:
    """The serializer's validated data, or a 400 naming the first field at fault."""
    serializer = serializer_class(data=request.data, **kwargs)
    if not serializer.is_valid():
        name, problems = next(iter(serializer.errors.items()))
        problem = problems[0] if isinstance(problems, list) else problems
        raise ValidationFailed(f"{name}: {problem}", field=name, errors=serializer.errors)
    return dict(serializer.validated_data)
