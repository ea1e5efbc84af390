"""Domain errors, and the one place that turns them into HTTP answers.

Services raise these; the API (DRF exception handler) and the pages
(middleware) map them to the same statuses, so no caller can disagree.
"""

import re

from django.conf import settings
from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404, JsonResponse
from django.shortcuts import render
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler


class DomainError(Exception):
    status_code = status.HTTP_400_BAD_REQUEST
    code = "invalid"

    def __init__(self, message: str, **details):
        super().__init__(message)
        self.message = message
        self.details = details

    def as_dict(self) -> dict:
        return {"error": self.code, "detail": self.message, **self.details}


class ValidationFailed(DomainError):
    status_code = status.HTTP_400_BAD_REQUEST
    code = "invalid"


class NotAllowed(DomainError):
    status_code = status.HTTP_403_FORBIDDEN
    code = "forbidden"


class NotFound(DomainError):
    status_code = status.HTTP_404_NOT_FOUND
    code = "not_found"


class Conflict(DomainError):
    status_code = status.HTTP_409_CONFLICT
    code = "conflict"


class InvalidTransition(Conflict):
    code = "invalid_transition"


class FrozenField(Conflict):
    code = "frozen"


class Gone(DomainError):
    """The object existed and was withdrawn; `details` carry its tombstone."""

    status_code = status.HTTP_410_GONE
    code = "gone"


class PayloadTooLarge(DomainError):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    code = "too_large"


def require(condition: bool, message: str = "You are not allowed to do this.") -> None:
    if not condition:
        raise NotAllowed(message)


def api_exception_handler(exc, context):
    if isinstance(exc, DomainError):
        return Response(exc.as_dict(), status=exc.status_code)
    if isinstance(exc, RequestDataTooBig):
        return Response(
            {"error": "too_large", "detail": "Request body is too large."},
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    response = exception_handler(exc, context)
    if response is not None and isinstance(response.data, dict) and "detail" in response.data:
        response.data.setdefault("error", getattr(exc, "default_code", "error"))
    return response


def _body_limit(path: str) -> int:
    """Bodies are small except where a route reads its own (a node's push): LARGE_BODY_PATHS."""
    for pattern, limit in settings.LARGE_BODY_PATHS.items():
        if re.match(pattern, path):
            return limit
    return settings.DATA_UPLOAD_MAX_MEMORY_SIZE


class DomainErrorMiddleware:
    """Pages: render domain errors with their status; refuse oversized bodies with 413."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        length = request.META.get("CONTENT_LENGTH") or "0"
        limit = _body_limit(request.path)
        try:
            too_big = int(length) > limit
        except ValueError:
            return JsonResponse(
                {"error": "invalid", "detail": "Malformed Content-Length."}, status=400
            )
        if too_big:
            message = f"Request body is larger than {limit} bytes."
            return JsonResponse({"error": "too_large", "detail": message}, status=413)
        return self.get_response(request)

    def process_exception(self, request, exception):
        if request.path.startswith("/api/"):
            return None  # DRF's handler answers for the API
        if isinstance(exception, Gone):
            return render(request, "hub/tombstone.html", exception.details, status=410)
        if isinstance(exception, DomainError):
            ctx = {"status": exception.status_code, "message": exception.message}
            return render(request, "hub/error.html", ctx, status=exception.status_code)
        if isinstance(exception, RequestDataTooBig):
            ctx = {"status": 413, "message": "The request body is too large."}
            return render(request, "hub/error.html", ctx, status=413)
        if isinstance(exception, (Http404, PermissionDenied)):
            return None
        return None
