"""/healthz/live, /healthz/ready (= /healthz): what each answers when a dependency is
down. Real services: the test PostgreSQL, Redis or the filesystem broker, and
addresses where nothing listens for the outages."""

import pytest
from django.core.cache import caches
from django.utils import timezone

from marketplace.models import WorkerHeartbeat

NOTHING_LISTENS = "redis://127.0.0.1:9/0"  # port 9 (discard): nothing listens here


@pytest.fixture
def fresh_worker(db):
    WorkerHeartbeat.objects.create(hostname="w1", last_seen=timezone.now())


@pytest.fixture
def cache_down(settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "marketplace.cache.FailOpenRedisCache",
            "LOCATION": NOTHING_LISTENS,
            "OPTIONS": {
                "IGNORE_EXCEPTIONS": True,
                "SOCKET_CONNECT_TIMEOUT": 1,
                "SOCKET_TIMEOUT": 1,
            },
        }
    }
    yield
    caches["default"].close()


def test_liveness_touches_nothing(client):
    # No django_db mark: any database access in the view would raise here.
    response = client.get("/healthz/live")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_ready_ok(client, fresh_worker):
    for url in ("/healthz/ready", "/healthz"):
        response = client.get(url)
        assert response.status_code == 200
        body = response.json()
        assert body["status"] == "ok", body
        assert body["database"] == {"ok": True, "detail": "ok"}
        assert body["broker"] == {"ok": True, "detail": "ok"}
        assert body["cache"] == {"ok": True, "detail": "ok"}
        assert body["workers"] == {"ok": True, "detail": "ok"}
        assert body["worker_last_seen"] is not None


@pytest.mark.django_db
def test_ready_reports_stale_and_missing_workers_without_failing(client):
    body = client.get("/healthz/ready").json()
    assert body["status"] == "degraded" and body["degraded"] == ["workers"]
    assert body["workers"] == {"ok": False, "detail": "never seen"}
    WorkerHeartbeat.objects.create(
        hostname="w1", last_seen=timezone.now() - timezone.timedelta(minutes=10)
    )
    response = client.get("/healthz/ready")
    assert response.status_code == 200
    assert response.json()["workers"] == {"ok": False, "detail": "stale"}


@pytest.mark.django_db
def test_stopped_broker_degrades_without_exception_text(client, settings, fresh_worker):
    settings.CELERY_BROKER_URL = NOTHING_LISTENS
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {}
    settings.CELERY_BROKER_TRANSPORT = None  # the URL names the transport
    response = client.get("/healthz/ready")
    assert response.status_code == 200  # pages still serve; jobs wait
    body = response.json()
    assert body["status"] == "degraded" and body["degraded"] == ["broker"]
    assert body["broker"] == {"ok": False, "detail": "unreachable"}
    assert "127.0.0.1" not in response.content.decode()
    assert "Error" not in response.content.decode()


@pytest.mark.django_db
def test_cache_outage_is_degraded_not_503(client, cache_down, fresh_worker):
    response = client.get("/healthz/ready")
    assert response.status_code == 200
    body = response.json()
    assert body["degraded"] == ["cache"]
    assert body["cache"] == {"ok": False, "detail": "unreachable"}
