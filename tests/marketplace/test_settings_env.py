from pathlib import Path

import pytest

from marketplace.settings.env import (
    SettingsError,
    database_settings,
    env_bool,
    env_int,
    env_list,
    env_str,
    secret_key,
    secret_key_fallbacks,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1", True),
        ("true", True),
        ("YES", True),
        ("on", True),
        ("0", False),
        ("false", False),
        ("No", False),
        ("off", False),
    ],
)
def test_env_bool_accepts_the_usual_spellings(raw, expected):
    assert env_bool("DEBUG", not expected, {"DEBUG": raw}) is expected


def test_env_bool_default_and_garbage():
    assert env_bool("DEBUG", True, {}) is True
    assert env_bool("DEBUG", False, {"DEBUG": "  "}) is False
    with pytest.raises(SettingsError, match="DEBUG must be one of"):
        env_bool("DEBUG", False, {"DEBUG": "maybe"})


def test_env_int():
    assert env_int("PORT", 8000, {}) == 8000
    assert env_int("PORT", 8000, {"PORT": "9001"}) == 9001
    with pytest.raises(SettingsError, match="PORT must be an integer; got 'eighty'"):
        env_int("PORT", 8000, {"PORT": "eighty"})
    with pytest.raises(SettingsError, match="PORT must be at least 1"):
        env_int("PORT", 8000, {"PORT": "0"}, minimum=1)


def test_env_list_and_str():
    assert env_list("ALLOWED_HOSTS", ["localhost"], {}) == ["localhost"]
    assert env_list("ALLOWED_HOSTS", [], {"ALLOWED_HOSTS": "a.example, b.example,,"}) == [
        "a.example",
        "b.example",
    ]
    assert env_str("DATABASE_URL", None, {"DATABASE_URL": " postgres://x/y "}) == "postgres://x/y"
    assert env_str("DATABASE_URL", "d", {"DATABASE_URL": ""}) == "d"


def test_secret_key_generated_once_for_development(tmp_path: Path):
    first = secret_key(var_dir=tmp_path, required=False, environ={})
    second = secret_key(var_dir=tmp_path, required=False, environ={})
    assert first == second and len(first) >= 50
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_secret_key_from_environment_and_required_in_production(tmp_path: Path):
    assert secret_key(var_dir=tmp_path, required=True, environ={"SECRET_KEY": GOOD_KEY}) == GOOD_KEY
    with pytest.raises(SettingsError, match="SECRET_KEY must be set in production"):
        secret_key(var_dir=tmp_path, required=True, environ={})
    assert not (tmp_path / "secret_key").exists()


def _settings_in_subprocess(module: str, env: dict[str, str]) -> dict:
    import json
    import os
    import subprocess
    import sys

    code = (
        "import json, django; django.setup(); from django.conf import settings as s; "
        "print(json.dumps({'DEBUG': s.DEBUG, 'ALLOWED_HOSTS': s.ALLOWED_HOSTS, 'BROKER': s.CELERY_BROKER_URL, "
        "'EMAIL_BACKEND': s.EMAIL_BACKEND, 'PORT': s.PORT, 'DB_NAME': s.DATABASES['default']['NAME'], "
        "'HSTS': getattr(s, 'SECURE_HSTS_SECONDS', 0)}))"
    )
    full_env = {**os.environ, "DJANGO_SETTINGS_MODULE": module, **env}
    out = subprocess.run(
        [sys.executable, "-c", code], env=full_env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_each_variable_reaches_the_settings():
    parsed = _settings_in_subprocess(
        "marketplace.settings.prod",
        {
            "SECRET_KEY": "k3y-" + "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMN",
            "DEBUG": "0",
            "ALLOWED_HOSTS": "fairtask.example,www.fairtask.example",
            "CELERY_BROKER_URL": "redis://127.0.0.1:6379/3",
            "EMAIL_HOST": "smtp.example",
            "PORT": "8123",
            "DATABASE_URL": "postgresql://u:p@db.example:5432/prod_db",
            "STRIPE_SECRET_KEY": "sk_live_x",
            "STRIPE_WEBHOOK_SECRET": "whsec_x",
            "STRIPE_CONNECT_WEBHOOK_SECRET": "whsec_y",
        },
    )
    assert parsed == {
        "DEBUG": False,
        "ALLOWED_HOSTS": ["fairtask.example", "www.fairtask.example"],
        "BROKER": "redis://127.0.0.1:6379/3",
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "PORT": 8123,
        "DB_NAME": "prod_db",
        "HSTS": 31536000,
    }


def test_production_refuses_to_start_without_secret_key():
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "SECRET_KEY"}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "marketplace.settings.prod",
            "DATABASE_URL": "postgresql://u@h/db",
        }
    )
    out = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode != 0
    assert "SECRET_KEY must be set in production" in out.stderr


