"""${VAR}, ${VAR:-default}, ${VAR:?message}: POSIX-shell semantics, environment passed in."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from redispolicy.policy.interpolate import InterpolationSyntaxError, Missing, has_reference, interpolate


def test_set_variable() -> None:
    r = interpolate("redis://${HOST}:6379", {"HOST": "cache"})
    assert r.text == "redis://cache:6379"
    assert r.variables == ("HOST",) and r.missing == () and r.literal_default is False


def test_unset_variable_leaves_no_text() -> None:
    r = interpolate("redis://${HOST}:6379", {})
    assert r.text is None
    assert r.missing == (Missing("HOST", False, "HOST is not set"),)


def test_empty_variable_is_set_for_plain_reference() -> None:
    r = interpolate("x${A}y", {"A": ""})
    assert r.text == "xy" and r.missing == ()


@pytest.mark.parametrize(
    ("env", "text", "literal"),
    [
        ({}, "256mb", True),
        ({"M": ""}, "256mb", True),  # ':-' also applies to a set-but-empty variable
        ({"M": "1gb"}, "1gb", False),
    ],
)
def test_colon_dash_default(env: dict[str, str], text: str, literal: bool) -> None:
    r = interpolate("${M:-256mb}", env)
    assert r.text == text and r.missing == () and r.literal_default is literal


def test_dash_default_only_when_unset() -> None:
    assert interpolate("${M-256mb}", {}).text == "256mb"
    assert interpolate("${M-256mb}", {"M": ""}).text == ""


def test_empty_default_is_not_literal() -> None:
    r = interpolate("${M:-}", {})
    assert r.text == "" and r.literal_default is False


def test_default_may_contain_colons_and_slashes() -> None:
    assert interpolate("${URL:-redis://127.0.0.1:6379/0}", {}).text == "redis://127.0.0.1:6379/0"


@pytest.mark.parametrize("env", [{}, {"P": ""}])
def test_required_with_message(env: dict[str, str]) -> None:
    r = interpolate("${P:?set the production password}", env)
    assert r.text is None
    assert r.missing == (Missing("P", True, "set the production password"),)


def test_required_without_colon_accepts_empty() -> None:
    assert interpolate("${P?must be set}", {"P": ""}).text == ""
    assert interpolate("${P?must be set}", {}).missing[0].required is True


def test_required_default_message() -> None:
    assert interpolate("${P:?}", {}).missing == (Missing("P", True, "P is not set"),)


def test_several_references() -> None:
    r = interpolate("redis://${U}:${P}@${H:-localhost}:6379", {"U": "app", "P": "pw"})
    assert r.text == "redis://app:pw@localhost:6379"
    assert r.variables == ("U", "P", "H")


def test_several_missing() -> None:
    r = interpolate("${A}${B:?b}${C:-c}", {})
    assert r.text is None
    assert [(m.var, m.required) for m in r.missing] == [("A", False), ("B", True)]


def test_dollar_escape() -> None:
    r = interpolate("cost: $${PRICE} and $5", {"PRICE": "x"})
    assert r.text == "cost: ${PRICE} and $5"
    assert r.variables == ()


def test_values_are_not_reinterpolated() -> None:
    assert interpolate("${A}", {"A": "${B}", "B": "no"}).text == "${B}"


@pytest.mark.parametrize(
    "text", ["${}", "${1GB}", "${A B}", "${A:x}", "${-A}", "${A", "x ${A} ${B", "${A:-x"]
)
def test_syntax_errors(text: str) -> None:
    with pytest.raises(InterpolationSyntaxError):
        interpolate(text, {"A": "1", "B": "2"})


def test_unclosed_reference_message_does_not_echo_the_value() -> None:
    with pytest.raises(InterpolationSyntaxError) as info:
        interpolate("hunter${2", {})
    assert "hunter" not in str(info.value)


def test_has_reference() -> None:
    assert has_reference("${A}") and has_reference("a${") and not has_reference("$A")


@given(st.text(max_size=30), st.dictionaries(st.sampled_from(["A", "B", "C"]), st.text(max_size=5)))
@settings(max_examples=300, deadline=None)
def test_never_raises_anything_else(text: str, env: dict[str, str]) -> None:
    try:
        r = interpolate(text, env)
    except InterpolationSyntaxError:
        return
    if "${" not in text:
        assert r.text == text and r.variables == ()
