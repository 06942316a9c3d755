#!/usr/bin/env python
"""Batch upload benchmark: a CSV of N rows through the REST API to a published batch.

    .venv/bin/python bench/upload.py --rows 100000

What is timed (the headline, mode ``worker``): a client streams the CSV file from disk
as ``multipart/form-data`` to ``POST /api/v1/projects/{id}/batches/`` (``Authorization:
Api-Key ...``; ``Content-Length`` computed up front, the body sent in 1 MiB chunks, so
the client never holds the file in memory). A file above ``UPLOAD_SYNC_MAX_BYTES`` is
answered 202 and imported by the ``import_batch`` Celery job: a real worker process
runs it while the client polls ``GET /api/v1/batches/{id}/`` every 50 ms (the batch
detail: ``/progress/`` has the row counts but not the status, and only the status says
that the import has committed). Then ``GET /api/v1/batches/{id}/quote/`` and ``POST
/api/v1/batches/{id}/publish/`` with ``expected_total_cents``. Seconds run from the
first byte of the upload request to the publish response. Setting up the requester,
funding them (``payouts.ledger.deposit``), the project, the API key and generating the
CSV are not timed.

The server is gunicorn, as in production (Procfile), in its own process: one worker
(``gthread``, 4 threads) so that every request is served by the process whose peak RSS
is reported, bound to a socket the bench opens on a free port of 127.0.0.1 and hands
over (``fd://``), so nothing else can take the port. A separate process (rather than a
WSGI server in a thread of the bench) keeps the client and the server apart: the
server's peak RSS is its own, not mixed with the client's, and they do not share a
GIL. The worker is ``celery -A marketplace worker -P solo`` on a queue of its own (the
solo pool runs the job in the worker's main process, so its peak RSS is the job's),
with the broker of the environment (``CELERY_BROKER_URL``, e.g. Redis; unset: the
filesystem transport, which polls every 0.1 s, in folders of the bench's own: the
child sets ``FAIRTASK_VAR_DIR`` to its temporary directory, so the queue bindings a
worker leaves behind never reach var/celery). Server and worker run with DEBUG off,
as in production, and with the API rates raised (``API_RATE``, ``API_UPLOAD_RATE``)
so that throttling never answers 429 to the bench. Peak RSS is each process's
``VmHWM`` (/proc) read once the run is over; ``peak_rss_mb`` is the larger of the two.

Secondary figures, same child process, same database, after the headline run
(``--modes`` selects; the first present gives ``seconds``/``rows_per_s``):

* ``inprocess``: the same API requests, but the worker is stopped and the job is run
  by the bench process itself (``marketplace.jobs.import_batch`` called directly, the
  body the worker would run, with the same settings and database) as soon as the 202
  arrives: the API path without the broker's pickup and the poll interval, which is
  all a real worker adds. The message the server enqueued is purged.
* ``services``: the services called directly (``batch_upload`` → ``batch_import`` →
  ``batch_publish``), no HTTP: what the API layer costs on top.

Each size runs in a fresh child process (with its own gunicorn and Celery worker): by
default 10,000 and 50,000 rows are run before ``--rows`` to show that memory stays flat
as the file grows (``--sizes`` changes them; ``--sizes ''`` runs only ``--rows``).

Database: the server of ``DATABASE_URL`` (or the embedded one when it is unset). A
dedicated database ``<name>_bench`` (``--db-suffix``) is created there (by the owner role
of ``DATABASE_OWNER_URL`` when the roles are split), migrated, used as the runtime role,
and dropped at the end, so the benchmark leaves nothing behind (the ledger is append-only:
its rows cannot be cleaned out of a shared database). ``--keep-db`` keeps it.

Prints one line per size and, as the last line, one JSON object: rows, seconds,
rows_per_s, peak_rss_mb (the ``worker`` mode's), the other modes, the series and the
machine. Unless ``--no-docs``, the figures are recorded in ``docs/performance.md``
under "Batch upload", in the subsection of the database kind (embedded or server),
leaving the other kind's figures in place.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import random
import re
import socket
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DOCS = ROOT / "docs" / "performance.md"
SECTION = "## Batch upload"
SUBSECTIONS = {
    "embedded": "### On the embedded PostgreSQL",
    "server": "### On a PostgreSQL server",
}
TARGET_ROWS_PER_S = 20_000
MODES = ("worker", "inprocess", "services")
CHUNK_BYTES = 1 << 20
POLL_S = 0.05
START_TIMEOUT_S = 90.0
IMPORT_TIMEOUT_S = 1800.0
HTTP_TIMEOUT_S = 600.0
UNTHROTTLED = "1000000/s"


# --- Database --------------------------------------------------------------------------


def base_urls() -> dict[str, str]:
    """DATABASE_URL (the runtime role) and, when the roles are split, DATABASE_OWNER_URL
    of the environment, or of the embedded server."""
    urls = {
        k: os.environ[k].strip()
        for k in ("DATABASE_URL", "DATABASE_OWNER_URL")
        if os.environ.get(k, "").strip()
    }
    if urls.get("DATABASE_URL"):
        return urls
    warnings.filterwarnings("ignore")
    from marketplace import embedded_db

    return embedded_db.urls()


def with_dbname(url: str, dbname: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + dbname, parts.query, parts.fragment))


def dbname_of(url: str) -> str:
    return urlsplit(url).path.lstrip("/") or "postgres"


LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")


def server_of(url: str) -> str:
    """``host:port`` of a database URL, without credentials (for the docs)."""
    parts = urlsplit(url)
    return f"{parts.hostname or 'localhost'}:{parts.port or 5432}"


def admin(url: str, statement: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(with_dbname(url, "postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL(statement).format(db=sql.Identifier(dbname_of(url))))


def create_bench_db(urls: dict[str, str], suffix: str) -> dict[str, str]:
    """Create (as the owner role, when the roles are split) and migrate the bench
    database; return its DATABASE_URL (and DATABASE_OWNER_URL)."""
    dbname = f"{dbname_of(urls['DATABASE_URL'])}{suffix}"[:63]
    bench = {name: with_dbname(url, dbname) for name, url in urls.items()}
    creator = bench.get("DATABASE_OWNER_URL", bench["DATABASE_URL"])
    admin(creator, "DROP DATABASE IF EXISTS {db} WITH (FORCE)")
    admin(creator, "CREATE DATABASE {db}")
    env = {
        **os.environ,
        **bench,
        "DJANGO_SETTINGS_MODULE": "marketplace.settings.dev",
    }
    subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "migrate", "--skip-checks", "-v", "0"],
        env=env,
        check=True,
        cwd=ROOT,
    )
    return bench


def open_bench_db(suffix: str) -> tuple[str, str]:
    """Create and migrate the bench database ``<name><suffix>`` (``create_bench_db``)
    and point this process's DATABASE_OWNER_URL at it when the roles are split. Returns
    (the runtime role's URL, the URL to drop it with: the owner's when there is one)."""
    urls = create_bench_db(base_urls(), suffix)
    if "DATABASE_OWNER_URL" in urls:
        os.environ["DATABASE_OWNER_URL"] = urls["DATABASE_OWNER_URL"]
    return urls["DATABASE_URL"], urls.get("DATABASE_OWNER_URL", urls["DATABASE_URL"])


# --- Child: processes and the HTTP client ----------------------------------------------


def write_csv(path: Path, rows: int) -> None:
    """Text-classification rows with an id and an extra column; every 20th row gold."""
    rnd = random.Random(rows)
    words = "order refund late broken thanks great delivery support account password invoice charged".split()
    with open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write("id,text,channel,_gold_label\n")
        for i in range(1, rows + 1):
            text = " ".join(rnd.choice(words) for _ in range(12))
            gold = ("Complaint" if i % 40 == 0 else "Question") if i % 20 == 0 else ""
            fh.write(f'{i},"Ticket {i}: {text}, ""urgent""",email,{gold}\n')


