"""Settings of the benchmarks (``bench/claim.py``, ``bench/pages.py``): development
settings plus the floor views (``bench/floor_urls.py``). Never used outside them."""

from marketplace.settings.dev import *  # noqa: F403

ROOT_URLCONF = "bench.floor_urls"

# Pages rendered with DEBUG off without a collectstatic run first (bench/pages.py): the
# plain storage names files as they are; what is measured is the page, not its assets.
STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
