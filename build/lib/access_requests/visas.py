"""GA4GH Passport visas: a signed ControlledAccessGrants visa (JWT, RS256) for each active
entitlement and each member of its project; the public keys at a JWKS endpoint."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import tempfile
import time
import uuid
from datetime import UTC, datetime
from datetime import time as day_time
from functools import cache
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings

from hub.errors import InvalidTransition, NotAllowed

from . import selectors
from .models import Entitlement

VISA_LIFETIME_SECONDS = 3600


@cache
def _private_key():
    """The hub's signing key: PASSPORT_SIGNING_KEY (PEM) in production; for the embedded
    hub one made once and kept in the var directory."""
    pem = settings.PASSPORT_SIGNING_KEY or _local_key_pem(Path(settings.VAR_DIR))
    return _loaded(pem)


@cache
def _loaded(pem: str):
    return serialization.load_pem_private_key(pem.encode(), password=None)


def _local_key_pem(var_dir: Path) -> str:
    """The embedded hub's key file, created once even when several server processes
    issue their first visa at the same moment: each writes its own candidate and links
    it into place; the first link wins and every process reads that one."""
    path = var_dir / "passport-signing-key.pem"
    if not path.exists():
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        var_dir.mkdir(parents=True, exist_ok=True)
        fd, candidate = tempfile.mkstemp(dir=var_dir, prefix=".passport-key-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(
                    key.private_bytes(
                        serialization.Encoding.PEM,
                        serialization.PrivateFormat.PKCS8,
                        serialization.NoEncryption(),
                    )
                )
            os.chmod(candidate, 0o600)
            try:
                os.link(candidate, path)
            except FileExistsError:
                pass  # another process was first: its key is the key
        finally:
            os.unlink(candidate)
    return path.read_text()


def _b64(number: int) -> str:
    raw = number.to_bytes((number.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def jwks() -> dict:
    public = _private_key().public_key().public_numbers()
    key = {"kty": "RSA", "e": _b64(public.e), "n": _b64(public.n)}
    # RFC 7638 thumbprint as the key id: stable for the key, new when it is rotated.
    canonical = json.dumps(key, sort_keys=True, separators=(",", ":")).encode()
    kid = base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).rstrip(b"=").decode()
    return {"keys": [key | {"kid": kid, "use": "sig", "alg": "RS256"}]}


def issue_visa(*, entitlement: Entitlement, user) -> str:
    """A visa for `user`, a member of the entitlement's project, while it is active."""
    if not selectors.is_member(user, entitlement.project):
        raise NotAllowed("Only members of the project get visas for its entitlements.")
    if not selectors.may_use(entitlement.project, entitlement.dataset_id) or (
        entitlement.state != Entitlement.State.ACTIVE
    ):
        raise InvalidTransition(
            f"The entitlement is {entitlement.state}; visas exist only for active ones.",
            current_state=entitlement.state,
        )
    now = int(time.time())
    ends = datetime.combine(entitlement.end, day_time.max, tzinfo=UTC).timestamp()
    asserted = datetime.combine(entitlement.start, day_time.min, tzinfo=UTC).timestamp()
    claims = {
        "iss": settings.SITE_URL + "/",
        "sub": user.username,
        "iat": now,
        "exp": min(now + VISA_LIFETIME_SECONDS, int(ends)),
        "jti": str(uuid.uuid4()),
        "ga4gh_visa_v1": {
            "type": "ControlledAccessGrants",
            "asserted": int(asserted),
            "value": f"{settings.SITE_URL}/datasets/{entitlement.dataset_id}/",
            "source": f"{settings.SITE_URL}/organisations/{entitlement.dataset.organisation.slug}",
            "by": "dac",
        },
    }
    kid = jwks()["keys"][0]["kid"]
    return jwt.encode(
        claims, _private_key(), algorithm="RS256", headers={"kid": kid, "jku": jwks_url()}
    )


def jwks_url() -> str:
    return f"{settings.SITE_URL}/api/v1/passport/jwks"
