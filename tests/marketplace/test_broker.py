"""The embedded broker never hands a consumer a half-written message."""

from __future__ import annotations

import threading

import pytest
from kombu import Connection

from marketplace.broker import TRANSPORT

MESSAGES = 400
PAYLOAD = "x" * 256_000  # large enough that writing a file takes a while


def _connection(folder, transport: str) -> Connection:
    return Connection(
        "filesystem://",
        transport=transport,
        transport_options={
            "data_folder_in": str(folder),
            "data_folder_out": str(folder),
            "control_folder": str(folder / "control"),
            "polling_interval": 0.0,
        },
    )


def stress(folder, transport: str) -> list[int]:
    """A producer thread writes messages while this thread consumes as fast as it can."""
    (folder / "control").mkdir(parents=True, exist_ok=True)
    received: list[int] = []
    with _connection(folder, transport) as consumer_conn:
        queue = consumer_conn.SimpleQueue("stress")

        def produce() -> None:
            with _connection(folder, transport) as producer_conn:
                out = producer_conn.SimpleQueue("stress")
                for i in range(MESSAGES):
                    out.put({"i": i, "pad": PAYLOAD})
                out.close()

        producer = threading.Thread(target=produce)
        producer.start()
        while len(received) < MESSAGES:
            message = queue.get(block=True, timeout=30)
            received.append(message.payload["i"])
            assert message.payload["pad"] == PAYLOAD
            message.ack()
        producer.join()
        queue.close()
    return received


def test_consumer_sees_whole_messages_only(tmp_path):
    received = stress(tmp_path / "queue", TRANSPORT)
    assert sorted(received) == list(range(MESSAGES))
    assert not [p for p in (tmp_path / "queue").iterdir() if p.name.endswith(".tmp")]


@pytest.mark.django_db
def test_the_app_uses_the_atomic_transport_exactly_when_no_broker_is_configured(settings):
    from marketplace.celery import app

    with app.connection_for_write() as conn:
        name = type(conn.transport).__name__
    if settings.CELERY_BROKER_URL == "filesystem://":
        assert name == "AtomicFilesystemTransport"
    else:  # CELERY_BROKER_URL set (Redis in CI): the URL's own transport, untouched
        assert getattr(settings, "CELERY_BROKER_TRANSPORT", None) is None
        assert name != "AtomicFilesystemTransport"
