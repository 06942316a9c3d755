"""Account services: roles."""

from __future__ import annotations

from django.db import transaction

from core.errors import ApplicationError
from marketplace.models import Role, User


def user_set_roles(*, user: User, worker: bool, requester: bool) -> User:
    if not worker and not requester:
        raise ApplicationError(
            "Choose at least one role: worker, requester or both.", code="no_role"
        )
    user.is_worker = worker
    user.is_requester = requester
    if user.active_role and user.active_role not in user.roles:
        user.active_role = ""
    if not user.active_role:
        user.active_role = Role.REQUESTER if requester and not worker else Role.WORKER
    user.save(update_fields=["is_worker", "is_requester", "active_role"])
    return user


@transaction.atomic
def user_switch_role(*, user: User, role: str) -> User:
    """Make ``role`` the user's working role. Raises ApplicationError if not held."""
    if role not in Role.values:
        raise ApplicationError(f"Unknown role {role!r}.", code="unknown_role")
    if role not in user.roles:
        raise ApplicationError(f"You are not signed up as a {role}.", code="role_not_held")
    user.active_role = role
    user.save(update_fields=["active_role"])
    return user
