"""Bucket lifecycle rules: the model kept in a bucket's config (``config["lifecycle"]``), its
validation, and the pure questions the sweeper and the object handlers ask of it: which objects
and uploads a rule applies to, and when they fall due.

Acted on: Expiration (Days, Date) of current objects and AbortIncompleteMultipartUpload.
Accepted, stored and returned as given but never acted on: buckets here are never versioned
(there are no noncurrent versions or delete markers, so NoncurrentVersionExpiration and
ExpiredObjectDeleteMarker have nothing to act on) and there is one storage tier (Transition and
NoncurrentVersionTransition have nowhere to move an object to).

A "day" is ``day`` seconds (86400 unless SHOAL_LIFECYCLE_DAY_SECONDS says otherwise, for tests),
and due times are rounded up to the next day boundary (midnight UTC for real days), as S3 does.
"""

from __future__ import annotations

import base64
import math
import re
import uuid
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from .errors import ShoalError

MAX_RULES = 1000
MAX_ID = 255
DAY = 86400.0
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?$")

# An element kept as given (Transition & co.): [tag, text, [children...]].
Node = list[Any]


@dataclass(slots=True)
class Filter:
    """Which objects a rule applies to. ``form`` says how the document wrote it, so that GET
    returns it the same way: "none" (neither Filter nor Prefix), "prefix" (the legacy
    rule-level Prefix), "filter" (Filter with at most one condition) or "and" (Filter/And)."""

    form: str = "none"
    prefix: str | None = None
    tags: list[tuple[str, str]] = field(default_factory=list)
    size_gt: int | None = None
    size_lt: int | None = None

    def matches(self, key: str, size: int | None = None,
                tags: Iterable[tuple[str, str]] | None = None) -> bool:
        """Does an object (key, size, tags) pass? For an upload (size and tags unknown) only
        the prefix counts (rules that abort uploads cannot filter on tags or size)."""
        if self.prefix and not key.startswith(self.prefix):
            return False
        if size is not None:
            if self.size_gt is not None and not size > self.size_gt:
                return False
            if self.size_lt is not None and not size < self.size_lt:
                return False
        if not self.tags:
            return True
        have = {tuple(t) for t in tags or ()}
        return tags is not None and all(tuple(t) in have for t in self.tags)


@dataclass(slots=True)
class Rule:
    id: str
    enabled: bool
    filter: Filter = field(default_factory=Filter)
    expiration_days: int | None = None
    expiration_date: str | None = None  # ISO 8601 as written, at midnight
    expired_object_delete_marker: bool | None = None  # inert (no delete markers here)
    abort_days: int | None = None  # AbortIncompleteMultipartUpload/DaysAfterInitiation
    inert: list[Node] = field(default_factory=list)  # Transition, Noncurrent*: as given

    def has_action(self) -> bool:
        return (self.expiration_days is not None or self.expiration_date is not None
                or self.expired_object_delete_marker is not None
                or self.abort_days is not None or bool(self.inert))


# -- validation --------------------------------------------------------------------------------


def new_rule_id() -> str:
    """An id for a rule written without one (S3 makes up a base64 of a UUID, like this)."""
    return base64.b64encode(str(uuid.uuid4()).encode()).decode().rstrip("=")


def parse_date(text: str, any_offset: bool = False) -> float:
    """An Expiration/Transition Date -> epoch seconds. It must be ISO 8601 (else MalformedXML)
    and at midnight (else InvalidArgument): midnight UTC, or with ``any_offset`` (COS, whose
    dates are midnight Beijing time) midnight at the offset written."""
    if not _DATE.match(text.strip()):
        raise ShoalError("MalformedXML")
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise ShoalError("MalformedXML") from exc
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    at = when if any_offset else when.astimezone(UTC)
    if (at.hour, at.minute, at.second, at.microsecond) != (0, 0, 0, 0):
        raise ShoalError("InvalidArgument", "'Date' must be at midnight GMT",
                         ArgumentName="Date", ArgumentValue=text)
    return when.timestamp()


