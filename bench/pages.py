#!/usr/bin/env python
"""Requester pages and API lists with a lot of work done (issue 16).

    .venv/bin/python bench/pages.py --tasks 1000000 --assignments 1500000

Builds, on a dedicated database ``<name>_pages`` (dropped at the end unless
``--keep-db``):

* a **big requester**: ``--tasks`` tasks in ``--projects`` projects, one batch of
  ``--poll-batch`` tasks (the progress poll's) and the rest split over batches of the
  same size, 3 assignments per task, all uploaded (COPY) and published through the
  services; ``--assignments`` assignments spread over them (accepted, submitted,
  approved, rejected, returned; a pool of ``--pool`` workers);
* a **small requester** with 1% of the tasks (one project, one batch) and
  ``--small-assignments`` assignments (default 1%), made one by one through the real
  services (``assignment_claim`` →
  ``assignment_submit`` → ``transition``).

The big requester's assignments are inserted set-based (one ``INSERT … SELECT`` per
batch), with the slot counts and ``BatchCounter`` rows set to exactly what the services
would have added (the claim service makes one assignment per call, ~3 ms each: 1.5M
would take over an hour here). After building, every batch's counters are checked
against a recount over its assignments, so the figures are for counters the services'
invariants hold on.

Then each page is requested ``--repeat`` times in-process (Django's test client, DEBUG
off, after 3 warm-up requests) as each requester: home, project list, project detail,
batch list, batch detail, the progress poll (htmx partial) of the largest batch, and the
REST API's project list, batch list, batch detail and batch progress. Prints p50/p95 ms
and queries per page; the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def setup_django(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    # Development settings with DEBUG off (and the floor URLs, unused here).
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.floor_settings"
    os.environ["DEBUG"] = "0"
    os.environ["CLAIMS_PER_MINUTE"] = "100000000"
    os.environ["API_RATE"] = "100000000/s"
    os.environ["ALLOWED_HOSTS"] = "testserver,localhost,127.0.0.1"
    import django

    django.setup()


def requester(email: str):  # noqa: ANN201
    from marketplace.models import User
    from payouts import ledger

    user = User.objects.create_user(email, "x", is_requester=True, active_role="requester")
    ledger.deposit(key=f"bench-deposit-{user.pk}", user=user, amount_cents=10**12)
    return user


def project(owner, title: str):  # noqa: ANN001, ANN201
    from marketplace import services

    return services.project_create(
        owner=owner,
        title=title,
        template_kind="text_classification",
        template_config={"labels": ["A", "B", "C"]},
        reward_cents=10,
        estimated_seconds=30,
        assignments_per_task=3,
    )


def batch(owner, proj, rows: int, start: int):  # noqa: ANN001, ANN201
    from marketplace import services

    csv = "text\n" + "".join(
        f"Ticket {i}: where is my order?\n" for i in range(start, start + rows)
    )
    b = services.batch_upload(
        project=proj, user=owner, fileobj=io.BytesIO(csv.encode()), filename=f"rows-{start}.csv"
    )
    if b.status == "importing":  # large files go to the job: run its body here
        b = services.batch_import(batch_id=b.pk)
    return services.batch_publish(batch=b, user=owner)


def workers(n: int) -> list[int]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO marketplace_user (email, password, display_name, is_worker, is_requester, "
            "active_role, is_staff, is_active, is_superuser, date_joined) "
            "SELECT 'pool' || g || '@bench.example', '!', '', true, false, 'worker', false, true, false, now() "
            "FROM generate_series(1, %s) g RETURNING id",
            [n],
        )
        return sorted(r[0] for r in cursor.fetchall())


# status by (row, k): most work is done; some in progress, some returned.
_BULK = """
WITH pool AS (SELECT array_agg(id ORDER BY id) AS ids FROM marketplace_user WHERE email LIKE 'pool%%@bench.example'),
slots AS (
    SELECT t.id AS task_id, t.row_number AS r, k
    FROM marketplace_task t, generate_series(0, 2) k
    WHERE t.batch_id = %(batch)s AND t.row_number <= %(rows)s
), picked AS (
    SELECT task_id, r, k,
           CASE WHEN (r * 3 + k) %% 20 < 11 THEN 'approved'
                WHEN (r * 3 + k) %% 20 < 15 THEN 'submitted'
                WHEN (r * 3 + k) %% 20 < 17 THEN 'accepted'
                WHEN (r * 3 + k) %% 20 < 18 THEN 'rejected'
                ELSE 'returned' END AS status,
           20 + (r * 7 + k * 13) %% 60 AS secs
    FROM slots
)
INSERT INTO tasks_assignment (task_id, batch_id, worker_id, status, accepted_at, deadline, submitted_at,
                              auto_approve_at, answers, reward_cents, fee_cents, submit_nonce)
