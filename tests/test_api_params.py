"""moment(): the one parser of the `from`/`to`-style time bounds of every list endpoint."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.api_params import moment
from app.errors import BadRequest


def test_a_date_starts_its_day_or_as_an_end_includes_it() -> None:
    assert moment("2026-03-01", "from", end=False) == datetime(2026, 3, 1, tzinfo=UTC)
    assert moment("2026-03-01", "to", end=True) == datetime(2026, 3, 2, tzinfo=UTC)


def test_a_date_time_without_an_offset_is_utc_and_none_or_empty_is_no_bound() -> None:
    assert moment("2026-03-01T10:30:00", "from", end=False) == datetime(
        2026, 3, 1, 10, 30, tzinfo=UTC
    )
    assert moment(None, "from", end=False) is None
    assert moment("", "to", end=True) is None


@pytest.mark.parametrize("text", ["yesterday", "2026-02-30", "9999-12-31"])
def test_what_is_not_a_bound_is_a_400_naming_the_parameter(text: str) -> None:
    end = text.startswith("9999")  # the day after 9999-12-31 overflows
    with pytest.raises(BadRequest, match=r"^to: not an ISO date or date-time$"):
        moment(text, "to", end=end)
