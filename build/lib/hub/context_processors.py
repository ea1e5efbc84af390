from django.conf import settings

from access_requests import selectors as access
from tracer.selectors import can_explore_traces

from .roles import is_hub_admin, provider_organisation_ids, role_summary


def hub(request):
    user = request.user
    return {
        "oidc_enabled": settings.OIDC_ENABLED,
        "user_roles": role_summary(user) if user.is_authenticated else [],
        "user_is_hub_admin": is_hub_admin(user),
        # From the roles already loaded for the header: no query of its own.
        "user_is_provider": is_hub_admin(user) or bool(provider_organisation_ids(user)),
        "user_can_explore_traces": can_explore_traces(user),
        "user_on_committee": bool(access.committee_organisation_ids(user)),
        "basket_count": len(request.session.get("basket", []))
        if hasattr(request, "session")
        else 0,
        "unread_notices": access.unread_notice_count(user),
    }
