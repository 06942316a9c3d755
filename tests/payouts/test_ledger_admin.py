"""The ledger in the Django admin: staff can read it, nobody can add, change or delete."""

from __future__ import annotations

import re

import pytest
from allauth.mfa.models import Authenticator
from django.contrib.auth.models import Permission
from django.urls import reverse

from payouts import ledger
from payouts.models import LedgerAccount, LedgerEntry, LedgerTransaction
from tests.fixtures.users import UserFactory

pytestmark = pytest.mark.django_db

MODELS = [LedgerAccount, LedgerTransaction, LedgerEntry]


def staff(**extra):
    user = UserFactory(is_staff=True, **extra)
    # Staff without TOTP are sent to set it up (StaffTOTPRequiredMiddleware).
    Authenticator.objects.create(user=user, type=Authenticator.Type.TOTP, data={"secret": "x"})
    return user


@pytest.fixture
def posted(requester, worker):
    ledger.deposit(key="deposit-cs_1", user=requester, amount_cents=5000)
    ledger.hold(key="hold-batch-1", user=requester, batch_id=1, amount_cents=120)
    return ledger.settle(key="settle-1", batch_id=1, worker=worker, reward_cents=100, fee_cents=20)


def url(model, view: str, *args) -> str:
    return reverse(f"admin:payouts_{model._meta.model_name}_{view}", args=args)


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_superuser_reads_but_cannot_write(client, posted, model, django_assert_max_num_queries):
    client.force_login(staff(is_superuser=True))
    obj = model.objects.order_by("pk").first()
    with django_assert_max_num_queries(15):
        changelist = client.get(url(model, "changelist"))
    assert changelist.status_code == 200
    assert client.get(url(model, "change", obj.pk)).status_code == 200  # read-only view
    assert client.get(url(model, "add")).status_code == 403
    assert client.post(url(model, "change", obj.pk), {}).status_code == 403
    assert client.get(url(model, "delete", obj.pk)).status_code == 403
    assert model.objects.filter(pk=obj.pk).exists()


def test_transaction_page_shows_its_entries(client, posted):
    client.force_login(staff(is_superuser=True))
    page = client.get(url(LedgerTransaction, "change", posted.pk)).content.decode()
    assert "settle-1" in page
    amounts = re.findall(r'<td class="field-amount_cents">\s*<p>(-?\d+)</p>', page)
    assert sorted(amounts) == ["-120", "100", "20"]


def test_staff_need_the_view_permission(client, posted):
    user = staff()
    client.force_login(user)
    assert client.get(url(LedgerEntry, "changelist")).status_code == 403
    user.user_permissions.add(Permission.objects.get(codename="view_ledgerentry"))
    assert client.get(url(LedgerEntry, "changelist")).status_code == 200


def test_non_staff_are_sent_to_the_admin_login(client, requester, posted):
    client.force_login(requester)
    response = client.get(url(LedgerAccount, "changelist"))
    assert response.status_code == 302
    assert reverse("admin:login") in response["Location"]
