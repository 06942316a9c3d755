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


@pytest.mark.django_db
def test_staff_without_totp_is_sent_to_set_it_up(client):
    staff = UserFactory(is_staff=True)
    # A real password login, so allauth knows the session is freshly authenticated.
    login = client.post(reverse("account_login"), {"login": staff.email, "password": PASSWORD})
    assert login.status_code == 302
    response = client.get("/admin/")
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("mfa_activate_totp"))
    # The pages needed to set it up stay reachable: allauth asks for the password
    # again (a sensitive change), then shows the TOTP setup.
    activate = client.get(reverse("mfa_activate_totp"))
    assert activate["Location"].startswith(reverse("account_reauthenticate"))
    reauth = client.post(activate["Location"], {"password": PASSWORD})
    assert reauth.status_code == 302
    setup = client.get(reverse("mfa_activate_totp"))
    assert setup.status_code == 200
    assert b"Authenticator" in setup.content or b"authenticator" in setup.content


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
