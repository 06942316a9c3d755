"""Settings of the app served by ``bench/claim.py``: development settings plus the
floor views (``bench/floor_urls.py``). Never used outside the benchmark."""

from marketplace.settings.dev import *  # noqa: F403

ROOT_URLCONF = "bench.floor_urls"
