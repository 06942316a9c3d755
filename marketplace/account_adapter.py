"""allauth's account adapter, with one change: a password login in this session counts
as a recent reauthentication.

allauth asks for the password again before a sensitive change (adding a two-factor
authenticator) unless the session holds a *reauthentication* younger than
``ACCOUNT_REAUTHENTICATION_TIMEOUT``; a login does not count. Staff must set up TOTP
right after their first login (``StaffTOTPRequiredMiddleware``), so they were asked for
the password they had typed a moment before. A password typed at login is the same
proof as one typed at a reauthentication prompt, so within the same timeout it is taken
as one. Logins by other means (an email link) still get the prompt.
"""

from __future__ import annotations

import time

from allauth.account import app_settings as account_settings
from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.internal.flows.login import get_authentication_records
from allauth.core import context


def password_login_is_recent(request, user) -> bool:
    if user is None or not user.is_authenticated:
        return False
    records = get_authentication_records(request, user)
    times = [r.get("at", 0) for r in records if r.get("method") == "password"]
    return bool(times) and time.time() - max(times) < account_settings.REAUTHENTICATION_TIMEOUT


class AccountAdapter(DefaultAccountAdapter):
    def is_reauthentication_required(self, *, app: str, **kwargs) -> bool:
        if not super().is_reauthentication_required(app=app, **kwargs):
            return False
        request = context.request
        if request is not None and password_login_is_recent(request, request.user):
            return False
        return True