def positive(value: int | None, what: str) -> None:
    if value is not None and value <= 0:
        raise ShoalError("InvalidArgument", f"'{what}' must be a positive integer",
                         ArgumentName=what, ArgumentValue=str(value))


def validate(rules: list[Rule]) -> list[Rule]:
    """Check a whole configuration (the document's structure was checked by the parser)."""
    if not rules or len(rules) > MAX_RULES:
        raise ShoalError("MalformedXML")
    seen: set[str] = set()
    for rule in rules:
        if len(rule.id) > MAX_ID:
            raise ShoalError("InvalidArgument", "ID length should not exceed allowed limit of "
                             f"{MAX_ID}", ArgumentName="ID", ArgumentValue=rule.id)
        if rule.id in seen:
            raise ShoalError("InvalidArgument", "Rule ID must be unique. Found same ID for more "
                             "than one rule", ArgumentName="ID", ArgumentValue=rule.id)
        seen.add(rule.id)
        if not rule.has_action():
            raise ShoalError("InvalidRequest", "At least one action needs to be specified in a "
                             "rule")
        positive(rule.expiration_days, "Days")
        positive(rule.abort_days, "DaysAfterInitiation")
        f = rule.filter
        if rule.abort_days is not None and (f.tags or f.size_gt is not None
                                            or f.size_lt is not None):
            raise ShoalError("InvalidRequest", "Tag-based or size-based filter cannot be used "
                             "with AbortIncompleteMultipartUpload action")
        if len({k for k, _ in f.tags}) != len(f.tags):
            raise ShoalError("InvalidRequest", "Duplicate Tag Keys are not allowed.")
        if f.size_gt is not None and f.size_lt is not None and f.size_gt >= f.size_lt:
            raise ShoalError("InvalidArgument", "ObjectSizeGreaterThan must be less than "
                             "ObjectSizeLessThan", ArgumentName="ObjectSizeLessThan")
    return rules


# -- kept in the bucket's config ---------------------------------------------------------------


def to_config(rules: list[Rule]) -> list[dict[str, Any]]:
    return [asdict(r) for r in rules]


def from_config(value: list[dict[str, Any]] | None) -> list[Rule]:
    rules = []
    for d in value or ():
        d = dict(d)
        filt = dict(d.pop("filter"))
        filt["tags"] = [tuple(t) for t in filt.get("tags", [])]
        rules.append(Rule(filter=Filter(**filt), **d))
    return rules


# -- when things fall due ----------------------------------------------------------------------


def round_up(ts: float, day: float = DAY) -> float:
    """The first day boundary at or after ``ts`` (midnight UTC for real days)."""
    return math.ceil(ts / day) * day


def expiry(rule: Rule, created: float, day: float = DAY) -> float | None:
    """When an object created at ``created`` expires under ``rule`` (None: never)."""
    if rule.expiration_days is not None:
        return round_up(created + rule.expiration_days * day, day)
    if rule.expiration_date is not None:
        return parse_date(rule.expiration_date, any_offset=True)
    return None


def abort_due(rule: Rule, initiated: float, day: float = DAY) -> float | None:
    """When an upload initiated at ``initiated`` is aborted under ``rule`` (None: never)."""
    if rule.abort_days is None:
        return None
    return round_up(initiated + rule.abort_days * day, day)


def object_expiry(rules: list[Rule], key: str, size: int, tags: Iterable[tuple[str, str]],
                  created: float, day: float = DAY) -> tuple[float, str] | None:
    """(earliest expiry, its rule's id) among the enabled rules that apply to the object."""
    best: tuple[float, str] | None = None
    tags = list(tags)
    for rule in rules:
        if not rule.enabled or not rule.filter.matches(key, size, tags):
            continue
        due = expiry(rule, created, day)
        if due is not None and (best is None or due < best[0]):
            best = (due, rule.id)
    return best

