from __future__ import annotations


def navigation(request) -> dict:
    user = getattr(request, "user", None)
    role = user.current_role if user is not None and user.is_authenticated else ""
    return {
        "current_role": role,
        "can_switch_role": bool(user and user.is_authenticated and len(user.roles) > 1),
    }
