from __future__ import annotations

from django.conf import settings


def navigation(request) -> dict:
    user = getattr(request, "user", None)
    role = user.current_role if user is not None and user.is_authenticated else ""
    return {
        "current_role": role,
        "can_switch_role": bool(user and user.is_authenticated and len(user.roles) > 1),
        "embedded_stripe": getattr(settings, "STRIPE_SIMULATED", False),
    }