SELECT p.task_id, %(batch)s, pool.ids[1 + ((p.r * 3 + p.k) %% array_length(pool.ids, 1))], p.status,
       now() - interval '1 day', now() - interval '1 day' + interval '1 hour',
       CASE WHEN p.status IN ('submitted', 'approved', 'rejected')
            THEN now() - interval '1 day' + make_interval(secs => p.secs) END,
       CASE WHEN p.status IN ('submitted', 'approved', 'rejected')
            THEN now() + interval '2 days' END,
       CASE WHEN p.status IN ('submitted', 'approved', 'rejected') THEN '{"label": "A"}'::jsonb ELSE '{}'::jsonb END,
       10, 2, md5(p.task_id::text || p.k::text)
FROM picked p, pool
"""

_SYNC = """
UPDATE marketplace_task t SET assignments_taken = c.n
FROM (SELECT task_id, count(*) AS n FROM tasks_assignment
      WHERE batch_id = %(batch)s AND status <> 'returned' AND status <> 'expired' GROUP BY task_id) c
WHERE t.id = c.task_id
"""
_SYNC_COUNTERS = """
UPDATE marketplace_batchcounter bc SET
    accepted = s.accepted, submitted = s.submitted, approved = s.approved, rejected = s.rejected,
    returned = s.returned, expired = s.expired, owed_cents = s.owed, spend_cents = s.spend,
    work_seconds = s.work
FROM (SELECT count(*) FILTER (WHERE status = 'accepted') AS accepted,
             count(*) FILTER (WHERE status = 'submitted') AS submitted,
             count(*) FILTER (WHERE status = 'approved') AS approved,
             count(*) FILTER (WHERE status = 'rejected') AS rejected,
             count(*) FILTER (WHERE status = 'returned') AS returned,
             count(*) FILTER (WHERE status = 'expired') AS expired,
             coalesce(sum(reward_cents + fee_cents) FILTER (WHERE status NOT IN ('returned', 'expired')), 0) AS owed,
             coalesce(sum(reward_cents + fee_cents) FILTER (WHERE status = 'approved'), 0) AS spend,
             coalesce(sum(extract(epoch FROM submitted_at - accepted_at)::bigint), 0) AS work
      FROM tasks_assignment WHERE batch_id = %(batch)s) s
WHERE bc.batch_id = %(batch)s AND bc.slot = 0
"""

_RECOUNT = """
SELECT a.batch_id,
       count(*) FILTER (WHERE a.status = 'accepted'), count(*) FILTER (WHERE a.status = 'submitted'),
       count(*) FILTER (WHERE a.status = 'approved'), count(*) FILTER (WHERE a.status = 'rejected'),
       count(*) FILTER (WHERE a.status = 'returned'), count(*) FILTER (WHERE a.status = 'expired'),
       coalesce(sum(a.reward_cents + a.fee_cents) FILTER (
           WHERE a.status NOT IN ('returned', 'expired') AND a.settled_at IS NULL), 0),
       coalesce(sum(a.reward_cents + a.fee_cents) FILTER (WHERE a.status = 'approved'), 0)
FROM tasks_assignment a GROUP BY a.batch_id
"""


def bulk_assign(batch_id: int, rows: int) -> None:
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_BULK, {"batch": batch_id, "rows": rows})
        cursor.execute(_SYNC, {"batch": batch_id})
        cursor.execute(_SYNC_COUNTERS, {"batch": batch_id})


def check_counters() -> int:
    """Every batch's summed counters equal a recount over its assignments."""
    from django.db import connection

    from marketplace.counters import counter_sums

    with connection.cursor() as cursor:
        cursor.execute(_RECOUNT)
        recount = {r[0]: r[1:] for r in cursor.fetchall()}
    sums = counter_sums(list(recount))
    fields = (
        "accepted",
        "submitted",
        "approved",
        "rejected",
        "returned",
        "expired",
        "owed_cents",
        "spend_cents",
    )
    for batch_id, values in recount.items():
        got = tuple(sums[batch_id][f] for f in fields)
        if got != tuple(int(v) for v in values):
            raise AssertionError(f"batch {batch_id}: counters {got} != recount {values}")
    return len(recount)


