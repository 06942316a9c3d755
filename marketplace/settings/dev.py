"""Development: ``make run``. DEBUG off (Fairtask's own error pages, no URL list on a
404) unless asked for with ``DEBUG=1 make run``."""

from marketplace.settings.base import *  # noqa: F403
from marketplace.settings.base import VAR_DIR
from marketplace.settings.env import env_bool, secret_key

DEBUG = env_bool("DEBUG", False)
DEMO_DATA = True  # seed_demo and the demo accounts (make run)
SECRET_KEY = secret_key(var_dir=VAR_DIR, required=False)
