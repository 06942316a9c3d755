"""gunicorn settings (read from the working directory by every ``gunicorn`` started
here; command-line options win, as in Procfile.dev). Values from the environment.

Timeouts: ``timeout`` restarts a worker process that stops answering its arbiter (a
stuck sync worker, a wedged process); under ``gthread`` the main thread keeps answering
while a request thread hangs, so a single request is bounded instead by the database's
``statement_timeout`` (DB_STATEMENT_TIMEOUT), the Stripe client's timeouts and, for the
client, the reverse proxy's upstream timeout (Caddyfile). See docs/operations.md.

Connections: each web container holds up to ``workers × threads`` PostgreSQL
connections (persistent, CONN_MAX_AGE); the budget is in docs/operations.md.
"""

import os
import shutil
from pathlib import Path


def _int(name: str, default: int) -> int:
    return int(os.environ.get(name) or default)


bind = f"0.0.0.0:{_int('PORT', 8000)}"
worker_class = "gthread"
workers = _int("WEB_CONCURRENCY", 2)
threads = _int("GUNICORN_THREADS", 4)
timeout = _int("GUNICORN_TIMEOUT", 30)
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 30)
keepalive = 5  # the reverse proxy reuses connections
# Recycle workers now and then so that a slow leak never becomes an outage.
max_requests = _int("GUNICORN_MAX_REQUESTS", 5000)
max_requests_jitter = max_requests // 10
# One log line per request comes from Django (marketplace/observability.py, with the
# request id); gunicorn's own access log would repeat it without the id.
accesslog = None
errorlog = "-"
# Larger than any request line or header a browser sends; smaller ones are refused 400.
limit_request_line = 8190


def on_starting(server):  # noqa: ANN001, ARG001 - gunicorn's hook signature
    """Start with an empty Prometheus multiprocess directory: files of a previous run
    would be summed into this one's counters."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        shutil.rmtree(directory, ignore_errors=True)
        Path(directory).mkdir(parents=True, exist_ok=True)


def child_exit(server, worker):  # noqa: ANN001, ARG001
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
