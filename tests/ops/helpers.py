"""Helpers of the operations tests: production-settings processes on this machine."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.fixtures.processes import stop_process

ROOT = Path(__file__).resolve().parents[2]
STRONG_KEY = secrets.token_urlsafe(50)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def prod_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of a production process (marketplace.settings.prod)."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "marketplace.settings.prod",
        "SECRET_KEY": STRONG_KEY,
        "ALLOWED_HOSTS": "fairtask.example",
        "STRIPE_SECRET_KEY": "sk_test_ops",
        "STRIPE_WEBHOOK_SECRET": "whsec_ops",
        "STRIPE_CONNECT_WEBHOOK_SECRET": "whsec_ops_connect",
        "FAIRTASK_VAR_DIR": str(tmp_path / "var"),
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("DEBUG", None)
    env.update(extra)
    return env


def wait_until(
    predicate: Callable[[], bool], *, what: str, timeout: float, log: Callable[[], str]
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    pytest.fail(f"{what} not within {timeout:.0f} s:\n{log()[-4000:]}")


class Gunicorn:
    """gunicorn serving marketplace.wsgi with ``gunicorn.conf.py`` as in the image."""

    def __init__(self, env: dict[str, str], tmp_path: Path):
        self.port = free_port()
        self.log_path = tmp_path / f"gunicorn-{self.port}.log"
        self.env = {"WEB_CONCURRENCY": "1", "GUNICORN_THREADS": "2", **env, "PORT": str(self.port)}
        # As the image does at build time (deploy/build-steps.sh): production serves the
        # collected, hashed static files, and every page (error pages included) links them.
        subprocess.run(
            [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
            cwd=ROOT,
            env=self.env,
            check=True,
            timeout=300,
        )
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "marketplace.wsgi"],
            cwd=ROOT,
            env=self.env,
            stdout=open(self.log_path, "wb"),  # noqa: SIM115 - closed with the process
            stderr=subprocess.STDOUT,
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def probe(self, kind: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "marketplace.probe", kind],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )

    def wait_serving(self) -> None:
        wait_until(
            lambda: self.probe("live").returncode == 0,
            what="gunicorn answering /healthz/live",
            timeout=60,
            log=self.log,
        )

    def stop(self) -> None:
        stop_process(self.proc)
