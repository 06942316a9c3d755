import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from django.contrib.auth.models import Group
from django.urls import reverse

from core.errors import ApplicationError
from marketplace.models import Role
from marketplace.services import user_switch_role
from tests.fixtures.users import PASSWORD, UserFactory, WorkerFactory


@pytest.mark.django_db
def test_non_staff_cannot_reach_the_admin(client):
    client.force_login(WorkerFactory())
    response = client.get("/admin/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/") or response["Location"].startswith(
        "/accounts/login/"
    )
    follow = client.get("/admin/", follow=True)
    assert b"Site administration" not in follow.content


@pytest.mark.django_db
def test_anonymous_is_sent_to_allauth_login_for_admin(client):
    response = client.get("/admin/login/?next=/admin/")
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


NAVIGATION = {"Sec-Fetch-Dest": "document", "Sec-Fetch-Mode": "navigate", "Accept": "text/html"}


@pytest.mark.django_db
def test_staff_without_totp_is_sent_to_set_it_up_right_after_logging_in(client):
    staff = UserFactory(is_staff=True)
    # A real password login, so allauth knows the session is freshly authenticated.
    login = client.post(reverse("account_login"), {"login": staff.email, "password": PASSWORD})
    assert login.status_code == 302
    response = client.get("/admin/", headers=NAVIGATION)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("mfa_activate_totp"))
    # The password was typed a moment ago: no second prompt before the setup.
    setup = client.get(reverse("mfa_activate_totp"), headers=NAVIGATION)
    assert setup.status_code == 200
    assert b"Authenticator secret" in setup.content


@pytest.mark.django_db
def test_staff_logged_in_by_other_means_are_asked_for_their_password_first(client):
    client.force_login(UserFactory(is_staff=True))  # no password login in this session
    activate = client.get(reverse("mfa_activate_totp"), headers=NAVIGATION)
    assert activate["Location"].startswith(reverse("account_reauthenticate"))
    reauth = client.post(activate["Location"], {"password": PASSWORD})
    assert reauth.status_code == 302
    assert client.get(reverse("mfa_activate_totp")).status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Dest": "image", "Sec-Fetch-Mode": "no-cors"},  # <img>, the favicon
        {"Sec-Fetch-Dest": "empty", "Sec-Fetch-Mode": "cors"},  # fetch()
        {"Sec-Fetch-Dest": "iframe", "Sec-Fetch-Mode": "navigate"},  # a frame, not the tab
        {"HX-Request": "true", "Accept": "text/html"},  # htmx
        {"Accept": "*/*"},  # a client without fetch metadata that does not ask for a page
    ],
)
def test_the_totp_gate_redirects_only_page_navigations(client, headers):
    """Anything but a top-level navigation is refused, never redirected: a redirected
    favicon or partial would show the setup page behind the person's back, and each
    showing makes a new secret (the code they typed was then always "incorrect")."""
    staff = UserFactory(is_staff=True)
    client.post(reverse("account_login"), {"login": staff.email, "password": PASSWORD})
    client.get(reverse("mfa_activate_totp"), headers=NAVIGATION)
    secret = client.session["mfa.totp.secret"]
    response = client.get("/payouts/staff/money/", headers=headers)
    assert response.status_code == 403
    assert client.session["mfa.totp.secret"] == secret
    favicon = client.get("/favicon.ico", headers=headers)
    assert favicon.status_code == 200 and favicon["Content-Type"] == "image/x-icon"
    assert client.session["mfa.totp.secret"] == secret


@pytest.mark.django_db
def test_the_favicon_is_served_and_linked(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/x-icon"
    assert response.content[:4] == b"\x00\x00\x01\x00"  # an ICO file
    page = client.get("/")
    assert b'rel="icon" href="/static/favicon.svg"' in page.content


@pytest.mark.django_db
def test_staff_home_is_the_money_overview_or_the_admin(client):
    superuser = UserFactory(is_staff=True, is_superuser=True)
    TOTP.activate(superuser, generate_totp_secret())
    client.force_login(superuser)
    assert client.get(reverse("home"))["Location"] == reverse("payouts:money_overview")
    moderator = UserFactory(is_staff=True)
    TOTP.activate(moderator, generate_totp_secret())
    client.force_login(moderator)
    assert client.get(reverse("home"))["Location"] == reverse("admin:index")


@pytest.mark.django_db
def test_moderator_with_totp_reaches_the_admin(client):
    moderator = UserFactory(is_staff=True)
    moderator.groups.add(Group.objects.get_or_create(name="moderators")[0])
    TOTP.activate(moderator, generate_totp_secret())
    assert Authenticator.objects.filter(user=moderator, type=Authenticator.Type.TOTP).exists()
    client.force_login(moderator)
    response = client.get("/admin/")
    assert response.status_code == 200
    assert b"Site administration" in response.content or b"administration" in response.content
    assert moderator.is_moderator


@pytest.mark.django_db
def test_switch_role_requires_holding_it():
    both = UserFactory(is_worker=True, is_requester=True, active_role=Role.WORKER)
    user_switch_role(user=both, role=Role.REQUESTER)
    both.refresh_from_db()
    assert both.active_role == Role.REQUESTER
    only_worker = WorkerFactory()
    with pytest.raises(ApplicationError, match="not signed up as a requester"):
        user_switch_role(user=only_worker, role=Role.REQUESTER)
    only_worker.refresh_from_db()
    assert only_worker.active_role == Role.WORKER


@pytest.mark.django_db
def test_worker_cannot_open_requester_home(client):
    client.force_login(WorkerFactory())
    response = client.get(reverse("requester_home"))
    assert response.status_code == 403
    assert b"not signed up as a requester" in response.content


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/", "/accounts/login/", "/accounts/signup/", "/healthz"])
def test_public_pages_render(client, url):
    assert client.get(url).status_code == 200


@pytest.mark.django_db
def test_account_pages_link_to_password_and_two_factor(client):
    client.force_login(WorkerFactory())
    page = client.get(reverse("account_email")).content.decode()
    assert f'href="{reverse("account_change_password")}"' in page
    assert f'href="{reverse("mfa_index")}"' in page
    assert client.get(reverse("mfa_index")).status_code == 200
