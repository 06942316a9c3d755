"""Issue 15: Fairtask's own error pages (defect 9), mail that names the site (9), and
role switching only by POST (defect 6)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.core import mail
from django.test import RequestFactory
from django.urls import reverse

from marketplace import error_views
from marketplace.models import Role
from tests.fixtures.users import PASSWORD, RequesterFactory, UserFactory

ROOT = Path(__file__).resolve().parents[2]


# --- Defect 9: error pages ------------------------------------------------------------------


@pytest.mark.django_db
def test_a_404_is_fairtasks_own_page_without_the_url_list(client):
    response = client.get("/no/such/page/")
    html = response.content.decode()
    assert response.status_code == 404
    assert "We can't find that page" in html
    assert "fairtask.css" in html  # styled like the rest of the site
    assert "URLconf" not in html and "admin/" not in html


@pytest.mark.django_db
def test_a_403_is_fairtasks_own_page(client):
    client.force_login(UserFactory(is_worker=True, active_role=Role.WORKER))
    # The admin refuses a non-staff user with PermissionDenied-like redirects; a CSRF
    # failure is the 403 every visitor can meet.
    csrf_client = type(client)(enforce_csrf_checks=True)
    csrf_client.force_login(UserFactory(is_worker=True, active_role=Role.WORKER))
    response = csrf_client.post(reverse("switch_role"), {"role": "worker"})
    html = response.content.decode()
    assert response.status_code == 403
    assert "This form has expired" in html and "fairtask.css" in html
    assert "CSRF verification failed" not in html


def test_the_500_page_renders_without_a_request_context():
    request = RequestFactory().get("/requester/")
    response = error_views.server_error(request)
    html = response.content.decode()
    assert response.status_code == 500
    assert "Something went wrong on our side" in html and "fairtask.css" in html


def test_errors_under_api_are_json():
    request = RequestFactory().get("/api/v1/whatever/")
    for response, status in (
        (error_views.server_error(request), 500),
        (error_views.page_not_found(request, None), 404),
        (error_views.permission_denied(request, None), 403),
        (error_views.bad_request(request, None), 400),
    ):
        assert response.status_code == status
        assert response["Content-Type"] == "application/json"
        assert set(json.loads(response.content)["error"]) == {"code", "message", "fields"}


def test_handlers_are_installed():
    from marketplace import urls

    assert urls.handler404 == "marketplace.error_views.page_not_found"
    assert urls.handler500 == "marketplace.error_views.server_error"
    assert urls.handler403 == "marketplace.error_views.permission_denied"
    assert urls.handler400 == "marketplace.error_views.bad_request"


def _dev_setting(name: str, **env: str) -> str:
    code = f"from django.conf import settings; print(settings.{name})"
    full_env = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "marketplace.settings.dev",
        "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/unused",
        "FAIRTASK_VAR_DIR": str(ROOT / "var"),
        **env,
    }
    result = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_make_run_serves_with_debug_off_unless_asked():
    assert _dev_setting("DEBUG") == "False"
    assert _dev_setting("DEBUG", DEBUG="1") == "True"


# --- Defect 9: the site is called Fairtask --------------------------------------------------


@pytest.mark.django_db
def test_verification_mail_says_fairtask(client, settings):
    response = client.post(
        reverse("account_signup"),
        {
            "email": "newcomer@example.com",
            "password1": PASSWORD,
            "password2": PASSWORD,
            "display_name": "Newcomer",
            "role": "worker",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert "Fairtask" in message.subject
    assert "Hello from Fairtask!" in message.body
    assert "testserver" not in message.subject and "Hello from testserver" not in message.body
    assert re.search(r"https?://testserver/accounts/confirm-email/\S+/", message.body)


# --- Defect 6: switching role is a POST; opening a page changes nothing ----------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url",
    ["requester_home", "requester:project_list", "requester:batch_list", "requester:api_keys"],
)
def test_opening_a_requester_page_does_not_switch_role(client, url):
    both = UserFactory(is_worker=True, is_requester=True, active_role=Role.WORKER)
    client.force_login(both)
    response = client.get(reverse(url))
    assert response.status_code == 200
    both.refresh_from_db()
    assert both.active_role == Role.WORKER
    html = response.content.decode()
    # The page offers the switch, as a form that POSTs to switch_role.
    assert re.search(
        rf'<form method="post" action="{reverse("switch_role")}" class="role-offer', html
    )
    assert 'name="role" value="requester"' in html


@pytest.mark.django_db
def test_opening_the_worker_page_does_not_switch_role(client):
    both = UserFactory(is_worker=True, is_requester=True, active_role=Role.REQUESTER)
    client.force_login(both)
    assert client.get(reverse("worker_home")).status_code == 200
    both.refresh_from_db()
    assert both.active_role == Role.REQUESTER


@pytest.mark.django_db
def test_switching_is_a_post_and_returns_to_the_page(client):
    both = UserFactory(is_worker=True, is_requester=True, active_role=Role.WORKER)
    client.force_login(both)
    assert client.get(reverse("switch_role")).status_code == 405
    response = client.post(
        reverse("switch_role"),
        {"role": "requester", "next": reverse("requester:project_list")},
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("requester:project_list")
    both.refresh_from_db()
    assert both.active_role == Role.REQUESTER
    # Working as a requester, no offer is shown.
    assert "role-offer" not in client.get(reverse("requester:project_list")).content.decode()


@pytest.mark.django_db
def test_a_requester_only_user_sees_no_offer(client):
    client.force_login(RequesterFactory())
    assert "role-offer" not in client.get(reverse("requester_home")).content.decode()
