import orjson
import pytest

from app.clickid import new_click_id
from app.clicks import record
from app.streams.records import PoisonRecord


def encoded(diverted: str | None = None) -> bytes:
    click_id, ms = new_click_id()
    return record.encode(
        click_id,
        ms,
        7,
        8,
        9,
        "EUR",
        diverted,
        {"sub1": "kw", "aff_click_id": "x\x00y"},
        "203.0.113.7",
        "Mozilla/5.0",
        None,
        "en",
        True,
    )


def test_a_record_decodes_to_what_was_encoded() -> None:
    rec = record.decode(encoded())
    assert (rec.link_id, rec.affiliate_id, rec.offer_id, rec.currency) == (7, 8, 9, "EUR")
    assert (rec.ip, rec.user_agent, rec.referer, rec.accept_language) == (
        "203.0.113.7",
        "Mozilla/5.0",
        None,
        "en",
    )
    assert rec.head is True
    assert rec.diverted is None
    assert rec.subs == {
        "sub1": "kw",
        "sub2": None,
        "sub3": None,
        "sub4": None,
        "sub5": None,
        "source": None,
        "aff_click_id": "x\ufffdy",
    }
    assert record.decode(encoded("paused")).diverted == "paused"


def test_the_capped_member_added_at_the_end_marks_any_record_diverted_by_the_cap() -> None:
    # Members in reverse order: the mark does not depend on where any member is.
    members = list(orjson.loads(encoded()).items())
    reordered = orjson.dumps(dict(reversed(members)))
    capped = reordered[:-1] + b"," + record.CAPPED_MEMBER.encode() + b"}"
    assert record.decode(capped).diverted == "cap"


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (b"not json", "not JSON"),
        (b"[1]", "not a click record"),
        (b'{"id": "nope"}', "bad click id"),
    ],
)
def test_a_record_that_is_no_click_is_poison(raw: bytes, error: str) -> None:
    with pytest.raises(PoisonRecord, match=error):
        record.decode(raw)


def erased(member: object) -> bytes:
    rec = {k: v for k, v in orjson.loads(encoded()).items() if k not in record.PERSONAL_MEMBERS}
    return orjson.dumps({**rec, record.ERASED_MEMBER: member})


def test_an_erased_record_carries_its_enrichment_instead_of_personal_data() -> None:
    rec = record.decode(erased(["DE", "mobile", "Android", "Chrome Mobile", 0, 1]))
    assert (rec.ip, rec.user_agent, rec.referer, rec.accept_language) == (None, None, None, None)
    assert rec.erased == record.Erased("DE", "mobile", "Android", "Chrome Mobile", False, True)
    assert record.decode(erased([None, "bot", "Other", "Other", 1, 0])).erased is not None
    assert record.decode(encoded()).erased is None


@pytest.mark.parametrize(
    "member",
    [
        "DE",
        ["DE", "mobile", "Android", "Chrome", 0],
        ["DEU", "mobile", "Android", "Chrome", 0, 1],
        ["DE", 1, "Android", "Chrome", 0, 1],
        ["DE", "mobile", "Android", "Chrome", 2, 1],
        ["DE", "mobile", "Android", "Chrome", 0, "yes"],
    ],
)
def test_a_bad_erased_member_is_poison(member: object) -> None:
    with pytest.raises(PoisonRecord, match="bad erased click"):
        record.decode(erased(member))


@pytest.mark.parametrize(
    ("ip", "kept"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("203.0.113.0/24", "203.0.113.0/24"),
        ("2001:db8:1::/48", "2001:db8:1::/48"),
        ("2001:DB8::1", "2001:db8::1"),
        ("203.0.113.7/33", None),
        ("nope", None),
    ],
)
def test_an_address_or_a_kept_network_is_read_in_its_normal_form(ip: str, kept: str | None) -> None:
    assert record.ip_text(ip) == kept
