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

from django.core.cache import caches
from django_redis.cache import RedisCache
from django_redis.exceptions import ConnectionInterrupted
from redis.exceptions import RedisError


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


def count_hit(key: str, *, timeout: int) -> int:
    """Add one to the counter ``key`` in the default cache and return the new count (1
    for a new key, which lives ``timeout`` seconds). On Redis it is one round trip
    (``INCR`` and ``EXPIRE`` in one pipeline; the key names its own time window, so
    renewing its expiry on each hit only delays its clean-up), and it fails open like
    the rest of this cache: while Redis does not answer it returns 1 (not counted).
    Elsewhere (local memory: one process, tests) ``add`` then ``incr``."""
    cache = caches["default"]
    if isinstance(cache, RedisCache):
        try:
            client = cache.client.get_client(write=True)
            pipe = client.pipeline(transaction=False)
            redis_key = cache.client.make_key(key)
            pipe.incr(redis_key)
            pipe.expire(redis_key, timeout)
            count, _ = pipe.execute()
            return int(count)
        except (ConnectionInterrupted, RedisError, OSError):
            if not getattr(cache, "_ignore_exceptions", False):
                raise
            if getattr(cache, "_log_ignored_exceptions", False):
                cache.logger.exception("cache count ignored (failing open)")
            return 1
    if cache.add(key, 1, timeout=timeout):
        return 1
    try:
        return int(cache.incr(key))
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=timeout)
        return 1
