"""Django settings for RevOps AI. Configuration comes only from the environment (see README)."""

from __future__ import annotations

import secrets
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from revops.lib.env import env_bool, env_float, env_int, env_list, env_str, rate_check

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(env_str("REVOPS_DATA_DIR", str(BASE_DIR / ".data")))
DATA_DIR.mkdir(parents=True, exist_ok=True)

# Production refuses to start with development fallbacks (generated keys, embedded database).
PRODUCTION = env_bool("REVOPS_PRODUCTION", False)
DEBUG = env_bool("DJANGO_DEBUG", False)
if PRODUCTION and DEBUG:
    raise ImproperlyConfigured("DJANGO_DEBUG must be off when REVOPS_PRODUCTION=1")


def _dev_secret(name: str, filename: str, generate) -> str:
    """Return a secret from the environment, or (development only) one persisted under DATA_DIR."""
    value = env_str(name)
    if value:
        return value
    if PRODUCTION:
        raise ImproperlyConfigured(f"{name} (or {name}_FILE) must be set when REVOPS_PRODUCTION=1")
    path = DATA_DIR / filename
    if not path.exists():
        path.write_text(generate())
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _dev_secret("DJANGO_SECRET_KEY", "django_secret_key", lambda: secrets.token_urlsafe(50))


def _fernet_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


# Comma-separated Fernet keys; the first encrypts, all decrypt (rotation: prepend a new key,
# run `manage.py credentials_rotate`, then drop the old one).
FIELD_ENCRYPTION_KEYS = env_list("FIELD_ENCRYPTION_KEYS") or [
    _dev_secret("FIELD_ENCRYPTION_KEY", "field_encryption_key", _fernet_key)
]

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")
for _origin in CSRF_TRUSTED_ORIGINS:
    if "://" not in _origin:
        raise ImproperlyConfigured(f"DJANGO_CSRF_TRUSTED_ORIGINS entries need a scheme (https://admin.example.com), got {_origin!r}")

# --- Production security (REVOPS_PRODUCTION=1): https-only cookies and HSTS -----------------------
# Behind a TLS-terminating proxy set DJANGO_SECURE_PROXY_SSL_HEADER=1 so Django trusts its
# X-Forwarded-Proto (only when the proxy always sets or strips that header).
if env_bool("DJANGO_SECURE_PROXY_SSL_HEADER", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = PRODUCTION
SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 31_536_000 if PRODUCTION else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", False)
# The probes are never redirected: HealthCheckMiddleware answers them before SecurityMiddleware.
# Django's defaults already send nosniff, Referrer-Policy same-origin and X-Frame-Options DENY.
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", False)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI and ReDoc assets served by us (offline, no CDN)
    "django_q",
    "django_prometheus",
    "tenants",
    "integrations",
    "knowledge",
    "agents",
    "actions",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",  # first: request counts and latency
    "revops.health.HealthCheckMiddleware",  # /healthz and /readyz, before host checks and redirects
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",  # static files from STATIC_ROOT, DEBUG or not
    "revops.lib.middleware.RequestSizeLimitMiddleware",
    "revops.lib.db_outage.DatabaseUnavailableMiddleware",  # database down: 503 + Retry-After on /api/ and /slack/
    "tenants.middleware.TenantContextMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",  # last: response metrics (revops/metrics.py)
]

ROOT_URLCONF = "revops.urls"
WSGI_APPLICATION = "revops.wsgi.application"
ASGI_APPLICATION = "revops.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database: PostgreSQL with pgvector, always -------------------------------------------------
# Lower-case on purpose: not a Django setting, so the URL (with its password) never shows on a
# debug page; the parsed dict below is a setting Django already knows to hide the password of.
_database_url = env_str("DATABASE_URL")
if not _database_url:
    if PRODUCTION:
        raise ImproperlyConfigured("DATABASE_URL must be set when REVOPS_PRODUCTION=1")
    from revops.embedded_db import embedded_database_url

    _database_url = embedded_database_url(DATA_DIR)
    EMBEDDED_DATABASE = True
else:
    EMBEDDED_DATABASE = False

