"""How the model modules quote what they refuse: one line, whatever torch or a factory said.

torch's messages run over many lines and sentences, and arguments read from a file can be
huge; a one-line error quotes the first sentence of the one and the start of the other.
"""

from __future__ import annotations


def first_sentence(message, limit: int = 200) -> str:
    """The first sentence of an error message, whole: never cut mid-word (torch's run long)."""
    lines = str(message).strip().splitlines()
    text = lines[0].strip() if lines else ""
    end = text.find(". ")
    text = text[:end] if end > 0 else text.rstrip(".")
    if len(text) > limit:
        text = text[:limit].rsplit(" ", 1)[0] + " ..."
    return text or "no detail given"


def short(value, limit: int = 120) -> str:
    """``repr(value)``, cut at `limit` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."
