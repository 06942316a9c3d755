"""The Celery application. Job modules are named ``jobs.py`` (an app called ``tasks``
would make ``tasks.py`` ambiguous)."""

from __future__ import annotations

import os
import sys

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "marketplace.settings.dev")

app = Celery("fairtask")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(related_name="jobs")


def solo_worker_argv(queue: str) -> list[str]:
    """The command line of a one-process worker consuming only ``queue``: what the test
    suite and the benchmarks start (production workers are in Procfile/compose)."""
    return [
        sys.executable, "-m", "celery", "-A", "marketplace", "worker", "-P", "solo",
        "-Q", queue, "--without-mingle", "--without-gossip", "--without-heartbeat",
        "-l", "INFO", "-n", f"{queue}@%h",
    ]  # fmt: skip
