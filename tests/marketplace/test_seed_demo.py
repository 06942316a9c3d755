import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth.models import Group
from django.core.management import call_command

from marketplace.models import User


def _snapshot():
    users = list(User.objects.order_by("email").values_list(
        "email", "display_name", "is_worker", "is_requester", "is_staff", "is_superuser", "active_role", "password"))
    emails = list(EmailAddress.objects.order_by("email").values_list("email", "verified", "primary"))
    groups = list(Group.objects.order_by("name").values_list("name", "user__email"))
    return users, emails, groups


@pytest.mark.django_db
def test_seed_demo_twice_gives_the_same_data():
    call_command("seed_demo")
    first = _snapshot()
    call_command("seed_demo")
    assert _snapshot() == first
    users = first[0]
    assert len(users) == 8
    assert sum(1 for u in users if u[3]) == 2  # two requesters
    assert sum(1 for u in users if u[2]) == 6  # five workers (+ requester2 who is both)
    assert User.objects.get(email="admin@example.com").is_moderator
    assert all(verified for _, verified, _ in first[1])
