"""The sandboxed task frame: headers, escaping, who may preview what."""

from __future__ import annotations

import pytest
from django.urls import reverse

from marketplace import services
from marketplace.frame import FRAME_CSP
from tests.marketplace.conftest import csv_bytes, make_project, upload

pytestmark = pytest.mark.django_db

EXPECTED_CSP = (
    "sandbox allow-scripts allow-forms; default-src 'none'; img-src https: http: data:; "
    "media-src https: http: data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
    "form-action 'none'; frame-ancestors 'self'"
)


@pytest.fixture
def rclient(client, requester):
    client.force_login(requester)
    return client


def _assert_sandbox_headers(response):
    assert response["Content-Security-Policy"] == EXPECTED_CSP == FRAME_CSP
    assert response["X-Frame-Options"] == "SAMEORIGIN"
    assert response["Referrer-Policy"] == "no-referrer"
    assert response["Cache-Control"] == "no-store"
    assert response["X-Content-Type-Options"] == "nosniff"


def test_project_preview_has_the_sandbox_headers_and_the_sample_row(rclient, requester):
    project = make_project(requester)
    response = rclient.get(reverse("requester:preview_frame", args=[project.pk]))
    assert response.status_code == 200
    _assert_sandbox_headers(response)
    html = response.content.decode()
    assert "The parcel arrived two days late" in html  # the built-in's sample row
    assert (
        'name="label"' in html and "fairtask:submit" in html and '<form id="fairtask-form"' in html
    )


def test_site_pages_keep_deny(rclient):
    assert rclient.get(reverse("requester_home"))["X-Frame-Options"] == "DENY"


def test_typed_row_values_are_escaped(rclient, requester):
    project = make_project(requester)
    response = rclient.get(
        reverse("requester:preview_frame", args=[project.pk]),
        {"row.text": '<script>alert(1)</script>"x'},
    )
    html = response.content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&quot;x" in html
    assert "<script>alert(1)" not in html


def test_preview_with_the_first_row_of_a_batch(rclient, requester):
    project = make_project(requester)
    batch = upload(project, requester, csv_bytes(3, start=41))
    html = rclient.get(
        reverse("requester:preview_frame", args=[project.pk]), {"batch": batch.pk}
    ).content.decode()
    assert "Ticket number 41, please help" in html


def test_another_requesters_batch_cannot_be_previewed(rclient, requester, other_requester):
    project = make_project(requester)
    theirs = upload(make_project(other_requester), other_requester, csv_bytes(1))
    response = rclient.get(
        reverse("requester:preview_frame", args=[project.pk]), {"batch": theirs.pk}
    )
    assert response.status_code == 404


def test_preview_of_another_requesters_project_is_404(rclient, other_requester):
    project = make_project(other_requester)
    assert rclient.get(reverse("requester:preview_frame", args=[project.pk])).status_code == 404


def test_workers_get_403_and_anonymous_the_login_page(client, worker, requester):
    project = make_project(requester)
    url = reverse("requester:preview_frame", args=[project.pk])
    response = client.get(url)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    client.force_login(worker)
    response = client.get(url)
    assert response.status_code == 403
    _assert_sandbox_headers(response)


def test_draft_preview_of_a_builtin_by_get(rclient):
    url = reverse("requester:preview_draft")
    html = rclient.get(url, {"template_kind": "relevance"}).content.decode()
    assert "how to repot a cactus" in html and 'name="relevance"' in html
    html = rclient.get(
        url, {"template_kind": "sentiment", "question": "Mood?", "labels": "Sad\nHappy"}
    ).content.decode()
    assert "Mood?" in html and 'value="Happy"' in html


def test_draft_preview_of_custom_html_only_by_post(rclient):
    url = reverse("requester:preview_draft")
    response = rclient.get(url, {"template_kind": "custom", "template_html": "<b>${x}</b>"})
    assert "<b>" not in response.content.decode()
    response = rclient.post(
        url, {"template_kind": "custom", "template_html": "<b>${x}</b><input name=a>"}
    )
    assert response.status_code == 200
    _assert_sandbox_headers(response)
    assert "<b>sample x</b>" in response.content.decode()


def test_draft_preview_reports_template_errors(rclient):
    url = reverse("requester:preview_draft")
    response = rclient.post(url, {"template_kind": "custom", "template_html": "${_gold_a}"})
    assert response.status_code == 400 and "_gold_" in response.content.decode()
    response = rclient.post(url, {"template_kind": "sentiment", "question": "Q", "labels": "one"})
    assert (
        response.status_code == 400 and "Give between 2 and 50 labels" in response.content.decode()
    )


def test_draft_preview_post_needs_csrf(requester):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(requester)
    response = client.post(
        reverse("requester:preview_draft"), {"template_kind": "custom", "template_html": "<b>x</b>"}
    )
    assert response.status_code == 403


def test_archived_project_still_previews(rclient, requester):
    project = make_project(requester)
    services.project_archive(project=project, user=requester)
    assert rclient.get(reverse("requester:preview_frame", args=[project.pk])).status_code == 200


def test_the_preview_page_pages_through_a_batchs_rows(rclient, requester):
    project = make_project(requester)
    batch = upload(project, requester, csv_bytes(3))
    url = reverse("requester:preview", args=[project.pk])
    first = rclient.get(url, {"batch": batch.pk})
    html = first.content.decode()
    assert first.status_code == 200 and "Row 1 of 3" in html
    assert f'href="?batch={batch.pk}&amp;row=2"' in html and 'rel="prev"' not in html
    frame_src = (
        reverse("requester:preview_frame", args=[project.pk]) + f"?batch={batch.pk}&amp;row=1"
    )
    assert f'src="{frame_src}"' in html
    last = rclient.get(url, {"batch": batch.pk, "row": "99"}).content.decode()  # clamped
    assert "Row 3 of 3" in last and 'rel="next"' not in last
    frame = rclient.get(
        reverse("requester:preview_frame", args=[project.pk]), {"batch": batch.pk, "row": 2}
    ).content.decode()
    assert "Ticket number 2," in frame and "Ticket number 1," not in frame


def test_the_preview_page_refuses_another_requesters_batch(rclient, requester, other_requester):
    project = make_project(requester)
    theirs = upload(make_project(other_requester), other_requester, csv_bytes(2))
    url = reverse("requester:preview", args=[project.pk])
    assert rclient.get(url, {"batch": theirs.pk}).status_code == 404
    mine_elsewhere = upload(make_project(requester), requester, csv_bytes(2))
    assert rclient.get(url, {"batch": mine_elsewhere.pk}).status_code == 404
