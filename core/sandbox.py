"""The sandbox of the task frame, as constants both sides use: the requester's preview
(``marketplace``) and the worker's work page (``tasks``) embed the frame with
``IFRAME_SANDBOX``; ``tasks.frame`` serves it with ``FRAME_CSP``. Why each token is
there: ``tasks/frame.py``."""

IFRAME_SANDBOX = "allow-scripts allow-forms"

FRAME_CSP = (
    "sandbox allow-scripts allow-forms; "
    "default-src 'none'; "
    "img-src https: http: data:; "
    "media-src https: http: data:; "
    "style-src 'unsafe-inline'; "
    "script-src 'unsafe-inline'; "
    "form-action 'none'; "
    "frame-ancestors 'self'"
)
