"""Exports: aggregation on a hand-worked batch, CSV formula safety, pseudonyms, the
provenance card, and the pages/API that serve them."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.urls import reverse

from marketplace import services as batch_services
from tasks import exports, review
from tasks.review_selectors import pseudonym
from tests.fixtures.assignments import make_assignment
from tests.fixtures.users import RequesterFactory, WorkerFactory
from tests.marketplace.api_helpers import key_client
from tests.marketplace.conftest import fund, make_project, upload

pytestmark = pytest.mark.django_db

# Three tasks, three workers each. Worked by hand:
#   row 1: Question, Question, Complaint -> majority Question, 2/3
#   row 2: Complaint x3                  -> Complaint, 1
#   row 3: Question, Complaint, Other    -> three-way tie, resolved to "Complaint" (sorts first)
ANSWERS = {
    1: ["Question", "Question", "Complaint"],
    2: ["Complaint", "Complaint", "Complaint"],
    3: ["Question", "Complaint", "Other"],
}


@pytest.fixture
def worked(requester):
    fund(requester, 100_000)
    project = make_project(requester, assignments_per_task=3, instructions="Pick the type.")
    content = (
        "text,source,_gold_label\n"
        '"=1+1 formula text",email,Question\n'
        '"Ticket two",email,\n'
        '"Ticket three",email,\n'
    )
    batch = batch_services.batch_publish(batch=upload(project, requester, content), user=requester)
    workers = [WorkerFactory() for _ in range(3)]
    made = {}
    for w_index, worker in enumerate(workers):
        for row in (1, 2, 3):
            a = make_assignment(
                batch,
                "submitted",
                worker=worker,
                seconds=60 + 30 * w_index,
                answers={"label": ANSWERS[row][w_index]},
            )
            made[(row, w_index)] = a
    return batch, workers, made


def parse_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_task_rows_aggregate_by_majority_and_dawid_skene(worked):
    batch, _workers, _made = worked
    rows = {r["row_number"]: r for r in exports.task_records(batch)}
    one, two, three = (
        rows[1]["aggregated"]["label"],
        rows[2]["aggregated"]["label"],
        rows[3]["aggregated"]["label"],
    )
    assert (one["majority"], one["majority_confidence"], one["majority_tied"]) == (
        "Question",
        0.6667,
        False,
    )
    assert (two["majority"], two["majority_confidence"]) == ("Complaint", 1.0)
    assert (three["majority"], three["majority_tied"], three["votes"]) == ("Complaint", True, 3)
    assert one["dawid_skene"] == "Question" and two["dawid_skene"] == "Complaint"
    assert 0.5 < one["dawid_skene_confidence"] <= 1 and two["dawid_skene_confidence"] > 0.9
    assert rows[1]["gold"] == {"label": "Question"} and rows[1]["answers"] == 3

    table = parse_csv("".join(exports.tasks_csv(batch)))
    assert [r["label.majority"] for r in table] == ["Question", "Complaint", "Complaint"]
    assert table[0]["label.majority_confidence"] == "0.6667"


def test_rejected_answers_are_left_out_of_the_aggregate(worked):
    batch, _workers, made = worked
    review.assignments_reject(
        requester=batch.owner, assignment_ids=[made[(1, 0)].pk, made[(1, 1)].pk], reason="spam"
    )
    agg = {r["row_number"]: r["aggregated"]["label"] for r in exports.task_records(batch)}
    assert (agg[1]["majority"], agg[1]["votes"]) == ("Complaint", 1)


def test_assignment_csv_is_formula_safe_and_pseudonymous(worked):
    batch, workers, made = worked
    a = made[(2, 0)]
    a.answers = {"label": '=HYPERLINK("http://evil")'}
    a.save(update_fields=["answers"])
    text = "".join(exports.assignments_csv(batch))
    rows = parse_csv(text)
    assert len(rows) == 9
    cell = next(r for r in rows if r["assignment_id"] == str(a.pk))["answer.label"]
    assert cell == '\'=HYPERLINK("http://evil")'
    for w in workers:
        assert w.email not in text
    ids = {r["worker"] for r in rows}
    assert ids == {pseudonym(requester_id=batch.owner_id, worker_id=w.pk) for w in workers}
    first_task = parse_csv("".join(exports.tasks_csv(batch)))[0]
    assert (
        json.loads(first_task["data"])["text"] == "=1+1 formula text"
    )  # a JSON cell: starts with {
    assert exports.safe_cell("=1+1") == "'=1+1" and exports.safe_cell("-2") == "'-2"
    assert exports.safe_cell("@SUM(A1)") == "'@SUM(A1)" and exports.safe_cell("ok") == "ok"

    lines = list(exports.assignments_jsonl(batch))
    assert len(lines) == 9 and json.loads(lines[0])["worker"].startswith("w_")


def test_pseudonyms_are_stable_per_requester_and_differ_between_requesters():
    other = RequesterFactory()
    worker = WorkerFactory()
    first = pseudonym(requester_id=1, worker_id=worker.pk)
    assert first == pseudonym(requester_id=1, worker_id=worker.pk)
    assert first != pseudonym(requester_id=other.pk, worker_id=worker.pk)
    assert worker.email not in first


def test_provenance_card_counts_pay_agreement_gold_and_rejections(worked):
    batch, _workers, made = worked
    review.assignments_approve(
        requester=batch.owner, assignment_ids=[made[(2, w)].pk for w in range(3)]
    )
    review.assignments_reject(
        requester=batch.owner, assignment_ids=[made[(3, 2)].pk], reason="other", note="Blank"
    )
    review.assignment_bonus(
        requester=batch.owner, assignment_id=made[(2, 0)].pk, amount_cents=50, reason="Great"
    )
    card = exports.provenance(batch)
    assert card["workers"] == 3
    assert card["paid"]["rewards_cents"] == 3 * batch.reward_cents
    assert card["paid"]["bonuses_cents"] == 50
    assert card["paid"]["to_workers_cents"] == 3 * batch.reward_cents + 50
    assert card["paid"]["platform_fees_cents"] == 3 * batch.fee_cents + 10
    # Approved work took 60, 90 and 120 s at 10¢: $6.00, $4.00, $3.00 an hour.
    pay = card["pay"]["measured_hourly_cents"]
    assert (pay["median"], pay["min"], pay["max"]) == (400, 300, 600)
    # Gold: row 1's gold is Question; two of its three answers say so.
    assert card["gold_accuracy_per_field"] == {"label": 0.6667}
    assert card["rejections"] == {"total": 1, "by_reason": {"Other": 1}}
    assert card["instructions"] == "Pick the type." and "label" in card["template_html"]
    # Agreement with the majority per task, averaged: row 1 2/3, row 2 1, row 3 1/2 (two left).
    assert card["agreement_per_field"]["label"] == round((2 / 3 + 1 + 1 / 2) / 3, 4)
    md = exports.provenance_markdown(card)
    assert "Labeling provenance card" in md and "median $4.00/h" in md and "Other: 1" in md


def test_export_downloads_and_the_results_api_are_the_owners_only(client, worked):
    batch, _workers, _made = worked
    client.force_login(batch.owner)
    response = client.get(reverse("review:batch_export", args=[batch.pk, "assignments.csv"]))
    assert response.status_code == 200 and response.streaming
    assert len(parse_csv(b"".join(response.streaming_content).decode())) == 9
    response = client.get(reverse("review:batch_export", args=[batch.pk, "provenance.md"]))
    assert response.status_code == 200 and b"provenance card" in response.content

    api = key_client(batch.owner)
    body = api.get(f"/api/v1/batches/{batch.pk}/results/").json()
    assert set(body["files"]) == {*exports.EXPORTS, *exports.CARDS}
    assert body["provenance"]["workers"] == 3
    response = api.get(f"/api/v1/batches/{batch.pk}/results/tasks.jsonl")
    assert response.status_code == 200
    assert len(b"".join(response.streaming_content).splitlines()) == 3

    stranger = RequesterFactory()
    client.force_login(stranger)
    assert (
        client.get(reverse("review:batch_export", args=[batch.pk, "tasks.csv"])).status_code == 404
    )
    other_api = key_client(stranger)
    response = other_api.get(f"/api/v1/batches/{batch.pk}/results/")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
