#!/usr/bin/env python
"""Does ``FOR SHARE`` on one hot batch row cost claim throughput? (issue 16)

    .venv/bin/python bench/claim_protocol.py --clients 8,32 --seconds 10 --rounds 3

Two ways for a claim to keep a concurrent cancel from releasing escrow the claim is
about to bind (``docs/architecture.md``, "Locking"):

* ``share``: the claim takes ``FOR SHARE`` on the batch row before taking a task; a
  cancel's ``FOR NO KEY UPDATE`` waits for every claim in flight. Concurrent share
  locks on one row make its ``xmax`` a multixact (one more member per claimer, written
  to pg_multixact and looked up by every later locker).
* ``counters``: no batch lock; the claim updates one of 16 counter rows of the batch
  and then re-reads the batch status; a cancel locks all counter rows first.

The client is pgbench (C, one process: the load generator costs next to nothing on a
2-core machine) running the statements the services send (``tasks/services.py``), one
transaction for the claim and one for the submit per script run, each pgbench client
a distinct worker, on a hot project built through the services (``--tasks`` × 3
assignments). Both protocols alternate on fresh batches of the same database,
``--rounds`` times each; the median is reported. The last line is one JSON object.
Database: a dedicated ``<name>_proto`` on the server of ``DATABASE_URL`` (dropped at
the end unless ``--keep-db``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

COMMON_HEAD = r"""
\set w :wbase + :client_id
\set slot random(0, 15)
BEGIN;
SELECT pg_advisory_xact_lock(1179910160, :w);
SELECT count(*) FROM tasks_assignment WHERE worker_id = :w AND status = 'accepted';
"""
SHARE_LOCK = """SET LOCAL lock_timeout = 5000;
SELECT status FROM marketplace_batch WHERE id = :batch FOR SHARE;
"""
TAKE = """WITH t AS (
  UPDATE marketplace_task t SET assignments_taken = t.assignments_taken + 1
  WHERE t.id = (SELECT o.id FROM marketplace_task o
                WHERE o.batch_id = :batch AND o.assignments_taken < o.assignments_needed
                  AND NOT EXISTS (SELECT 1 FROM tasks_assignment a WHERE a.task_id = o.id AND a.worker_id = :w)
                ORDER BY o.row_number LIMIT 1 FOR UPDATE SKIP LOCKED)
  RETURNING t.id)
INSERT INTO tasks_assignment (task_id, batch_id, worker_id, status, accepted_at, deadline, answers,
                              reward_cents, fee_cents, submit_nonce)
SELECT t.id, :batch, :w, 'accepted', now(), now() + interval '1 hour', '{}', 10, 2, md5(random()::text)
FROM t RETURNING id AS aid \\gset
INSERT INTO tasks_assignmentevent (assignment_id, old_status, new_status, actor_id, reason, created_at)
VALUES (:aid, '', 'accepted', :w, '', now());
UPDATE marketplace_batchcounter SET accepted = accepted + 1, owed_cents = owed_cents + 12
WHERE batch_id = :batch AND slot = :slot;
"""
STATUS_AFTER = """SELECT status, expires_at FROM marketplace_batch WHERE id = :batch;
"""
SUBMIT = r"""COMMIT;
\set slot2 random(0, 15)
BEGIN;
SELECT id FROM tasks_assignment WHERE id = :aid FOR UPDATE;
UPDATE tasks_assignment SET status = 'submitted', submitted_at = now(),
  auto_approve_at = now() + interval '3 days', answers = '{"label": "A"}' WHERE id = :aid;
