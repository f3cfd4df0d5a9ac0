"""The JSON columns' reader gives exactly what ``json.loads`` gives (values, and errors with their messages) on
what the databases send and on everything else; hypothesis draws the values."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tsbot.adapters.storage.database import json_loads

values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@given(values, st.sampled_from(["", " ", "\n", "\t "]), st.sampled_from(["", " ", "\n"]))
def test_values_read_as_json_loads_reads_them(value: Any, before: str, after: str) -> None:
    text = before + json.dumps(value, ensure_ascii=False) + after
    assert json_loads(text) == json.loads(text)


@pytest.mark.parametrize("text", ["NaN", "[Infinity, -Infinity]", "1e400", '"\\ud800"', '{"a": 1, "a": 2}'])
def test_the_odd_values_json_loads_accepts_are_read_alike(text: str) -> None:
    """Bad input for strict JSON: NaN, infinities, a number out of range, a lone surrogate, a repeated key."""
    got, expected = json_loads(text), json.loads(text)
    if text == "NaN":
        assert math.isnan(got)
    else:
        assert got == expected


@pytest.mark.parametrize("text", ["", "{", "[1,]", "\ufeff[]", "[1] x", "tru", "{'a': 1}"])
def test_what_is_not_json_raises_what_json_loads_raises(text: str) -> None:
    """Bad input: empty, unfinished, a trailing comma, a byte-order mark, text after the value, a misspelled
    constant, single quotes."""
    with pytest.raises(json.JSONDecodeError) as expected:
        json.loads(text)
    with pytest.raises(json.JSONDecodeError) as got:
        json_loads(text)
    assert str(got.value) == str(expected.value)
