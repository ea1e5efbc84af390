from django.conf import settings
from django.contrib.auth import views as auth_views
from django.shortcuts import redirect
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from .auth import provider_logout_url
from .health import run_checks
from .roles import is_hub_admin, project_codes, role_summary


class HealthView(APIView):
    """Database, broker and chain reachability; 503 when one required part is down."""

    authentication_classes = []

    @extend_schema(
        summary="Health of the hub and what it depends on",
        responses=inline_serializer(
            "Health", {"status": serializers.CharField(), "checks": serializers.DictField()}
        ),
    )
    def get(self, request):
        healthy, checks = run_checks()
        return Response(
            {"status": "ok" if healthy else "degraded", "checks": checks},
            status=200 if healthy else 503,
        )


class MeView(APIView):
    @extend_schema(
        summary="Who the caller is and which roles they hold",
        responses=inline_serializer(
            "Me",
            {
                "authenticated": serializers.BooleanField(),
                "username": serializers.CharField(required=False),
                "roles": serializers.ListField(child=serializers.CharField()),
                "hub_admin": serializers.BooleanField(required=False),
                "projects": serializers.ListField(child=serializers.CharField(), required=False),
            },
        ),
    )
    def get(self, request):
        user = request.user
        if not user.is_authenticated:
            return Response({"authenticated": False, "roles": []})
        return Response(
            {
                "authenticated": True,
                "username": user.get_username(),
                "roles": role_summary(user),
                "hub_admin": is_hub_admin(user),
                "projects": sorted(project_codes(user)),
            }
        )


class LogoutView(auth_views.LogoutView):
    """Sign out here, and at the OIDC provider when the session came from it."""

    def post(self, request, *args, **kwargs):
        from_provider = settings.OIDC_ENABLED and request.session.get("oidc_id_token")
        target = provider_logout_url(request) if from_provider else None
        response = super().post(request, *args, **kwargs)
        return redirect(target) if target else response


class LoginView(auth_views.LoginView):
    template_name = "registration/login.html"
    redirect_authenticated_user = True