# Persistent connections (seconds; 0 closes after each request, as before): opening a PostgreSQL
# connection costs several milliseconds and one backend fork per request. A connection found
# broken at the start of a request is replaced (CONN_HEALTH_CHECKS). Behind PgBouncer in
# transaction mode set DB_DISABLE_SERVER_SIDE_CURSORS=1 (README, "Scaling out").
DATABASES = {
    "default": dj_database_url.parse(
        _database_url, conn_max_age=env_int("DB_CONN_MAX_AGE", 60, minimum=0), conn_health_checks=True
    )
}
# django-prometheus's wrapper of the PostgreSQL backend: query, error and connection counters.
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"]["ENGINE"] = "django_prometheus.db.backends.postgresql"
DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = env_bool("DB_DISABLE_SERVER_SIDE_CURSORS", False)
# A database that does not answer fails requests (and /readyz) after this, not after the OS's
# TCP timeout of minutes.
DATABASES["default"].setdefault("OPTIONS", {}).setdefault("connect_timeout", env_int("DB_CONNECT_TIMEOUT", 10, minimum=1))
del _database_url
if env_str("DATABASE_NAME_OVERRIDE"):
    # Used by tests that start a real worker process against the test database.
    DATABASES["default"]["NAME"] = env_str("DATABASE_NAME_OVERRIDE")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# `manage.py collectstatic --noinput` (run by `make serve`/`make demo` when the manifest is missing,
