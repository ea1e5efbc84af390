from django.contrib.auth import views as auth_views
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from .health import run_checks
from .roles import is_hub_admin, project_codes, role_summary


class HealthView(APIView):
    """Database, broker and chain reachability; 503 when one required part is down."""

    authentication_classes = []

    @extend_schema(summary="Health of the hub and what it depends on")
    def get(self, request):
        healthy, checks = run_checks()
        return Response({"status": "ok" if healthy else "degraded", "checks": checks}, status=200 if healthy else 503)


class MeView(APIView):
    @extend_schema(summary="Who the caller is and which roles they hold")
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


class LoginView(auth_views.LoginView):
    template_name = "registration/login.html"
    redirect_authenticated_user = True