def test_sqlite_is_refused():
    import os
    import subprocess
    import sys

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "marketplace.settings.dev",
        "DATABASE_URL": "sqlite:///x.db",
    }
    out = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode != 0
    assert "SQLite is not supported" in out.stderr


def test_production_refuses_the_stripe_simulator_unless_asked():
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("STRIPE_")}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "marketplace.settings.prod",
            "DATABASE_URL": "postgresql://u@h/db",
            "SECRET_KEY": GOOD_KEY,
        }
    )
    out = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode != 0
    assert "STRIPE_SECRET_KEY must be set in production" in out.stderr


# --- Secret keys ------------------------------------------------------------------------

GOOD_KEY = "Qm7-x2Lr9vTb4NcZk8YpWf3HsJd6GaEu1oRiVyXq5MnBtCl0Ow_K"  # 52 characters


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("change-me-to-50-random-characters", "documented placeholder"),  # .env.example's
        ("CHANGE-ME-" + GOOD_KEY, "documented placeholder"),
        ("django-insecure-" + GOOD_KEY, "development key"),
        ("s3cret", "it has 6 characters; at least 50"),
        ("ab" * 30, "fewer than 5 different characters"),
    ],
)
def test_production_refuses_placeholder_and_weak_keys(tmp_path: Path, value, reason):
    with pytest.raises(SettingsError, match=reason):
        secret_key(var_dir=tmp_path, required=True, environ={"SECRET_KEY": value})
    # Development takes what it is given.
    assert secret_key(var_dir=tmp_path, required=False, environ={"SECRET_KEY": value}) == value


def test_strong_key_and_fallbacks_for_rotation(tmp_path: Path):
    assert secret_key(var_dir=tmp_path, required=True, environ={"SECRET_KEY": GOOD_KEY}) == GOOD_KEY
    old = GOOD_KEY[::-1]
    assert secret_key_fallbacks(
        required=True, environ={"SECRET_KEY_FALLBACKS": f"{old}, {GOOD_KEY}"}
    ) == [old, GOOD_KEY]
    assert secret_key_fallbacks(required=True, environ={}) == []
    with pytest.raises(SettingsError, match="SECRET_KEY_FALLBACKS entry 2 is refused"):
        secret_key_fallbacks(required=True, environ={"SECRET_KEY_FALLBACKS": f"{old},change-me"})


def test_rotated_key_keeps_sessions_signed_with_the_old_one(settings):
    """SECRET_KEY_FALLBACKS as Django applies it: a value signed under the old key
    verifies after the rotation, and not once the fallback is dropped."""
    from django.core import signing

    old, new = GOOD_KEY, GOOD_KEY[::-1]
    settings.SECRET_KEY = old
    token = signing.dumps({"session": 1})
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = new, [old]
    assert signing.loads(token) == {"session": 1}
    settings.SECRET_KEY_FALLBACKS = []
    with pytest.raises(signing.BadSignature):
        signing.loads(token)


# --- Database settings --------------------------------------------------------------------

HARD_PASSWORD = "p/q#r@s?t:u%v w"


def test_percent_encoded_password_with_url_delimiters():
    from urllib.parse import quote

    url = f"postgresql://fairtask:{quote(HARD_PASSWORD, safe='')}@db.internal:6432/fairtask"
    config = database_settings(url=url, environ={})
    assert (config["USER"], config["PASSWORD"], config["HOST"], config["PORT"], config["NAME"]) == (
        "fairtask",
        HARD_PASSWORD,
        "db.internal",
        6432,
        "fairtask",
    )


def test_unencoded_password_is_refused_with_advice():
    with pytest.raises(SettingsError, match="percent-encode special characters of the password"):
        database_settings(url="postgresql://fairtask:p/q#r@db.internal:5432/fairtask", environ={})


def test_pg_variables_instead_of_a_url():
    environ = {
        "PGHOST": "db.internal",
        "PGPORT": "5433",
        "PGDATABASE": "fairtask",
        "PGUSER": "fairtask_app",
        "PGPASSWORD": HARD_PASSWORD,
    }
    config = database_settings(url=None, environ=environ)
    assert (config["HOST"], config["PORT"], config["NAME"], config["USER"], config["PASSWORD"]) == (
        "db.internal",
        5433,
        "fairtask",
        "fairtask_app",
        HARD_PASSWORD,
    )
    # A URL without a password takes it from PGPASSWORD.
    config = database_settings(url="postgresql://fairtask@db.internal/fairtask", environ=environ)
    assert config["PASSWORD"] == HARD_PASSWORD
    with pytest.raises(SettingsError, match="Set DATABASE_URL, or PGHOST and PGDATABASE"):
        database_settings(url=None, environ={"PGHOST": "db.internal"})


