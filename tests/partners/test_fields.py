"""The profile's patterns are the validators' own: every string a documented pattern
admits is taken (IBAN and BIC then also pass their checksum and country checks, which no
pattern can state: tests/openapi/hooks.py lets those 400s through)."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from app.partners import fields

EXAMPLES = settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
WEBSITE: TypeAdapter[str] = TypeAdapter(fields.Website)
COUNTRY: TypeAdapter[str] = TypeAdapter(fields.Country)
IBAN: TypeAdapter[str] = TypeAdapter(fields.Iban)
BIC: TypeAdapter[str] = TypeAdapter(fields.Bic)


@EXAMPLES
@given(st.from_regex(re.compile(fields.WEBSITE_PATTERN), fullmatch=True))
def test_every_website_the_pattern_admits_is_taken(url: str) -> None:
    if len(url) <= 2048:
        assert WEBSITE.validate_python(url) == url


@pytest.mark.parametrize(
    "url", ["ftp://a.example", "https://", "https://a b", "javascript:alert(1)", "//a.example"]
)
def test_other_websites_are_refused(url: str) -> None:
    with pytest.raises(ValidationError):
        WEBSITE.validate_python(url)


def test_countries_are_iso_3166_alpha_2_in_upper_case() -> None:
    assert COUNTRY.validate_python("DE") == "DE"
    for bad in ("de", "XX", "DEU", ""):
        with pytest.raises(ValidationError):
            COUNTRY.validate_python(bad)


def test_iban_and_bic_are_checked_beyond_their_pattern() -> None:
    assert IBAN.validate_python("GB82 WEST 1234 5698 7654 32") == "GB82WEST12345698765432"
    assert BIC.validate_python("DEUTDEFF500") == "DEUTDEFF500"
    for bad in ("GB82 WEST 1234 5698 7654 33", "gb82west12345698765432", "GB82-WEST"):
        with pytest.raises(ValidationError):
            IBAN.validate_python(bad)
    for bad in ("DEUTXXFF", "deutdeff", "DEUT"):
        with pytest.raises(ValidationError):
            BIC.validate_python(bad)
