"""Container health probe for the web process: ``python -m marketplace.probe live|ready``.

Asks the gunicorn in this container (``127.0.0.1:$PORT``, default 8000) for
``/healthz/<kind>`` with a ``Host`` that Django accepts: the first entry of
``ALLOWED_HOSTS`` (a bare ``127.0.0.1`` would be answered 400 by ``ALLOWED_HOSTS``
validation in production), and ``X-Forwarded-Proto: https`` as the reverse proxy sends.
Exit 0 when the answer is 200. Standard library only, so a probe costs no Django start.
"""

from __future__ import annotations

import http.client
import os
import sys


def probe_host(allowed_hosts: str) -> str:
    for raw in allowed_hosts.split(","):
        host = raw.strip().lstrip(".")  # ".example.com" allows example.com too
        if host and host != "*":
            return host
    return "localhost"


def main(argv: list[str]) -> int:
    kind = argv[1] if len(argv) > 1 else "ready"
    if kind not in ("live", "ready"):
        print("usage: python -m marketplace.probe live|ready", file=sys.stderr)
        return 2
    port = int(os.environ.get("PROBE_PORT") or os.environ.get("PORT") or 8000)
    host = probe_host(os.environ.get("ALLOWED_HOSTS", ""))
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request(
            "GET", f"/healthz/{kind}", headers={"Host": host, "X-Forwarded-Proto": "https"}
        )
        response = conn.getresponse()
        body = response.read(2000).decode("utf-8", "replace")
    except OSError as exc:
        print(f"probe: {exc}", file=sys.stderr)
        return 1
    finally:
        conn.close()
    print(f"{response.status} {body}")
    return 0 if response.status == 200 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
