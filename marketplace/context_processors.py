from __future__ import annotations


def navigation(request) -> dict:
    user = getattr(request, "user", None)
    role = user.current_role if user is not None and user.is_authenticated else ""
    # A page of one role opened while working in the other (a two-role user following a
    # link): the page shows, and offers the switch as a POST; opening it switches nothing.
    page_role = getattr(request, "page_role", "")
    return {
        "current_role": role,
        "can_switch_role": bool(user and user.is_authenticated and len(user.roles) > 1),
        "page_role": page_role,
        "offer_role_switch": bool(page_role and role and page_role != role),
    }