def test_timeouts_and_pgbouncer_switch():
    config = database_settings(url="postgresql://u@h/db", environ={})
    assert config["OPTIONS"]["options"] == "-c statement_timeout=30000 -c lock_timeout=10000"
    assert config["CONN_MAX_AGE"] == 600 and config["CONN_HEALTH_CHECKS"] is True
    assert config["DISABLE_SERVER_SIDE_CURSORS"] is False
    behind_pgbouncer = database_settings(
        url="postgresql://u@h/db",
        environ={
            "DB_STATEMENT_TIMEOUT": "0",
            "DB_LOCK_TIMEOUT": "0",
            "DB_DISABLE_SERVER_SIDE_CURSORS": "1",
            "CONN_MAX_AGE": "0",
            "DB_HEALTH_CHECKS": "0",
        },
    )
    assert "options" not in behind_pgbouncer["OPTIONS"]
    assert behind_pgbouncer["CONN_HEALTH_CHECKS"] is False
    assert behind_pgbouncer["DISABLE_SERVER_SIDE_CURSORS"] is True
    assert behind_pgbouncer["CONN_MAX_AGE"] == 0


@pytest.mark.django_db
def test_statement_timeout_reaches_the_server(settings):
    """The suite's own connection was opened with the default options."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        assert cursor.fetchone()[0] == "30s"
        cursor.execute("SHOW lock_timeout")
        assert cursor.fetchone()[0] == "10s"


def test_production_settings_process_with_a_hard_password_in_pg_variables():
    parsed = _settings_in_subprocess(
        "marketplace.settings.prod",
        {
            "SECRET_KEY": GOOD_KEY,
            "DATABASE_URL": "",
            "PGHOST": "db.internal",
            "PGDATABASE": "prod_db",
            "PGUSER": "app",
            "PGPASSWORD": HARD_PASSWORD,
            "STRIPE_SECRET_KEY": "sk_live_x",
            "STRIPE_WEBHOOK_SECRET": "whsec_x",
            "STRIPE_CONNECT_WEBHOOK_SECRET": "whsec_c",
        },
    )
    assert parsed["DB_NAME"] == "prod_db"


def test_sentry_is_set_up_only_with_a_dsn():
    import json
    import os
    import subprocess
    import sys

    code = (
        "import json, django; django.setup(); import sentry_sdk; c = sentry_sdk.get_client(); "
        "print(json.dumps({'active': c.is_active(), 'pii': c.options.get('send_default_pii'), "
        "'integrations': sorted(c.integrations)}))"
    )

    def run(extra: dict[str, str]) -> dict:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("SENTRY_")},
            "DJANGO_SETTINGS_MODULE": "marketplace.settings.test",
            **extra,
        }
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
        )
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout.strip().splitlines()[-1])

    assert run({})["active"] is False
    # Nothing is sent at start-up: an address where nothing listens is enough.
    configured = run({"SENTRY_DSN": "http://public@127.0.0.1:9/1"})
    assert configured["active"] is True and configured["pii"] is False
    assert {"django", "celery"} <= set(configured["integrations"])


def test_sessions_read_through_the_cache_only_when_it_is_shared():
    """With Redis (CACHE_URL) sessions are ``cached_db``; with the per-process cache
    they stay in the table alone (a logout in one process must end the session in all)."""
    import json
    import os
    import subprocess
    import sys

    code = (
        "import json, django; django.setup(); from django.conf import settings as s; "
        "print(json.dumps([s.SESSION_ENGINE, s.CACHES['default']['BACKEND']]))"
    )
    seen = []
    for cache_url in ("redis://127.0.0.1:6379/7", None):
        env = {k: v for k, v in os.environ.items() if k != "CACHE_URL"}
        env["DJANGO_SETTINGS_MODULE"] = "marketplace.settings.test"
        if cache_url:
            env["CACHE_URL"] = cache_url
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
        )
        assert out.returncode == 0, out.stderr
        seen.append(json.loads(out.stdout.strip().splitlines()[-1]))
    assert seen == [
        ["django.contrib.sessions.backends.cached_db", "marketplace.cache.FailOpenRedisCache"],
        ["django.contrib.sessions.backends.db", "django.core.cache.backends.locmem.LocMemCache"],
    ]
