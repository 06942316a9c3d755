"""The test suite: same engine and broker rules as development."""

from marketplace.settings.base import *  # noqa: F403
from marketplace.settings.base import VAR_DIR
from marketplace.settings.env import secret_key

DEBUG = False
# A test database per test process, so two runs on one server (a developer's and an
# editor's, or CI jobs sharing a PostgreSQL) never drop each other's database.
import os as _os  # noqa: E402

DATABASES["default"]["TEST"] = {"NAME": f"test_{DATABASES['default']['NAME']}_{_os.getpid()}"}  # noqa: F405
SECRET_KEY = secret_key(var_dir=VAR_DIR, required=False)
# The suite's flush runs as the owner and opts in to emptying the ledger (tests/testdb).
INSTALLED_APPS = ["tests.testdb", *INSTALLED_APPS]  # noqa: F405
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# Hashing strength is not under test; a fast hasher keeps the suite quick.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": VAR_DIR / "test-media"},
    },
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# A broker folder of the test suite's own, so that tests never share queues with the
# worker of a running `make run`.
if CELERY_EMBEDDED_BROKER:  # noqa: F405
    from marketplace.settings.base import CELERY_BROKER_DIR as _DEV_BROKER_DIR

    CELERY_BROKER_DIR = _DEV_BROKER_DIR.parent / "test-celery"
    for _sub in ("queue", "processed", "control"):
        (CELERY_BROKER_DIR / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        **CELERY_BROKER_TRANSPORT_OPTIONS,  # noqa: F405
        "data_folder_in": str(CELERY_BROKER_DIR / "queue"),
        "data_folder_out": str(CELERY_BROKER_DIR / "queue"),
        "processed_folder": str(CELERY_BROKER_DIR / "processed"),
        "control_folder": str(CELERY_BROKER_DIR / "control"),
    }
