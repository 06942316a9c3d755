"""How long something took, as the pages write it (``duration_text``)."""

import pytest

from marketplace.templatetags.requester_tags import duration_text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "—"),
        (0, "0 s"),
        (59.6, "1 min"),
        (95, "1 min 35 s"),
        (3600, "1 h"),
        (3660, "1 h 1 min"),
        (47 * 3600 + 59 * 60, "47 h 59 min"),
        # From two days on, hours alone read badly ("170 h 6 min" on the dashboard).
        (48 * 3600, "2 days"),
        (170 * 3600 + 6 * 60, "7 days 2 h"),
    ],
)
def test_duration_text(seconds, text):
    assert duration_text(seconds) == text
