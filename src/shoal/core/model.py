"""The storage core's vocabulary: plain dataclasses, no HTTP, XML or SQL.

An object is a list of ``Segment``s, each a byte range of one blob. A single PUT makes one blob
and one segment; CompleteMultipartUpload turns the parts' blobs into the object's segments
without moving a byte. Every blob belongs to exactly one row at a time (a part or an object), so
when that row goes away the blob can be deleted.

A small object (a PUT or copy of at most ``INLINE_MAX`` bytes, unencrypted) keeps its bytes in
the metadata store instead, committed in the same transaction as its row: its one segment names
an *inline* blob (``is_inline``) that no blob store holds, and ``ObjectRecord.inline`` carries
the bytes. Storing it costs no file, no file fsync and no directory fsync: only the metadata
commit, which is shared by the writes in flight (group commit).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from itertools import repeat
from typing import Any, NamedTuple


@dataclass(slots=True)
class ObjectMeta:
    """What a client sets on an object at PUT, Initiate or Copy (REPLACE), stored as given."""

    content_type: str | None = None
    cache_control: str | None = None
    content_disposition: str | None = None
    content_encoding: str | None = None
    content_language: str | None = None
    expires: str | None = None
    user: dict[str, str] = field(default_factory=dict)  # lower-case names, no x-amz-meta- prefix
    storage_class: str = "STANDARD"
    tags: list[tuple[str, str]] = field(default_factory=list)
    acl: dict[str, Any] | None = None  # {"canned": "private"} or {"grants": [...]}
    sse: dict[str, Any] | None = None  # {"algorithm": "AES256"|"aws:kms"|"SSE-C", ...}
    website_redirect: str | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | None) -> ObjectMeta:
        if not text:
            return cls()
        d = json.loads(text)
        d["tags"] = [tuple(t) for t in d.get("tags", [])]
        return cls(**d)


@dataclass(frozen=True, slots=True)
class Bucket:
    name: str
    owner: str
    created: float
    region: str = "us-east-1"
    acl: dict[str, Any] | None = None
    config: dict[str, Any] = field(default_factory=dict)  # encryption, versioning, cors...


INLINE_MAX = 16 << 10
_INLINE_PREFIX = "i"  # blob-store ids are hex digits only


def new_inline_id() -> str:
    return _INLINE_PREFIX + secrets.token_hex(16)


def is_inline(blob_id: str) -> bool:
    """Is this the id of bytes kept in the metadata store (not a blob store's)?"""
    return blob_id.startswith(_INLINE_PREFIX)


def stored_blobs(blob_ids: Iterable[str]) -> list[str]:
    """The ids that name blob-store blobs (what a caller frees after a metadata change)."""
    return [b for b in blob_ids if not is_inline(b)]


@dataclass(frozen=True, slots=True)
class Segment:
    """A byte range of a blob that is part of an object's content."""

    blob: str
    offset: int
    length: int


@dataclass(frozen=True, slots=True)
class PartRef:
    """Boundaries of one multipart part inside a completed object (for GET ?partNumber=)."""

    number: int
    size: int
    etag: str
    checksum: str | None = None


@dataclass(slots=True)
class ObjectRecord:
    bucket: str
    key: str
    size: int
    etag: str  # without quotes: "<md5hex>" or "<md5hex>-N"
    last_modified: float
    meta: ObjectMeta
    segments: list[Segment]
    owner: str = ""
    checksums: dict[str, str] = field(default_factory=dict)  # algo -> b64 ("-N" suffix allowed)
    checksum_type: str | None = None  # "FULL_OBJECT" | "COMPOSITE"
    crc64ecma: int | None = None
    parts: list[PartRef] = field(default_factory=list)  # empty unless made by multipart
    version_id: str | None = None
    upload_id: str | None = None  # the multipart upload whose Complete made this object
    inline: bytes | None = None  # a small object's bytes, kept in the metadata store


class ObjectSummary(NamedTuple):
    """One row of a listing. A tuple, in the order of the stores' SELECT, so that a page of a
    thousand rows becomes summaries in one pass (``from_rows``) and renders by unpacking."""

    key: str
    size: int
    etag: str
    last_modified: float
    storage_class: str
    owner: str

    @classmethod
    def from_rows(cls, rows: Iterable[Iterable[Any]]) -> list[ObjectSummary]:
        """Rows of (key, size, etag, last_modified, storage_class, owner) as summaries."""
        return list(map(tuple.__new__, repeat(cls), rows))


@dataclass(slots=True)
class Upload:
    upload_id: str
    bucket: str
    key: str
    initiated: float
    meta: ObjectMeta
    owner: str = ""
    checksum_algorithm: str | None = None
    checksum_type: str | None = None


@dataclass(frozen=True, slots=True)
class Part:
    upload_id: str
    number: int
    size: int
    etag: str  # md5 hex, no quotes
    last_modified: float
    blob: str
    checksums: dict[str, str] = field(default_factory=dict)
    crc64ecma: int | None = None


@dataclass(frozen=True, slots=True)
class ByteRange:
    """Inclusive first..last byte offsets of an object."""

    first: int
    last: int

    @property
    def length(self) -> int:
        return self.last - self.first + 1


@dataclass(slots=True)
class ListPage:
    """A page of ListObjects(V2) results."""

    objects: list[ObjectSummary]
    prefixes: list[str]
    truncated: bool
    next_marker: str | None  # last key or prefix returned when truncated
