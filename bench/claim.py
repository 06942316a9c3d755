#!/usr/bin/env python
"""Claim + submit throughput over HTTP (issue 16).

    .venv/bin/python bench/claim.py --workers 32 --seconds 20

K simulated workers (``--workers``), each one keep-alive HTTP connection from one
asyncio client process (cheap: the client shares the machine's cores with the server),
loop accept → submit on one hot project for ``--seconds``, against the app served by
gunicorn (as in the Procfile: ``gthread``, ``--gunicorn-workers`` × ``--threads``,
DEBUG off, persistent database connections) on the PostgreSQL of ``DATABASE_URL``:

* accept: ``POST /api/v1/worker/projects/{id}/claim/`` with the worker's session cookie
  and CSRF header (as the task page's JavaScript sends it); the answer carries the
  assignment's ``submit_token``;
* submit: ``POST /api/v1/worker/submit/`` with ``{"token", "answers"}`` and no cookie
  (as the sandboxed frame posts it).

The same run also measures the floor with the same client and server: a bare view pair
on the same tables doing only the ``SKIP LOCKED`` claim and the submit
(``bench/floor_urls.py``: no session, auth, CSRF, events or counters) on a fresh hot
batch. The two alternate in ``--slices`` slices each (default 4 × seconds/4), so a
shared machine's changing load weighs on both alike. ``ratio`` = completed_per_s /
floor_per_s.

Afterwards, from the database: ``duplicates`` (a worker twice on one task) and
``over_assigned`` (tasks with more assignments holding a slot than they need).

Setup, not timed: a dedicated database ``<name>_claim`` (migrated; dropped at the end
unless ``--keep-db``), a funded requester, a project with ``--tasks`` rows × 3
assignments published through the services, K workers logged in (Django sessions).
The cache (claim rate limits, API throttles, and with it sessions read through
``cached_db``) is Redis when ``CACHE_URL`` is set, as in production, else each gunicorn
process's local memory (reported as ``cache``). Claim rate limits and API throttles are
raised for the run (``CLAIMS_PER_MINUTE``,
``API_RATE``) so that they never answer 429 to the bench.

Last line: one JSON object with workers, completed, completed_per_s, accept_p95_ms,
accept_p99_ms, submit_p95_ms, duplicates, over_assigned, floor_per_s, ratio, errors and
the machine. ``--docs`` records the figures in docs/performance.md ("Claim and submit").
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

UNLIMITED = "100000000"


# --- Setup (Django, in this process) ------------------------------------------------------


def setup_django(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.floor_settings"
    os.environ["CLAIMS_PER_MINUTE"] = UNLIMITED
    import django

    django.setup()


def hot_batch(tasks: int, per_task: int = 3) -> tuple[int, int]:
    """(project id, batch id) of a freshly published hot project."""
    from marketplace import services
    from marketplace.models import User
    from payouts import ledger

    n = User.objects.count()
    req = User.objects.create_user(f"req{n}@bench.example", "x", is_requester=True)
    ledger.deposit(key=f"bench-deposit-{req.pk}", user=req, amount_cents=10**11)
    project = services.project_create(
        owner=req,
        title="Hot project",
        template_kind="text_classification",
        template_config={"labels": ["A", "B"]},
        reward_cents=10,
        estimated_seconds=30,
        assignments_per_task=per_task,
    )
    csv = "text\n" + "".join(f"row {i}\n" for i in range(tasks))
    batch = services.batch_upload(
        project=project, user=req, fileobj=io.BytesIO(csv.encode()), filename="hot.csv"
    )
    batch = services.batch_publish(batch=batch, user=req)
    return project.pk, batch.pk


def logged_in_workers(k: int) -> list[dict[str, Any]]:
    """K workers, each with a session cookie and a CSRF token (a page load's)."""
    from django.conf import settings
    from django.middleware.csrf import _get_new_csrf_string
    from django.test import Client

    from marketplace.models import User

    base = User.objects.count()
    out = []
    for i in range(k):
        user = User.objects.create_user(
            f"w{base + i}@bench.example", "x", is_worker=True, active_role="worker"
        )
        client = Client()
        client.force_login(user)
        csrf = _get_new_csrf_string()
        cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}; {settings.CSRF_COOKIE_NAME}={csrf}"
        out.append({"id": user.pk, "cookie": cookie, "csrf": csrf})
    return out


