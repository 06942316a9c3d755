"""``marketplace.auth_backends.UserBackend``: the signed-in user loaded by one fixed,
prepared SELECT instead of the ORM, with exactly what Django's ModelBackend gives."""

from __future__ import annotations

import pytest
from django.contrib.auth.backends import ModelBackend
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from marketplace.auth_backends import UserBackend
from marketplace.models import User
from tests.fixtures.users import WorkerFactory

pytestmark = pytest.mark.django_db


def test_the_same_user_as_django_with_every_field(worker):
    ours, django = UserBackend().get_user(worker.pk), ModelBackend().get_user(worker.pk)
    assert ours is not None and django is not None
    for field in User._meta.concrete_fields:
        assert getattr(ours, field.attname) == getattr(django, field.attname), field.name
    assert not ours._state.adding and ours._state.db == "default"
    # A real instance: saving it updates the row, it does not insert another.
    ours.display_name = "Renamed"
    ours.save(update_fields=["display_name"])
    assert User.objects.get(pk=worker.pk).display_name == "Renamed"


@pytest.mark.parametrize("user_id", [None, "", "abc", "9999999", 2**40, "1; DROP TABLE x"])
def test_unknown_or_malformed_ids_are_nobody(user_id):
    assert UserBackend().get_user(user_id) is None


def test_an_inactive_user_is_nobody_and_loses_the_session(client: Client):
    user = WorkerFactory()
    client.force_login(user)
    assert client.get("/work/").status_code == 200
    User.objects.filter(pk=user.pk).update(is_active=False)
    assert UserBackend().get_user(user.pk) is None
    assert client.get("/work/").status_code == 302  # to sign-in


def test_a_signed_in_request_loads_the_user_with_one_prepared_statement(client: Client):
    user = WorkerFactory()
    client.force_login(user)
    client.get("/work/queue/")  # prepares it on this connection
    with CaptureQueriesContext(connection) as queries:
        client.get("/work/queue/")
    # The user's own row, by the ORM ('SELECT … FROM "marketplace_user" WHERE …') or by us.
    loads = [
        q["sql"]
        for q in queries
        if q["sql"].startswith("EXECUTE ft_auth_user")
        or 'FROM "marketplace_user" WHERE' in q["sql"]
    ]
    assert loads == [f"EXECUTE ft_auth_user({user.pk})"], loads