# and by `manage.py serve`/`demo_run` themselves) fills it; whitenoise serves it with far-future
# cache headers for the hashed names in its manifest.
STATIC_ROOT = Path(env_str("DJANGO_STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# Request bodies above this are refused with 413 by the API and Slack endpoints.
MAX_REQUEST_BYTES = env_int("MAX_REQUEST_BYTES", 256 * 1024, minimum=1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_REQUEST_BYTES
# Any other request (the admin's file uploads): refused with 413 before Django parses the body
# (and writes uploaded files to disk). The upload page takes at most 50 MiB of files per request.
MAX_UPLOAD_REQUEST_BYTES = env_int("MAX_UPLOAD_REQUEST_BYTES", 52 * 1024 * 1024, minimum=1024)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["tenants.auth.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["tenants.auth.HasTenant"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["revops.lib.json_limits.LimitedJSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "revops.lib.api.exception_handler",
    "UNAUTHENTICATED_USER": None,
    # Per API key (429 with Retry-After); "none" disables (None here). Validated once, here: a
    # malformed rate fails at start-up naming the variable. Counted in the default cache, which is
    # per process: with several processes or machines (Q_BROKER_URL set) a shared cache is
    # advisable, or each process allows the full rate (README, "Throttling").
    "DEFAULT_THROTTLE_CLASSES": ["revops.lib.throttling.ApiKeyWriteThrottle", "revops.lib.throttling.ApiKeyReadThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "api_key_write": rate_check("API_THROTTLE_WRITE_RATE", env_str("API_THROTTLE_WRITE_RATE", "60/min")),
        "api_key_read": rate_check("API_THROTTLE_READ_RATE", env_str("API_THROTTLE_READ_RATE", "600/min")),
    },
}
SPECTACULAR_SETTINGS = {
    "TITLE": "RevOps AI API",
    "DESCRIPTION": "Ask revenue questions; runs execute on workers and answer with traceable numbers.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Runs and workers ---------------------------------------------------------------------------
# One wall-clock budget per run; the worker timeout is longer, and the broker's retry longer still,
# so a task is never redelivered while its first attempt may still be running (DESIGN.md §5).
RUN_BUDGET_SECONDS = env_int("RUN_BUDGET_SECONDS", 90, minimum=5)
# How long the question parser's list of each dimension's values is cached per tenant and
# semantic model version (a published model change refreshes it at once).
SEMANTIC_VALUES_CACHE_SECONDS = env_int("SEMANTIC_VALUES_CACHE_SECONDS", 600, minimum=0)
LLM_TIMEOUT_SECONDS = env_int("LLM_TIMEOUT_SECONDS", 60, minimum=1)
# A model call may still be in flight when the budget ends (Bedrock's read timeout is per client).
WORKER_TIMEOUT_SECONDS = RUN_BUDGET_SECONDS + LLM_TIMEOUT_SECONDS + 30
RUN_MAX_ATTEMPTS = env_int("RUN_MAX_ATTEMPTS", 2, minimum=1)
# `manage.py serve` starts its django-q2 worker this much nicer than the web server (0-19; 0: same priority).
WORKER_NICE = env_int("WORKER_NICE", 10, minimum=0)
# Broker: the database (ORM) by default, so `make demo` needs nothing else; Q_BROKER_URL=redis://...
# (or rediss://) selects Redis, the multi-machine option: tasks are pushed and popped at once
# (no poll), and cluster heartbeats live there. Redis pops a task before running it (no ack), so
# a task lost with a dying worker is recovered by the run reaper, not by the broker. Lower-case (not
# a setting of its own) for the same reason as the database URL: it may carry a password.
_q_broker_url = env_str("Q_BROKER_URL", "")
if _q_broker_url and not _q_broker_url.startswith(("redis://", "rediss://", "unix://")):
    raise ImproperlyConfigured(f"Q_BROKER_URL must be a redis://, rediss:// or unix:// URL, got scheme {_q_broker_url.split(':', 1)[0]!r}")
Q_BROKER = "redis" if _q_broker_url else "orm"  # for /readyz and the docs; the URL stays private
Q_CLUSTER = {
    "name": "revops",
    **({"redis": _q_broker_url} if _q_broker_url else {"orm": "default"}),
    "workers": env_int("Q_WORKERS", 2, minimum=1),
    "timeout": WORKER_TIMEOUT_SECONDS,
    "retry": WORKER_TIMEOUT_SECONDS + 60,
    "max_attempts": 1,  # runs are retried by our own reaper, which records the reason
    "catch_up": False,
    "ack_failures": True,
    # ORM broker only: how often an idle cluster asks the database for a task (queue wait at low load).
    "poll": env_float("Q_POLL_SECONDS", 0.2, minimum=0.05),
    "sync": env_bool("Q_SYNC", False),
    "label": "Django Q2",
    "cache": "django_q",  # cluster heartbeats with the ORM broker (the Redis broker keeps them in Redis)
}
del _q_broker_url
# With the ORM broker the django-q2 cluster stats live in a database table (`manage.py
# createcachetable`, run by `make migrate`; test databases get it automatically) so the web
# processes can see them.
# "default" (throttle counts, cached /metrics text) is per process: several processes each count
# and compute on their own; a shared cache (django.core.cache.backends.redis.RedisCache) fixes that.
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "django_q": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "revops_cache", "OPTIONS": {"MAX_ENTRIES": 1000}},
}

# --- Health probes (revops/health.py) -----------------------------------------------------------
# Readiness is the database and the migrations; queue ages and worker heartbeats are reported, and
# fail readiness only when opted in (else a backlog or a stopped worker empties the load balancer).
READYZ_DATABASE = "default"
READYZ_MAX_QUEUE_AGE_SECONDS = env_int("READYZ_MAX_QUEUE_AGE_SECONDS", 0, minimum=0)  # 0: report only
READYZ_REQUIRE_WORKER = env_bool("READYZ_REQUIRE_WORKER", False)
# A connector that fails this many calls in a row is marked unhealthy (admin, /readyz): integrations/health.py.
CONNECTOR_UNHEALTHY_AFTER_FAILURES = env_int("CONNECTOR_UNHEALTHY_AFTER_FAILURES", 5, minimum=1)

ACTIONS_MAX_ATTEMPTS = env_int("ACTIONS_MAX_ATTEMPTS", 8, minimum=1)
ACTIONS_RETRY_BASE_SECONDS = env_float("ACTIONS_RETRY_BASE_SECONDS", 1.0, minimum=0.0)
ACTIONS_RETRY_FACTOR = env_float("ACTIONS_RETRY_FACTOR", 4.0, minimum=1.0)
ACTIONS_RETRY_MAX_DELAY_SECONDS = env_float("ACTIONS_RETRY_MAX_DELAY_SECONDS", 3600.0, minimum=1.0)
ACTIONS_HTTP_TIMEOUT_SECONDS = env_float("ACTIONS_HTTP_TIMEOUT_SECONDS", 15.0, minimum=1.0)
LLM_RETRY_BASE_SECONDS = env_float("LLM_RETRY_BASE_SECONDS", 1.0, minimum=0.0)

# --- Integrations -------------------------------------------------------------------------------
SLACK_API_URL = env_str("SLACK_API_URL", "https://slack.com/api/")
SLACK_MESSAGE_CHARS = 3000  # Slack truncates section text above this; longer answers are split
# Seconds a web process reuses its lookup of a tenant's Slack credential (slug -> credential row)
# before reading it again: the Slack ack's one avoidable SELECT. A replaced or deleted credential
# is seen at most this late (rotation keeps the old secret valid for its window anyway); 0: always read.
SLACK_ENDPOINT_CACHE_SECONDS = env_float("SLACK_ENDPOINT_CACHE_SECONDS", 5.0, minimum=0.0)
WAREHOUSE_STATEMENT_TIMEOUT_MS = env_int("WAREHOUSE_STATEMENT_TIMEOUT_MS", 15_000, minimum=100)
WAREHOUSE_DEFAULT_LIMIT = env_int("WAREHOUSE_DEFAULT_LIMIT", 1000, minimum=1)
# PostgreSQL warehouses: pooled connections per login (tenant credential) per process (psycopg_pool).
WAREHOUSE_POOL_MAX_SIZE = env_int("WAREHOUSE_POOL_MAX_SIZE", 4, minimum=1)
# Embedded DuckDB warehouses (one file per tenant: <dir>/<tenant slug>.duckdb), see integrations/warehouse/duckdb_engine.py.
WAREHOUSE_DUCKDB_DIR = Path(env_str("WAREHOUSE_DUCKDB_DIR", str(DATA_DIR / "warehouses")))
# http:// callback URLs are refused unless they point at loopback and this is on (development).
ALLOW_HTTP_LOOPBACK_CALLBACKS = env_bool("ALLOW_HTTP_LOOPBACK_CALLBACKS", DEBUG)

# --- Knowledge base (knowledge/embedders.py, knowledge/selectors.py) ------------------------------
# The default embedder spec of new tenants: hashing (= hashing-384, offline), bedrock,
# bedrock-256/512/1024, openai, local. A tenant stays pinned to the model it was indexed with.
KB_EMBEDDER = env_str("KB_EMBEDDER", "hashing") or "hashing"
KB_BEDROCK_MODEL_ID = env_str("KB_BEDROCK_MODEL_ID", "amazon.titan-embed-text-v2:0")
KB_BEDROCK_DIMENSIONS = env_int("KB_BEDROCK_DIMENSIONS", 1024, minimum=1)  # 256, 512 or 1024 (Titan v2)
KB_BEDROCK_REGION = env_str("KB_BEDROCK_REGION") or None  # None: boto3's default chain (AWS_REGION...)
KB_BEDROCK_CONCURRENCY = env_int("KB_BEDROCK_CONCURRENCY", 4, minimum=1)  # parallel calls (one text each)
KB_OPENAI_BASE_URL = env_str("KB_OPENAI_BASE_URL", "https://api.openai.com/v1")
KB_OPENAI_API_KEY = env_str("KB_OPENAI_API_KEY") or None  # also KB_OPENAI_API_KEY_FILE
KB_OPENAI_MODEL = env_str("KB_OPENAI_MODEL", "text-embedding-3-small")
KB_OPENAI_DIMENSIONS = env_int("KB_OPENAI_DIMENSIONS", 1536, minimum=1)
# Send `dimensions` in the request: unset means "when the model name starts with text-embedding-3".
KB_OPENAI_SEND_DIMENSIONS = env_bool("KB_OPENAI_SEND_DIMENSIONS") if env_str("KB_OPENAI_SEND_DIMENSIONS") else None
KB_OPENAI_BATCH_SIZE = env_int("KB_OPENAI_BATCH_SIZE", 64, minimum=1)
KB_EMBED_MAX_ATTEMPTS = env_int("KB_EMBED_MAX_ATTEMPTS", 5, minimum=1)  # per provider call, transient errors
KB_EMBED_RETRY_WAIT = env_float("KB_EMBED_RETRY_WAIT", 0.5, minimum=0.0)  # seconds, exponential backoff base
KB_EMBED_TIMEOUT = env_float("KB_EMBED_TIMEOUT", 30.0, minimum=0.001)  # seconds per provider call
# Tenants with at most this many chunks of a model are ranked exactly; bigger ones through HNSW
# with this ef_search (candidates examined).
KB_EXACT_SEARCH_MAX_CHUNKS = env_int("KB_EXACT_SEARCH_MAX_CHUNKS", 20_000, minimum=0)
KB_HNSW_EF_SEARCH = env_int("KB_HNSW_EF_SEARCH", 100, minimum=1)

# --- Metrics (revops/metrics.py) -----------------------------------------------------------------
# /metrics answers only `Authorization: Bearer <METRICS_TOKEN>`; unset, it is off (403).
METRICS_TOKEN = env_str("METRICS_TOKEN", "") or ""
# The database families are recomputed at most this often (seconds; 0: every scrape).
METRICS_CACHE_SECONDS = env_int("METRICS_CACHE_SECONDS", 10, minimum=0)
# Several server processes: prometheus_client's multiprocess directory (it reads the variable too).
PROMETHEUS_MULTIPROC_DIR = env_str("PROMETHEUS_MULTIPROC_DIR") or None
PROMETHEUS_EXPORT_MIGRATIONS = False  # django-prometheus would query the database at start-up

# --- Logging (revops/logs.py): one line per record with time, level, logger, tenant, run and
# action ids; `json` (one object per line) by default in production. Redacted either way.
LOG_FORMAT = env_str("LOG_FORMAT", "json" if PRODUCTION else "text")
if LOG_FORMAT not in ("json", "text"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be json or text, got {LOG_FORMAT!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # Order matters: the context is added first, then message, traceback (and, in JSON, every
    # field) are redacted.
    "filters": {"context": {"()": "revops.logs.ContextFilter"}, "redact": {"()": "revops.lib.redact.RedactingFilter"}},
    "formatters": {"json": {"()": "revops.logs.JsonFormatter"}, "text": {"()": "revops.logs.TextFormatter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "filters": ["context", "redact"], "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "pgserver": {"level": "WARNING"},
        "django-q": {"level": env_str("Q_LOG_LEVEL", "WARNING")},
        "httpx": {"level": "WARNING"},  # it logs every outbound URL at INFO
    },
}
