"""Parsing numbers from the wire: ASCII digits only (``"²".isdigit()`` is True)."""

from __future__ import annotations


def is_decimal(text: str) -> bool:
    """True when ``text`` is one or more ASCII digits, so ``int(text)`` cannot fail."""
    return text.isascii() and text.isdigit()
