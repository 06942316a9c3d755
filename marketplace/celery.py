"""The Celery application. Job modules are named ``jobs.py`` (an app called ``tasks``
would make ``tasks.py`` ambiguous)."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "marketplace.settings.dev")

app = Celery("fairtask")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(related_name="jobs")
