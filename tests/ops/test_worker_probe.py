"""The worker's health check, exactly as docker-compose.yml writes it, against a real
worker named as in the container (celery@<hostname>): the shell form expands $HOSTNAME
and the ping is answered; the exec form of the same words never expands it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid

import pytest
import yaml

from tests.fixtures.celery_worker import database_url_for_current_connection
from tests.fixtures.processes import stop_process
from tests.ops.helpers import ROOT, wait_until


def compose_worker_healthcheck() -> list[str]:
    config = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return config["services"]["worker"]["healthcheck"]["test"]


@pytest.fixture
def container_like_worker(db, tmp_path):
    queue = f"test-probe-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "marketplace.settings.test",
        "DATABASE_URL": database_url_for_current_connection(),
        "CELERY_QUEUE": queue,
        "PYTHONUNBUFFERED": "1",
    }
    log_path = tmp_path / "worker.log"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "marketplace",
            "worker",
            "-P",
            "solo",
            "-Q",
            queue,
            "--without-mingle",
            "--without-gossip",
            "-l",
            "INFO",
            "-n",
            "celery@%h",  # the default node name in a container
        ],  # fmt: skip
        cwd=ROOT,
        env=env,
        stdout=open(log_path, "wb"),  # noqa: SIM115 - closed with the process
        stderr=subprocess.STDOUT,
    )
    try:
        wait_until(
            lambda: "ready." in log_path.read_text(errors="replace"),
            what="worker ready",
            timeout=60,
            log=lambda: log_path.read_text(errors="replace"),
        )
        yield env
    finally:
        stop_process(proc)


def test_compose_worker_healthcheck_passes_against_a_running_worker(container_like_worker):
    kind, command = compose_worker_healthcheck()
    assert kind == "CMD-SHELL"
    # Compose turns $$ into $ before handing the string to the container's shell.
    shell_command = command.replace("$$", "$")
    env = {
        **container_like_worker,
        "HOSTNAME": socket.gethostname(),
        "PATH": f"{os.path.dirname(sys.executable)}:{os.environ['PATH']}",
    }
    done = subprocess.run(
        ["sh", "-c", shell_command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr

    # The old exec form passed "celery@$HOSTNAME" literally: no node by that name.
    exec_form = [part for part in shell_command.split() if part != ">/dev/null"]
    done = subprocess.run(exec_form, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
