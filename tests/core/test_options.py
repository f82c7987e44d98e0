from __future__ import annotations

import pytest

from homefire.errors import InvalidParameterError
from homefire.options import GenerationOptions, parse_options

pytestmark = pytest.mark.unit


def test_known_options_are_parsed_and_normalised() -> None:
    options = parse_options(
        {
            "temperature": 0,
            "max_tokens": 5,
            "top_p": 0.9,
            "top_k": 40,
            "min_p": 0.05,
            "repeat_penalty": 1.1,
            "seed": 7,
            "stop": "END",
            "extra": {"mirostat": 2},
        }
    )
    assert options.temperature == 0.0
    assert options.stop == ("END",)
    assert options.extra == {"mirostat": 2}
    assert options.sampling_items()["seed"] == 7


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("temperature", -0.1),
        ("temperature", "hot"),
        ("temperature", float("nan")),
        ("max_tokens", 0),
        ("max_tokens", 2.5),
        ("max_tokens", True),
        ("top_p", 1.5),
        ("min_p", -1),
        ("top_k", -3),
        ("seed", -2),
        ("stop", ""),
        ("stop", [1, 2]),
        ("extra", ["x"]),
        ("json_schema", "object"),
        ("tool_choice", ""),
        ("tools", "get_weather"),
    ],
)
def test_bad_values_raise_with_the_parameter_name(name: str, value: object) -> None:
    with pytest.raises(InvalidParameterError) as info:
        parse_options({name: value})
    assert info.value.name == name
    assert name in str(info.value)


def test_unknown_option_is_an_error_that_points_to_extra() -> None:
    with pytest.raises(InvalidParameterError, match="extra="):
        parse_options({"temprature": 0.5})


def test_none_means_unset() -> None:
    assert parse_options({"temperature": None}) == GenerationOptions()


def test_merge_lets_call_options_win_and_keeps_defaults() -> None:
    defaults = GenerationOptions(temperature=0.1, max_tokens=256, extra={"a": 1, "b": 2})
    merged = defaults.merged(GenerationOptions(max_tokens=8, extra={"b": 3}))
    assert merged.temperature == 0.1
    assert merged.max_tokens == 8
    assert merged.extra == {"a": 1, "b": 3}
    assert defaults.merged(GenerationOptions()) is defaults


@pytest.mark.parametrize("name", ["temperature", "repeat_penalty"])
def test_infinite_values_are_refused(name: str) -> None:
    with pytest.raises(InvalidParameterError, match="finite"):
        parse_options({name: float("inf")})


def test_tool_choice_needs_tools() -> None:
    with pytest.raises(InvalidParameterError, match="tools"):
        parse_options({"tool_choice": "required"})
