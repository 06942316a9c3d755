"""The container probes against gunicorn on the production settings, as in the image:
the web probe's Host is one Django accepts (a bare 127.0.0.1 is refused 400 in
production), liveness passes without a database, readiness fails only without one and
shows no exception text."""

from __future__ import annotations

import http.client

import pytest

from tests.fixtures.celery_worker import database_url_for_current_connection
from tests.ops.helpers import Gunicorn, prod_env


@pytest.fixture
def gunicorn_factory(tmp_path):
    started: list[Gunicorn] = []

    def start(**env: str) -> Gunicorn:
        server = Gunicorn(prod_env(tmp_path, **env), tmp_path)
        started.append(server)
        server.wait_serving()
        return server

    yield start
    for server in started:
        server.stop()


def test_probes_pass_on_production_settings(db, gunicorn_factory):
    server = gunicorn_factory(DATABASE_URL=database_url_for_current_connection())
    ready = server.probe("ready")
    assert ready.returncode == 0, ready.stdout + ready.stderr
    assert ready.stdout.startswith("200 ")
    # What the old compose probe did: no Host header Django accepts.
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request("GET", "/healthz/ready")
    assert conn.getresponse().status == 400
    conn.close()


def test_database_down_fails_readiness_not_liveness(gunicorn_factory):
    # Port 1: nothing listens; the connection is refused at once.
    server = gunicorn_factory(DATABASE_URL="postgresql://fairtask:pw@127.0.0.1:1/fairtask")
    live = server.probe("live")
    assert live.returncode == 0 and live.stdout.startswith("200 ")
    ready = server.probe("ready")
    assert ready.returncode == 1
    assert ready.stdout.startswith("503 ")
    assert '"database": {"ok": false, "detail": "unreachable"}' in ready.stdout
    assert "Connection refused" not in ready.stdout and "fairtask:pw" not in ready.stdout


def test_production_logs_are_json_lines_with_the_request_id(db, gunicorn_factory):
    """One JSON object per line; the request's line carries the id the proxy sent, and
    the response echoes it."""
    import json

    server = gunicorn_factory(DATABASE_URL=database_url_for_current_connection())
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request(
        "GET",
        "/healthz/live",
        headers={"Host": "fairtask.example", "X-Request-ID": "req-from-caddy-42"},
    )
    response = conn.getresponse()
    assert response.status == 200
    assert response.getheader("X-Request-ID") == "req-from-caddy-42"
    conn.close()

    def request_line() -> dict | None:
        for line in server.log().splitlines():
            if line.startswith("{") and "req-from-caddy-42" in line:
                return json.loads(line)
        return None

    from tests.ops.helpers import wait_until

    wait_until(
        lambda: request_line() is not None,
        what="the request's log line",
        timeout=30,
        log=server.log,
    )
    record = request_line()
    assert record["logger"] == "fairtask.request"
    assert record["level"] == "INFO"
    assert record["request_id"] == "req-from-caddy-42"
    assert record["status"] == 200 and record["path"] == "/healthz/live"
    assert "timestamp" in record


def test_metrics_sum_every_gunicorn_worker(db, gunicorn_factory, tmp_path):
    """Two gunicorn worker processes, one multiprocess directory: a scrape counts the
    requests every worker answered."""
    server = gunicorn_factory(
        DATABASE_URL=database_url_for_current_connection(),
        WEB_CONCURRENCY="2",
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "prometheus"),
        METRICS_TOKEN="scrape-token-for-this-test",
    )
    for _ in range(20):  # new connections: spread over both workers by the kernel
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        conn.request("GET", "/healthz/live", headers={"Host": "fairtask.example"})
        assert conn.getresponse().status == 200
        conn.close()
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    conn.request(
        "GET",
        "/metrics",
        headers={"Host": "fairtask.example", "Authorization": "Bearer scrape-token-for-this-test"},
    )
    response = conn.getresponse()
    body = response.read().decode()
    conn.close()
    assert response.status == 200, body[:500]
    from prometheus_client.parser import text_string_to_metric_families

    live = sum(
        s.value
        for family in text_string_to_metric_families(body)
        for s in family.samples
        if s.name == "fairtask_http_requests_total" and s.labels.get("view") == "healthz_live"
    )
    # The probes of wait_serving() count too: at least the 20 sent here.
    assert live >= 20
