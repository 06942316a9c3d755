"""API keys: create, revoke, check (the REST API's authentication calls ``api_key_check``).

A key reads ``<prefix>.<secret>``: ``prefix`` is ``ft`` + 10 hex characters, public
(shown in the list, the lookup index); ``secret`` is 32 random bytes, URL-safe base64.
Only the secret's SHA-256 is stored and it is compared in constant time, so neither a
database dump nor response timing gives a usable key.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from core import limits
from core.errors import ApplicationError
from core.text import clean_text
from marketplace.models import ApiKey, User
from marketplace.selectors import api_keys_for

KEY_PREFIX = "ft"
MAX_ACTIVE_KEYS = limits.MAX_ACTIVE_API_KEYS
MAX_NAME_CHARS = limits.API_KEY_NAME_CHARS
# ``last_used_at`` is written at most this often per key, so that a busy client does not
# turn every read request into a write.
LAST_USED_RESOLUTION = timedelta(minutes=1)
SCHEMES = ("api-key", "bearer")


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def api_key_create(*, user: User, name: str) -> tuple[ApiKey, str]:
    """A new key for ``user``; returns it with the full key text, which is never
    available again. Raises ApplicationError: not a requester (403), empty or too long
    name, more than ``MAX_ACTIVE_KEYS`` active keys (409). Takes no locks (the limit is
    a courtesy, not an invariant; a race can exceed it by one)."""
    if not user.is_requester:
        raise ApplicationError(
            "Only requesters can create API keys.", code="not_requester", status=403
        )
    name = " ".join(
        clean_text(name or "", label="The name", maximum=MAX_NAME_CHARS, field="name").split()
    )
    if not name:
        raise ApplicationError(
            "Give the key a name, e.g. the script that uses it.", code="required", field="name"
        )
    if api_keys_for(user).filter(revoked_at__isnull=True).count() >= MAX_ACTIVE_KEYS:
        raise ApplicationError(
            f"You already have {MAX_ACTIVE_KEYS} active keys; revoke one first.",
            code="too_many_keys",
            status=409,
        )
    secret = secrets.token_urlsafe(32)
    for _attempt in range(5):
        prefix = KEY_PREFIX + secrets.token_hex(5)
        try:
            with transaction.atomic():
                key = ApiKey.objects.create(
                    user=user, name=name, prefix=prefix, secret_sha256=_digest(secret)
                )
        except IntegrityError:  # a prefix collision (1 in 10^12): draw another
            continue
        return key, f"{prefix}.{secret}"
    raise RuntimeError("could not draw a unique API key prefix")


def api_key_revoke(*, key_id: int, user: User) -> ApiKey:
    """Revoke one of ``user``'s keys; requests with it get 401 from then on. Idempotent.
    Raises ApplicationError (404) for a key that is not the user's."""
    with transaction.atomic():
        key = ApiKey.objects.select_for_update().filter(pk=key_id, user_id=user.pk).first()
        if key is None:
            raise ApplicationError("API key not found.", code="not_found", status=404)
        if key.revoked_at is None:
            key.revoked_at = timezone.now()
            key.save(update_fields=["revoked_at"])
        return key


def parse_authorization(header: str) -> str | None:
    """The key text of an ``Authorization: Api-Key <key>`` or ``Bearer <key>`` header
    (None for another scheme or a malformed header)."""
    parts = header.split()
    if len(parts) != 2 or parts[0].lower() not in SCHEMES:
        return None
    return parts[1]


def api_key_check(raw_key: str) -> ApiKey | None:
    """The active key that ``raw_key`` (``<prefix>.<secret>``) is, with its user joined;
    None if it is malformed, unknown, revoked, or its user is inactive or no longer a
    requester. Records the use (at most once a minute per key)."""
    prefix, dot, secret = raw_key.partition(".")
    if not dot or not prefix.startswith(KEY_PREFIX) or len(prefix) > 16 or not secret:
        return None
    key = ApiKey.objects.select_related("user").filter(prefix=prefix).first()
    # Compare even when the prefix is unknown, so that timing does not tell which
    # prefixes exist.
    expected = key.secret_sha256 if key is not None else "0" * 64
    if not hmac.compare_digest(expected, _digest(secret)) or key is None:
        return None
    if key.revoked_at is not None or not key.user.is_active or not key.user.is_requester:
        return None
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at >= LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
    return key
