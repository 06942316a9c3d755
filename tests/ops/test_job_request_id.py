"""A job enqueued during a request logs with that request's id (a real worker)."""

from __future__ import annotations

import pytest

from marketplace.jobs import heartbeat
from marketplace.observability import request_id_var


@pytest.mark.celery_worker
def test_job_log_lines_carry_the_enqueuing_request_id(celery_worker):
    token = request_id_var.set("req-enqueued-7")
    try:
        heartbeat.delay("probe-host")
    finally:
        request_id_var.reset(token)
    celery_worker.wait_for(
        lambda: any(
            "[req-enqueued-7]" in line and "succeeded" in line
            for line in celery_worker.log().splitlines()
        ),
        timeout=60,
    )
