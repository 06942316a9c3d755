"""Prometheus metrics at ``/metrics`` (text format), for a scraper only.

* ``fairtask_http_requests_total{method,view,status}`` and
  ``fairtask_http_request_duration_seconds{view}``: counted by
  ``observability.RequestIdMiddleware`` in every web process. Under gunicorn's several
  worker processes set ``PROMETHEUS_MULTIPROC_DIR`` to an empty directory (compose does,
  and ``gunicorn.conf.py`` cleans up after dead workers) so that a scrape sums them all.
* Read from the database and the broker at scrape time (the same from any web process):
  ``fairtask_queue_depth{queue}`` (jobs waiting), ``fairtask_settlement_lag_seconds``
  (age of the oldest approved assignment whose money has not left escrow, from its
  submission), ``fairtask_settlement_backlog``, ``fairtask_worker_heartbeat_age_seconds``,
  and per money check (``ledger_check``, ``reconcile_stripe``)
  ``fairtask_check_last_run_timestamp_seconds`` / ``fairtask_check_last_ok``.

Not public: the endpoint answers only ``Authorization: Bearer $METRICS_TOKEN`` (404 to
anyone else, and 404 altogether while ``METRICS_TOKEN`` is unset); the reverse proxy
does not route ``/metrics`` either. A failing source is left out of the scrape (and
``fairtask_metrics_source_up{source}`` says 0) rather than failing it.
"""

from __future__ import annotations

import hmac
import logging
import os
import time
from collections.abc import Iterator

from django.apps import apps
from django.conf import settings
from django.db.models import Count, Min
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

REQUESTS = Counter("fairtask_http_requests", "HTTP requests answered", ["method", "view", "status"])
LATENCY = Histogram(
    "fairtask_http_request_duration_seconds",
    "Time to answer an HTTP request",
    ["view"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)


def observe_request(*, method: str, view: str, status: int, seconds: float) -> None:
    REQUESTS.labels(method=method, view=view, status=str(status)).inc()
    LATENCY.labels(view=view).observe(seconds)


def queue_depth(queue: str) -> int:
    from marketplace.celery import app

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)
        _name, count, _consumers = conn.default_channel.queue_declare(queue=queue, passive=True)
        return int(count)


class DatabaseAndQueueCollector(Collector):
    """Gauges computed on each scrape."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily(
            "fairtask_metrics_source_up", "1 if the source answered this scrape", labels=["source"]
        )
        queue = settings.CELERY_TASK_DEFAULT_QUEUE or "fairtask"
        try:
            depth = queue_depth(queue)
        except Exception:  # noqa: BLE001 - a scrape must not fail because one source did
            log.warning("metrics: queue depth unavailable", exc_info=True)
            up.add_metric(["broker"], 0)
        else:
            up.add_metric(["broker"], 1)
            g = GaugeMetricFamily(
                "fairtask_queue_depth", "Jobs waiting in the queue", labels=["queue"]
            )
            g.add_metric([queue], depth)
            yield g
        try:
            yield from self._database()
        except Exception:  # noqa: BLE001
            log.warning("metrics: database gauges unavailable", exc_info=True)
            up.add_metric(["database"], 0)
        else:
            up.add_metric(["database"], 1)
        yield up

    def _database(self) -> Iterator[GaugeMetricFamily]:
        now = timezone.now()
        # The worker side's model, read by name: metrics observe every app, none imports this.
        assignment = apps.get_model("tasks", "Assignment")
        backlog = assignment.objects.filter(status="approved", settled_at__isnull=True).aggregate(
            n=Count("pk"), oldest=Min("submitted_at")
        )
        lag = (now - backlog["oldest"]).total_seconds() if backlog["oldest"] else 0.0
        results = [
            GaugeMetricFamily(
                "fairtask_settlement_lag_seconds",
                "Age of the oldest approved, unsettled assignment (0 when none)",
                value=lag,
            ),
            GaugeMetricFamily(
                "fairtask_settlement_backlog",
                "Approved assignments whose money has not left escrow",
                value=backlog["n"],
            ),
        ]
        heartbeat = apps.get_model("marketplace", "WorkerHeartbeat")
        newest = (
            heartbeat.objects.order_by("-last_seen").values_list("last_seen", flat=True).first()
        )
        if newest is not None:
            results.append(
                GaugeMetricFamily(
                    "fairtask_worker_heartbeat_age_seconds",
                    "Seconds since a Celery worker last ran the heartbeat job",
                    value=(now - newest).total_seconds(),
                )
            )
        check_run = apps.get_model("payouts", "CheckRun")
        ts = GaugeMetricFamily(
            "fairtask_check_last_run_timestamp_seconds",
            "When the money check last finished (Unix time)",
            labels=["check"],
        )
        ok = GaugeMetricFamily(
            "fairtask_check_last_ok",
            "1 if the money check's last run found nothing",
            labels=["check"],
        )
        audit_run = (
            apps.get_model("payouts", "LedgerCheckRun").objects.order_by("-started_at").first()
        )
        if audit_run is not None:
            ts.add_metric(["ledger_check"], audit_run.finished_at.timestamp())
            ok.add_metric(["ledger_check"], 1 if audit_run.ok else 0)
        run = check_run.objects.filter(name="reconcile_stripe").order_by("-finished_at").first()
        if run is not None:
            ts.add_metric(["reconcile_stripe"], run.finished_at.timestamp())
            ok.add_metric(["reconcile_stripe"], 1 if run.ok else 0)
        results += [ts, ok]
        return iter(results)


def _registry() -> CollectorRegistry:
    registry = CollectorRegistry()
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        os.makedirs(directory, exist_ok=True)
        MultiProcessCollector(registry)  # every gunicorn worker's counters
    else:
        registry.register(REQUESTS)
        registry.register(LATENCY)
    registry.register(DatabaseAndQueueCollector())
    return registry


@never_cache
@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    token = settings.METRICS_TOKEN
    presented = request.headers.get("Authorization", "")
    if not token or not hmac.compare_digest(presented.encode(), f"Bearer {token}".encode()):
        raise Http404
    started = time.perf_counter()
    body = generate_latest(_registry())
    log.debug("metrics scrape took %.3f s", time.perf_counter() - started)
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)
