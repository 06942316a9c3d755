"""The requester REST API (DRF) under /api/v1/: projects, batches, balance.

Authentication ``Authorization: Api-Key <prefix>.<secret>`` (or ``Bearer``), or the
browser session (with CSRF) for the browsable API. One error shape for every error
(``exceptions.exception_handler``). The views parse input, call the same selectors and
services as the requester pages, and serialize.
"""