def integrity(batch_ids: list[int]) -> tuple[int, int]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM (SELECT task_id, worker_id FROM tasks_assignment "
            "WHERE batch_id = ANY(%s) GROUP BY 1, 2 HAVING count(*) > 1) d",
            [batch_ids],
        )
        duplicates = cursor.fetchone()[0]
        cursor.execute(
            "SELECT count(*) FROM (SELECT a.task_id FROM tasks_assignment a "
            "JOIN marketplace_task t ON t.id = a.task_id "
            "WHERE a.batch_id = ANY(%s) AND a.status IN ('accepted','submitted','approved','rejected') "
            "GROUP BY a.task_id, t.assignments_needed HAVING count(*) > t.assignments_needed) o",
            [batch_ids],
        )
        over = cursor.fetchone()[0]
    return duplicates, over


# --- Server ------------------------------------------------------------------------------


def start_gunicorn(
    env: dict[str, str], log: Path, workers: int, threads: int
) -> tuple[subprocess.Popen, int]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    port = sock.getsockname()[1]
    fd = sock.fileno()
    with open(log, "wb") as fh:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "marketplace.wsgi",
                "--bind",
                f"fd://{fd}",
                "--workers",
                str(workers),
                "--worker-class",
                "gthread",
                "--threads",
                str(threads),
                "--keep-alive",
                "30",
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=env,
            stdout=fh,
            stderr=subprocess.STDOUT,
            pass_fds=(fd,),
        )
    sock.close()
    return proc, port


# --- Client (asyncio, keep-alive HTTP/1.1) -------------------------------------------------


class Conn:
    def __init__(self, port: int):
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, path: str, body: dict, headers: dict[str, str]) -> tuple[int, dict]:
        for attempt in (1, 2):
            if self.writer is None:
                self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
            payload = json.dumps(body).encode()
            head = [
                f"POST {path} HTTP/1.1",
                "Host: 127.0.0.1",
                "Content-Type: application/json",
                "Accept: application/json",
                f"Content-Length: {len(payload)}",
                *(f"{k}: {v}" for k, v in headers.items()),
            ]
            try:
                self.writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + payload)
                assert self.reader is not None
                status_line = await self.reader.readline()
                if not status_line:
                    raise ConnectionError("closed")
                status = int(status_line.split()[1])
                length, close = 0, False
                while True:
                    line = await self.reader.readline()
                    if line in (b"\r\n", b""):
                        break
                    name, _, value = line.decode().partition(":")
                    if name.lower() == "content-length":
                        length = int(value)
                    elif name.lower() == "connection" and "close" in value.lower():
                        close = True
                raw = await self.reader.readexactly(length) if length else b""
                if close:
                    self.writer.close()
                    self.writer = None
                return status, json.loads(raw) if raw else {}
            except (ConnectionError, asyncio.IncompleteReadError):
                if self.writer is not None:
                    self.writer.close()
                self.writer = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


async def worker_loop(
    port: int, w: dict, claim_path: str, submit_path: Any, deadline: float, stats: dict
) -> None:
    conn = Conn(port)
    claim_headers = {
        "Cookie": w["cookie"],
        "X-CSRFToken": w["csrf"],
        "Referer": f"http://127.0.0.1:{port}/",
    }
    while time.perf_counter() < deadline:
        t0 = time.perf_counter()
        status, body = await conn.request(claim_path, {}, claim_headers)
        t1 = time.perf_counter()
        if status != 201:
            code = body.get("error", {}).get("code", str(status))
            stats["errors"][code] = stats["errors"].get(code, 0) + 1
            if code == "no_task_left":
                return
            await asyncio.sleep(0.01)
            continue
        stats["accept"].append(t1 - t0)
        path, payload = submit_path(body)
        status, answer = await conn.request(path, payload, {})
        t2 = time.perf_counter()
        if status != 200:
            code = answer.get("error", {}).get("code", str(status))
            stats["errors"][code] = stats["errors"].get(code, 0) + 1
            continue
        stats["submit"].append(t2 - t1)
        stats["completed"] += 1