UPDATE marketplace_batchcounter SET accepted = accepted - 1, submitted = submitted + 1
WHERE batch_id = :batch AND slot = :slot2;
INSERT INTO tasks_assignmentevent (assignment_id, old_status, new_status, actor_id, reason, created_at)
VALUES (:aid, 'accepted', 'submitted', :w, '', now());
COMMIT;
"""


def script(protocol: str) -> str:
    if protocol == "share":
        return COMMON_HEAD + SHARE_LOCK + TAKE + SUBMIT
    return COMMON_HEAD + TAKE + STATUS_AFTER + SUBMIT


def setup_django(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "marketplace.settings.dev")
    import django

    django.setup()


def make_batch(tasks: int) -> int:
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
        assignments_per_task=3,
    )
    csv = "text\n" + "".join(f"row {i}\n" for i in range(tasks))
    batch = services.batch_upload(
        project=project, user=req, fileobj=io.BytesIO(csv.encode()), filename="hot.csv"
    )
    return services.batch_publish(batch=batch, user=req).pk


def make_workers(k: int) -> int:
    """K fresh workers with consecutive ids; returns the first id."""
    from marketplace.models import User

    base = User.objects.count()
    ids = [
        User.objects.create_user(f"w{base + i}@bench.example", "x", is_worker=True).pk
        for i in range(k)
    ]
    assert ids == list(range(ids[0], ids[0] + k))
    return ids[0]


def pgbench(url: str, path: Path, *, clients: int, seconds: int, batch: int, wbase: int) -> dict:
    out = subprocess.run(
        [
            "pgbench",
            "-n",
            "-M",
            "prepared",
            "-c",
            str(clients),
            "-j",
            "2",
            "-T",
            str(seconds),
            "-D",
            f"batch={batch}",
            "-D",
            f"wbase={wbase}",
            "-f",
            str(path),
            url,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    text = out.stdout + out.stderr
    tps = re.search(r"tps = ([\d.]+) \(without initial connection time\)", text)
    lat = re.search(r"latency average = ([\d.]+) ms", text)
    failed = re.search(r"number of failed transactions: (\d+)", text)
    if tps is None:
        raise RuntimeError(text[-3000:])
    return {
        "per_s": float(tps.group(1)),
        "latency_avg_ms": float(lat.group(1)) if lat else None,
        "failed": int(failed.group(1)) if failed else 0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", default="8,32")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tasks", type=int, default=30_000)
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()

    import upload as upload_bench  # bench/upload.py: database helpers

    url, creator = upload_bench.open_bench_db("_proto")
    setup_django(url)
    from django.db import connection

    rows = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            paths = {}
            for protocol in ("share", "counters"):
                paths[protocol] = Path(tmp) / f"{protocol}.sql"
                paths[protocol].write_text(script(protocol))
            for k in [int(x) for x in args.clients.split(",")]:
                for _ in range(args.rounds):
                    for protocol in ("share", "counters"):
                        batch = make_batch(args.tasks)
                        wbase = make_workers(k)
                        connection.close()
                        r = pgbench(
                            url,
                            paths[protocol],
                            clients=k,
                            seconds=args.seconds,
                            batch=batch,
                            wbase=wbase,
                        )
                        row = {"protocol": protocol, "clients": k, **r}
                        rows.append(row)
                        print(json.dumps(row), flush=True)
    finally:
        connection.close()
        if not args.keep_db:
            upload_bench.admin(creator, "DROP DATABASE IF EXISTS {db} WITH (FORCE)")
    summary: dict[str, object] = {}
    for k in sorted({r["clients"] for r in rows}):
        for protocol in ("share", "counters"):
            mine = [r for r in rows if r["protocol"] == protocol and r["clients"] == k]
            summary[f"{protocol}_c{k}_per_s"] = round(
                statistics.median(r["per_s"] for r in mine), 1
            )
            summary[f"{protocol}_c{k}_latency_ms"] = round(
                statistics.median(r["latency_avg_ms"] for r in mine), 2
            )
    summary["rounds"] = args.rounds
    summary["seconds"] = args.seconds
    summary["machine"] = (
        f"{os.cpu_count()} CPUs, {platform.platform()}, load {os.getloadavg()[0]:.1f}"
    )
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
