"""Objects: put, head/get, delete, copy, and metadata-only updates (tags, ACL)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from .conditions import Conditions, WriteConditions, check, check_delete, check_write
from .errors import RetryConflict, ShoalError
from .ingest import Expect, Ingested, ingest
from .model import INLINE_MAX, ByteRange, ObjectMeta, ObjectRecord, Segment, stored_blobs
from .ports import BlobStore, MetaStore
from .reader import CHUNK, Extent, object_bytes, read_whole

DELETE_ATTEMPTS = 10  # of a conditional delete whose object keeps being replaced


class ObjectService:
    def __init__(self, meta: MetaStore, blobs: BlobStore) -> None:
        self.meta = meta
        self.blobs = blobs

    async def free(self, blob_ids: list[str] | None) -> None:
        blob_ids = stored_blobs(blob_ids or ())
        if blob_ids:
            await asyncio.to_thread(self.blobs.delete, blob_ids)

    async def require_bucket(self, bucket: str) -> None:
        if await asyncio.to_thread(self.meta.get_bucket, bucket) is None:
            raise ShoalError("NoSuchBucket", BucketName=bucket)

    async def put(
        self, bucket: str, key: str, meta: ObjectMeta, body: AsyncIterator[bytes],
        expect: Expect, owner: str, when: WriteConditions | None = None,
    ) -> ObjectRecord:
        """Store ``body`` at bucket/key. ``when`` (If-Match / If-None-Match) is checked before
        the body is read and again just before the new object replaces the current one.
        The store refuses a missing bucket at commit; callers that want to refuse it before
        reading the body look the bucket up first (the handlers do, for its settings)."""
        if when:
            check_write(when, await self._lookup(bucket, key))

        def store(got: Ingested) -> tuple[ObjectRecord, list[str]]:
            """Runs in the ingest thread, right after the blob is durable (one hop in all)."""
            record = _record(bucket, key, meta, got, owner)
            freed = self._put_checked(record, when)
            if freed:
                self.blobs.delete(freed)
            return record, freed

        _, stored = await ingest(self.blobs, body, expect, then=store, inline_max=INLINE_MAX)
        assert stored is not None
        return stored[0]

    async def _commit(
        self, bucket: str, key: str, meta: ObjectMeta, got: Ingested, owner: str,
        when: WriteConditions | None = None,
    ) -> ObjectRecord:
        record = _record(bucket, key, meta, got, owner)
        try:
            freed = await asyncio.to_thread(self._put_checked, record, when)
        except BaseException:
            await self.free([got.blob])
            raise
        await self.free(freed)
        return record

    def _put_checked(self, record: ObjectRecord, when: WriteConditions | None) -> list[str]:
        """Re-check the write preconditions against the object being replaced, then put.
        (Runs in one worker thread; the store has no compare-and-put, so a concurrent writer
        can still slip in between the two calls.)"""
        if when:
            check_write(when, self.meta.get_object(record.bucket, record.key, with_inline=False))
        return self.meta.put_object(record)

    async def _lookup(self, bucket: str, key: str) -> ObjectRecord | None:
        """The object's record without a small object's bytes (for a precondition check)."""
        return await asyncio.to_thread(self.meta.get_object, bucket, key, with_inline=False)

    async def head(self, bucket: str, key: str, with_inline: bool = False) -> ObjectRecord:
        """The object's record. A small object's bytes kept inline come with it only
        ``with_inline`` (for a caller about to read them, such as a copy from it); ``read``
        fetches them for a record without."""
        record = await asyncio.to_thread(self.meta.get_object, bucket, key,
                                         with_inline=with_inline)
        if record is None:
            await self.require_bucket(bucket)
            raise ShoalError("NoSuchKey", Key=key)
        return record

    async def head_with_body(self, bucket: str, key: str) -> tuple[ObjectRecord, bytes | None]:
        """The object's record and, when the object is small (one read), unencrypted and in
        one blob, its bytes, read in the same thread hop (kept inline: in the same read of the
        store): a small GET then costs one hop. Raises BlobGone when the blob was freed after
        the lookup (the object was replaced)."""
        got = await asyncio.to_thread(self._head_with_body, bucket, key)
        if got is None:
            await self.require_bucket(bucket)
            raise ShoalError("NoSuchKey", Key=key)
        return got

    def _head_with_body(self, bucket: str, key: str) -> tuple[ObjectRecord, bytes | None] | None:
        record = self.meta.get_object(bucket, key)
        if record is None:
            return None
        if record.inline is not None:
            return record, record.inline
        if record.meta.sse or len(record.segments) != 1 or record.size > CHUNK:
            return record, None
        seg = record.segments[0]
        return record, read_whole(self.blobs, Extent(seg.blob, seg.offset, seg.length))

    def read(self, record: ObjectRecord, rng: ByteRange | None) -> AsyncIterator[bytes]:
        return object_bytes(self.meta, self.blobs, record, rng)

    async def delete(self, bucket: str, key: str, when: WriteConditions | None = None) -> bool:
        """Delete if present; True when something was deleted. ``when`` (If-Match, match
        last-modified / size) must hold for an existing object, else PreconditionFailed."""
        freed = await asyncio.to_thread(self._delete_checked, bucket, key, when)
        if freed is None:
            await self.require_bucket(bucket)
            return False
        await self.free(freed)
        return True

    def _delete_checked(
        self, bucket: str, key: str, when: WriteConditions | None
    ) -> list[str] | None:
        """Delete; with ``when``, the object the conditions were checked against and no other:
        if it is replaced between the check and the delete, the check is made again on the
        new one (a replacement that fails it is kept)."""
        if not when:
            return self.meta.delete_object(bucket, key)
        for _ in range(DELETE_ATTEMPTS):
            current = self.meta.get_object(bucket, key, with_inline=False)
            check_delete(when, current)
            if current is None:
                return None
            freed = self.meta.delete_object(bucket, key, current.segments)
            if freed is not None:
                return freed
        raise ShoalError("ConditionalRequestConflict")

    async def copy(
        self, src: ObjectRecord, rng: ByteRange | None, bucket: str, key: str,
        meta: ObjectMeta, owner: str, want: set[str] | None = None,
        when: WriteConditions | None = None,
    ) -> ObjectRecord:
        """Copy ``src`` (or a range of it) to bucket/key with ``meta``; ``when`` is checked
        against the object at the destination before the copy and again before it lands."""
        await self.require_bucket(bucket)
        if when:
            check_write(when, await self._lookup(bucket, key))
        if src.bucket == bucket and src.key == key and rng is None:
            # Same object: only the metadata changes, the bytes stay where they are.
            record = ObjectRecord(
                bucket=bucket, key=key, size=src.size, etag=src.etag,
                last_modified=time.time(), meta=meta, segments=src.segments, owner=owner,
                checksums=src.checksums, checksum_type=src.checksum_type,
                crc64ecma=src.crc64ecma, parts=src.parts, inline=src.inline,
            )
            try:
                await asyncio.to_thread(self.meta.update_object_meta, record)
            except RetryConflict as exc:
                raise ShoalError("SlowDown", "The object changed while it was being copied "
                                 "onto itself; retry.") from exc
            return record
        got = await self.copy_bytes(src, rng, want or set(src.checksums), INLINE_MAX)
        return await self._commit(bucket, key, meta, got, owner, when)

    async def copy_bytes(
        self, src: ObjectRecord, rng: ByteRange | None, want: set[str], inline_max: int = 0
    ) -> Ingested:
        """The bytes of ``src`` (or a range) in a new blob; kept inline when at most
        ``inline_max`` bytes long (see ``ingest``)."""
        body = self.read(src, rng)
        size = rng.length if rng is not None else src.size
        expect = Expect(want={a for a in want if "-" not in a}, size=size)
        got, _ = await ingest(self.blobs, body, expect, inline_max=inline_max)
        return got

    async def update_meta(self, bucket: str, key: str, **changes: Any) -> ObjectRecord:
        """Change fields of the object's ObjectMeta (tags, acl...) without touching its bytes."""
        for _ in range(8):
            record = await self.head(bucket, key)
            for name, value in changes.items():
                setattr(record.meta, name, value)
            try:
                await asyncio.to_thread(self.meta.update_object_meta, record)
                return record
            except RetryConflict:
                continue  # replaced between our read and write: apply to the new one
        raise ShoalError("SlowDown", "The object is being replaced too often; retry.")


def _record(bucket: str, key: str, meta: ObjectMeta, got: Ingested, owner: str) -> ObjectRecord:
    return ObjectRecord(
        bucket=bucket, key=key, size=got.size, etag=got.etag, last_modified=time.time(),
        meta=meta, segments=[Segment(got.blob, 0, got.size)], owner=owner,
        checksums=got.checksums, checksum_type="FULL_OBJECT" if got.checksums else None,
        crc64ecma=got.crc64ecma, inline=got.inline,
    )



def check_conditions(cond: Conditions, record: ObjectRecord, *, copy_source: bool = False) -> None:
    if cond:
        check(cond, record.etag, record.last_modified, copy_source=copy_source)
