"""Sign-in: OIDC with role mapping from token groups, and API tokens for machines."""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from rest_framework import authentication, exceptions

from .models import ApiToken, Organisation, Role, hash_token
from .roles import replace_oidc_roles

log = logging.getLogger(__name__)
LAST_USED_PRECISION = timedelta(minutes=1)


def roles_from_groups(groups: list[str]) -> list[tuple[str, Organisation | None, str]]:
    """Map OIDC group names to (role, organisation, project code).

    Keycloak sends group paths ("/PROVIDER-hospital-a"); only the last segment counts.
    Groups naming an organisation the hub does not know are ignored (and logged).
    """
    names = {g.rstrip("/").rsplit("/", 1)[-1] for g in groups if isinstance(g, str)}
    s = settings
    wanted: list[tuple[str, Organisation | None, str]] = []
    org_prefixes = {
        s.OIDC_GROUP_PROVIDER_PREFIX: Role.PROVIDER,
        s.OIDC_GROUP_COMMITTEE_PREFIX: Role.COMMITTEE_MEMBER,
    }
    slugs = {}
    for name in names:
        for prefix, role in org_prefixes.items():
            if name.startswith(prefix):
                slugs.setdefault(name[len(prefix) :], []).append(role)
    orgs = {o.slug: o for o in Organisation.objects.filter(slug__in=slugs)}
    for slug, roles in slugs.items():
        if slug not in orgs:
            log.warning("oidc group names unknown organisation slug=%s", slug)
            continue
        wanted += [(role, orgs[slug], "") for role in roles]
    for name in names:
        if name.startswith(s.OIDC_GROUP_PROJECT_PREFIX) and len(name) > len(
            s.OIDC_GROUP_PROJECT_PREFIX
        ):
            wanted.append((Role.PROJECT_MEMBER, None, name[len(s.OIDC_GROUP_PROJECT_PREFIX) :]))
    simple = {
        s.OIDC_GROUP_RESEARCHER: Role.RESEARCHER,
        s.OIDC_GROUP_ADMIN: Role.HUB_ADMIN,
        s.OIDC_GROUP_TRACE_WRITER: Role.TRACE_WRITER,
    }
    wanted += [(role, None, "") for group, role in simple.items() if group in names]
    return wanted


class RoleMappingOIDCBackend(OIDCAuthenticationBackend):
    """Creates or updates the user from the ID token claims and rewrites their OIDC roles."""

    def filter_users_by_claims(self, claims):
        username = claims.get(settings.OIDC_USERNAME_CLAIM) or claims.get("sub")
        if not username:
            return self.UserModel.objects.none()
        return self.UserModel.objects.filter(username=username)

    def create_user(self, claims):
        username = claims.get(settings.OIDC_USERNAME_CLAIM) or claims.get("sub")
        with transaction.atomic():
            user = self.UserModel.objects.create_user(
                username=username, email=claims.get("email", "")
            )
            self._sync(user, claims)
        return user

    def update_user(self, user, claims):
        with transaction.atomic():
            self._sync(user, claims)
        return user

    def _sync(self, user, claims) -> None:
        groups = claims.get(settings.OIDC_GROUPS_CLAIM) or []
        if isinstance(groups, str):
            groups = [groups]
        roles = roles_from_groups(groups)
        # The identity provider decides who administers the hub, Django admin included.
        is_admin = any(role == Role.HUB_ADMIN for role, _, _ in roles)
        user.email = claims.get("email", user.email) or ""
        user.first_name = (claims.get("given_name") or "")[:150]
        user.last_name = (claims.get("family_name") or "")[:150]
        user.is_staff = user.is_superuser = is_admin
        user.save(update_fields=["email", "first_name", "last_name", "is_staff", "is_superuser"])
        replace_oidc_roles(user, roles)


class ApiTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Token <key>` for machines and scripts."""

    keyword = "Token"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Authorization header must be 'Token <key>'.")
        try:
            raw = header[1].decode()
        except UnicodeError as exc:
            raise exceptions.AuthenticationFailed("Token contains invalid characters.") from exc
        token = (
            ApiToken.objects.select_related("user")
            .filter(key_hash=hash_token(raw), revoked=False)
            .first()
        )
        if token is None or not token.user.is_active:
            raise exceptions.AuthenticationFailed("Invalid or revoked token.")
        now = timezone.now()
        # To the minute: a busy client should not cost a write per call.
        if token.last_used is None or now - token.last_used > LAST_USED_PRECISION:
            ApiToken.objects.filter(pk=token.pk).update(last_used=now)
        return token.user, token

    def authenticate_header(self, request):
        return self.keyword


def provider_logout_url(request) -> str:
    """Where to send the browser after signing out here, to end the provider session too."""
    from urllib.parse import urlencode

    endpoint = settings.OIDC_OP_LOGOUT_ENDPOINT
    if not endpoint:
        return settings.LOGOUT_REDIRECT_URL
    params = {
        "post_logout_redirect_uri": request.build_absolute_uri(settings.LOGOUT_REDIRECT_URL),
        "client_id": settings.OIDC_RP_CLIENT_ID,
    }
    id_token = request.session.get("oidc_id_token")
    if id_token:
        params["id_token_hint"] = id_token
    return f"{endpoint}?{urlencode(params)}"
