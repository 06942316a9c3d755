from pathlib import Path

import pytest

from marketplace.settings.env import SettingsError, env_bool, env_int, env_list, env_str, secret_key


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
    assert secret_key(var_dir=tmp_path, required=True, environ={"SECRET_KEY": "s3cret"}) == "s3cret"
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
            "SECRET_KEY": "x" * 60,
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
            "SECRET_KEY": "x" * 60,
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
