"""The stats table's row filter (`stats_cells`) writes what the template's own per-cell
loop wrote before it: every kind of metric, no value, negative money, any text escaped, in
any locale."""

from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from app.portal.web import templates

# The template code the filter replaces, kept as the reference.
REFERENCE = templates.from_string(
    """{% for c in columns %}{% if c in kinds %}<td class="num" data-metric="{{ c }}" """
    """data-value="{{ r[c] if r[c] is not none else '' }}">{{ r[c]|cell(kinds[c], r.currency) }}"""
    """</td>{% else %}<td class="clip" title="{{ r[c] if r[c] is not none else '' }}">"""
    """{{ r[c] if r[c] is not none else "none" }}</td>{% endif %}{% endfor %}"""
)
FILTER = templates.from_string("{{ r|stats_cells(columns, kinds) }}")
KINDS = {"clicks": "count", "cr": "rate", "epc": "money", "payout": "money"}
COLUMNS = ["sub1", "offer", "currency", "clicks", "cr", "epc", "payout"]

money = st.decimals(min_value=-(10**9), max_value=10**9, places=4, allow_nan=False).map(str)
rows = st.fixed_dictionaries(
    {
        "sub1": st.one_of(st.none(), st.text(max_size=12), st.sampled_from(['<b>"x"</b>', "a&b'"])),
        "offer": st.one_of(st.none(), st.integers(1, 10**6)),
        "currency": st.sampled_from(["USD", "EUR", "JPY", None]),
        "clicks": st.integers(0, 10**12),
        "cr": st.one_of(st.none(), st.decimals(0, 100, places=2).map(str)),
        "epc": st.one_of(st.none(), money),
        "payout": st.one_of(st.none(), money),
    }
)


@given(row=rows, locale=st.sampled_from(["en_US", "de_DE", "fr_FR", "en_IN", "de_CH", "ja_JP"]))
def test_the_row_filter_writes_what_the_template_wrote(row: dict[str, Any], locale: str) -> None:
    context = {"r": row, "columns": COLUMNS, "kinds": KINDS}
    context["user"] = SimpleNamespace(locale=locale)
    assert FILTER.render(**context) == REFERENCE.render(**context)


def test_text_is_escaped() -> None:
    row = {"sub1": '<script>"&', "clicks": 3, "currency": "USD"}
    user = SimpleNamespace(locale="en_US")
    html = FILTER.render(r=row, columns=["sub1", "clicks"], kinds=KINDS, user=user)
    assert "<script>" not in html
    assert 'title="&lt;script&gt;&#34;&amp;"' in html
    assert Decimal("3") == Decimal(html.split('data-value="')[1].split('"')[0])