def peak_rss_mb(pid: int, field: str = "VmHWM") -> float | None:
    """The process's peak resident set size (``VmHWM``; ``VmRSS``: the current one),
    read while it is still running."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    match = re.search(rf"^{field}:\s+(\d+) kB", status, re.M)
    return round(int(match.group(1)) / 1024, 1) if match else None


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


class Process:
    """A server process of the bench, its output in a log file."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_path: Path, **kw: Any):
        self.name = name
        self.log_path = log_path
        with open(log_path, "wb") as log:
            self.proc = subprocess.Popen(
                argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, **kw
            )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def check(self) -> None:
        if self.proc.poll() is not None:
            raise RuntimeError(
                f"{self.name} exited ({self.proc.returncode}):\n{self.log()[-4000:]}"
            )

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_gunicorn(env: dict[str, str], tmp: Path) -> tuple[Process, int]:
    """gunicorn on a free port of 127.0.0.1: the bench binds and listens, gunicorn
    inherits the socket (``fd://``), so the port cannot be taken in between."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    port = sock.getsockname()[1]
    fd = sock.fileno()
    try:
        web = Process(
            "gunicorn",
            [
                sys.executable,
                "-m",
                "gunicorn",
                "marketplace.wsgi",
                "--bind",
                f"fd://{fd}",
                "--workers",
                "1",
                "--threads",
                "4",
                "--timeout",
                "300",
                "--graceful-timeout",
                "5",
                "--log-level",
                "warning",
            ],
            env,
            tmp / "gunicorn.log",
            pass_fds=(fd,),
        )
    finally:
        sock.close()  # gunicorn has its own copy
    return web, port


def start_celery(env: dict[str, str], tmp: Path, queue: str) -> Process:
    from marketplace.celery import solo_worker_argv

    return Process(
        "celery worker",
        solo_worker_argv(queue),
        env,
        tmp / "celery.log",
    )


def purge_queue(queue: str) -> None:
    """Drop what is left on the bench's queue (the in-process mode's message)."""
    from marketplace.celery import app

    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge(queue)


class Api:
    """A minimal client of the REST API (one connection per request)."""

    def __init__(self, port: int, key: str):
        self.port = port
        self.key = key

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        json_body: Any = None,
        headers: dict[str, str] | None = None,
        expect: tuple[int, ...] = (200,),
        timeout: float = HTTP_TIMEOUT_S,
    ) -> tuple[int, dict]:
        all_headers = {"Authorization": f"Api-Key {self.key}", "Accept": "application/json"}
        if json_body is not None:
            body = json.dumps(json_body).encode()
            all_headers["Content-Type"] = "application/json"
        all_headers.update(headers or {})
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=all_headers)
            response = conn.getresponse()
            raw = response.read()
        finally:
            conn.close()
        if response.status not in expect:
            raise RuntimeError(f"{method} {path}: HTTP {response.status}: {raw[:2000]!r}")
        return response.status, json.loads(raw) if raw else {}

    def upload(self, project_id: int, path: Path, name: str) -> tuple[int, dict]:
        """POST the file as multipart/form-data, streamed from disk: the length is
        computed up front and the body is a generator of 1 MiB chunks."""
        boundary = f"fairtask-bench-{uuid.uuid4().hex}"
        head = (
            f"--{boundary}\r\n"
            'Content-Disposition: form-data; name="name"\r\n\r\n'
            f"{name}\r\n"
            f"--{boundary}\r\n"
            f'Content-Disposition: form-data; name="file"; filename="{path.name}"\r\n'
            "Content-Type: text/csv\r\n\r\n"
        ).encode()
        tail = f"\r\n--{boundary}--\r\n".encode()

        def body() -> Iterator[bytes]:
            yield head
            with open(path, "rb") as fh:
                while chunk := fh.read(CHUNK_BYTES):
                    yield chunk
            yield tail

        return self.request(
            "POST",
            f"/api/v1/projects/{project_id}/batches/",
            body=body(),
            headers={
                "Content-Type": f"multipart/form-data; boundary={boundary}",
                "Content-Length": str(len(head) + path.stat().st_size + len(tail)),
            },
            expect=(201, 202),
        )


def wait_ready(api: Api, web: Process, worker: Process | None) -> None:
    """Until gunicorn answers an authenticated API request and the worker is ready."""
    deadline = time.monotonic() + START_TIMEOUT_S
    web_ready = False
    while True:
        web.check()
        if worker is not None:
            worker.check()
        if not web_ready:
            try:
                api.request("GET", "/api/v1/balance/", timeout=2)
                web_ready = True
            except (OSError, http.client.HTTPException):
                pass
        if web_ready and (worker is None or "ready." in worker.log()):
            return
        if time.monotonic() > deadline:
            logs = web.log()[-2000:] + (worker.log()[-2000:] if worker else "")
            raise RuntimeError(f"the servers did not start within {START_TIMEOUT_S} s:\n{logs}")
        time.sleep(0.1)


# --- Child: the runs -----------------------------------------------------------------------


def api_run(
    api: Api, *, project_id: int, csv_path: Path, rows: int, worker: Process | None
) -> dict:
    """One upload through the API to a published batch. With ``worker`` the Celery
    worker imports a large file (polled); without, this process runs the job body."""
    from marketplace.jobs import import_batch

    start = time.perf_counter()
    code, batch = api.upload(project_id, csv_path, f"bench {rows:,} rows")
    t_upload = time.perf_counter()
    batch_id = batch["id"]
    polls = 0
    if code == 202:
        if worker is not None:
            while batch["status"] == "importing":
                worker.check()
                if time.perf_counter() - t_upload > IMPORT_TIMEOUT_S:
                    raise RuntimeError(
                        f"batch {batch_id} still importing after {IMPORT_TIMEOUT_S} s"
                    )
                time.sleep(POLL_S)
                _, batch = api.request("GET", f"/api/v1/batches/{batch_id}/")
                polls += 1
        else:
            # Exactly what the worker runs: the task's body, called in this process.
            batch["status"] = import_batch(batch_id)
    t_import = time.perf_counter()
    if batch["status"] != "draft":
        raise RuntimeError(f"batch {batch_id} is {batch['status']}: {batch.get('import_errors')}")
    _, quote = api.request("GET", f"/api/v1/batches/{batch_id}/quote/")
    _, published = api.request(
        "POST",
        f"/api/v1/batches/{batch_id}/publish/",
        json_body={"expected_total_cents": quote["total_cost_cents"]},
    )
    end = time.perf_counter()
    if published["status"] != "published":
        raise RuntimeError(f"batch {batch_id} is {published['status']} after publishing")
    seconds = end - start
    return {
        "batch_id": batch_id,
        "seconds": round(seconds, 3),
        "rows_per_s": round(rows / seconds),
        "http_status": code,
        "upload_s": round(t_upload - start, 3),
        "import_s": round(t_import - t_upload, 3),
        "publish_s": round(end - t_import, 3),
        "polls": polls,
    }


def services_run(*, project: Any, user: Any, csv_path: Path, rows: int) -> dict:
    """The services called directly (no HTTP), the job body run in this process."""
    from marketplace import services
    from marketplace.services import batches as batch_services

    enqueued: list[int] = []
    original = batch_services._enqueue_import
    batch_services._enqueue_import = enqueued.append  # type: ignore[assignment]
    try:
        start = time.perf_counter()
        with open(csv_path, "rb") as fh:
            batch = services.batch_upload(
                project=project, user=user, fileobj=fh, filename=csv_path.name
            )
        t_upload = time.perf_counter()
        if batch.status == "importing":
            if enqueued != [batch.pk]:
                raise RuntimeError(f"batch {batch.pk}: enqueued {enqueued}")
            imported = services.batch_import(batch_id=batch.pk)
            if imported is None:
                raise RuntimeError(f"batch {batch.pk} vanished")
            batch = imported
        t_import = time.perf_counter()
        if batch.status != "draft":
            raise RuntimeError(f"batch {batch.pk} is {batch.status}: {batch.import_errors}")
        batch = services.batch_publish(batch=batch, user=user)
        end = time.perf_counter()
    finally:
        batch_services._enqueue_import = original  # type: ignore[assignment]
    seconds = end - start
    return {
        "batch_id": batch.pk,
        "seconds": round(seconds, 3),
        "rows_per_s": round(rows / seconds),
        "upload_s": round(t_upload - start, 3),
        "import_s": round(t_import - t_upload, 3),
        "publish_s": round(end - t_import, 3),
    }


def verify(batch_id: int, rows: int) -> dict:
    """Check, from the database, that the run left a published batch of ``rows`` tasks
    with its whole cost in escrow."""
    from marketplace.models import Batch, Task
    from payouts import ledger

    batch = Batch.objects.get(pk=batch_id)
    tasks = Task.objects.filter(batch_id=batch_id).count()
    escrow = ledger.balance_cents(ledger.batch_escrow_account(batch_id))
    total = batch.total_cost_cents
    if not (
        batch.status == "published"
        and batch.task_count == tasks == rows
        and total is not None
        and escrow == total > 0
    ):
        raise RuntimeError(
            f"batch {batch_id}: status {batch.status}, {batch.task_count} / {tasks} tasks for "
            f"{rows} rows, escrow {escrow} for a cost of {total}"
        )
    return {"status": batch.status, "task_count": tasks, "escrow_cents": escrow}


def job_runtime(worker: Process) -> float | None:
    """How long the import job ran in the worker, as Celery logs it ("Task
    marketplace.jobs.import_batch[...] succeeded in 1.23s"); None for a small file
    imported in the request (no job)."""
    pattern = re.compile(r"marketplace\.jobs\.import_batch\[[^\]]+\] succeeded in ([0-9.]+)s")
    deadline = time.monotonic() + 5
    while True:
        found = pattern.findall(worker.log())
        if found or time.monotonic() > deadline:
            return round(float(found[-1]), 3) if found else None
        time.sleep(0.05)


def child(rows: int, modes: list[str]) -> dict:
    with tempfile.TemporaryDirectory(prefix="fairtask-bench-") as tmp_name:
        tmp = Path(tmp_name)
        if os.environ.get("CELERY_BROKER_URL", "").strip() in ("", "filesystem://"):
            # The filesystem broker's folders (and var/'s other contents) of the bench's
            # own, for this process, gunicorn and the worker: the queue bindings a
            # worker leaves behind stay out of var/celery, and nothing of a `make run`
            # worker can meet the bench's. A Redis broker is shared: the queue of the
            # bench's own keeps the jobs apart there.
            os.environ["FAIRTASK_VAR_DIR"] = str(tmp / "var")
        return _child(tmp, rows, modes)


def _child(tmp: Path, rows: int, modes: list[str]) -> dict:
    import resource

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "marketplace.settings.dev")
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection

    from marketplace import services
    from marketplace.models import User
    from marketplace.services import api_keys
    from payouts import ledger

    result: dict[str, Any] = {"rows": rows}
    with ExitStack() as stack:
        upload_dir = tmp / "uploads"
        settings.FAIRTASK_UPLOAD_DIR = upload_dir  # this process's runs (inprocess, services)
        csv_path = tmp / "batch.csv"
        write_csv(csv_path, rows)
        size = csv_path.stat().st_size
        result["file_mb"] = round(size / 1024 / 1024, 2)

        # Setup, not timed: a funded requester, a project, an API key.
        user = User.objects.create_user(
            f"bench-{rows}-{time.time_ns()}@example.com", is_requester=True, active_role="requester"
        )
        ledger.deposit(key=f"bench-deposit-{user.pk}", user=user, amount_cents=10**12)
        project = services.project_create(
            owner=user,
            title="Bench: classify tickets",
            template_kind="text_classification",
            template_config={"labels": ["Question", "Complaint", "Praise", "Other"]},
            reward_cents=10,
            estimated_seconds=30,
            assignments_per_task=3,
        )
        _key, raw_key = api_keys.api_key_create(user=user, name="bench/upload.py")

        api_modes = [m for m in modes if m in ("worker", "inprocess")]
        if api_modes:
            queue = f"bench-{uuid.uuid4().hex[:12]}"
            env = {
                **os.environ,
                "PYTHONUNBUFFERED": "1",
                "UPLOAD_DIR": str(upload_dir),
                "CELERY_QUEUE": queue,
                "API_RATE": UNTHROTTLED,
                "API_UPLOAD_RATE": UNTHROTTLED,
            }
            if size > settings.FAIRTASK_UPLOAD_MAX_BYTES:  # a limit, not a cost: lift it
                env["UPLOAD_MAX_BYTES"] = str(size + CHUNK_BYTES)
                settings.FAIRTASK_UPLOAD_MAX_BYTES = size + CHUNK_BYTES
            web, port = start_gunicorn(env, tmp)
            stack.callback(web.stop)
            stack.callback(purge_queue, queue)  # on the way out, after the worker stopped
            worker = None
            if "worker" in api_modes:
                worker = start_celery(env, tmp, queue)
                stack.callback(worker.stop)
            api = Api(port, raw_key)
            wait_ready(api, web, worker)
            web_pids = children_of(web.proc.pid)
            if len(web_pids) != 1:
                raise RuntimeError(f"expected one gunicorn worker, found {web_pids}")
            # Resident before any upload (Django loaded, the API answered once).
            web_before = peak_rss_mb(web_pids[0], "VmRSS")
            worker_before = peak_rss_mb(worker.proc.pid, "VmRSS") if worker else None

            if worker is not None:
                run = api_run(
                    api, project_id=project.pk, csv_path=csv_path, rows=rows, worker=worker
                )
                run["web_peak_rss_mb"] = peak_rss_mb(web_pids[0])
                run["worker_peak_rss_mb"] = peak_rss_mb(worker.proc.pid)
                run["web_rss_before_mb"] = web_before
                run["worker_rss_before_mb"] = worker_before
                run["job_s"] = job_runtime(worker) if run["http_status"] == 202 else None
                worker.stop()
                run.update(verify(run["batch_id"], rows))
                result["worker"] = run
            if "inprocess" in api_modes:
                run = api_run(api, project_id=project.pk, csv_path=csv_path, rows=rows, worker=None)
                purge_queue(queue)
                run.update(verify(run["batch_id"], rows))
                result["inprocess"] = run
            web.stop()
        if "services" in modes:
            run = services_run(project=project, user=user, csv_path=csv_path, rows=rows)
            run.update(verify(run["batch_id"], rows))
            result["services"] = run
        result["bench_peak_rss_mb"] = round(
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1
        )
        with connection.cursor() as cur:
            cur.execute("SHOW server_version")
            result["postgresql"] = cur.fetchone()[0]

    # The headline: the first of the modes that ran (worker, else inprocess, else services).
    head = next(result[m] for m in MODES if m in result)
    result["mode"] = next(m for m in MODES if m in result)
    result["seconds"] = head["seconds"]
    result["rows_per_s"] = head["rows_per_s"]
    if "worker" in result:
        rss = [result["worker"]["web_peak_rss_mb"], result["worker"]["worker_peak_rss_mb"]]
        result["peak_rss_mb"] = max(r for r in rss if r is not None) if any(rss) else None
    else:
        result["peak_rss_mb"] = result["bench_peak_rss_mb"]
    return result


# --- Parent ----------------------------------------------------------------------------------


def machine() -> dict:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = None
    try:
        kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))  # type: ignore[union-attr]
        mem_gb = round(kb / 1024 / 1024, 1)
    except (OSError, AttributeError):
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu": model or platform.processor() or "unknown",
        "memory_gb": mem_gb,
        "python": platform.python_version(),
        "os": platform.platform(terse=True),
    }


METHOD = """\
`bench/upload.py --rows N` generates a CSV (id, text, channel, `_gold_label` on every 20th
row; ~130 bytes a row) and sends it through the REST API as a client script would, on a
dedicated database:

1. `POST /api/v1/projects/{id}/batches/` with an API key, the file streamed from disk as
   multipart/form-data (`Content-Length` computed up front, 1 MiB chunks). Above 1 MB
   (`UPLOAD_SYNC_MAX_BYTES`) the answer is 202 and the `import_batch` job imports it;
2. a real Celery worker (`celery -A marketplace worker -P solo`, a queue of its own)
   runs the job while the client polls `GET /api/v1/batches/{id}/` every 50 ms until the
   batch is a `draft` (`…/progress/` has the row counts but not the status);
3. `GET /api/v1/batches/{id}/quote/`, then `POST /api/v1/batches/{id}/publish/` with
   `expected_total_cents` (3 assignments per task: the escrow hold of the whole batch).

**Seconds** run from the first byte of the upload to the publish response; the requester,
their funding (`ledger.deposit`), the project and the API key are set up before. The
server is gunicorn as in the Procfile (one `gthread` worker, 4 threads) in its own
process, DEBUG off, API rates raised so that throttling never answers. "upload" is the
upload request up to its 202; "import" the wait from the 202 until the poll sees the
draft, in brackets the job's run time as the worker logs it (the job can start before
the 202 reaches the client; the rest is the broker's pickup, up to 0.1 s with the
filesystem transport's polling, and the poll interval); "publish" the quote and publish
requests. Peak RSS is each process's high-water mark (`VmHWM`), in brackets its resident
size once started, before the upload. Each size runs in fresh processes (its own
gunicorn and worker) so that its peak RSS is its own; the sizes run one after the other
on the same database.

For comparison, in the same runs, after the headline one: the same API requests with
the job body run by the bench process as soon as the 202 arrives (no broker, no
polling), and the services called directly, without HTTP (`batch_upload` →
`batch_import` → `batch_publish`)."""

MEMORY = """\
Memory stays flat: the client streams the file, Django spools the upload to a temporary
file, the service copies it to the upload directory in 1 MiB chunks, and the job parses
it through a text stream and sends it to PostgreSQL by one `COPY` in blocks of 2,000 rows,
so no process's peak RSS grows with the number of rows (most of it is the Python/Django
process before the run)."""


def _import_cell(run: dict) -> str:
    if run["http_status"] != 202:
        return "in the request"
    job = f"{run['job_s']} s" if run.get("job_s") is not None else "?"
    return f"{run['import_s']} s ({job})"


def subsection(results: list[dict], info: dict, kind: str, server: str) -> str:
    main = results[-1]
    where = (
        "the embedded server (`DATABASE_URL` unset; same host)"
        if kind == "embedded"
        else f"the server at `{server}` (`DATABASE_URL`"
        + ("; same host)" if server.split(":")[0] in LOCAL_HOSTS else ")")
    )
    lines = [
        f"{SUBSECTIONS[kind]} ({main['postgresql'].split()[0]})",
        "",
        f"Last run {datetime.now(UTC).date().isoformat()} on {where}. Machine: "
        f"{info['nproc']} CPUs ({info['cpu']}), {info['memory_gb']} GB RAM, {info['os']}, "
        f"Python {info['python']}, PostgreSQL {main['postgresql']}.",
        "",
    ]
    ordered = sorted(results, key=lambda r: r["rows"])
    if all("worker" in r for r in results):
        lines += [
            "Through the API, import by the Celery worker (the headline):",
            "",
            "| rows | file | seconds | rows/s | upload | import (job) | publish | peak RSS web (before) | peak RSS worker (before) |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in ordered:
            w = r["worker"]
            lines.append(
                f"| {r['rows']:,} | {r['file_mb']} MB | **{w['seconds']}** | **{w['rows_per_s']:,}** "
                f"| {w['upload_s']} s | {_import_cell(w)} | {w['publish_s']} s "
                f"| {w['web_peak_rss_mb']} MB ({w['web_rss_before_mb']}) "
                f"| {w['worker_peak_rss_mb']} MB ({w['worker_rss_before_mb']}) |"
            )
        lines.append("")
    others = [m for m in ("inprocess", "services") if all(m in r for r in results)]
    if others:
        label = {"inprocess": "API, job in-process", "services": "services only"}
        lines += [
            "For comparison (same runs):",
            "",
            "| rows | "
            + " | ".join(f"{label[m]}: seconds | rows/s" for m in others)
            + " | peak RSS bench process |",
            "|---:|" + "---:|---:|" * len(others) + "---:|",
        ]
        for r in ordered:
            cells = " | ".join(f"{r[m]['seconds']} | {r[m]['rows_per_s']:,}" for m in others)
            lines.append(f"| {r['rows']:,} | {cells} | {r['bench_peak_rss_mb']} MB |")
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


def write_docs(results: list[dict], info: dict, kind: str, server: str) -> None:
    text = DOCS.read_text() if DOCS.exists() else "# Performance\n"
    pattern = re.compile(rf"^{re.escape(SECTION)}\n.*?(?=^## |\Z)", re.S | re.M)
    found = pattern.search(text)
    # Keep the other database kind's figures from an earlier run.
    kept: dict[str, str] = {}
    if found:
        for other, heading in SUBSECTIONS.items():
            sub = re.search(rf"^{re.escape(heading)}.*?(?=^### |\Z)", found.group(0), re.S | re.M)
            if sub and other != kind:
                kept[other] = sub.group(0).rstrip("\n") + "\n"
    kept[kind] = subsection(results, info, kind, server)
    parts = [
        SECTION,
        "",
        f"Target: ≥ {TARGET_ROWS_PER_S:,} rows/s end to end, through the API. For comparison, issue 4 reports that",
        "Turkle, the open-source MTurk clone, measured about 2,700 rows/s through its admin upload",
        "and 770 rows/s through its API on the same kind of machine (not re-measured here).",
        "",
        METHOD,
        "",
        MEMORY,
        "",
        # Last: each subsection runs to the next one or to the end of the section.
        *(kept[k] for k in SUBSECTIONS if k in kept),
    ]
    section = "\n".join(parts).rstrip("\n") + "\n\n"
    if found:
        text = pattern.sub(lambda _m: section, text)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    DOCS.write_text(text.rstrip("\n") + "\n")


def summary_line(r: dict) -> str:
    parts = [f"{r['rows']:>8,} rows ({r['file_mb']} MB)"]
    if "worker" in r:
        w = r["worker"]
        parts.append(
            f"API+worker {w['seconds']:.2f} s = {w['rows_per_s']:,} rows/s (upload {w['upload_s']} s, "
            f"import {_import_cell(w)}, publish {w['publish_s']} s; "
            f"peak RSS web {w['web_peak_rss_mb']} MB, worker {w['worker_peak_rss_mb']} MB)"
        )
    for mode, label in (("inprocess", "API+job in-process"), ("services", "services")):
        if mode in r:
            parts.append(f"{label} {r[mode]['seconds']:.2f} s = {r[mode]['rows_per_s']:,} rows/s")
    parts.append(f"bench process peak RSS {r['bench_peak_rss_mb']} MB")
    return "; ".join(parts)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument(
        "--sizes",
        default="10000,50000",
        help="other sizes to run first, comma-separated (default 10000,50000; '' for none)",
    )
    parser.add_argument(
        "--modes",
        default=",".join(MODES),
        help=f"comma-separated, of {', '.join(MODES)} (default all; the first present is the headline)",
    )
    parser.add_argument("--no-docs", action="store_true", help="do not update docs/performance.md")
    parser.add_argument("--keep-db", action="store_true", help="keep the dedicated bench database")
    parser.add_argument(
        "--db-suffix", default="_bench", help="the bench database is <name><suffix>"
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if not modes or set(modes) - set(MODES):
        parser.error(f"--modes: choose from {', '.join(MODES)}")
    if not re.fullmatch(r"_[a-z0-9_]+", args.db_suffix):
        parser.error("--db-suffix: an underscore, then lower-case letters, digits, underscores")

    if args.child:
        print(json.dumps(child(args.rows, modes)))
        return 0

    embedded = not os.environ.get("DATABASE_URL", "").strip()
    urls = base_urls()
    url = urls["DATABASE_URL"]
    bench_urls = create_bench_db(urls, args.db_suffix)
    bench_url = bench_urls["DATABASE_URL"]
    creator = bench_urls.get("DATABASE_OWNER_URL", bench_url)
    extra = sorted({int(x) for x in args.sizes.split(",") if x.strip()} - {args.rows})
    sizes = [*extra, args.rows]  # --rows last: its figures are the last line
    results = []
    try:
        for rows in sizes:
            env = {
                **os.environ,
                # The runtime role only, as web and worker run in production.
                "DATABASE_URL": bench_url,
                "DATABASE_OWNER_URL": "",
                "DJANGO_SETTINGS_MODULE": "marketplace.settings.dev",
                "DEBUG": "0",  # as in production: no SQL logging
            }
            out = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--child",
                    "--rows",
                    str(rows),
                    "--modes",
                    ",".join(modes),
                ],
                env=env,
                cwd=ROOT,
                capture_output=True,
                text=True,
            )
            if out.returncode != 0:
                sys.stderr.write(out.stdout[-4000:] + out.stderr[-8000:])
                raise SystemExit(f"the {rows:,}-row run failed ({out.returncode})")
            result = json.loads(out.stdout.strip().splitlines()[-1])
            results.append(result)
            print(summary_line(result), flush=True)
    finally:
        if not args.keep_db:
            admin(creator, "DROP DATABASE IF EXISTS {db} WITH (FORCE)")
    info = machine()
    kind = "embedded" if embedded else "server"
    if not args.no_docs:
        write_docs(results, info, kind, server_of(url))
    main_result = dict(results[-1])
    main_result["database"] = kind
    main_result["series"] = [
        {k: r[k] for k in ("rows", "seconds", "rows_per_s", "peak_rss_mb")} for r in results
    ]
    main_result["machine"] = info
    main_result["target_rows_per_s"] = TARGET_ROWS_PER_S
    main_result["meets_target"] = main_result["rows_per_s"] >= TARGET_ROWS_PER_S
    print(json.dumps(main_result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