def small_through_services(owner, tasks: int, assignments: int) -> None:  # noqa: ANN001
    """The small requester's work, one assignment at a time through the services."""
    from marketplace.models import User
    from tasks import services as ts

    proj = project(owner, "Small requester's project")
    b = batch(owner, proj, tasks, 0)
    pool = [
        User.objects.create_user(f"small{i}@bench.example", "x", is_worker=True)
        for i in range(max(1, assignments // tasks + 2))
    ]
    done = 0
    while done < assignments:
        for w in pool:
            if done >= assignments:
                break
            a = ts.assignment_claim(worker=w, project=proj)
            ts.assignment_submit(token=a.submit_token, answers={"label": "A"})
            done += 1
    return b


def measure(client, path: str, repeat: int, headers: dict | None = None) -> dict:  # noqa: ANN001
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    headers = headers or {}
    for _ in range(3):
        r = client.get(path, **headers)
        assert r.status_code == 200, (path, r.status_code, r.content[:300])
    times = []
    with CaptureQueriesContext(connection) as ctx:
        client.get(path, **headers)
    queries = len(ctx.captured_queries)
    for _ in range(repeat):
        t0 = time.perf_counter()
        client.get(path, **headers)
        times.append(1000 * (time.perf_counter() - t0))
    times.sort()
    return {
        "p50_ms": round(times[len(times) // 2], 1),
        "p95_ms": round(times[min(len(times) - 1, int(0.95 * len(times)))], 1),
        "queries": queries,
    }


def pages_of(user, repeat: int) -> dict:  # noqa: ANN001
    from django.test import Client
    from django.urls import reverse
    from rest_framework.test import APIClient

    from marketplace.models import Batch, Project
    from marketplace.services.api_keys import api_key_create

    client = Client()
    client.force_login(user)
    _, raw = api_key_create(user=user, name="bench")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    first_project = Project.objects.filter(owner=user).order_by("pk").first()
    largest = Batch.objects.filter(owner=user).order_by("-task_count", "pk").first()
    out = {
        "home": measure(client, reverse("requester_home"), repeat),
        "project_list": measure(client, reverse("requester:project_list"), repeat),
        "project_detail": measure(
            client, reverse("requester:project_detail", args=[first_project.pk]), repeat
        ),
        "batch_list": measure(client, reverse("requester:batch_list"), repeat),
        "batch_detail": measure(
            client, reverse("requester:batch_detail", args=[largest.pk]), repeat
        ),
        "progress_poll": measure(
            client,
            reverse("requester:batch_progress", args=[largest.pk]),
            repeat,
            {"HTTP_HX_REQUEST": "true"},
        ),
        "api_projects": measure(api, "/api/v1/projects/", repeat),
        "api_batches": measure(api, "/api/v1/batches/", repeat),
        "api_batch": measure(api, f"/api/v1/batches/{largest.pk}/", repeat),
        "api_progress": measure(api, f"/api/v1/batches/{largest.pk}/progress/", repeat),
    }
    out["_largest_batch_tasks"] = largest.task_count
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=1_000_000)
    parser.add_argument("--assignments", type=int, default=1_500_000)
    parser.add_argument("--poll-batch", type=int, default=100_000)
    parser.add_argument("--projects", type=int, default=10)
    parser.add_argument("--pool", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=40)
    parser.add_argument(
        "--small-assignments",
        type=int,
        default=None,
        help="assignments of the small requester, one by one through the services (default: 1%% of --assignments)",
    )
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()

    import upload as upload_bench

    url, creator = upload_bench.open_bench_db("_pages")
    setup_django(url)
    from django.db import connection

    try:
        t0 = time.perf_counter()
        big = requester("big@bench.example")
        workers(args.pool)
        n_batches = max(1, args.tasks // args.poll_batch)
        projects = [project(big, f"Big project {i}") for i in range(args.projects)]
        per_batch_assign = args.assignments // n_batches
        rows_with_work = min(args.poll_batch, -(-per_batch_assign // 3))
        for i in range(n_batches):
            b = batch(big, projects[i % len(projects)], args.poll_batch, i * args.poll_batch)
            bulk_assign(b.pk, rows_with_work)
            print(
                f"batch {i + 1}/{n_batches}: {args.poll_batch:,} tasks, {rows_with_work * 3:,} assignments",
                flush=True,
            )
        small = requester("small@bench.example")
        small_tasks = max(1, args.tasks // 100)
        small_assign = (
            args.small_assignments
            if args.small_assignments is not None
            else args.assignments // 100
        )
        small_through_services(small, small_tasks, small_assign)
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
            cursor.execute(
                "SELECT (SELECT count(*) FROM marketplace_task), (SELECT count(*) FROM tasks_assignment)"
            )
            n_tasks, n_assign = cursor.fetchone()
        checked = check_counters()
        build_s = round(time.perf_counter() - t0, 1)
        print(
            f"built {n_tasks:,} tasks, {n_assign:,} assignments in {build_s} s; counters checked on {checked} batches"
        )
        big_pages = pages_of(big, args.repeat)
        small_pages = pages_of(small, args.repeat)
    finally:
        connection.close()
        if not args.keep_db:
            upload_bench.admin(creator, "DROP DATABASE IF EXISTS {db} WITH (FORCE)")
    for name in big_pages:
        if name.startswith("_"):
            continue
        b, s = big_pages[name], small_pages[name]
        print(
            f"{name:16} big p50 {b['p50_ms']:7.1f} p95 {b['p95_ms']:7.1f} ms ({b['queries']} q) | "
            f"small p50 {s['p50_ms']:7.1f} p95 {s['p95_ms']:7.1f} ms ({s['queries']} q)"
        )
    result = {
        "tasks": n_tasks,
        "assignments": n_assign,
        "build_s": build_s,
        "big": big_pages,
        "small": small_pages,
        "max_p95_ms": max(
            v["p95_ms"]
            for d in (big_pages, small_pages)
            for k, v in d.items()
            if not k.startswith("_")
        ),
        "machine": f"{os.cpu_count()} CPUs, {platform.platform()}, Python {platform.python_version()}",
        "load_avg_1m": round(os.getloadavg()[0], 1),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
