"""Bucket lifecycle: the LifecycleConfiguration document <-> the core's rules
(``core.lifecycle``). Both dialects write the same document."""

from __future__ import annotations

from xml.etree.ElementTree import Element

from ..core import lifecycle
from ..core.errors import ShoalError
from ..core.lifecycle import Filter, Node, Rule
from ..core.numbers import is_decimal
from . import xmldoc
from .xmldoc import E, raw

STATUSES = {"Enabled": True, "Disabled": False}
# Actions accepted and returned as given, never acted on (see core.lifecycle).
INERT = ("Transition", "NoncurrentVersionTransition", "NoncurrentVersionExpiration")
_CONDITIONS = ("Prefix", "Tag", "ObjectSizeGreaterThan", "ObjectSizeLessThan")


def parse(body: bytes, any_offset: bool = False) -> list[Rule]:
    """The document -> validated rules. ``any_offset``: a Date may be midnight at the offset
    it is written with (COS), not only midnight UTC (S3)."""
    root = xmldoc.parse(body)
    if root.tag != "LifecycleConfiguration":
        raise ShoalError("MalformedXML")
    return lifecycle.validate([_rule(el, any_offset) for el in root.findall("Rule")])


def _rule(el: Element, any_offset: bool) -> Rule:
    status = xmldoc.text(el, "Status")
    if status not in STATUSES:
        raise ShoalError("MalformedXML")
    rule = Rule(id=xmldoc.text(el, "ID") or lifecycle.new_rule_id(), enabled=STATUSES[status],
                filter=_rule_filter(el))
    exp = _single(el, "Expiration")
    if exp is not None:
        given = [n for n in ("Days", "Date", "ExpiredObjectDeleteMarker") if exp.find(n) is not None]
        if len(given) != 1:
            raise ShoalError("MalformedXML")
        rule.expiration_days = _int(exp, "Days")
        date = xmldoc.text(exp, "Date")
        if date is not None:
            lifecycle.parse_date(date, any_offset)
            rule.expiration_date = date.strip()
        marker = xmldoc.text(exp, "ExpiredObjectDeleteMarker")
        if marker is not None:
            rule.expired_object_delete_marker = _bool(marker)
    abort = _single(el, "AbortIncompleteMultipartUpload")
    if abort is not None:
        rule.abort_days = _int(abort, "DaysAfterInitiation")
        if rule.abort_days is None:
            raise ShoalError("MalformedXML")
    for name in INERT:
        for action in el.findall(name):
            _check_inert(action, any_offset)
            rule.inert.append(_node(action))
    return rule


def _rule_filter(el: Element) -> Filter:
    prefix, filt = el.find("Prefix"), el.find("Filter")
    if prefix is not None and filt is not None:
        raise ShoalError("MalformedXML")
    if prefix is not None:
        return Filter(form="prefix", prefix=prefix.text or "")
    if filt is None:
        return Filter()
    given = [c for c in filt if c.tag in (*_CONDITIONS, "And")]
    if len(given) > 1:
        raise ShoalError("MalformedXML")
    if given and given[0].tag == "And":
        return _conditions(given[0], Filter(form="and"))
    return _conditions(filt, Filter(form="filter"))


def _conditions(el: Element, into: Filter) -> Filter:
    into.prefix = xmldoc.text(el, "Prefix")
    for tag in el.findall("Tag"):
        key, value = xmldoc.text(tag, "Key"), xmldoc.text(tag, "Value")
        if key is None or value is None:
            raise ShoalError("MalformedXML")
        into.tags.append((key, value))
    into.size_gt = _int(el, "ObjectSizeGreaterThan")
    into.size_lt = _int(el, "ObjectSizeLessThan")
    return into


def _check_inert(action: Element, any_offset: bool) -> None:
    """Transition & co. are kept as given, but must still make sense."""
    for name in ("Days", "NoncurrentDays", "NewerNoncurrentVersions"):
        days = _int(action, name)
        if days is not None and name != "Days":
            lifecycle.positive(days, name)
    date = xmldoc.text(action, "Date")
    if date is not None:
        lifecycle.parse_date(date, any_offset)


def _single(el: Element, name: str) -> Element | None:
    found = el.findall(name)
    if len(found) > 1:
        raise ShoalError("MalformedXML")
    return found[0] if found else None


def _int(el: Element, name: str) -> int | None:
    text = xmldoc.text(el, name)
    if text is None:
        return None
    if not is_decimal(text.strip()):
        raise ShoalError("MalformedXML")
    return int(text)


def _bool(text: str) -> bool:
    value = text.strip().lower()
    if value not in ("true", "false"):
        raise ShoalError("MalformedXML")
    return value == "true"


def _node(el: Element) -> Node:
    return [el.tag, (el.text or "").strip(), [_node(c) for c in el]]


# -- rendering ---------------------------------------------------------------------------------


def render(rules: list[Rule]) -> list[str]:
    return [raw("Rule", _render_rule(r)) for r in rules]


def _render_rule(r: Rule) -> str:
    out = E("ID", r.id) + _render_filter(r.filter)
    out += E("Status", "Enabled" if r.enabled else "Disabled")
    marker = r.expired_object_delete_marker
    if r.expiration_days is not None or r.expiration_date is not None or marker is not None:
        out += raw("Expiration", E("Days", r.expiration_days) + E("Date", r.expiration_date)
                   + E("ExpiredObjectDeleteMarker", None if marker is None
                       else xmldoc.boolean(marker)))
    out += "".join(_render_node(n) for n in r.inert)
    if r.abort_days is not None:
        out += raw("AbortIncompleteMultipartUpload", E("DaysAfterInitiation", r.abort_days))
    return out


def _render_filter(f: Filter) -> str:
    if f.form == "prefix":
        return E("Prefix", f.prefix or "")
    if f.form == "none":
        return ""
    inner = E("Prefix", f.prefix)
    inner += "".join(raw("Tag", E("Key", k) + E("Value", v)) for k, v in f.tags)
    inner += E("ObjectSizeGreaterThan", f.size_gt) + E("ObjectSizeLessThan", f.size_lt)
    return raw("Filter", raw("And", inner) if f.form == "and" else inner)


def _render_node(node: Node) -> str:
    tag, text, children = node
    if children:
        return raw(tag, "".join(_render_node(c) for c in children))
    return E(tag, text)
