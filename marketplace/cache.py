"""The shared cache, and what happens when it is down.

Login rate limits (allauth), API throttling (DRF) and TOTP replay protection count in
the default cache, Redis in production (``CACHE_URL``). A cache outage must not take the
site down with it: pages, sessions (in PostgreSQL) and money do not need the cache.

**The choice: fail open.** While Redis does not answer, every cache call returns at once
(1 s socket timeouts) as a miss: ``get`` the default, ``set``/``delete`` nothing, and
``add`` *True*, as if the key were new. So logins and API calls go through without
being counted: for the length of the outage there is no login rate limit and no API
throttle (password hashing still costs each guess the same), rather than no logins at
all. Failing closed would turn a Redis outage into a login outage: allauth takes a cache
"lock" with ``add`` and, when it never gets one, refuses the attempt as rate limited.
Each ignored error is logged (``django_redis.cache`` at ERROR) and /healthz/ready says
``cache: degraded``, so the outage is seen and fixed.

``add`` is the one call whose django-redis default (``None``, falsy, on an ignored
error) would fail closed; this class makes it fail open like the others.
"""

from __future__ import annotations

from typing import Any

from django_redis.cache import RedisCache
from django_redis.exceptions import ConnectionInterrupted


class FailOpenRedisCache(RedisCache):
    def add(self, *args: Any, **kwargs: Any) -> bool:
        try:
            return bool(self.client.add(*args, **kwargs))
        except ConnectionInterrupted as exc:
            if not self._ignore_exceptions:
                raise exc.__cause__ from None  # noqa: B904 - django-redis's own re-raise
            if self._log_ignored_exceptions:
                self.logger.exception("cache add ignored (failing open)")
            return True
