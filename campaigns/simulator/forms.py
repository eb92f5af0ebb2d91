"""Reading PHP-style form bodies the way Mobizon's servers (PHP) read them.

``recipients[0][recipient]=7701…&recipients[0][name]=Ann&ids[]=1&ids[]=2`` becomes
``{"recipients": {"0": {"recipient": "7701…", "name": "Ann"}}, "ids": {"0": "1", "1": "2"}}``:
nested dicts keyed by strings in arrival order, ``[]`` appending the next integer key as
PHP does. ``as_list`` then reads a PHP array, or a comma/new-line separated string, as a list.
"""

from __future__ import annotations

import re
from typing import Any, Iterable
from urllib.parse import unquote

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)(.*)$")
_PART = re.compile(r"\[([^\[\]]*)\]")


def _is_index(key: str) -> bool:
    return key.lstrip("-").isdigit()


def parse_query(text: str) -> list[tuple[str, str]]:
    """``urllib.parse.parse_qsl(text, keep_blank_values=True)``, faster on AddRecipients'
    bodies: a repeated name (``recipients[]`` 500 times) is decoded once, and a value with
    nothing to decode (a number) is kept as it is."""
    names: dict[str, str] = {}
    pairs: list[tuple[str, str]] = []
    append = pairs.append
    for part in text.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        key = names.get(name)
        if key is None:
            key = names[name] = _unquote_name(name)
        if "%" in value or "+" in value:
            value = unquote(value.replace("+", " "))
        append((key, value))
    return pairs


def _unquote_name(name: str) -> str:
    """``unquote(name.replace("+", " "))``; names whose only escapes are brackets (%5B, %5D:
    ``recipients%5B12%5D%5Bname%5D``) are read without it."""
    plain = name.replace("%5B", "[").replace("%5D", "]")
    if "%" not in plain and "+" not in plain:
        return plain
    return unquote(name.replace("+", " "))


def parse_php_form(pairs: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    """Nest ``(name, value)`` pairs by their bracketed names, as PHP builds ``$_POST``.

    A later scalar replaces an earlier one; a name that is both a scalar and an array keeps
    the last form seen (PHP does the same). Values are kept as given (strings, uploads).
    """
    root: dict[str, Any] = {}
    # the next "[]" index of each array, kept as PHP does (max integer key + 1) without
    # rescanning the array on every append: 500 recipients[]= stay linear
    next_index: dict[int, int] = {}

    def index_for(node: dict) -> str:
        known = next_index.get(id(node))
        if known is None:
            known = max((int(k) + 1 for k in node if _is_index(k)), default=0)
        next_index[id(node)] = known + 1
        return str(known)

    split: dict[str, list[str] | None] = {}  # each distinct name's parts, read once
    for name, value in pairs:
        if name in split:
            keys = split[name]
        else:
            match = _KEY.match(name)
            # PHP keeps a malformed name such as "a]b" as a plain key (None)
            keys = None if not match or match.group(3) else [match.group(1)] + _PART.findall(match.group(2))
            split[name] = keys
        if keys is None:
            root[name] = value
            continue
        if len(keys) == 2 and keys[1] == "":
            # "recipients[]=…" 500 times: the general walk below, unrolled for one level
            array = root.get(keys[0])
            if not isinstance(array, dict):
                array = root[keys[0]] = {}
            array[index_for(array)] = value
            continue
        node = root
        for i, key in enumerate(keys):
            last = i == len(keys) - 1
            if key == "":
                key = index_for(node)
            elif id(node) in next_index and _is_index(key):
                next_index[id(node)] = max(next_index[id(node)], int(key) + 1)
            if last:
                node[key] = value
            else:
                child = node.get(key)
                if not isinstance(child, dict):
                    child = {}
                    node[key] = child
                node = child
    return root


def as_list(value: Any) -> list[Any]:
    """A PHP array (dict) or a list as a list of its values; a string split on commas and
    new lines (Mobizon accepts ``recipients=7701…,7702…``); None or "" as []."""
    if value is None:
        return []
    if isinstance(value, dict):
        return list(value.values())
    if isinstance(value, list):
        return value
    text = str(value)
    if not text.strip():
        return []
    return [part.strip() for part in re.split(r"[,\r\n]+", text) if part.strip()]


def as_int(value: Any, default: int | None = None) -> int | None:
    """``value`` as an int, ``default`` when missing or blank; raises ValueError when it is
    something else (the caller turns that into code 1 naming the field)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return default
    if isinstance(value, dict):
        raise ValueError("an array where a number was expected")
    text = str(value).strip()
    if not re.fullmatch(r"[+-]?\d+", text):
        raise ValueError(f"not a whole number: {text[:40]!r}")
    return int(text)


def as_text(value: Any, default: str | None = None) -> str | None:
    """``value`` as a string (None stays ``default``); arrays are not text."""
    if value is None:
        return default
    if isinstance(value, dict):
        raise ValueError("an array where text was expected")
    return str(value)
