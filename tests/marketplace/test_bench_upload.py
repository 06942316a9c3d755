"""bench/upload.py runs end to end: a small file through the API (gunicorn, a real Celery
worker) to a published batch, and its last line is the JSON object the issue asks for.
Its speed is not checked here (targets are the benchmark's business, docs/performance.md)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ROWS = 2_000


@pytest.mark.celery_worker
def test_the_upload_bench_publishes_a_batch_through_the_api():
    env = {
        **os.environ,
        # A file this small is imported in the request; 0 sends it to the worker, the
        # path of the large files the benchmark is about.
        "UPLOAD_SYNC_MAX_BYTES": "0",
    }
    out = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "upload.py"),
            "--rows",
            str(ROWS),
            "--sizes",
            "",
            "--no-docs",
            "--db-suffix",
            f"_benchtest_{os.getpid()}",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])

    assert result["rows"] == ROWS
    assert result["mode"] == "worker"
    assert result["seconds"] > 0 and result["rows_per_s"] > 0
    assert result["peak_rss_mb"] > 0
    assert [s["rows"] for s in result["series"]] == [ROWS]

    worker = result["worker"]
    assert worker["http_status"] == 202  # imported by the Celery worker
    assert worker["job_s"] is not None
    assert worker["web_peak_rss_mb"] > 0 and worker["worker_peak_rss_mb"] > 0
    for mode in ("worker", "inprocess", "services"):
        run = result[mode]
        assert run["status"] == "published", mode
        assert run["task_count"] == ROWS, mode
        assert run["escrow_cents"] > 0, mode
    assert result["inprocess"]["http_status"] == 202
