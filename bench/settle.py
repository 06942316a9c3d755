#!/usr/bin/env python
"""Settlement throughput (issue 17), and statement pages of an account with many entries.

    .venv/bin/python bench/settle.py --assignments 100000 [--procs 2] [--chunk 2000]
    .venv/bin/python bench/settle.py --assignments 0 --statement-entries 1000000

Setup, not timed: a dedicated database ``<name>_settle`` on the server of
``DATABASE_URL`` (created and migrated as the owner role, dropped at the end unless
``--keep-db``), a funded requester, a project with ``--assignments`` rows × 1 assignment
published through the services (upload, publish: the escrow hold), ``--workers``
workers, and one submitted assignment per task built set-based (assignment rows, their
accepted and submitted events, the tasks' slots and the batch counters: the state
``assignment_claim_task`` + ``assignment_submit`` leave).

Timed:

* ``approve_seconds``: one set-based approval of every submitted assignment (status,
  events, counters and ``payouts.settlement.payables_record_many``), as bulk approve
  does; the settle jobs are enqueued on commit (no worker consumes them here).
* ``floor``: the same postings (a ``settle``-shaped transaction and its 3 entries per
  assignment, same escrow, workers and revenue) written by one ``INSERT … SELECT`` for
  the transactions and one for the entries, with the deferred balance checks forced
  (``SET CONSTRAINTS ALL IMMEDIATE``), then rolled back. ``floor_per_s``.
* ``seconds``: settlement to completion: ``--procs`` processes each running the
  ``settle_payables`` job's body (``settlement.settle_pending``) at once.
  ``settled_per_s`` = assignments / seconds; ``ratio`` = settled_per_s / floor_per_s.

Then the whole ledger audit (``ledger_ok``) and counts: settle transactions, payables
left, assignments without ``settled_at``.

``--statement-entries M``: one worker account gets M entries (set-based transfers from
a requester), then ``--pages`` statement pages are fetched through the app (Django test
client, the worker's session: ``/payouts/statement/?before=<random entry id>``), as the
worker; ``statement_p50_ms`` / ``statement_p95_ms``.

Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def setup_django(urls: dict[str, str]) -> None:
    os.environ.update(urls)
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.floor_settings"
    os.environ.setdefault("DEBUG", "0")
    import django

    django.setup()


def _deposit(user, session_id: str) -> None:
    """A completed deposit as funding records it (so the audit's deposit checks hold)."""
    from payouts import ledger
    from payouts.models import Deposit

    amount = 10**12
    txn = ledger.deposit(
        key=f"deposit-{session_id}", user=user, amount_cents=amount, external_ref=session_id
    )
    Deposit.objects.create(
        user=user,
        amount_cents=amount,
        credited_cents=amount,
        fee_cents=0,
        status=Deposit.Status.COMPLETED,
        checkout_session_id=session_id,
        ledger_transaction=txn,
    )


def build(n: int, n_workers: int) -> int:
    """A published batch of ``n`` tasks with one submitted assignment each; its id."""
    import io

    from django.db import connection, transaction

    from marketplace import counters, services
    from marketplace.models import User

    req = User.objects.create_user("req@bench.example", "x", is_requester=True)
    _deposit(req, "cs_bench")
    project = services.project_create(
        owner=req,
        title="Settlement bench",
        template_kind="text_classification",
        template_config={"labels": ["A", "B"]},
        reward_cents=10,
        estimated_seconds=30,
        assignments_per_task=1,
    )
    csv = "text\n" + "".join(f"row {i}\n" for i in range(n))
    batch = services.batch_upload(
        project=project, user=req, fileobj=io.BytesIO(csv.encode()), filename="b.csv"
    )
    batch = services.batch_publish(batch=batch, user=req)
    workers = User.objects.bulk_create(
        [
            User(email=f"w{i}@bench.example", is_worker=True, active_role="worker")
            for i in range(n_workers)
        ]
    )
    worker_ids = [w.pk for w in workers]
    cost = batch.reward_cents + batch.fee_cents
    with transaction.atomic(), connection.cursor() as c:
        c.execute(
            """
            INSERT INTO tasks_assignment
                   (task_id, batch_id, worker_id, status, accepted_at, deadline, submitted_at,
                    auto_approve_at, answers, reward_cents, fee_cents, submit_nonce)
            SELECT t.id, t.batch_id, (%s::bigint[])[1 + (t.row_number %% %s)], 'submitted',
                   now() - interval '60 seconds', now() + interval '1 hour', now(),
                   now() + interval '3 days', '{"label": "A"}'::jsonb, %s, %s,
                   md5(t.id::text)
              FROM marketplace_task t WHERE t.batch_id = %s
            """,
            [worker_ids, len(worker_ids), batch.reward_cents, batch.fee_cents, batch.pk],
        )
        c.execute(
            "UPDATE marketplace_task SET assignments_taken = 1 WHERE batch_id = %s", [batch.pk]
        )
        c.execute(
            """
            INSERT INTO tasks_assignmentevent (assignment_id, old_status, new_status, actor_id, reason, created_at)
            SELECT a.id, s.old, s.new, a.worker_id, '', a.accepted_at
              FROM tasks_assignment a,
                   (VALUES ('', 'accepted'), ('accepted', 'submitted')) AS s(old, new)
             WHERE a.batch_id = %s
            """,
            [batch.pk],
        )
        counters.counters_add(
            batch_id=batch.pk,
            deltas={"submitted": n, "owed_cents": n * cost, "work_seconds": n * 60},
        )
    return batch.pk


def approve_all(batch_id: int) -> int:
    """Set-based approval of every submitted assignment of the batch, with payables."""
    from django.db import connection, transaction

    from marketplace import counters
    from marketplace.models import Batch
    from payouts import settlement

    batch = Batch.objects.get(pk=batch_id)
    with transaction.atomic(), connection.cursor() as c:
        c.execute(
            """
            UPDATE tasks_assignment SET status = 'approved'
             WHERE batch_id = %s AND status = 'submitted'
         RETURNING id, worker_id, reward_cents, fee_cents
            """,
            [batch_id],
        )
        rows = c.fetchall()
        c.execute(
            """
            INSERT INTO tasks_assignmentevent (assignment_id, old_status, new_status, actor_id, reason, created_at)
            SELECT a, 'submitted', 'approved', %s, '', now() FROM unnest(%s::bigint[]) a
            """,
            [batch.owner_id, [r[0] for r in rows]],
        )
        cost = sum(r[2] + r[3] for r in rows)
        counters.counters_add(
            batch_id=batch_id,
            deltas={"submitted": -len(rows), "approved": len(rows), "spend_cents": cost},
        )
        settlement.payables_record_many(
            rows=[
                settlement.PayableRow(
                    assignment_id=a,
                    batch_id=batch_id,
                    requester_id=batch.owner_id,
                    worker_id=w,
                    reward_cents=r,
                    fee_cents=f,
                )
                for a, w, r, f in rows
            ]
        )
    return len(rows)


def floor(batch_id: int) -> float:
    """Seconds to write the same postings set-based (then rolled back)."""
    from django.db import connection, transaction

    from payouts import ledger

    revenue = ledger.platform_revenue_account().pk
    escrow = ledger.batch_escrow_account(batch_id).pk
    with connection.cursor() as c:
        c.execute(
            """
            INSERT INTO payouts_ledgeraccount (kind, owner_id, ref, currency, balance_cents, allow_negative, created_at)
            SELECT DISTINCT 'worker_available', worker_id, '', 'usd', 0, false, now()
              FROM payouts_payable ON CONFLICT DO NOTHING
            """
        )
    started = time.perf_counter()
    try:
        with transaction.atomic(), connection.cursor() as c:
            c.execute(
                """
                INSERT INTO payouts_ledgertransaction (idempotency_key, kind, memo, external_ref, created_at)
                SELECT 'floor-' || assignment_id, 'settle', 'assignment ' || assignment_id, '', now()
                  FROM payouts_payable WHERE settled_at IS NULL ORDER BY assignment_id
                """
            )
            c.execute(
                """
                INSERT INTO payouts_ledgerentry (transaction_id, account_id, amount_cents, balance_after_cents, created_at)
                SELECT t.id, l.account_id, l.amount, 0, now()
                  FROM payouts_payable p
                  JOIN payouts_ledgertransaction t ON t.idempotency_key = 'floor-' || p.assignment_id
                  JOIN payouts_ledgeraccount w ON w.kind = 'worker_available' AND w.owner_id = p.worker_id AND w.ref = ''
                 CROSS JOIN LATERAL (VALUES (%s::bigint, -(p.reward_cents + p.fee_cents)),
                                            (w.id, p.reward_cents), (%s::bigint, p.fee_cents)) AS l(account_id, amount)
                 WHERE p.settled_at IS NULL AND l.amount <> 0
                 ORDER BY l.account_id, t.id
                """,
                [escrow, revenue],
            )
            c.execute("SET CONSTRAINTS ALL IMMEDIATE")
            raise _Rollback
    except _Rollback:
        pass
    return time.perf_counter() - started


class _Rollback(Exception):
    pass


def settle_child(chunk: int) -> None:
    from payouts import settlement

    print(json.dumps({"settled": settlement.settle_pending(chunk=chunk)}))


def statement_bench(m: int, pages: int) -> dict:
    from django.db import connection, transaction
    from django.test import Client

    from marketplace.models import User
    from payouts import ledger

    payer = User.objects.create_user("stmt-req@bench.example", "x", is_requester=True)
    _deposit(payer, "cs_stmt")
    worker = User.objects.create_user(
        "stmt-worker@bench.example", "x", is_worker=True, active_role="worker"
    )
    src = ledger.requester_account(payer).pk
    dst = ledger.worker_account(worker).pk
    started = time.perf_counter()
    # Small transactions: each entry updates its account row, and one row updated many
    # times in one transaction costs more per update the longer its version chain.
    step = 1_000
    for lo in range(0, m, step):
        hi = min(m, lo + step)
        with transaction.atomic(), connection.cursor() as c:
            c.execute(
                """
                INSERT INTO payouts_ledgertransaction (idempotency_key, kind, memo, external_ref, created_at)
                SELECT 'stmt-' || g, 'transfer', 'bench transfer ' || g, '', now()
                  FROM generate_series(%s, %s) g
                """,
                [lo, hi - 1],
            )
            c.execute(
                """
                INSERT INTO payouts_ledgerentry (transaction_id, account_id, amount_cents, balance_after_cents, created_at)
                SELECT t.id, l.a, l.m, 0, now()
                  FROM payouts_ledgertransaction t
                 CROSS JOIN LATERAL (VALUES (%s::bigint, -1::bigint), (%s::bigint, 1::bigint)) AS l(a, m)
                 WHERE t.idempotency_key = ANY(SELECT 'stmt-' || g FROM generate_series(%s, %s) g)
                 ORDER BY l.a, t.id
                """,
                [src, dst, lo, hi - 1],
            )
    build_s = time.perf_counter() - started
    with connection.cursor() as c:
        c.execute("ANALYZE payouts_ledgerentry")
        c.execute("SELECT min(id), max(id) FROM payouts_ledgerentry WHERE account_id = %s", [dst])
        lo_id, hi_id = c.fetchone()
    client = Client(HTTP_HOST="localhost")  # an ALLOWED_HOSTS name (DEBUG is off)
    client.force_login(worker)
    rnd = random.Random(1)
    times = []
    for i in range(pages):
        before = "" if i % 10 == 0 else f"?before={rnd.randint(lo_id, hi_id)}"
        t0 = time.perf_counter()
        response = client.get(f"/payouts/statement/{before}")
        times.append((time.perf_counter() - t0) * 1000)
        assert response.status_code == 200, response.status_code
    times.sort()
    return {
        "statement_entries": m,
        "statement_build_s": round(build_s, 1),
        "statement_pages": pages,
        "statement_p50_ms": round(statistics.median(times), 1),
        "statement_p95_ms": round(times[int(0.95 * (len(times) - 1))], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--assignments", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=1000)
    parser.add_argument("--procs", type=int, default=2)
    parser.add_argument("--chunk", type=int, default=2000)
    parser.add_argument("--statement-entries", type=int, default=0)
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--keep-db", action="store_true")
    parser.add_argument("--child-settle", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    import upload as upload_bench  # bench/upload.py: database helpers

    if args.child_settle:
        setup_django({})
        settle_child(args.chunk)
        return

    urls = upload_bench.create_bench_db(upload_bench.base_urls(), "_settle")
    setup_django(urls)
    from django.db import connection

    from payouts import audit

    result: dict = {"assignments": args.assignments}
    try:
        if args.assignments:
            batch_id = build(args.assignments, min(args.workers, args.assignments))
            t0 = time.perf_counter()
            approved = approve_all(batch_id)
            result["approve_seconds"] = round(time.perf_counter() - t0, 3)
            assert approved == args.assignments
            floor_s = floor(batch_id)
            connection.close()
            env = {**os.environ, **urls}
            t0 = time.perf_counter()
            procs = [
                subprocess.Popen(
                    [sys.executable, __file__, "--child-settle", "--chunk", str(args.chunk)],
                    env=env,
                    stdout=subprocess.PIPE,
                    cwd=ROOT,
                )
                for _ in range(args.procs)
            ]
            settled = 0
            for p in procs:
                out, _ = p.communicate()
                assert p.returncode == 0, out
                settled += json.loads(out.decode().strip().splitlines()[-1])["settled"]
            seconds = time.perf_counter() - t0
            with connection.cursor() as c:
                c.execute("SELECT count(*) FROM payouts_ledgertransaction WHERE kind = 'settle'")
                settle_txns = c.fetchone()[0]
                c.execute("SELECT count(*) FROM payouts_payable WHERE settled_at IS NULL")
                left = c.fetchone()[0]
                c.execute("SELECT count(*) FROM tasks_assignment WHERE settled_at IS NULL")
                unsettled = c.fetchone()[0]
            result.update(
                {
                    "seconds": round(seconds, 3),
                    "settled": settled,
                    "settled_per_s": round(args.assignments / seconds, 1),
                    "floor_seconds": round(floor_s, 3),
                    "floor_per_s": round(args.assignments / floor_s, 1),
                    "ratio": round(floor_s / seconds, 3),
                    "procs": args.procs,
                    "chunk": args.chunk,
                    "settle_transactions": settle_txns,
                    "payables_left": left,
                    "assignments_unsettled": unsettled,
                }
            )
        if args.statement_entries:
            result.update(statement_bench(args.statement_entries, args.pages))
        audit_result = audit.run()
        result["ledger_ok"] = audit_result.ok
        if not audit_result.ok:
            result["violations"] = [str(v) for v in audit_result.violations[:10]]
        result["machine"] = {"nproc": os.cpu_count()}
    finally:
        connection.close()
        if not args.keep_db:
            bench_url = urls.get("DATABASE_OWNER_URL", urls["DATABASE_URL"])
            upload_bench.admin(bench_url, "DROP DATABASE IF EXISTS {db} WITH (FORCE)")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