# --- CPU accounting (Linux /proc): where a phase's CPU went --------------------------------

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _proc_cpu(pid: str) -> tuple[str, int, float]:
    """(command name, parent pid, CPU seconds) of one process, from /proc/<pid>/stat."""
    raw = Path(f"/proc/{pid}/stat").read_text()
    name = raw[raw.index("(") + 1 : raw.rindex(")")]
    fields = raw[raw.rindex(")") + 2 :].split()
    # fields[1] is ppid; utime, stime, cutime, cstime are fields 14-17 of stat (11-14
    # here). The children's part keeps the CPU of processes that exited and were waited
    # for (a replaced gunicorn worker, a closed PostgreSQL backend) in the sum.
    return name, int(fields[1]), sum(int(f) for f in fields[11:15]) / _TICK


def cpu_snapshot(server_pid: int) -> dict[str, float]:
    """CPU seconds used so far by the gunicorn server (master and its workers), by every
    PostgreSQL process on this machine (the bench's backends; on a shared machine, others'
    too) and by this client process."""
    out = {"server": 0.0, "postgres": 0.0}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            name, ppid, cpu = _proc_cpu(pid)
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile
        if int(pid) == server_pid or ppid == server_pid:
            out["server"] += cpu
        elif name.startswith("postgres"):
            out["postgres"] += cpu
    t = os.times()
    out["client"] = t.user + t.system
    return out


async def drive(
    port: int,
    workers: list[dict],
    claim_path_for: Any,
    submit_path: Any,
    seconds: float,
    server_pid: int | None = None,
) -> dict:
    stats: dict[str, Any] = {"accept": [], "submit": [], "completed": 0, "errors": {}}
    before = cpu_snapshot(server_pid) if server_pid and Path("/proc/self/stat").exists() else None
    start = time.perf_counter()
    deadline = start + seconds
    await asyncio.gather(
        *(worker_loop(port, w, claim_path_for(w), submit_path, deadline, stats) for w in workers)
    )
    stats["elapsed"] = time.perf_counter() - start
    if before is not None:
        after = cpu_snapshot(server_pid)  # type: ignore[arg-type]
        stats["cpu"] = {k: after[k] - before[k] for k in before}
    return stats


def merged(parts: list[dict]) -> dict:
    out: dict[str, Any] = {"accept": [], "submit": [], "completed": 0, "errors": {}, "elapsed": 0.0}
    out["cpu"] = {}
    for part in parts:
        for k, v in part.get("cpu", {}).items():
            out["cpu"][k] = out["cpu"].get(k, 0.0) + v
        out["accept"] += part["accept"]
        out["submit"] += part["submit"]
        out["completed"] += part["completed"]
        out["elapsed"] += part["elapsed"]
        for code, n in part["errors"].items():
            out["errors"][code] = out["errors"].get(code, 0) + n
    return out


def per_pair_cpu(stats: dict) -> dict[str, float]:
    n = stats["completed"]
    return {k: round(1000 * v / n, 2) for k, v in stats.get("cpu", {}).items()} if n else {}


def pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    s = sorted(values)
    return round(1000 * s[min(len(s) - 1, int(q * len(s)))], 1)


