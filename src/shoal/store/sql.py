"""What the SQLite and PostgreSQL stores share: column lists, rows <-> model records, the
key-range bounds of a listing, and the read-only queries that are the same in both (listing
objects and uploads, uploads older than a cutoff, the scan of referenced blobs), written once
over the placeholder each driver takes ("?" or "%s").
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from functools import cache
from typing import Any, ClassVar

from ..core.model import (
    Bucket,
    ObjectMeta,
    ObjectRecord,
    ObjectSummary,
    Part,
    PartRef,
    Segment,
    Upload,
    is_inline,
    stored_blobs,
)

_U64 = 1 << 64
_I64_MAX = (1 << 63) - 1
_BATCH = 1000  # rows a batch of the referenced-blob scan


# -- key ranges -------------------------------------------------------------------------------
def prefix_successor(prefix: str) -> str | None:
    """The smallest string greater than every string that starts with ``prefix``, in code point
    order (= UTF-8 byte order); None when there is none ("" or only U+10FFFF characters)."""
    stripped = prefix.rstrip("\U0010ffff")
    if not stripped:
        return None
    cp = ord(stripped[-1]) + 1
    if 0xD800 <= cp <= 0xDFFF:  # surrogates never occur in valid UTF-8 text
        cp = 0xE000
    return stripped[:-1] + chr(cp)


def lower_bound(prefix: str, after: str) -> tuple[str, str]:
    """Fold ``key > after AND key >= prefix`` into one bound (SQLite seeks on one bound only)."""
    return (">", after) if after >= prefix else (">=", prefix)


# -- values --------------------------------------------------------------------------------------
def crc_to_db(value: int | None) -> int | None:
    """Unsigned 64-bit value -> signed int64 with the same bits."""
    if value is None:
        return None
    if not 0 <= value < _U64:
        raise ValueError(f"crc64 out of range: {value}")
    return value - _U64 if value > _I64_MAX else value


def crc_from_db(value: int | None) -> int | None:
    return None if value is None else value + _U64 if value < 0 else value


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


# -- rows <-> model ---------------------------------------------------------------------------
# fmt: off
OBJ_COLS = ("bucket", "key", "size", "etag", "last_modified", "owner", "storage_class", "meta",
            "segments", "parts", "checksums", "checksum_type", "crc64ecma", "version_id",
            "upload_id")
UPLOAD_COLS = ("upload_id", "bucket", "key", "initiated", "owner", "meta",
               "checksum_algorithm", "checksum_type")
PART_COLS = ("upload_id", "number", "size", "etag", "last_modified", "blob", "checksums",
             "crc64ecma")
BUCKET_COLS = ("name", "owner", "created", "region", "acl", "config")
# What update_object_meta rewrites: all but the content (segments, size) and the identity.
META_COLS = ("etag", "last_modified", "owner", "storage_class", "meta", "parts", "checksums",
             "checksum_type", "crc64ecma", "version_id", "upload_id")


def segments_json(segments: Sequence[Segment]) -> str:
    """An object's segments as stored (and as compared: the same segments, the same text)."""
    return dumps([[s.blob, s.offset, s.length] for s in segments])


def obj_params(r: ObjectRecord) -> dict[str, Any]:
    return {
        "bucket": r.bucket, "key": r.key, "size": r.size, "etag": r.etag,
        "last_modified": r.last_modified, "owner": r.owner,
        "storage_class": r.meta.storage_class, "meta": r.meta.to_json(),
        "segments": segments_json(r.segments),
        "parts": dumps([[p.number, p.size, p.etag, p.checksum] for p in r.parts]),
        "checksums": dumps(r.checksums), "checksum_type": r.checksum_type,
        "crc64ecma": crc_to_db(r.crc64ecma), "version_id": r.version_id,
        "upload_id": r.upload_id,
    }


def obj_from_row(row: Sequence[Any]) -> ObjectRecord:
    return ObjectRecord(
        bucket=row[0], key=row[1], size=row[2], etag=row[3], last_modified=row[4],
        owner=row[5], meta=ObjectMeta.from_json(row[7]),
        segments=[Segment(b, o, n) for b, o, n in json.loads(row[8])],
        parts=[PartRef(*p) for p in json.loads(row[9])],
        checksums=json.loads(row[10]), checksum_type=row[11],
        crc64ecma=crc_from_db(row[12]), version_id=row[13], upload_id=row[14],
        inline=bytes(row[15]) if len(row) > 15 and row[15] is not None else None,
    )


def bucket_params(b: Bucket) -> tuple[Any, ...]:
    acl = None if b.acl is None else dumps(b.acl)
    return (b.name, b.owner, b.created, b.region, acl, dumps(b.config))


def bucket_from_row(row: Sequence[Any]) -> Bucket:
    acl = None if row[4] is None else json.loads(row[4])
    return Bucket(row[0], row[1], row[2], row[3], acl, json.loads(row[5]))


def upload_params(u: Upload) -> tuple[Any, ...]:
    return (u.upload_id, u.bucket, u.key, u.initiated, u.owner, u.meta.to_json(),
            u.checksum_algorithm, u.checksum_type)


def upload_from_row(row: Sequence[Any]) -> Upload:
    return Upload(row[0], row[1], row[2], row[3], ObjectMeta.from_json(row[5]), row[4],
                  row[6], row[7])


def part_params(p: Part) -> tuple[Any, ...]:
    return (p.upload_id, p.number, p.size, p.etag, p.last_modified, p.blob,
            dumps(p.checksums), crc_to_db(p.crc64ecma))


