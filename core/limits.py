"""Every input limit in one place. Services enforce them; forms, serializers and the
OpenAPI schema read them from here, so a page, the API and the database never
disagree about what is allowed.

Durations are bounded in seconds as well as as timedeltas: an API integer is turned
into a ``timedelta`` only after it is known to be in range (``timedelta(seconds=10**15)``
overflows).
"""

from __future__ import annotations

from datetime import timedelta

# --- Projects -------------------------------------------------------------------------
TITLE_CHARS = 200
TEXT_CHARS = 50_000  # description, instructions
KEYWORDS_CHARS = 500
TEMPLATE_CHARS = 200_000

MIN_REWARD_CENTS = 1
MAX_REWARD_CENTS = 100_000  # $1,000 per assignment: above that it is a typo, not a task

MAX_ESTIMATED_SECONDS = 24 * 3600
MAX_TIME_ALLOTTED_SECONDS = 7 * 24 * 3600
MIN_ASSIGNMENTS_PER_TASK = 1
MAX_ASSIGNMENTS_PER_TASK = 100

MAX_AUTO_APPROVAL_DELAY = timedelta(days=30)
MAX_AUTO_APPROVAL_DELAY_SECONDS = int(MAX_AUTO_APPROVAL_DELAY.total_seconds())
DEFAULT_AUTO_APPROVAL_DELAY = timedelta(days=3)
MIN_BATCH_LIFETIME = timedelta(hours=1)
MAX_BATCH_LIFETIME = timedelta(days=365)
MIN_BATCH_LIFETIME_SECONDS = int(MIN_BATCH_LIFETIME.total_seconds())
MAX_BATCH_LIFETIME_SECONDS = int(MAX_BATCH_LIFETIME.total_seconds())
DEFAULT_BATCH_LIFETIME = timedelta(days=7)

MAX_GOLD_RATE_BP = 10_000

# Requirements (stored for the reputation side).
MAX_MIN_COMPLETED = 10**9
MAX_QUALIFICATIONS = 50
QUALIFICATION_NAME_CHARS = 100
MAX_QUALIFICATION_VALUE = 10**9  # a score compared with ==, >=, ...
MAX_LANGUAGES = 50
LANGUAGE_CODE_CHARS = 35  # BCP 47 tags are short
TIER_NAME_CHARS = 50

# Built-in template settings.
MAX_LABELS = 50
LABEL_CHARS = 200
QUESTION_CHARS = 300
MIN_SCALE, MAX_SCALE = 2, 10

# --- Batches --------------------------------------------------------------------------
BATCH_NAME_CHARS = 200
CANCEL_REASON_CHARS = 1000
MAX_COLUMNS = 1000

# --- API keys -------------------------------------------------------------------------
API_KEY_NAME_CHARS = 100
MAX_ACTIVE_API_KEYS = 20

# --- Structured input (JSON bodies, JSONL cells, JSON fields) --------------------------
# Deeper nesting than this is refused before it is walked: Python's recursion limit
# (1,000 frames) would otherwise turn a 100,000-deep body into a RecursionError.
MAX_JSON_DEPTH = 32
# Integers in JSON fields: PostgreSQL jsonb holds any number, but nothing we store
# means more than this, and bounding it keeps arithmetic on it from overflowing.
MAX_JSON_INT = 10**15
