"""HTTP preconditions (If-Match & co.) and byte ranges, evaluated against an object."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from .errors import ShoalError
from .model import ByteRange
from .numbers import is_decimal


class ObjectRecordLike(Protocol):
    """What the write/delete preconditions look at (an ObjectRecord has all of it)."""

    etag: str
    last_modified: float
    size: int


@dataclass(slots=True)
class Conditions:
    if_match: str | None = None
    if_none_match: str | None = None
    if_modified_since: float | None = None  # epoch seconds
    if_unmodified_since: float | None = None

    def __bool__(self) -> bool:
        return any(
            v is not None
            for v in (self.if_match, self.if_none_match, self.if_modified_since,
                      self.if_unmodified_since)
        )


def _etag_matches(header: str, etag: str) -> bool:
    for item in header.split(","):
        item = item.strip()
        if item.startswith("W/"):
            item = item[2:]
        if item == "*" or item.strip('"') == etag:
            return True
    return False


def check(cond: Conditions, etag: str, last_modified: float, *, copy_source: bool = False) -> None:
    """Raise PreconditionFailed (412) or NotModified (304) as S3 does.

    For copy sources every failure is PreconditionFailed. Rules follow RFC 7232 as S3 applies
    them: If-Match wins over If-Unmodified-Since, If-None-Match over If-Modified-Since.
    """
    lm = int(last_modified)
    not_modified = "PreconditionFailed" if copy_source else "NotModified"
    if cond.if_match is not None:
        if not _etag_matches(cond.if_match, etag):
            raise ShoalError("PreconditionFailed", Condition="If-Match")
    elif cond.if_unmodified_since is not None and lm > cond.if_unmodified_since:
        raise ShoalError("PreconditionFailed", Condition="If-Unmodified-Since")
    if cond.if_none_match is not None:
        if _etag_matches(cond.if_none_match, etag):
            raise ShoalError(not_modified, Condition="If-None-Match")
    elif cond.if_modified_since is not None and lm <= cond.if_modified_since:
        raise ShoalError(not_modified, Condition="If-Modified-Since")


@dataclass(slots=True)
class WriteConditions:
    """Preconditions of a write (PutObject) or delete, checked against the current object.

    ``if_match`` / ``if_none_match`` are ETag lists or ``*``; the ``match_*`` fields are the
    delete-only ``x-amz-if-match-last-modified-time`` (epoch seconds) and ``-size``.
    """

    if_match: str | None = None
    if_none_match: str | None = None
    match_last_modified: float | None = None
    match_size: int | None = None
    forbid_overwrite: bool = False  # COS x-cos-forbid-overwrite: true

    def __bool__(self) -> bool:
        return self.forbid_overwrite or any(
            v is not None
            for v in (self.if_match, self.if_none_match, self.match_last_modified,
                      self.match_size)
        )


def check_write(cond: WriteConditions, current: ObjectRecordLike | None) -> None:
    """Conditional write: If-Match needs an existing object with a matching ETag (absent is
    NoSuchKey), If-None-Match fails when the object exists and matches (``*`` matches any).
    With ``forbid_overwrite`` an existing object refuses the write (FileAlreadyExists)."""
    if cond.forbid_overwrite and current is not None:
        raise ShoalError("FileAlreadyExists")
    if cond.if_match is not None:
        if current is None:
            raise ShoalError("NoSuchKey")
        if not _etag_matches(cond.if_match, current.etag):
            raise ShoalError("PreconditionFailed", Condition="If-Match")
    if cond.if_none_match is not None and current is not None \
            and _etag_matches(cond.if_none_match, current.etag):
        raise ShoalError("PreconditionFailed", Condition="If-None-Match")


def check_delete(cond: WriteConditions, current: ObjectRecordLike | None) -> None:
    """Conditional delete: a missing object is not an error (the delete is a no-op)."""
    if current is None:
        return
    if cond.if_match is not None and not _etag_matches(cond.if_match, current.etag):
        raise ShoalError("PreconditionFailed", Condition="If-Match")
    if cond.match_last_modified is not None and \
            int(current.last_modified) != int(cond.match_last_modified):
        raise ShoalError("PreconditionFailed", Condition="x-amz-if-match-last-modified-time")
    if cond.match_size is not None and current.size != cond.match_size:
        raise ShoalError("PreconditionFailed", Condition="x-amz-if-match-size")


def parse_range(header: str, size: int) -> ByteRange | None:
    """Parse a single ``bytes=`` range. None means "serve the whole object" (absent, malformed
    or multiple ranges, as S3 does); unsatisfiable raises InvalidRange."""
    header = header.strip()
    if not header.startswith("bytes="):
        return None
    spec = header[6:].strip()
    if "," in spec or "-" not in spec:
        return None
    first_s, last_s = (p.strip() for p in spec.split("-", 1))
    try:
        if first_s == "":
            if not is_decimal(last_s):
                return None
            n = int(last_s)
            if n == 0:
                raise ShoalError("InvalidRange", ActualObjectSize=str(size), RangeRequested=header)
            if size == 0:
                return None
            return ByteRange(max(0, size - n), size - 1)
        if not is_decimal(first_s) or (last_s and not is_decimal(last_s)):
            return None
        first = int(first_s)
        last = int(last_s) if last_s else None
    except ValueError:
        return None
    if last is not None and last < first:
        return None  # syntactically invalid: ignored, the whole object is served
    if first >= size:  # also "bytes=N-" with N at or past the end
        raise ShoalError("InvalidRange", ActualObjectSize=str(size), RangeRequested=header)
    return ByteRange(first, size - 1 if last is None else min(last, size - 1))
