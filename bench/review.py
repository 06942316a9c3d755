#!/usr/bin/env python
"""Bulk review (issue 17): approve 10,000 submitted assignments in one request.

    .venv/bin/python bench/review.py --assignments 10000

On a dedicated database ``<name>_review`` (dropped at the end unless ``--keep-db``):
two batches of ``--assignments`` submitted assignments each (inserted set-based as
``bench/pages.py`` does, counters synced and checked). Then, timed:

* ``service_s``: ``tasks.review.assignments_approve`` on every id of the first batch
  (state, events, counters, payables in one transaction);
* ``page_s``: the review page's POST "approve all matching" on the second batch,
  through Django's test client as the requester (selecting the ids included);

then settlement to completion (``payouts.settlement.settle_pending``) and the ledger
audit. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import pages  # bench/pages.py: database and data helpers
import upload as upload_bench

_SUBMITTED = """
WITH pool AS (SELECT array_agg(id ORDER BY id) AS ids FROM marketplace_user WHERE email LIKE 'pool%%@bench.example'),
slots AS (
    SELECT t.id AS task_id, t.row_number AS r, k
    FROM marketplace_task t, generate_series(0, 2) k
    WHERE t.batch_id = %(batch)s
    ORDER BY t.row_number, k LIMIT %(n)s
)
INSERT INTO tasks_assignment (task_id, batch_id, worker_id, status, accepted_at, deadline, submitted_at,
                              auto_approve_at, answers, reward_cents, fee_cents, submit_nonce)
SELECT s.task_id, %(batch)s, pool.ids[1 + ((s.r * 3 + s.k) %% array_length(pool.ids, 1))], 'submitted',
       now() - interval '1 hour', now(), now() - interval '1 hour' + make_interval(secs => 20 + s.k),
       now() + interval '2 days', '{"label": "A"}'::jsonb, 10, 2, md5(s.task_id::text || s.k::text)
FROM slots s, pool
"""


def fill(batch_id: int, n: int) -> None:
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_SUBMITTED, {"batch": batch_id, "n": n})
        cursor.execute(pages._SYNC, {"batch": batch_id})
        cursor.execute(pages._SYNC_COUNTERS, {"batch": batch_id})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--assignments", type=int, default=10_000)
    parser.add_argument("--keep-db", action="store_true")
    parser.add_argument(
        "--no-settle", action="store_true", help="skip settlement (payouts' own benchmark)"
    )
    args = parser.parse_args()
    urls = upload_bench.create_bench_db(upload_bench.base_urls(), "_review")
    url = urls["DATABASE_URL"]
    creator = urls.get("DATABASE_OWNER_URL", url)
    if "DATABASE_OWNER_URL" in urls:
        os.environ["DATABASE_OWNER_URL"] = urls["DATABASE_OWNER_URL"]
    pages.setup_django(url)
    from django.db import connection
    from django.test import Client

    try:
        from payouts import audit, settlement
        from tasks import review
        from tasks.models import Assignment

        owner = pages.requester("rev@bench.example")
        pages.workers(200)
        proj = pages.project(owner, "Review bench")
        rows = -(-args.assignments // 3)
        first = pages.batch(owner, proj, rows, 0)
        second = pages.batch(owner, proj, rows, rows)
        fill(first.pk, args.assignments)
        fill(second.pk, args.assignments)
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        pages.check_counters()

        ids = list(Assignment.objects.filter(batch=first).values_list("pk", flat=True))
        t0 = time.perf_counter()
        review.assignments_approve(requester=owner, assignment_ids=ids)
        service_s = time.perf_counter() - t0

        client = Client()
        client.force_login(owner)
        t0 = time.perf_counter()
        response = client.post(
            f"/requester/batches/{second.pk}/review/decide/",
            {"action": "approve", "scope": "matching", "status": "submitted"},
        )
        page_s = time.perf_counter() - t0
        assert response.status_code == 302, response.status_code
        approved = Assignment.objects.filter(status="approved").count()
        assert approved == 2 * args.assignments, approved

        t0 = time.perf_counter()
        settled = 0 if args.no_settle else settlement.settle_pending()
        settle_s = time.perf_counter() - t0
        pages.check_counters()
        result = audit.run()
        ledger_ok = not [
            v
            for v in result.violations
            if v.name
            not in ("deposit_not_backed", "completed_deposit_not_credited", "clearing_vs_deposits")
        ]
    finally:
        connection.close()
        if not args.keep_db:
            upload_bench.admin(creator, "DROP DATABASE IF EXISTS {db} WITH (FORCE)")
    print(
        f"approve {args.assignments:,}: service {service_s:.2f} s, page POST {page_s:.2f} s; "
        f"settled {settled:,} in {settle_s:.1f} s; ledger ok: {ledger_ok}"
    )
    print(
        json.dumps(
            {
                "assignments": args.assignments,
                "service_s": round(service_s, 3),
                "page_s": round(page_s, 3),
                "settled": settled,
                "settle_s": round(settle_s, 2),
                "ledger_ok": ledger_ok,
                "machine": f"{os.cpu_count()} CPUs, {platform.platform()}",
                "load_avg_1m": round(os.getloadavg()[0], 1),
            }
        )
    )


if __name__ == "__main__":
    main()
