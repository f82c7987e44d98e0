from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from homefire.llm.partial_json import parse_partial_json

pytestmark = pytest.mark.unit

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=12,
)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("", None),
        ("{", {}),
        ('{"na', {}),
        ('{"name"', {}),
        ('{"name": ', {}),
        ('{"name": "Par', {"name": "Par"}),
        ('{"name": "a\\', {"name": "a"}),
        ('{"name": "a\\u00', {"name": "a"}),
        ('{"name": "a\\u00e9", "n": 1', {"name": "aé"}),
        ('{"name": "a", "n": 12,', {"name": "a", "n": 12}),
        ('{"l": [1, tr', {"l": [1]}),
        ('{"l": [1, true], "o": {"x": [{"y": nul', {"l": [1, True], "o": {"x": [{}]}}),
        ('[{"a": 1}, {"b": "x', [{"a": 1}, {"b": "x"}]),
        ("true", True),
        ('"text', "text"),
    ],
)
def test_prefixes(text: str, value: object) -> None:
    assert parse_partial_json(text) == value


@given(json_values, st.data())
def test_every_prefix_parses_and_the_whole_text_is_exact(
    value: object, data: st.DataObject
) -> None:
    text = json.dumps(value)
    assert parse_partial_json(text) == value
    cut = data.draw(st.integers(0, len(text)))
    parse_partial_json(text[:cut])  # never raises on a true prefix


@pytest.mark.parametrize("text", ['{"a" 1', "[1 2", '{"a": 1} x', '"\\q"'])
def test_text_that_cannot_be_json_raises(text: str) -> None:
    with pytest.raises(ValueError, match=r"expected|unexpected|bad escape"):
        parse_partial_json(text)
