#!/usr/bin/env python
"""The workers' task browser with 1,000 and 100,000 open tasks (issue 16).

    .venv/bin/python bench/browse.py --projects 1000 --tasks-per-project 100

Builds, on a dedicated database ``<name>_browse`` (dropped at the end unless
``--keep-db``), ``--projects`` projects of ``--requesters`` requesters, each with one
published batch of ``--tasks-per-project`` tasks, all through the services
(``project_create``, ``batch_upload``, ``batch_publish``; rewards and estimates vary so
that hourly rates differ, and one project in ten has requirements). A worker with a
little history (claimed and submitted through the services) browses.

The pages are measured twice with the same client: first when the first ``--small``
projects are published (1,000 open tasks with the defaults), then with all of them
(100,000). Each page is requested ``--repeat`` times in-process (Django's test
client, DEBUG off, after 3 warm-up requests): the first page sorted by hourly rate,
the first page with every filter set, page 20, and a project's preview (the task page,
which finds the worker's next open task). Also timed: ``listing_refresh`` for all
projects (the beat job, every 30 s). Prints p50/p95 ms and queries per page; the
last line is one JSON object.
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
    os.environ["DJANGO_SETTINGS_MODULE"] = "marketplace.settings.dev"
    os.environ["DEBUG"] = "0"
    os.environ["CLAIMS_PER_MINUTE"] = "100000000"
    os.environ["ALLOWED_HOSTS"] = "testserver,127.0.0.1,localhost"
    import django
    from django.conf import settings

    django.setup()
    # Pages render {% static %} links; the hashed-manifest storage needs collectstatic.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


def make_requester(i: int):  # noqa: ANN201
    from marketplace.models import User
    from payouts import ledger

    user = User.objects.create_user(
        f"requester{i}@bench.example",
        "x",
        is_requester=True,
        active_role="requester",
        display_name=f"Requester {i}",
    )
    ledger.deposit(key=f"bench-browse-deposit-{user.pk}", user=user, amount_cents=10**12)
    return user


def publish(owner, i: int, rows: int):  # noqa: ANN001, ANN201
    from marketplace import services

    estimated = 20 + (i * 7) % 100  # 20..119 s
    floor = -(-800 * estimated // 3600)  # the $8/h floor, rounded up
    reward = floor + (i * 13) % 40
    project = services.project_create(
        owner=owner,
        title=f"Project {i}: {('label photos', 'sort tickets', 'rate answers', 'judge search results')[i % 4]}",
        keywords=("images", "support", "chatbot", "search")[i % 4],
        template_kind="text_classification",
        template_config={"labels": ["A", "B", "C"]},
        reward_cents=reward,
        estimated_seconds=estimated,
        assignments_per_task=1 + i % 3,
        requirements={"min_completed": 10} if i % 10 == 0 else {},
    )
    csv = "text\n" + "".join(f"Item {i}-{r}: what is this?\n" for r in range(rows))
    b = services.batch_upload(
        project=project, user=owner, fileobj=io.BytesIO(csv.encode()), filename=f"p{i}.csv"
    )
    if b.status == "importing":
        b = services.batch_import(batch_id=b.pk)
    services.batch_publish(batch=b, user=owner)
    return project


def measure(client, path: str, repeat: int) -> dict:  # noqa: ANN001
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(3):
        r = client.get(path)
        assert r.status_code == 200, (path, r.status_code, r.content[:300])
    with CaptureQueriesContext(connection) as ctx:
        client.get(path)
    queries = len(ctx.captured_queries)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        client.get(path)
        times.append(1000 * (time.perf_counter() - t0))
    times.sort()
    return {
        "p50_ms": round(times[len(times) // 2], 1),
        "p95_ms": round(times[min(len(times) - 1, int(0.95 * len(times)))], 1),
        "queries": queries,
    }


def pages(client, project_id: int, repeat: int) -> dict:  # noqa: ANN001
    from django.urls import reverse

    home = reverse("worker_home")
    return {
        "browse": measure(client, home, repeat),
        "browse_filtered": measure(
            client,
            home + "?min_hourly=10&min_reward=0.05&max_minutes=2&q=support&kind="
            "text_classification&qualified=on&sort=reward",
            repeat,
        ),
        "browse_page_20": measure(client, home + "?page=20", repeat),
        "preview": measure(client, reverse("work:preview", args=[project_id]), repeat),
    }


def open_tasks() -> int:
    from django.db.models import F

    from marketplace.models import Task

    return Task.objects.filter(
        batch__status="published", assignments_taken__lt=F("assignments_needed")
    ).count()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--projects", type=int, default=1000)
    parser.add_argument("--tasks-per-project", type=int, default=100)
    parser.add_argument("--small", type=int, default=10, help="projects of the first round")
    parser.add_argument("--requesters", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=60)
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()

    import upload as upload_bench

    url, creator = upload_bench.open_bench_db("_browse")
    setup_django(url)
    from django.db import connection
    from django.test import Client

    from marketplace import services
    from marketplace.models import User
    from tasks import services as task_services

    result: dict = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version()}}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            result["machine"]["postgresql"] = cursor.fetchone()[0]
        owners = [make_requester(i) for i in range(args.requesters)]
        worker = User.objects.create_user(
            "worker@bench.example", "x", is_worker=True, active_role="worker"
        )
        client = Client()
        client.force_login(worker)
        projects = []
        t0 = time.perf_counter()
        for i in range(args.small):
            projects.append(publish(owners[i % len(owners)], i, args.tasks_per_project))
        # A little history: claimed and submitted through the services.
        for p in projects[:3]:
            a = task_services.assignment_claim(worker=worker, project=p)
            task_services.assignment_submit(token=a.submit_token, answers={"label": "A"})
        task_services.measured_times_refresh()
        services.listing_refresh()
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        rounds = {}
        rounds["small"] = {"open_tasks": open_tasks(), "projects": args.small}
        rounds["small"]["pages"] = pages(client, projects[-1].pk, args.repeat)
        print(json.dumps(rounds["small"]), flush=True)

        for i in range(args.small, args.projects):
            projects.append(publish(owners[i % len(owners)], i, args.tasks_per_project))
            if (i + 1) % 100 == 0:
                print(f"{i + 1}/{args.projects} projects published", flush=True)
        build_s = round(time.perf_counter() - t0, 1)
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        t1 = time.perf_counter()
        refreshed = services.listing_refresh()
        refresh_ms = round(1000 * (time.perf_counter() - t1), 1)
        rounds["large"] = {"open_tasks": open_tasks(), "projects": args.projects}
        rounds["large"]["pages"] = pages(client, projects[-1].pk, args.repeat)
        rounds["large"]["listing_refresh_ms"] = refresh_ms
        rounds["large"]["listings_refreshed"] = refreshed
        result.update(rounds=rounds, build_s=build_s)
        for name in rounds["small"]["pages"]:
            s, big = rounds["small"]["pages"][name], rounds["large"]["pages"][name]
            print(
                f"{name:16} {rounds['small']['open_tasks']:>7,} open: p50 {s['p50_ms']:>6} ms "
                f"p95 {s['p95_ms']:>6} ms {s['queries']} queries | "
                f"{rounds['large']['open_tasks']:>7,} open: p50 {big['p50_ms']:>6} ms "
                f"p95 {big['p95_ms']:>6} ms {big['queries']} queries",
                flush=True,
            )
        print(f"listing_refresh of {refreshed} projects: {refresh_ms} ms", flush=True)
    finally:
        connection.close()
        if not args.keep_db:
            upload_bench.admin(creator, "DROP DATABASE IF EXISTS {db} WITH (FORCE)")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
