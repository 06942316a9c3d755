"""/metrics: Prometheus text for a scraper holding the token, 404 for everyone else."""

from __future__ import annotations

import uuid

import pytest
from django.core.management import call_command
from prometheus_client.parser import text_string_to_metric_families

from marketplace.celery import app

TOKEN = "scrape-" + uuid.uuid4().hex


def _samples(body: str) -> dict[tuple[str, tuple], float]:
    out = {}
    for family in text_string_to_metric_families(body):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


@pytest.mark.django_db
def test_metrics_are_not_public(client, settings):
    settings.METRICS_TOKEN = None
    assert client.get("/metrics").status_code == 404  # unset: no endpoint at all
    settings.METRICS_TOKEN = TOKEN
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 404


@pytest.mark.django_db
def test_metrics_report_requests_queue_and_money_checks(client, settings):
    settings.METRICS_TOKEN = TOKEN
    queue = f"test-metrics-{uuid.uuid4().hex[:8]}"
    settings.CELERY_TASK_DEFAULT_QUEUE = queue
    # Two jobs waiting in a queue nobody consumes.
    with app.connection_for_write() as conn:
        for _ in range(2):
            app.send_task("marketplace.jobs.heartbeat", queue=queue, connection=conn)
    call_command("ledger_check", "--record")
    client.get("/healthz/live")

    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    samples = _samples(response.content.decode())
    assert samples[("fairtask_queue_depth", (("queue", queue),))] == 2
    assert samples[("fairtask_check_last_ok", (("check", "ledger_check"),))] == 1
    assert ("fairtask_check_last_run_timestamp_seconds", (("check", "ledger_check"),)) in samples
    assert samples[("fairtask_settlement_backlog", ())] == 0
    assert samples[("fairtask_settlement_lag_seconds", ())] == 0
    assert samples[("fairtask_metrics_source_up", (("source", "database"),))] == 1
    live = [
        v
        for (name, labels), v in samples.items()
        if name == "fairtask_http_requests_total" and ("view", "healthz_live") in labels
    ]
    assert live and live[0] >= 1

    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge(queue)
