"""Production: secrets and hosts from the environment; passes ``check --deploy``."""

from marketplace.settings.base import *  # noqa: F403
from marketplace.settings.base import VAR_DIR
from marketplace.settings.env import env_bool, env_int, secret_key

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = secret_key(var_dir=VAR_DIR, required=True)

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
# /healthz is probed over plain HTTP by the orchestrator.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
ACCOUNT_DEFAULT_HTTP_PROTOCOL = "https"

if STRIPE_SIMULATED and not env_bool("STRIPE_ALLOW_SIMULATOR", False):  # noqa: F405
    from marketplace.settings.env import SettingsError

    raise SettingsError(
        "STRIPE_SECRET_KEY must be set in production (or STRIPE_ALLOW_SIMULATOR=1 for a demo)"
    )
if not STRIPE_WEBHOOK_SECRET:  # noqa: F405
    from marketplace.settings.env import SettingsError

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
