"""Request types for view annotations (type checking only; no runtime behaviour).

django-stubs types ``HttpRequest.user`` as ``User | AnonymousUser`` because a view
cannot know whether someone logged in. A view behind ``@login_required`` (or a
decorator built on it, e.g. ``marketplace.requester_views.requester_required``) does know, and
says so by annotating its request as ``AuthenticatedHttpRequest``: then
``request.user`` is our ``User`` without a cast at every use. Nothing checks that
annotation at runtime, so use it only where the decorator really guarantees it.

``htmx`` is set on every request by ``django_htmx.middleware.HtmxMiddleware``
(installed in ``settings.MIDDLEWARE``); ``HttpRequest`` does not declare it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails

if TYPE_CHECKING:
    from marketplace.models import User


class HtmxHttpRequest(HttpRequest):
    """Any request that went through the middleware stack: it has ``request.htmx``."""

    htmx: HtmxDetails


class AuthenticatedHttpRequest(HtmxHttpRequest):
    """A request that ``login_required`` let through: ``request.user`` is a ``User``."""

    user: User
