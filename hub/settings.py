"""Settings for Agora, read from the environment in this one module.

Every value has a default that makes the embedded hub work on a laptop:
SQLite, a Celery broker in a SQLite file, local accounts, no Zenodo.
"""

import os
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("AGORA_VAR_DIR", BASE_DIR / "var")).resolve()
VAR_DIR.mkdir(parents=True, exist_ok=True)


def env(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env(name, default).split(",") if item.strip()]


DEBUG = env_bool("DJANGO_DEBUG", False)
SECRET_KEY = env("DJANGO_SECRET_KEY", "insecure-development-key-change-me-for-any-real-deployment")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
SITE_URL = env("AGORA_SITE_URL", "http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_prometheus",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "mozilla_django_oidc",
    "hub",
    "catalogue",
    "tracer",
    "harvester",
    "access_requests",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "hub.errors.DomainErrorMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "hub.urls"
WSGI_APPLICATION = "hub.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "hub.context_processors.hub",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        env("DATABASE_URL", f"sqlite:///{VAR_DIR / 'agora.sqlite3'}"), conn_max_age=60
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The worker and the web server share the file: wait rather than fail on a lock.
    # IMMEDIATE: a transaction takes the write lock when it starts, so two processes
    # never both read "nothing pending" and then write (the tracer's batching relies on it).
    DATABASES["default"].setdefault("OPTIONS", {}).update(timeout=20, transaction_mode="IMMEDIATE")
    DATABASES["default"]["CONN_MAX_AGE"] = 0
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"

# Requests larger than this answer 413 (see hub.errors); uploads stay in memory below it.
DATA_UPLOAD_MAX_MEMORY_SIZE = int(env("AGORA_MAX_BODY_BYTES", str(2 * 1024 * 1024)))

# --- sign-in -------------------------------------------------------------------------
# With OIDC_RP_CLIENT_ID set, people sign in with the OpenID Connect provider
# (Keycloak in production); local accounts keep working for the admin and the demo.
OIDC_ENABLED = bool(env("OIDC_RP_CLIENT_ID"))
OIDC_RP_CLIENT_ID = env("OIDC_RP_CLIENT_ID")
OIDC_RP_CLIENT_SECRET = env("OIDC_RP_CLIENT_SECRET")
OIDC_RP_SIGN_ALGO = env("OIDC_RP_SIGN_ALGO", "RS256")
OIDC_RP_SCOPES = env("OIDC_RP_SCOPES", "openid email profile")
OIDC_OP_AUTHORIZATION_ENDPOINT = env("OIDC_OP_AUTHORIZATION_ENDPOINT")
OIDC_OP_TOKEN_ENDPOINT = env("OIDC_OP_TOKEN_ENDPOINT")
OIDC_OP_USER_ENDPOINT = env("OIDC_OP_USER_ENDPOINT")
OIDC_OP_JWKS_ENDPOINT = env("OIDC_OP_JWKS_ENDPOINT")
OIDC_OP_LOGOUT_ENDPOINT = env("OIDC_OP_LOGOUT_ENDPOINT")
OIDC_VERIFY_SSL = env_bool("OIDC_VERIFY_SSL", True)
OIDC_STORE_ID_TOKEN = True
OIDC_OP_LOGOUT_URL_METHOD = "hub.auth.provider_logout_url"
OIDC_CREATE_USER = True
OIDC_USERNAME_CLAIM = env("OIDC_USERNAME_CLAIM", "preferred_username")
OIDC_GROUPS_CLAIM = env("OIDC_GROUPS_CLAIM", "groups")
# Group names in the token that become roles; <slug> is an organisation, <code> a project.
OIDC_GROUP_PROVIDER_PREFIX = env("OIDC_GROUP_PROVIDER_PREFIX", "PROVIDER-")
OIDC_GROUP_COMMITTEE_PREFIX = env("OIDC_GROUP_COMMITTEE_PREFIX", "COMMITTEE-")
OIDC_GROUP_PROJECT_PREFIX = env("OIDC_GROUP_PROJECT_PREFIX", "PROJECT-")
OIDC_GROUP_RESEARCHER = env("OIDC_GROUP_RESEARCHER", "RESEARCHER")
OIDC_GROUP_ADMIN = env("OIDC_GROUP_ADMIN", "HUB-ADMIN")
OIDC_GROUP_TRACE_WRITER = env("OIDC_GROUP_TRACE_WRITER", "TRACE-WRITER")

AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.ModelBackend"]
if OIDC_ENABLED:
    AUTHENTICATION_BACKENDS.insert(0, "hub.auth.RoleMappingOIDCBackend")
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/"

# --- API ---------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "hub.auth.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "hub.errors.api_exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Agora hub API",
    "DESCRIPTION": (
        "Catalogue of cancer-imaging datasets (search, lifecycle, DCAT output), its "
        "tamper-evident traces (CHAIMELEON-compatible tracer API, public proofs) and the "
        "harvesting of provider nodes (pull runs, pushed records, per-record reports)."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "HarvestJobStatusEnum": "harvester.models.HarvestJob.Status",
        "HarvestRecordResultEnum": "harvester.models.HarvestRecord.Result",
        "TraceStatusEnum": "tracer.api.serializers.STATES",
        "DatasetStateEnum": "catalogue.models.Dataset.State",
        "AccessRequestStateEnum": "access_requests.models.AccessRequest.State",
        "RequestPartStateEnum": "access_requests.models.RequestPart.State",
        "RequestItemStateEnum": "access_requests.models.RequestItem.State",
        "EntitlementStateEnum": "access_requests.models.Entitlement.State",
    },
}

