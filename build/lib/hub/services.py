"""State changes of the hub app: API tokens and machine accounts."""

from django.contrib.auth import get_user_model
from django.db import transaction

from tracer.services import IDENTIFIER as TRACE_CALLER

from .models import ApiToken, Role, RoleAssignment, hash_token


def create_api_token(*, username: str, name: str = "", machine_role: str | None = None) -> str:
    """Create a token for `username` and return the raw key (shown once, stored hashed).

    With `machine_role` (e.g. trace_writer) the user is created if missing, as an
    account that cannot sign in with a password, and given that role.
    """
    User = get_user_model()
    with transaction.atomic():
        if machine_role:
            if machine_role not in Role.values:
                raise ValueError(
                    f"unknown role {machine_role!r}; choose from {', '.join(Role.values)}"
                )
            if machine_role == Role.TRACE_WRITER and username.lower().startswith("hub."):
                raise ValueError(
                    f"{username!r}: names starting with 'hub.' are the hub's own trace callers"
                )
            if machine_role == Role.TRACE_WRITER and not TRACE_CALLER.match(username):
                # Its username becomes the `caller` of the traces it posts, which must be
                # an identifier (tracer.services.IDENTIFIER).
                raise ValueError(
                    f"a trace writer's username must be an identifier (letters, digits, "
                    f". _ : / + -), not {username!r}"
                )
            user, created = User.objects.get_or_create(username=username)
            if created:
                user.set_unusable_password()
                user.save()
            RoleAssignment.objects.get_or_create(user=user, role=machine_role)
        else:
            user = User.objects.filter(username=username).first()
            if user is None:
                raise LookupError(f"no user named {username!r}")
        raw = ApiToken.new_raw_key()
        ApiToken.objects.create(user=user, name=name, key_hash=hash_token(raw), prefix=raw[6:14])
    return raw


def revoke_api_token(*, prefix: str) -> int:
    return ApiToken.objects.filter(prefix=prefix, revoked=False).update(revoked=True)