def part_from_row(row: Sequence[Any]) -> Part:
    return Part(row[0], row[1], row[2], row[3], row[4], row[5], json.loads(row[6]),
                crc_from_db(row[7]))
# fmt: on


def blobs_of(segments_json: str) -> list[str]:
    return list(dict.fromkeys(b for b, _, _ in json.loads(segments_json)))


def drop_inline(conn: Any, blob_ids: list[str], mark: str = "?") -> list[str]:
    """Delete the inline bodies among ``blob_ids`` (in the caller's transaction, on a SQLite
    or, with ``mark="%s"``, a PostgreSQL connection); return the others, the blob-store blobs
    for the caller to free after the commit."""
    inline = [(b,) for b in blob_ids if is_inline(b)]
    if inline:
        conn.cursor().executemany(f"DELETE FROM inline_blobs WHERE blob = {mark}", inline)
    return stored_blobs(blob_ids)


OBJ = ", ".join(OBJ_COLS)
UPLOAD = ", ".join(UPLOAD_COLS)
PART = ", ".join(PART_COLS)
BUCKET = ", ".join(BUCKET_COLS)


# -- reads --------------------------------------------------------------------------------------
@cache
def list_objects_sql(mark: str, op: str, bounded: bool) -> str:
    upper = f" AND key < {mark}" if bounded else ""
    return (
        "SELECT key, size, etag, last_modified, storage_class, owner FROM objects "
        f"WHERE bucket = {mark} AND key {op} {mark}{upper} ORDER BY key LIMIT {mark}"
    )


@cache
def list_uploads_sql(mark: str, op: str, bounded: bool, tie: bool) -> str:
    upper = f" AND key < {mark}" if bounded else ""
    tiebreak = f" AND (key > {mark} OR upload_id > {mark})" if tie else ""
    return (
        f"SELECT {UPLOAD} FROM uploads WHERE bucket = {mark} AND key {op} {mark}{upper}"
        f"{tiebreak} ORDER BY key, initiated, upload_id LIMIT {mark}"
    )


class SqlReads:
    """The read-only ``MetaStore`` queries both SQL stores run alike. A store gives ``_all``
    (one SELECT, one snapshot), its placeholder ``MARK``, and, where some text can never be
    stored (PostgreSQL: a NUL), ``_unstorable`` and ``_bound``."""

    MARK: ClassVar[str] = "?"

    def _all(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        raise NotImplementedError

    @staticmethod
    def _unstorable(*values: str) -> bool:
        """True when no stored row can hold one of ``values`` (so nothing matches)."""
        return False

    @staticmethod
    def _bound(value: str) -> str:
        """The lower bound ``key > value`` amounts to against the keys that can be stored."""
        return value

    def list_objects(
        self, bucket: str, prefix: str, start_after: str, limit: int
    ) -> list[ObjectSummary]:
        if limit <= 0 or self._unstorable(bucket, prefix):
            return []
        op, lo = lower_bound(prefix, self._bound(start_after))
        hi = prefix_successor(prefix)
        params = (bucket, lo, limit) if hi is None else (bucket, lo, hi, limit)
        sql = list_objects_sql(self.MARK, op, hi is not None)
        return ObjectSummary.from_rows(self._all(sql, params))

    def list_uploads(
        self, bucket: str, prefix: str, key_marker: str, upload_id_marker: str, limit: int
    ) -> list[Upload]:
        if limit <= 0 or self._unstorable(bucket, prefix):
            return []
        # A key marker no key can equal leaves only "key > marker" of the condition.
        tie = bool(upload_id_marker) and not self._unstorable(key_marker) and key_marker >= prefix
        key_marker, upload_id_marker = self._bound(key_marker), self._bound(upload_id_marker)
        hi = prefix_successor(prefix)
        op, lo = (">=", key_marker) if tie else lower_bound(prefix, key_marker)
        params: list[Any] = [bucket, lo]
        if hi is not None:
            params.append(hi)
        if tie:
            params += [key_marker, upload_id_marker]
        params.append(limit)
        rows = self._all(list_uploads_sql(self.MARK, op, hi is not None, tie), params)
        return [upload_from_row(r) for r in rows]

    def uploads_older_than(self, cutoff: float) -> list[Upload]:
        sql = (
            f"SELECT {UPLOAD} FROM uploads WHERE initiated < {self.MARK} "
            "ORDER BY initiated, upload_id"
        )
        return [upload_from_row(r) for r in self._all(sql, (cutoff,))]

    def referenced_blobs(self) -> Iterator[str]:
        """Batched, not one snapshot. Parts are scanned before objects, so a blob that moves
        from a part to an object meanwhile is still seen; blobs that appear after the scan began
        may be missed, so a collector must spare blobs newer than its own start."""
        m = self.MARK
        upload_id, number = "", -1
        sql = (
            f"SELECT upload_id, number, blob FROM parts WHERE (upload_id, number) > ({m}, {m}) "
            f"ORDER BY upload_id, number LIMIT {m}"
        )
        while rows := self._all(sql, (upload_id, number, _BATCH)):
            yield from (r[2] for r in rows)
            upload_id, number = rows[-1][0], rows[-1][1]
        last_id = 0
        sql = f"SELECT id, segments FROM objects WHERE id > {m} ORDER BY id LIMIT {m}"
        while rows := self._all(sql, (last_id, _BATCH)):
            for _, segments in rows:
                yield from stored_blobs(blobs_of(segments))
            last_id = rows[-1][0]
