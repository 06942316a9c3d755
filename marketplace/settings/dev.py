"""Development: ``make run``. DEBUG on unless the environment says otherwise."""

from marketplace.settings.base import *  # noqa: F403
from marketplace.settings.base import VAR_DIR
from marketplace.settings.env import env_bool, secret_key

DEBUG = env_bool("DEBUG", True)
SECRET_KEY = secret_key(var_dir=VAR_DIR, required=False)
