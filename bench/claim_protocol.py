#!/usr/bin/env python
"""Does ``FOR SHARE`` on one hot batch row cost claim throughput? (issue 16)

    .venv/bin/python bench/claim_protocol.py --procs 8,32 --seconds 10

Two ways for a claim to keep a concurrent cancel from releasing escrow the claim is
about to bind (``docs/architecture.md``, "Locking"):

* ``share``: the claim takes ``FOR SHARE`` on the batch row before taking a task; a
  cancel's ``FOR NO KEY UPDATE`` waits for every claim in flight. Every concurrent
  share lock on one row turns its ``xmax`` into a multixact (written to pg_multixact,
  looked up by every later locker).
* ``counters``: no batch lock; the claim updates one of 16 counter rows of the batch and
  then re-reads the batch status; a cancel locks all counter rows before reading what
  is owed.

K processes (``--procs``; each its own database connection, no GIL shared) loop claim →
submit through the services (``assignment_claim``, ``assignment_submit``) on one hot
project for ``--seconds``; both protocols run on fresh batches of the same database,
alternately, ``--rounds`` times. Prints completed/s and claim p50/p95/p99 per protocol
and K; the last line is one JSON object. Database: a dedicated ``<name>_proto`` on the
server of ``DATABASE_URL`` (dropped at the end unless ``--keep-db``).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def setup_django(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "marketplace.settings.dev")
    os.environ["CLAIMS_PER_MINUTE"] = "100000000"
    import django

    django.setup()


def make_project(tasks: int, per_task: int) -> int:
    import io

    from marketplace import services
    from marketplace.models import User
    from payouts import ledger

    n = User.objects.count()
    req = User.objects.create_user(f"req{n}@bench.example", "x", is_requester=True)
    ledger.deposit(key=f"bench-deposit-{req.pk}", user=req, amount_cents=10**10)
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
    services.batch_publish(batch=batch, user=req)
    return project.pk


def make_workers(k: int) -> list[int]:
    from marketplace.models import User

    base = User.objects.count()
    return [
        User.objects.create_user(f"w{base + i}@bench.example", "x", is_worker=True).pk
        for i in range(k)
    ]


def child(url, protocol, project_id, worker_id, seconds, ready, go, out):  # noqa: ANN001
    setup_django(url)
    from marketplace.models import Project, User
    from tasks import services

    services.CLAIM_SHARE_LOCK = protocol == "share"
    worker = User.objects.get(pk=worker_id)
    project = Project.objects.get(pk=project_id)
    User.objects.filter(pk=worker_id).exists()  # connect before the start
    ready.put(worker_id)
    go.wait()
    done, claims, errors = 0, [], 0
    end = time.time() + seconds
    while time.time() < end:
        t0 = time.perf_counter()
        try:
            a = services.assignment_claim(worker=worker, project=project)
        except Exception:
            errors += 1
            continue
        claims.append(time.perf_counter() - t0)
        services.assignment_submit(token=a.submit_token, answers={"label": "A"})
        done += 1
    out.put((done, claims, errors))


def run(url: str, protocol: str, k: int, seconds: float, tasks: int) -> dict:
    from django.db import connection

    project_id = make_project(tasks, 3)
    workers = make_workers(k)
    connection.close()
    ctx = mp.get_context("spawn")
    out, ready, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    procs = [
        ctx.Process(target=child, args=(url, protocol, project_id, w, seconds, ready, go, out))
        for w in workers
    ]
    for p in procs:
        p.start()
    for _ in procs:
        ready.get()
    go.set()
    results = [out.get() for _ in procs]
    for p in procs:
        p.join()
    done = sum(r[0] for r in results)
    lat = sorted(x for r in results for x in r[1])

    def pct(q: float) -> float:
        return round(1000 * lat[min(len(lat) - 1, int(q * len(lat)))], 1) if lat else 0.0

    return {
        "protocol": protocol,
        "procs": k,
        "completed": done,
        "completed_per_s": round(done / seconds, 1),
        "claim_p50_ms": pct(0.5),
        "claim_p95_ms": pct(0.95),
        "claim_p99_ms": pct(0.99),
        "errors": sum(r[2] for r in results),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--procs", default="8,32")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--tasks", type=int, default=20_000)
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()

    import upload as upload_bench  # bench/upload.py: database helpers

    url = upload_bench.create_bench_db(upload_bench.base_url(), "_proto")
    setup_django(url)
    rows = []
    try:
        for k in [int(x) for x in args.procs.split(",")]:
            for _ in range(args.rounds):
                for protocol in ("share", "counters"):
                    r = run(url, protocol, k, args.seconds, args.tasks)
                    rows.append(r)
                    print(json.dumps(r), flush=True)
    finally:
        from django.db import connection

        connection.close()
        if not args.keep_db:
            upload_bench.admin(url, "DROP DATABASE IF EXISTS {db} WITH (FORCE)")
    summary = {}
    for protocol in ("share", "counters"):
        for k in {r["procs"] for r in rows}:
            mine = [r for r in rows if r["protocol"] == protocol and r["procs"] == k]
            summary[f"{protocol}_k{k}_per_s"] = round(
                statistics.median(r["completed_per_s"] for r in mine), 1
            )
            summary[f"{protocol}_k{k}_claim_p95_ms"] = round(
                statistics.median(r["claim_p95_ms"] for r in mine), 1
            )
    summary["machine"] = f"{os.cpu_count()} CPUs, {platform.platform()}"
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
