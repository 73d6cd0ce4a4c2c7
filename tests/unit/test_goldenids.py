"""Packed golden row ids index rows exactly as a dict of ids would: first-seen order, repeats
adjacent or not, any text (lone surrogates included), more ids after `seal()`."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_llmgate.results.goldenids import GoldenIds

ids = st.lists(st.one_of(st.sampled_from(["r1", "r2", "", "é", "\ud800x"]), st.text(max_size=6)),
               max_size=80)


def dict_units(seq: list[str], known: dict[str, int]) -> list[int]:
    return [known.setdefault(i, len(known)) for i in seq]


@settings(max_examples=300, deadline=None)
@given(first=ids, then=ids)
def test_units_are_a_dict_of_ids_in_first_seen_order(first: list[str], then: list[str]) -> None:
    known: dict[str, int] = {}
    golden = GoldenIds()
    assert [golden.unit_of(i) for i in first] == dict_units(first, known)
    golden.seal()  # more rows after the item was sealed: indexed again from the packed ids
    assert [golden.unit_of(i) for i in then] == dict_units(then, known)
    assert list(golden) == list(known)
    assert len(golden) == len(known)
    assert [golden[i] for i in range(-len(golden), len(golden))] == list(known) * 2
    assert golden[1:] == list(known)[1:]
    assert golden == list(known)
    assert golden != [*known, "another"]


def test_a_million_style_stream_grows_its_table_and_compares_packed() -> None:
    a, b = GoldenIds(), GoldenIds()
    for n in range(5000):
        for repeat in range(2):  # job order: a row's repeats one after the other
            assert a.unit_of(f"r{n:07d}") == n
            assert b.unit_of(f"r{n:07d}") == n, repeat
    assert a.unit_of("r0000007") == 7  # an earlier row again: exact lookup from now on
    assert a.unit_of("new") == 5000
    b.unit_of("new")
    assert a == b
    with pytest.raises(IndexError):
        a[5001]
