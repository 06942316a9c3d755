"""The sandboxed task frame: the one place where a requester's HTML reaches a browser.

Requesters' preview and workers' work use this same frame.

How it is contained (both layers, each enough on its own):

* The page embeds it as ``<iframe sandbox="allow-scripts allow-forms" src="/frame/...">``
  (``IFRAME_SANDBOX``): without ``allow-same-origin`` the document gets an *opaque*
  origin, so its scripts cannot read our cookies or storage, cannot reach into the parent
  page, and requests they make are cross-site (SameSite cookies are not sent).
* The frame response itself carries ``Content-Security-Policy: sandbox allow-scripts
  allow-forms; ...`` (``FRAME_CSP``), so it is just as sandboxed when opened directly in a
  tab, plus ``default-src 'none'`` (no fetch/XHR/WebSocket anywhere, no external
  scripts or frames), ``form-action 'none'`` (the form cannot post anywhere) and
  ``frame-ancestors 'self'`` with ``X-Frame-Options: SAMEORIGIN`` (only our pages may
  embed it). Images and media may load from http(s) and data: URLs: tasks are about them.

Answers leave the frame only by ``postMessage``: the small script injected after the
task HTML intercepts the form's submit (after the browser's own validation of
``required`` fields), collects every field by name (``FormData``; a name with several
values becomes a list) and sends ``{type: "fairtask:submit", answers}`` to the parent.
``static/js/taskframe.js`` on the parent accepts only messages whose ``event.source``
is the frame's own window: in preview mode it shows them, in work mode it puts them
as JSON into the page's submit form (``data-submit-form``) and submits that, so the
worker's session and CSRF token never enter the frame.
"""

from __future__ import annotations

from django.http import HttpResponse
from django.template.loader import render_to_string

from core.sandbox import FRAME_CSP, IFRAME_SANDBOX

__all__ = ["FRAME_CSP", "IFRAME_SANDBOX", "frame_message_response", "frame_response"]


def _secure(response: HttpResponse) -> HttpResponse:
    response["Content-Security-Policy"] = FRAME_CSP
    # The site's default is DENY; only our own pages may embed the frame (set here, the
    # clickjacking middleware leaves it alone).
    response["X-Frame-Options"] = "SAMEORIGIN"
    response["Referrer-Policy"] = "no-referrer"
    response["Cache-Control"] = "no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def frame_response(
    *, task_html: str, submit_label: str = "Submit", title: str = "Task", status: int = 200
) -> HttpResponse:
    """The frame document for ``task_html`` (already rendered with its row, values
    escaped by ``marketplace.templating.render``), with the sandbox headers."""
    html = render_to_string(
        "tasks/frame.html",
        {"task_html": task_html, "submit_label": submit_label, "title": title},
    )
    return _secure(HttpResponse(html, status=status, content_type="text/html; charset=utf-8"))


def frame_message_response(*, message: str, status: int = 200) -> HttpResponse:
    """A frame document showing a message instead of a task (an invalid template, a row
    missing a column...), under the same headers."""
    html = render_to_string("tasks/frame_message.html", {"message": message})
    return _secure(HttpResponse(html, status=status, content_type="text/html; charset=utf-8"))
