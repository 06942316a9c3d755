import pytest


@pytest.mark.django_db
def test_healthz_ok(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"] == {"ok": True, "detail": "ok"}
    assert body["broker"] == {"ok": True, "detail": "ok"}


@pytest.mark.django_db
def test_healthz_names_a_stopped_broker(client, settings):
    # Port 9 (discard) has nothing listening here: a broker that does not answer.
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:9/0"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {}
    settings.CELERY_BROKER_TRANSPORT = None  # the URL names the transport
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "down"
    assert body["down"] == ["broker"]
    assert body["broker"]["ok"] is False
    assert body["database"]["ok"] is True
