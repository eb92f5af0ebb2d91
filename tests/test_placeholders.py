"""Placeholders: Mobizon's naming rule (seed 002), the reserved {recipient}, the
placeholdersFlag modes, and rendering as Mobizon would send the text."""

from __future__ import annotations

import pytest

from campaigns.ingest.placeholders import (
    PlaceholderRefused,
    compile_template,
    find_placeholders,
    placeholders_flag,
)


def test_names_in_order_of_first_appearance_each_once():
    text = "Hello {name}! Balance {balance_1} {cur-rency} at {DATE2}, {name}."
    assert find_placeholders(text) == ["name", "balance_1", "cur-rency", "DATE2"]


@pytest.mark.parametrize("text", ["no placeholders", "", "{}", "a { b", "a } b", "{\n}", "{{", "}{"])
def test_text_without_placeholders(text):
    assert find_placeholders(text) == []


@pytest.mark.parametrize(
    "name", ["first name", "имя", "a.b", "a[1]", "a]", "[a", "x+y", " name", "name ", "ä", "a@b"]
)
def test_names_breaking_the_rule_are_refused(name):
    with pytest.raises(PlaceholderRefused) as refused:
        find_placeholders(f"Hello {{{name}}}")
    message = str(refused.value)
    assert "{" + name + "}" in message
    assert "Latin letters, digits" in message
    assert "\n" not in message


@pytest.mark.parametrize("name", ["recipient", "Recipient", "RECIPIENT"])
def test_recipient_is_refused(name):
    with pytest.raises(PlaceholderRefused, match="phone number itself"):
        find_placeholders(f"Your number {{{name}}}")


def test_flags():
    assert [placeholders_flag(m) for m in ("keep", "strip", "reject")] == [1, 2, 3]
    with pytest.raises(ValueError, match="keep, strip, reject"):
        placeholders_flag("drop")


def test_rendering_with_columns():
    template = compile_template("Hi {name}, you owe {sum} {cur}.", ["cur", "name", "sum"], "keep")
    assert template.render(["KZT", "Ann", "10"]) == "Hi Ann, you owe 10 KZT."
    assert template.render(["", "", ""]) == "Hi , you owe  ."


def test_a_placeholder_without_a_column_is_kept_or_stripped():
    text = "Hi {name}, code {code}!"
    assert compile_template(text, ["name"], "keep").render(["Ann"]) == "Hi Ann, code {code}!"
    assert compile_template(text, ["name"], "strip").render(["Ann"]) == "Hi Ann, code !"
    assert compile_template(text, [], "keep").render([]) == text
    assert compile_template(text, [], "strip").render([]) == "Hi , code !"


def test_the_same_placeholder_twice():
    template = compile_template("{a}-{b}-{a}", ["a"], "strip")
    assert template.render(["x"]) == "x--x"


def test_the_template_as_a_format():
    template = compile_template("100% off for {name}, {code}% of {name}!", ["code", "name"], "keep")
    assert template.format == "100%% off for %s, %s%% of %s!"
    assert template.format % ("Ann", "5", "Ann") == template.render(["5", "Ann"]) == "100% off for Ann, 5% of Ann!"
