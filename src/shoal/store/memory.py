"""In-memory ``MetaStore`` and ``BlobStore`` with the same semantics as the real ones.

Meant for fast core unit tests. Everything is guarded by one lock per store; values are
deep-copied in and out, so callers can never alias stored state (as with a database).
"""

from __future__ import annotations

import bisect
import io
import threading
import time
from collections.abc import Iterator
from copy import deepcopy
from dataclasses import dataclass
from typing import BinaryIO

from ..core.errors import RetryConflict, ShoalError
from ..core.model import (
    Bucket,
    ObjectRecord,
    ObjectSummary,
    Part,
    Segment,
    Upload,
    is_inline,
    stored_blobs,
)
from .fs import as_bytes_view, check_blob_id, new_blob_id
from .kms_stores import MemoryKms
from .memory_accounts import MemoryAccounts

_U64 = 1 << 64


def _check_crc(value: int | None) -> None:
    if value is not None and not 0 <= value < _U64:
        raise ValueError(f"crc64 out of range: {value}")


def _blobs(record: ObjectRecord) -> list[str]:
    """The record's blobs, blob-store and inline ones."""
    return list(dict.fromkeys(s.blob for s in record.segments))


class MemoryMetaStore(MemoryAccounts, MemoryKms):
    """``MetaStore`` and ``AccountStore`` in dictionaries; keys of each bucket are also kept
    in a sorted list. Inline bodies are kept apart from the records, by blob id, as the SQL
    stores keep them in a table of their own."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._buckets: dict[str, Bucket] = {}
        self._objects: dict[str, dict[str, ObjectRecord]] = {}  # bucket -> key -> record
        self._keys: dict[str, list[str]] = {}  # bucket -> sorted keys
        self._inline: dict[str, bytes] = {}  # inline blob id -> the bytes
        self._uploads: dict[str, Upload] = {}
        self._parts: dict[str, dict[int, Part]] = {}  # upload id -> number -> part
        self._epoch = 0  # counts bucket changes
        self._init_accounts()

    # -- buckets ----------------------------------------------------------------------------
    def create_bucket(self, bucket: Bucket) -> Bucket | None:
        with self._lock:
            if bucket.name in self._buckets:
                return deepcopy(self._buckets[bucket.name])
            self._buckets[bucket.name] = deepcopy(bucket)
            self._objects[bucket.name] = {}
            self._keys[bucket.name] = []
            self._epoch += 1
            return None

    def get_bucket(self, name: str) -> Bucket | None:
        with self._lock:
            return deepcopy(self._buckets.get(name))

    def list_buckets(self, owner: str | None = None) -> list[Bucket]:
        with self._lock:
            found = [b for b in self._buckets.values() if owner is None or b.owner == owner]
            return deepcopy(sorted(found, key=lambda b: b.name))

    def update_bucket(self, bucket: Bucket) -> None:
        with self._lock:
            old = self._buckets.get(bucket.name)
            if old is None:
                raise ShoalError("NoSuchBucket", BucketName=bucket.name)
            self._buckets[bucket.name] = Bucket(
                old.name, old.owner, old.created, bucket.region, deepcopy(bucket.acl),
                deepcopy(bucket.config),
            )  # fmt: skip
            self._epoch += 1

    def delete_bucket(self, name: str) -> bool:
        with self._lock:
            if name not in self._buckets:
                raise ShoalError("NoSuchBucket", BucketName=name)
            if self._objects[name] or any(u.bucket == name for u in self._uploads.values()):
                return False
            del self._buckets[name], self._objects[name], self._keys[name]
            self._epoch += 1
            return True

    def bucket_epoch(self) -> int | None:
        return self._epoch

    # -- objects ----------------------------------------------------------------------------
    def get_object(
        self, bucket: str, key: str, with_inline: bool = True
    ) -> ObjectRecord | None:
        with self._lock:
            record = deepcopy(self._objects.get(bucket, {}).get(key))
            if record is not None and with_inline and record.segments:
                record.inline = self._inline.get(record.segments[0].blob)
            return record

    def get_inline_blob(self, blob_id: str) -> bytes | None:
        with self._lock:
            return self._inline.get(blob_id)

    def _drop_inline(self, blob_ids: list[str]) -> list[str]:
        """Forget the inline bodies among ``blob_ids``; return the blob-store blobs."""
        for blob in blob_ids:
            if is_inline(blob):
                self._inline.pop(blob, None)
        return stored_blobs(blob_ids)

    def _put_object(self, record: ObjectRecord) -> list[str]:
        if record.bucket not in self._buckets:
            raise ShoalError("NoSuchBucket", BucketName=record.bucket)
        _check_crc(record.crc64ecma)
        objects = self._objects[record.bucket]
        old = objects.get(record.key)
        if old is None:
            bisect.insort(self._keys[record.bucket], record.key)
        objects[record.key] = stored = deepcopy(record)
        stored.inline = None
        if record.inline is not None:
            self._inline[record.segments[0].blob] = record.inline
        keep = {s.blob for s in record.segments}
        return self._drop_inline([b for b in _blobs(old) if b not in keep] if old else [])

    def put_object(self, record: ObjectRecord) -> list[str]:
        with self._lock:
            return self._put_object(record)

    def update_object_meta(self, record: ObjectRecord) -> None:
        with self._lock:
            old = self._objects.get(record.bucket, {}).get(record.key)
            if old is None:
                raise ShoalError("NoSuchKey", Key=record.key)
            if old.segments != record.segments:
                raise RetryConflict(f"object {record.key!r} was replaced")
            _check_crc(record.crc64ecma)
            new = deepcopy(record)
            new.segments, new.size, new.inline = old.segments, old.size, None
            self._objects[record.bucket][record.key] = new

    def delete_object(
        self, bucket: str, key: str, segments: list[Segment] | None = None
    ) -> list[str] | None:
        with self._lock:
            old = self._objects.get(bucket, {}).get(key)
            if old is None or (segments is not None and old.segments != segments):
                return None
            del self._objects[bucket][key]
            keys = self._keys[bucket]
            del keys[bisect.bisect_left(keys, key)]
            return self._drop_inline(_blobs(old))

    def list_objects(
        self, bucket: str, prefix: str, start_after: str, limit: int
    ) -> list[ObjectSummary]:
        with self._lock:
            keys, objects = self._keys.get(bucket, []), self._objects.get(bucket, {})
            if start_after >= prefix:
                i = bisect.bisect_right(keys, start_after)
            else:
                i = bisect.bisect_left(keys, prefix)
            out: list[ObjectSummary] = []
            while i < len(keys) and len(out) < limit and keys[i].startswith(prefix):
                r = objects[keys[i]]
                out.append(ObjectSummary(r.key, r.size, r.etag, r.last_modified,
                                         r.meta.storage_class, r.owner))  # fmt: skip
                i += 1
            return out

    # -- multipart --------------------------------------------------------------------------
    def create_upload(self, upload: Upload) -> None:
        with self._lock:
            if upload.bucket not in self._buckets:
                raise ShoalError("NoSuchBucket", BucketName=upload.bucket)
            if upload.upload_id in self._uploads:
                raise ValueError(f"duplicate upload id {upload.upload_id}")
            self._uploads[upload.upload_id] = deepcopy(upload)
            self._parts[upload.upload_id] = {}

    def get_upload(self, upload_id: str) -> Upload | None:
        with self._lock:
            return deepcopy(self._uploads.get(upload_id))

    def put_part(self, part: Part) -> list[str]:
        with self._lock:
            parts = self._parts.get(part.upload_id)
            if parts is None:
                raise ShoalError("NoSuchUpload", UploadId=part.upload_id)
            _check_crc(part.crc64ecma)
            old = parts.get(part.number)
            parts[part.number] = deepcopy(part)
            return [old.blob] if old is not None and old.blob != part.blob else []

    def get_parts(self, upload_id: str, numbers: list[int] | None = None) -> list[Part]:
        with self._lock:
            parts = self._parts.get(upload_id, {})
            wanted = sorted(parts) if numbers is None else sorted(set(numbers) & parts.keys())
            return deepcopy([parts[n] for n in wanted])

    def list_parts(self, upload_id: str, after: int, limit: int) -> list[Part]:
        with self._lock:
            parts = self._parts.get(upload_id, {})
            wanted = [n for n in sorted(parts) if n > after][: max(limit, 0)]
            return deepcopy([parts[n] for n in wanted])

    def complete_upload(
        self, upload_id: str, record: ObjectRecord, used_blobs: dict[int, str]
    ) -> list[str]:
        with self._lock:
            parts = self._parts.get(upload_id)
            if parts is None:
                raise ShoalError("NoSuchUpload", UploadId=upload_id)
            for number, blob in used_blobs.items():
                if number not in parts or parts[number].blob != blob:
                    raise RetryConflict(f"part {number} of upload {upload_id} changed")
            if record.bucket not in self._buckets:  # checked before anything changes
                raise ShoalError("NoSuchBucket", BucketName=record.bucket)
            _check_crc(record.crc64ecma)
            keep = {s.blob for s in record.segments}
            unused = [p.blob for n, p in sorted(parts.items())
                      if n not in used_blobs and p.blob not in keep]  # fmt: skip
            replaced = self._put_object(record)
            del self._parts[upload_id], self._uploads[upload_id]
            return list(dict.fromkeys(unused + replaced))

    def abort_upload(self, upload_id: str) -> list[str] | None:
        with self._lock:
            if upload_id not in self._uploads:
                return None
            parts = self._parts.pop(upload_id)
            del self._uploads[upload_id]
            return [parts[n].blob for n in sorted(parts)]

    def list_uploads(
        self, bucket: str, prefix: str, key_marker: str, upload_id_marker: str, limit: int
    ) -> list[Upload]:
        def after_markers(u: Upload) -> bool:
            if u.key == key_marker:
                return bool(upload_id_marker) and u.upload_id > upload_id_marker
            return u.key > key_marker

        with self._lock:
            found = [u for u in self._uploads.values()
                     if u.bucket == bucket and u.key.startswith(prefix) and after_markers(u)]  # fmt: skip
            found.sort(key=lambda u: (u.key, u.initiated, u.upload_id))
            return deepcopy(found[: max(limit, 0)])

    def uploads_older_than(self, cutoff: float) -> list[Upload]:
        with self._lock:
            found = [u for u in self._uploads.values() if u.initiated < cutoff]
            return deepcopy(sorted(found, key=lambda u: (u.initiated, u.upload_id)))

    # -- maintenance ------------------------------------------------------------------------
    def referenced_blobs(self) -> Iterator[str]:
        with self._lock:
            blobs = [p.blob for parts in self._parts.values() for p in parts.values()]
            for objects in self._objects.values():
                for record in objects.values():
                    blobs.extend(stored_blobs(_blobs(record)))
        yield from blobs

    def close(self) -> None:
        pass


@dataclass(slots=True)
class _Temp:
    """An unfinished write."""

    data: bytearray
    mtime: float


class MemoryBlobWriter:
    """Buffers one blob; same state rules as ``FsBlobWriter``."""

    def __init__(self, store: MemoryBlobStore, blob_id: str) -> None:
        self.blob_id = blob_id
        self._store = store
        self._state = "open"

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._state != "open":
            raise ValueError(f"blob writer is {self._state}")
        with self._store._lock:
            temp = self._store._temp.get(self.blob_id)
            if temp is not None:  # else swept: commit will fail, as on disk
                temp.data += as_bytes_view(data)
                temp.mtime = time.time()

    def commit(self) -> str:
        if self._state == "committed":
            return self.blob_id
        if self._state != "open":
            raise ValueError(f"blob writer is {self._state}")
        self._state = "failed"
        with self._store._lock:
            temp = self._store._temp.pop(self.blob_id, None)
            if temp is None:
                raise FileNotFoundError(f"unfinished blob {self.blob_id} was swept")
            self._store._blobs[self.blob_id] = (bytes(temp.data), time.time())
        self._state = "committed"
        return self.blob_id

    def abort(self) -> None:
        if self._state in ("committed", "aborted"):
            return
        self._state = "aborted"
        with self._store._lock:
            self._store._temp.pop(self.blob_id, None)


class MemoryBlobStore:
    """``BlobStore`` in a dictionary; ``path()`` is always None."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._blobs: dict[str, tuple[bytes, float]] = {}  # id -> (data, mtime)
        self._temp: dict[str, _Temp] = {}

    def writer(self) -> MemoryBlobWriter:
        blob_id = new_blob_id()
        with self._lock:
            self._temp[blob_id] = _Temp(bytearray(), time.time())
        return MemoryBlobWriter(self, blob_id)

    def open(self, blob_id: str) -> BinaryIO:
        check_blob_id(blob_id)
        with self._lock:
            found = self._blobs.get(blob_id)
        if found is None:
            raise FileNotFoundError(f"no blob {blob_id}")
        return io.BytesIO(found[0])

    def path(self, blob_id: str) -> str | None:
        check_blob_id(blob_id)
        return None

    def size(self, blob_id: str) -> int | None:
        check_blob_id(blob_id)
        with self._lock:
            found = self._blobs.get(blob_id)
        return None if found is None else len(found[0])

    def delete(self, blob_ids: list[str]) -> None:
        for blob_id in blob_ids:
            check_blob_id(blob_id)
        with self._lock:
            for blob_id in blob_ids:
                self._blobs.pop(blob_id, None)

    def iter_blobs(self) -> Iterator[tuple[str, float]]:
        with self._lock:
            found = [(b, mtime) for b, (_, mtime) in sorted(self._blobs.items())]
        yield from found

    def check_space(self, incoming: int) -> None:
        return None

    def sweep_temp(self, older_than: float) -> int:
        with self._lock:
            old = [b for b, temp in self._temp.items() if temp.mtime < older_than]
            for blob_id in old:
                del self._temp[blob_id]
        return len(old)
