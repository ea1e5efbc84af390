"""Production: the same settings, hardened. `manage.py check --deploy` is clean
with DJANGO_SETTINGS_MODULE=hub.settings_production and a real secret key."""

from .settings import *  # noqa: F403
from .settings import env, env_bool

DEBUG = False
SECRET_KEY = env("DJANGO_SECRET_KEY")
if not SECRET_KEY or SECRET_KEY.startswith("insecure-"):
    raise RuntimeError("DJANGO_SECRET_KEY must be set to a long random value in production")

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
SECURE_HSTS_SECONDS = int(env("SECURE_HSTS_SECONDS", "31536000"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"

if CHAIN_PRIVATE_KEY == GANACHE_DEVELOPMENT_KEY:  # noqa: F405
    raise RuntimeError("CHAIN_PRIVATE_KEY must be the hub's own signing key in production")
if not env("TRACER_PSEUDONYM_KEY"):
    raise RuntimeError("TRACER_PSEUDONYM_KEY must be set (pseudonyms must survive a key rotation)")

# A node URL must not reach the hub's own network (its DNS is in the node operator's hands).
HARVEST_ALLOW_INTERNAL_ADDRESSES = env_bool("HARVEST_ALLOW_INTERNAL_ADDRESSES", False)
if not env("PASSPORT_SIGNING_KEY"):
    raise RuntimeError("PASSPORT_SIGNING_KEY must be set (visas must verify after a redeploy)")
