"""The embedded Celery broker: kombu's filesystem transport, with atomic writes.

kombu's own ``filesystem`` transport creates a message file under its final name and
then writes it; a consumer polling the folder can move and read the file in between,
get an empty or partial payload, and the worker dies on ``JSONDecodeError`` (seen in
our suite about one run in four). Here a message is written under a name no consumer
matches (``.<uuid>.tmp``) and renamed into place with ``os.replace``, which is atomic
on one filesystem: a consumer sees a whole message or none. Redis (production, CI) is
not affected.
"""

from __future__ import annotations

import os
import uuid
from time import monotonic
from typing import Any

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps

TRANSPORT = "marketplace.broker:AtomicFilesystemTransport"


class AtomicFilesystemChannel(filesystem.Channel):
    # Same signature as kombu's filesystem Channel._put (its stubs name the base one).
    def _put(self, queue: str, payload: Any, **kwargs: Any) -> None:  # type: ignore[override]
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        # Starts with a dot and has no ".<queue>.msg" suffix: never picked up half-written.
        temporary = os.path.join(self.data_folder_out, f".{uuid.uuid4().hex}.tmp")
        try:
            with open(temporary, "wb") as fh:
                fh.write(str_to_bytes(dumps(payload)))
            os.replace(temporary, final)
        except OSError as exc:
            try:
                os.unlink(temporary)
            except OSError:
                pass
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc


class AtomicFilesystemTransport(filesystem.Transport):
    Channel = AtomicFilesystemChannel
