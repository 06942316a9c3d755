"""Production: secrets and hosts from the environment; passes ``check --deploy``."""

from marketplace.settings.base import *  # noqa: F403
from marketplace.settings.base import LOG_FORMAT as _BASE_LOG_FORMAT
from marketplace.settings.base import VAR_DIR
from marketplace.settings.env import (
    SettingsError,
    env_bool,
    env_int,
    env_str,
    logging_config,
    secret_key,
    secret_key_fallbacks,
)

DEBUG = env_bool("DEBUG", False)
# Refuses a missing, placeholder or weak key (env.weak_secret_key_reason). Rotation: put
# the old key in SECRET_KEY_FALLBACKS, the new one in SECRET_KEY; sessions and reset
# links signed with the old key keep working until the fallback is removed.
SECRET_KEY = secret_key(var_dir=VAR_DIR, required=True)
SECRET_KEY_FALLBACKS = secret_key_fallbacks(required=True)

# --- Behind exactly one reverse proxy (Caddy in docker-compose.yml) -------------------
# TRUSTED_PROXY_COUNT is how many proxies append to X-Forwarded-For in front of gunicorn
# (1: Caddy, which replaces whatever X-Forwarded-For a client sends). The client's
# address is then the last entry, and allauth's per-address login limits count per
# client instead of counting every visitor as the proxy's one address. 0 means gunicorn
# faces clients directly: no forwarded header is trusted at all.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 1, minimum=0)
ALLAUTH_TRUSTED_PROXY_COUNT = TRUSTED_PROXY_COUNT
if TRUSTED_PROXY_COUNT:
    # The proxy terminates TLS and says so; only it can reach gunicorn (no host port).
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
# Probes and the Prometheus scraper talk plain HTTP to gunicorn on the internal network
# (the proxy never routes /metrics from outside).
SECURE_REDIRECT_EXEMPT = [r"^healthz(/live|/ready)?$", r"^metrics$"]
ACCOUNT_DEFAULT_HTTP_PROTOCOL = "https"

# JSON logs unless the operator asks for text.
LOG_FORMAT = env_str("LOG_FORMAT", "json") or "json"
if LOG_FORMAT != _BASE_LOG_FORMAT:
    LOGGING = logging_config(fmt=LOG_FORMAT, level=env_str("LOG_LEVEL", "INFO") or "INFO")

if STRIPE_SIMULATED and not env_bool("STRIPE_ALLOW_SIMULATOR", False):  # noqa: F405
    raise SettingsError(
        "STRIPE_SECRET_KEY must be set in production (or STRIPE_ALLOW_SIMULATOR=1 for a demo)"
    )
if not STRIPE_WEBHOOK_SECRET:  # noqa: F405
    raise SettingsError("STRIPE_WEBHOOK_SECRET must be set in production")
if not STRIPE_CONNECT_WEBHOOK_SECRET:  # noqa: F405
    from marketplace.settings.env import SettingsError

    raise SettingsError(
        "STRIPE_CONNECT_WEBHOOK_SECRET (the Connect endpoint's signing secret) must be set in "
        "production"
    )

# HSTS preload is a commitment the operator makes for the domain (SECURE_HSTS_PRELOAD=1);
# not preloading is a choice, not a misconfiguration.
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]
