"""CORS rules: the CORSConfiguration document <-> stored rules, and matching a request."""

from __future__ import annotations

import fnmatch
from typing import Any

from ..core.errors import ShoalError
from ..core.numbers import is_decimal
from . import xmldoc
from .xmldoc import E, raw

MAX_RULES = 100
METHODS = ("GET", "PUT", "HEAD", "POST", "DELETE")
Rule = dict[str, Any]


def parse(body: bytes) -> list[Rule]:
    root = xmldoc.parse(body)
    rules = root.findall("CORSRule")
    if root.tag != "CORSConfiguration" or not rules or len(rules) > MAX_RULES:
        raise ShoalError("MalformedXML")
    return [_rule(el) for el in rules]


def _rule(el: Any) -> Rule:
    methods = [m.text or "" for m in el.findall("AllowedMethod")]
    origins = [o.text or "" for o in el.findall("AllowedOrigin")]
    if not methods or not origins:
        raise ShoalError("MalformedXML")
    for m in methods:
        if m not in METHODS:
            raise ShoalError("InvalidRequest", f"Found unsupported HTTP method in CORS config. "
                             f"Unsupported method is {m}")
    for o in origins:
        if o.count("*") > 1:
            raise ShoalError("InvalidRequest", f'AllowedOrigin "{o}" can not have more than '
                             "one wildcard.")
    rule: Rule = {"methods": methods, "origins": origins,
                  "headers": [h.text or "" for h in el.findall("AllowedHeader")],
                  "expose": [h.text or "" for h in el.findall("ExposeHeader")]}
    rule_id = xmldoc.text(el, "ID")
    if rule_id:
        rule["id"] = rule_id
    max_age = xmldoc.text(el, "MaxAgeSeconds")
    if max_age is not None:
        if not is_decimal(max_age.strip()):
            raise ShoalError("MalformedXML")
        rule["max_age"] = int(max_age)
    return rule


def render(rules: list[Rule]) -> list[str]:
    out = []
    for r in rules:
        inner = E("ID", r.get("id"))
        inner += "".join(E("AllowedHeader", h) for h in r["headers"])
        inner += "".join(E("AllowedMethod", m) for m in r["methods"])
        inner += "".join(E("AllowedOrigin", o) for o in r["origins"])
        inner += "".join(E("ExposeHeader", h) for h in r["expose"])
        inner += E("MaxAgeSeconds", r.get("max_age"))
        out.append(raw("CORSRule", inner))
    return out


def _wild(pattern: str, value: str, *, fold: bool = False) -> bool:
    """``*`` matches any run of characters; nothing else is special."""
    if fold:
        pattern, value = pattern.lower(), value.lower()
    if "*" not in pattern:
        return pattern == value
    return fnmatch.fnmatchcase(value, pattern.replace("[", "[[]").replace("?", "[?]"))


def match(rules: list[Rule], origin: str, method: str,
          headers: list[str] | None = None) -> Rule | None:
    """The first rule allowing ``origin``, ``method`` and every requested header."""
    for rule in rules:
        if method not in rule["methods"]:
            continue
        if not any(_wild(o, origin) for o in rule["origins"]):
            continue
        if headers and not all(any(_wild(a, h, fold=True) for a in rule["headers"])
                               for h in headers):
            continue
        return rule
    return None


def response_headers(rule: Rule, origin: str, *, preflight: bool = False,
                     requested_headers: list[str] | None = None) -> dict[str, str]:
    """Access-Control-* headers granted by ``rule`` to ``origin``."""
    h = {"Access-Control-Allow-Origin": "*" if "*" in rule["origins"] else origin,
         "Access-Control-Allow-Methods": ", ".join(rule["methods"])}
    if h["Access-Control-Allow-Origin"] != "*":
        h["Access-Control-Allow-Credentials"] = "true"
        h["Vary"] = "Origin, Access-Control-Request-Headers, Access-Control-Request-Method"
    if rule["expose"]:
        h["Access-Control-Expose-Headers"] = ", ".join(rule["expose"])
    if preflight:
        if requested_headers:
            h["Access-Control-Allow-Headers"] = ", ".join(requested_headers)
        if "max_age" in rule:
            h["Access-Control-Max-Age"] = str(rule["max_age"])
    return h