def wait_ready(port: int, proc: subprocess.Popen, log: Path) -> None:
    import http.client

    for _ in range(600):
        if proc.poll() is not None:
            raise RuntimeError(log.read_text()[-3000:])
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            c.request("GET", "/healthz")
            c.getresponse().read()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("gunicorn did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--tasks", type=int, default=20_000)
    parser.add_argument("--gunicorn-workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument(
        "--slices",
        type=int,
        default=4,
        help="real and floor alternate in this many slices each (1: one phase each)",
    )
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()

    import upload as upload_bench  # bench/upload.py: database helpers

    url, creator = upload_bench.open_bench_db("_claim")
    setup_django(url)
    from django.db import connection

    server = None
    try:
        project_id, batch_id = hot_batch(args.tasks)
        _floor_project, floor_batch = hot_batch(args.tasks)
        workers = logged_in_workers(args.workers)
        connection.close()
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "DJANGO_SETTINGS_MODULE": "bench.floor_settings",
            "DEBUG": "0",
            "CLAIMS_PER_MINUTE": UNLIMITED,
            "API_RATE": "100000000/s",
            "MAX_ACCEPTED": "5",
            # Steady state: no worker recycling (gunicorn.conf.py's max_requests, a leak
            # guard) mid-run, which would land on the real or the floor phase by chance.
            "GUNICORN_MAX_REQUESTS": "0",
        }
        tmp = Path(tempfile.mkdtemp(prefix="bench-claim-"))
        server, port = start_gunicorn(
            env, tmp / "gunicorn.log", args.gunicorn_workers, args.threads
        )
        wait_ready(port, server, tmp / "gunicorn.log")

        def real_submit(body: dict) -> tuple[str, dict]:
            return "/api/v1/worker/submit/", {
                "token": body["submit_token"],
                "answers": {"label": "A"},
            }

        def floor_submit(body: dict) -> tuple[str, dict]:
            return f"/bench-floor/submit/{body['id']}/", {"answers": {"label": "A"}}

        real_path = lambda w: f"/api/v1/worker/projects/{project_id}/claim/"  # noqa: E731
        floor_path = lambda w: f"/bench-floor/claim/{floor_batch}/{w['id']}/"  # noqa: E731
        if args.warmup:
            asyncio.run(drive(port, workers, real_path, real_submit, args.warmup))
            asyncio.run(drive(port, workers, floor_path, floor_submit, args.warmup))
        # Real and floor alternate in slices, so that both see the same load from the
        # rest of the machine (a shared machine's load drifts over a 20 s phase).
        slice_s = args.seconds / args.slices
        real_parts, floor_parts = [], []
        for _ in range(args.slices):
            real_parts.append(
                asyncio.run(drive(port, workers, real_path, real_submit, slice_s, server.pid))
            )
            floor_parts.append(
                asyncio.run(drive(port, workers, floor_path, floor_submit, slice_s, server.pid))
            )
        real, floor = merged(real_parts), merged(floor_parts)
        duplicates, over = integrity([batch_id, floor_batch])
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        connection.close()
        if not args.keep_db:
            upload_bench.admin(creator, "DROP DATABASE IF EXISTS {db} WITH (FORCE)")

    per_s = real["completed"] / real["elapsed"]
    floor_per_s = floor["completed"] / floor["elapsed"]
    result = {
        "workers": args.workers,
        "seconds": args.seconds,
        "slices": args.slices,
        "completed": real["completed"],
        "completed_per_s": round(per_s, 1),
        "accept_p50_ms": pct(real["accept"], 0.5),
        "accept_p95_ms": pct(real["accept"], 0.95),
        "accept_p99_ms": pct(real["accept"], 0.99),
        "submit_p95_ms": pct(real["submit"], 0.95),
        "duplicates": duplicates,
        "over_assigned": over,
        "floor_per_s": round(floor_per_s, 1),
        "floor_accept_p99_ms": pct(floor["accept"], 0.99),
        "ratio": round(per_s / floor_per_s, 2) if floor_per_s else None,
        "errors": real["errors"],
        "floor_errors": floor["errors"],
        # Milliseconds of CPU per completed pair, by process group (see cpu_snapshot).
        "cpu_ms_per_pair": per_pair_cpu(real),
        "floor_cpu_ms_per_pair": per_pair_cpu(floor),
        "gunicorn": f"{args.gunicorn_workers} gthread workers x {args.threads} threads",
        "machine": f"{os.cpu_count()} CPUs, {platform.platform()}, Python {platform.python_version()}",
        "load_avg_1m": round(os.getloadavg()[0], 1),
        "cache": "redis" if os.environ.get("CACHE_URL") else "local memory",
    }
    print(
        f"{result['completed_per_s']}/s completed (floor {result['floor_per_s']}/s, ratio {result['ratio']}); "
        f"accept p95 {result['accept_p95_ms']} ms p99 {result['accept_p99_ms']} ms; "
        f"duplicates {duplicates}, over-assigned {over}"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
