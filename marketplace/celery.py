"""The Celery application. Job modules are named ``jobs.py`` (an app called ``tasks``
would make ``tasks.py`` ambiguous)."""

from __future__ import annotations

import os
import sys
from typing import Any

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "marketplace.settings.dev")

app = Celery("fairtask")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(related_name="jobs")


@signals.beat_init.connect
def _one_beat_only(sender: Any = None, **kwargs: Any) -> None:
    """Wait for the beat lock before the first tick (marketplace/beat_lock.py)."""
    if os.environ.get("BEAT_LOCK", "1").strip().lower() in ("0", "false", "no", "off"):
        return
    import django
    from django.apps import apps

    if not apps.ready:  # a second setup() would reconfigure logging onto beat's redirected stderr
        django.setup()
    from marketplace import beat_lock

    beat_lock.hold()


# A job's log lines carry the id of the request that enqueued it (observability.py).
@signals.before_task_publish.connect
def _send_request_id(headers: dict | None = None, **kwargs: Any) -> None:
    from marketplace.observability import current_request_id

    rid = current_request_id()
    if headers is not None and rid != "-":
        headers.setdefault("request_id", rid)


@signals.task_prerun.connect
def _receive_request_id(task: Any = None, **kwargs: Any) -> None:
    from marketplace.observability import request_id_var

    request = getattr(task, "request", None)
    rid = getattr(request, "request_id", None) or (getattr(request, "headers", None) or {}).get(
        "request_id"
    )
    request_id_var.set(str(rid) if rid else f"task-{getattr(request, 'id', None) or '-'}")


@signals.task_postrun.connect
def _forget_request_id(**kwargs: Any) -> None:
    from marketplace.observability import request_id_var

    request_id_var.set("-")


def solo_worker_argv(queue: str) -> list[str]:
    """The command line of a one-process worker consuming only ``queue``: what the test
    suite and the benchmarks start (production workers are in Procfile/compose)."""
    return [
        sys.executable, "-m", "celery", "-A", "marketplace", "worker", "-P", "solo",
        "-Q", queue, "--without-mingle", "--without-gossip", "--without-heartbeat",
        "-l", "INFO", "-n", f"{queue}@%h",
    ]  # fmt: skip