# --- Celery --------------------------------------------------------------------------
# Default: a broker in a SQLite file, so a real worker with its scheduler runs
# without any server (make demo). Tests and production set redis://.
CELERY_BROKER_URL = env("CELERY_BROKER_URL", f"sqla+sqlite:///{VAR_DIR / 'broker.sqlite3'}")
CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND", "") or None
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE = {
    "retry-pending-zenodo-sync": {
        "task": "catalogue.tasks.retry_pending_zenodo_syncs",
        "schedule": float(env("AGORA_ZENODO_RETRY_SECONDS", "60")),
    },
}

# --- DOIs ----------------------------------------------------------------------------
# Per-organisation tokens live on the Organisation; this is the API base for all.
ZENODO_API_URL = env("ZENODO_API_URL", "https://zenodo.org/api").rstrip("/")
ZENODO_TIMEOUT_SECONDS = float(env("ZENODO_TIMEOUT_SECONDS", "20"))

# --- chain and tracer ----------------------------------------------------------------
# Any Ethereum JSON-RPC node (Besu in production; `make demo` starts ganache on
# 127.0.0.1:8545 and sets this). "eth-tester://" is an in-process EVM for unit tests.
# Empty: traces are recorded and wait until a chain is configured.
CHAIN_RPC_URL = env("CHAIN_RPC_URL")
# The hub's signing key. The default is ganache's first deterministic development
# account, useless anywhere else; settings_production refuses it.
GANACHE_DEVELOPMENT_KEY = "0x4f3edf983ac636a65a842ce7c78d9aa706d3b113bce9c46f30d7d21715b23b1d"
CHAIN_PRIVATE_KEY = env("CHAIN_PRIVATE_KEY", GANACHE_DEVELOPMENT_KEY)
CHAIN_TIMEOUT_SECONDS = float(env("CHAIN_TIMEOUT_SECONDS", "10"))
# Legacy gas price for networks without EIP-1559 fees (a free-gas Besu network: 0).
CHAIN_GAS_PRICE_WEI = int(env("CHAIN_GAS_PRICE_WEI")) if env("CHAIN_GAS_PRICE_WEI") else None
# Empty: the hub deploys the contract on first use and remembers it per chain.
TRACER_CONTRACT_ADDRESS = env("TRACER_CONTRACT_ADDRESS")
TRACER_BATCH_SIZE = int(env("TRACER_BATCH_SIZE", "1000"))
# A recorded trace is anchored within about this many seconds (the worker's schedule).
TRACER_MAX_DELAY_SECONDS = float(env("TRACER_MAX_DELAY_SECONDS", "30"))
CELERY_BEAT_SCHEDULE["anchor-pending-traces"] = {
    "task": "tracer.tasks.anchor_pending_traces",
    "schedule": TRACER_MAX_DELAY_SECONDS,
}
# Keys the pseudonymous user ids in traces; derived from SECRET_KEY unless set.
TRACER_PSEUDONYM_KEY = env("TRACER_PSEUDONYM_KEY") or f"tracer-pseudonym:{SECRET_KEY}"

# --- catalogue -------------------------------------------------------------------------
CATALOGUE_PAGE_SIZE = int(env("CATALOGUE_PAGE_SIZE", "20"))
CATALOGUE_MAX_PAGE_SIZE = 100
DCAT_PAGE_SIZE = int(env("DCAT_PAGE_SIZE", "100"))
CATALOGUE_TITLE = env("AGORA_CATALOGUE_TITLE", "Agora cancer-imaging catalogue")
CATALOGUE_PUBLISHER = env("AGORA_CATALOGUE_PUBLISHER", "Agora hub")

DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", "agora@localhost")
EMAIL_BACKEND = env("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
# For django.core.mail.backends.filebased.EmailBackend: one file per connection.
EMAIL_FILE_PATH = env("EMAIL_FILE_PATH", str(VAR_DIR / "mail"))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"kv": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "kv"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
SPECTACULAR_SETTINGS |= {
    # Swagger UI assets served by the hub itself (hospital networks are often closed).
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- harvesting ------------------------------------------------------------------------
# Hosts the hub may fetch node catalogues from (comma-separated, host or host:port).
# Empty: any http(s) host. Set it in production so a node URL cannot reach internal services.
HARVEST_ALLOWED_HOSTS = [
    h.strip() for h in env("HARVEST_ALLOWED_HOSTS", "").split(",") if h.strip()
]
# Node hosts at loopback, private or link-local addresses (the demo node, a hospital
# network): allowed by default here, refused in production unless HARVEST_ALLOWED_HOSTS
# names them.
HARVEST_ALLOW_INTERNAL_ADDRESSES = env_bool("HARVEST_ALLOW_INTERNAL_ADDRESSES", True)
HARVEST_MAX_PAGE_BYTES = int(env("HARVEST_MAX_PAGE_BYTES", str(50 * 1024 * 1024)))
HARVEST_REQUEST_TIMEOUT_SECONDS = float(env("HARVEST_REQUEST_TIMEOUT_SECONDS", "60"))
HARVEST_TOTAL_TIMEOUT_SECONDS = float(env("HARVEST_TOTAL_TIMEOUT_SECONDS", "3600"))
HARVEST_MAX_PAGES = int(env("HARVEST_MAX_PAGES", "10000"))
# Pages of a big catalogue are read in this many worker processes (not from a Celery
# prefork child, which may not start processes: run harvest workers with --pool=solo or
# threads to use them).
HARVEST_WORKER_PROCESSES = int(env("HARVEST_WORKER_PROCESSES", str(min(4, os.cpu_count() or 1))))
HARVEST_PARALLEL_MIN_RECORDS = int(env("HARVEST_PARALLEL_MIN_RECORDS", "2000"))
HARVEST_PUSH_MAX_BYTES = int(env("HARVEST_PUSH_MAX_BYTES", str(50 * 1024 * 1024)))
# Routes that read their own (larger) body; every other body is held to AGORA_MAX_BODY_BYTES.
LARGE_BODY_PATHS = {r"^/api/v1/nodes/[^/]+/records/?$": HARVEST_PUSH_MAX_BYTES}
# How often the scheduler looks for nodes whose harvest is due.
CELERY_BEAT_SCHEDULE["queue-due-harvests"] = {
    "task": "harvester.tasks.queue_due_harvests",
    "schedule": float(env("HARVEST_SCHEDULER_SECONDS", "60")),
}
# `make demo` serves a demo provider node here (python manage.py serve_demo_node).
DEMO_NODE_PORT = int(env("AGORA_DEMO_NODE_PORT", "8001"))
# ... and the demo provider node (`agora-node serve`) here.
DEMO_AGORA_NODE_PORT = int(env("AGORA_DEMO_AGORA_NODE_PORT", "8002"))

# --- access requests -------------------------------------------------------------------
CELERY_BEAT_SCHEDULE["expire-entitlements"] = {
    "task": "access_requests.tasks.expire_entitlements",
    "schedule": float(env("ENTITLEMENT_EXPIRY_SECONDS", "3600")),
}
CELERY_BEAT_SCHEDULE["remind-waiting-requests"] = {
    "task": "access_requests.tasks.remind_waiting_requests",
    "schedule": float(env("ACCESS_REQUEST_REMINDER_CHECK_SECONDS", "3600")),
}
# A committee is reminded of a request part waiting longer than this (and again after as long).
ACCESS_REQUEST_REMINDER_DAYS = int(env("ACCESS_REQUEST_REMINDER_DAYS", "14"))
# The RSA key (PEM) that signs GA4GH Passport visas; empty: one is made in VAR_DIR.
PASSPORT_SIGNING_KEY = env("PASSPORT_SIGNING_KEY").replace("\\n", "\n")
# Ethics approval documents attached to access requests (PDF only).
MEDIA_ROOT = Path(env("AGORA_MEDIA_ROOT", str(VAR_DIR / "media")))
ETHICS_DOCUMENT_MAX_BYTES = int(env("ETHICS_DOCUMENT_MAX_BYTES", str(10 * 1024 * 1024)))
# The document and the form around it: the API's upload, the basket and the edit page.
for _path in (
    r"^/api/v1/access-requests/[0-9]+/ethics-document/?$",
    r"^/basket/$",
    r"^/requests/[0-9]+/edit/$",
):
    LARGE_BODY_PATHS[_path] = ETHICS_DOCUMENT_MAX_BYTES + 64 * 1024
