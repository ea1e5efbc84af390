from django.conf import settings

from .roles import is_hub_admin, provider_organisations, role_summary


def hub(request):
    user = request.user
    return {
        "oidc_enabled": settings.OIDC_ENABLED,
        "user_roles": role_summary(user) if user.is_authenticated else [],
        "user_is_hub_admin": is_hub_admin(user),
        "user_is_provider": bool(user.is_authenticated and provider_organisations(user)),
    }
