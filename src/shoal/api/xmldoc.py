"""XML in and out: safe parsing (defusedxml) and DOM-free rendering.

Documents are built as strings from small pieces; ``E(name, value)`` renders one escaped element,
``doc(root, parts, xmlns)`` wraps them with the declaration. Parsing strips namespaces so both
dialects' documents (with or without xmlns) read the same.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Sequence
from xml.etree.ElementTree import Element

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, fromstring

from ..core.errors import ShoalError

DECL = '<?xml version="1.0" encoding="UTF-8"?>\n'
_SPECIAL = re.compile('[&<>"\r\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]')
# Characters XML 1.0 cannot carry at all (not even as references) become U+FFFD.
_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
_SECONDS: dict[int, str] = {}  # epoch second -> "YYYY-MM-DDTHH:MM:SS" (listings repeat them)
_SECONDS_MAX = 1 << 16
_MILLIS = tuple(f".{ms:03d}Z" for ms in range(1000))
# The ASCII characters esc() leaves alone: deleting them from an ASCII text leaves its specials.
_PLAIN_ASCII = bytes(c for c in range(128) if _SPECIAL.match(chr(c)) is None)


def _escape(text: str) -> str:
    text = _ILLEGAL.sub("\ufffd", text)
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;").replace("\r", "&#13;"))


def esc(value: object) -> str:
    text = value if type(value) is str else str(value)
    return text if _SPECIAL.search(text) is None else _escape(text)


def esc_all(texts: Sequence[str]) -> Sequence[str]:
    """``[esc(t) for t in texts]``, or ``texts`` itself when none of them needs escaping, found
    by one check over them all (a listing's keys seldom need any)."""
    joined = "".join(texts)
    if joined.isascii():
        clean = not joined.encode().translate(None, _PLAIN_ASCII)
    else:
        clean = _SPECIAL.search(joined) is None
    return texts if clean else [esc(t) for t in texts]


def E(name: str, value: object | None) -> str:  # noqa: N802 - reads like markup
    """``<name>value</name>`` with value escaped; None renders nothing."""
    if value is None:
        return ""
    if type(value) is int:  # sizes, counts: nothing to escape
        return f"<{name}>{value}</{name}>"
    text = value if type(value) is str else str(value)
    if _SPECIAL.search(text) is not None:
        text = _escape(text)
    return f"<{name}>{text}</{name}>"


def raw(name: str, inner: str) -> str:
    """``<name>inner</name>`` where ``inner`` is already markup."""
    return f"<{name}>{inner}</{name}>"


def doc(root: str, parts: Iterable[str], xmlns: str | None) -> bytes:
    attr = f' xmlns="{xmlns}"' if xmlns else ""
    return "".join([f"{DECL}<{root}{attr}>", *parts, f"</{root}>"]).encode()


def iso8601(ts: float) -> str:
    """2024-01-01T00:00:00.000Z"""
    sec = int(ts)
    ms = round((ts - sec) * 1000) % 1000
    base = _SECONDS.get(sec)
    if base is None:
        base = _second(sec)
    return f"{base}.{ms:03d}Z"


def iso8601_all(stamps: Iterable[float]) -> list[str]:
    """``[iso8601(ts) for ts in stamps]`` in one loop (a listing page's worth of them)."""
    out: list[str] = []
    append, millis = out.append, _MILLIS
    last, base = None, ""
    for ts in stamps:
        sec = int(ts)
        if sec != last:
            last, base = sec, _SECONDS.get(sec) or _second(sec)
        append(base + millis[round((ts - sec) * 1000) % 1000])
    return out


def _second(sec: int) -> str:
    """Cache and return "YYYY-MM-DDTHH:MM:SS" of an epoch second."""
    if len(_SECONDS) >= _SECONDS_MAX:
        _SECONDS.clear()
    base = _SECONDS[sec] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
    return base


def boolean(value: bool) -> str:
    return "true" if value else "false"


# -- parsing -----------------------------------------------------------------------------------


def parse(body: bytes) -> Element:
    """Parse a request document; anything unsafe or malformed is MalformedXML."""
    if not body or not body.strip():
        raise ShoalError("MalformedXML")
    try:
        root = fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (ParseError, DefusedXmlException, ValueError, SyntaxError) as exc:
        raise ShoalError("MalformedXML") from exc
    for el in root.iter():
        if isinstance(el.tag, str) and "}" in el.tag:
            el.tag = el.tag.split("}", 1)[1]
    return root


def text(el: Element, name: str, default: str | None = None) -> str | None:
    child = el.find(name)
    if child is None:
        return default
    return child.text or ""


def children(el: Element, name: str) -> list[Element]:
    return el.findall(name)
