"""Placeholders of template campaigns: parsing the text, checking names, rendering messages.

Mobizon's rule (seed 002, campaign/create ``data[text]`` and addRecipients ``recipientsFile``):
a placeholder is written ``{name}``, its name made of Latin letters, digits, ``_`` and ``-``,
and the file's column headers must equal the placeholder names. A placeholder that is not a
column is handled by ``placeholdersFlag``: 1 keeps it in the text as it is, 2 deletes it,
3 rejects the message. Here the names are checked before anything is read:

- ``{recipient}`` (any case) is refused: ``recipients[i][recipient]`` is the phone number in
  the wire format, so a placeholder of that name collides with it (PROVIDERS.md, Mobizon);
- a name breaking the rule (spaces, Cyrillic, punctuation, ``[`` or ``]`` which also collide
  with the PHP-style brackets) is refused rather than sent to be rejected or mangled.

``{}`` and braces around text spanning lines are not placeholders: they stay literal text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

MODES = {"keep": 1, "strip": 2, "reject": 3}
"""--placeholders values and the Mobizon ``params[placeholdersFlag]`` each stands for."""

RESERVED = "recipient"

# Anything between braces on one line is meant as a placeholder; its name is then checked.
_CANDIDATE = re.compile(r"\{([^{}\r\n]+)\}")
_NAME = re.compile(r"[A-Za-z0-9_-]+")


class PlaceholderRefused(ValueError):
    """The text has a placeholder that can never be sent; str() is one human line."""


def placeholders_flag(mode: str) -> int:
    """The Mobizon ``placeholdersFlag`` for ``mode``: keep 1, strip 2, reject 3.

    Raises ValueError for any other mode.
    """
    try:
        return MODES[mode]
    except KeyError:
        raise ValueError(f"placeholders mode must be one of {', '.join(MODES)}, got {mode!r}") from None


def find_placeholders(text: str) -> list[str]:
    """The placeholder names of ``text``, each once, in order of first appearance.

    Raises PlaceholderRefused for ``{recipient}`` or a name breaking Mobizon's rule.
    """
    names: list[str] = []
    for match in _CANDIDATE.finditer(text):
        name = match.group(1)
        if _NAME.fullmatch(name) is None:
            raise PlaceholderRefused(
                f"placeholder {{{name}}} in the text is not allowed: a placeholder name may only "
                "contain Latin letters, digits, '_' and '-' (Mobizon's rule)"
            )
        if name.lower() == RESERVED:
            raise PlaceholderRefused(
                "placeholder {recipient} in the text is not allowed: 'recipient' is the phone number "
                "itself in Mobizon's recipient data; name the column something else"
            )
        if name not in names:
            names.append(name)
    return names


@dataclass(frozen=True)
class Template:
    """A message text split for fast rendering.

    ``literals`` and ``slots`` alternate: ``literals[0] + values[slots[0]] + literals[1] + …``.
    Placeholders without a column are already resolved into the literals as Mobizon would
    send them (kept as ``{name}`` or stripped).
    """

    literals: tuple[str, ...]
    slots: tuple[int, ...]

    @property
    def format(self) -> str:
        """The text as a ``%`` format taking the values of ``slots`` in order."""
        return "%s".join(literal.replace("%", "%%") for literal in self.literals)

    def render(self, values: Sequence[str]) -> str:
        """The message for one recipient, ``values`` in the order of the template's columns."""
        literals = self.literals
        parts = [literals[0]]
        for i, slot in enumerate(self.slots, 1):
            parts.append(values[slot])
            parts.append(literals[i])
        return "".join(parts)


def compile_template(text: str, columns: Sequence[str], mode: str) -> Template:
    """Split ``text`` around the placeholders that name one of ``columns``.

    Placeholders naming no column are kept literally (``keep``) or removed (``strip`` and
    ``reject``; with ``reject`` the caller refuses such a file before rendering anything).
    The slot of a placeholder is the index of its column in ``columns``.
    """
    literals: list[str] = []
    slots: list[int] = []
    pending = []
    position = 0
    for match in _CANDIDATE.finditer(text):
        name = match.group(1)
        if _NAME.fullmatch(name) is None:
            continue
        pending.append(text[position:match.start()])
        position = match.end()
        if name in columns:
            literals.append("".join(pending))
            pending = []
            slots.append(columns.index(name))
        elif mode == "keep":
            pending.append(match.group(0))
    pending.append(text[position:])
    literals.append("".join(pending))
    return Template(tuple(literals), tuple(slots))

