"""Storage interfaces the core depends on; implementations live in ``shoal.store``.

All interfaces are synchronous and thread-safe: the core calls them from worker threads
(``asyncio.to_thread``), never from the event loop (except ``AccountStore.lookup_key``, one
indexed read on a key-cache miss; see ``Keyring``). Every method that removes a row returns
the blob ids the row owned; the caller deletes those blobs *after* the call returned, i.e. after
the metadata commit (bytes are written before metadata that points at them, and freed after the
metadata that pointed at them is gone).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO, Protocol

from .accounts import AccessKey, User
from .model import Bucket, ObjectRecord, ObjectSummary, Part, Segment, Upload


class MetaStore(Protocol):
    # -- buckets ---------------------------------------------------------------------------
    def create_bucket(self, bucket: Bucket) -> Bucket | None:
        """Insert; if the name exists return the existing bucket and insert nothing."""

    def get_bucket(self, name: str) -> Bucket | None: ...

    def list_buckets(self, owner: str | None = None) -> list[Bucket]:
        """All buckets (of ``owner`` when given), ordered by name."""

    def update_bucket(self, bucket: Bucket) -> None:
        """Replace acl/config/region of an existing bucket."""

    def delete_bucket(self, name: str) -> bool:
        """Delete if it has no objects and no uploads (atomically). False if not empty.
        Raises ShoalError("NoSuchBucket") when missing."""

    def bucket_epoch(self) -> int | None:
        """A number that changes (after the commit) whenever a bucket is created, changed or
        deleted by any process sharing the store; read without I/O, so it may be called on the
        event loop. Buckets read while it keeps its value may be served from a cache. None
        when the store cannot tell: then every lookup reads the store."""

    # -- objects ---------------------------------------------------------------------------
    def get_object(
        self, bucket: str, key: str, with_inline: bool = True
    ) -> ObjectRecord | None:
        """The object's record; for an object kept inline, its bytes (``inline``) come with it
        in the same read. A caller that needs only the metadata passes ``with_inline=False``:
        then ``inline`` is None (``get_inline_blob`` reads the bytes if they are wanted after
        all) and the rest of the record is the same."""

    def get_inline_blob(self, blob_id: str) -> bytes | None:
        """The bytes of an inline blob (``is_inline``); None when there is none, e.g. the object
        whose segment named it was replaced or deleted since its record was read."""

    def put_object(self, record: ObjectRecord) -> list[str]:
        """Insert or replace the object at (bucket, key). Returns blobs freed by the old one.
        Raises ShoalError("NoSuchBucket") if the bucket is gone."""

    def update_object_meta(self, record: ObjectRecord) -> None:
        """Rewrite metadata (meta, checksums...) of an existing object, keeping its segments.
        Compare-and-set: raises RetryConflict if the stored object no longer has
        ``record.segments`` (it was replaced meanwhile), ShoalError("NoSuchKey") if it is gone."""

    def delete_object(
        self, bucket: str, key: str, segments: list[Segment] | None = None
    ) -> list[str] | None:
        """Remove; returns the freed blobs, or None if there was no such object. With
        ``segments``, only the object whose content is those segments (the one the caller
        examined): None also when the object at the key was replaced meanwhile."""

    def list_objects(
        self, bucket: str, prefix: str, start_after: str, limit: int
    ) -> list[ObjectSummary]:
        """Objects with key > start_after and key starting with prefix, in UTF-8 byte order."""

    # -- multipart -------------------------------------------------------------------------
    def create_upload(self, upload: Upload) -> None: ...

    def get_upload(self, upload_id: str) -> Upload | None: ...

    def put_part(self, part: Part) -> list[str]:
        """Insert or replace a part. Returns the blob of a replaced part.
        Raises ShoalError("NoSuchUpload") if the upload is gone (the caller frees part.blob)."""

    def get_parts(self, upload_id: str, numbers: list[int] | None = None) -> list[Part]:
        """Parts ordered by number (only ``numbers`` when given)."""

    def list_parts(self, upload_id: str, after: int, limit: int) -> list[Part]: ...

    def complete_upload(
        self, upload_id: str, record: ObjectRecord, used_blobs: dict[int, str]
    ) -> list[str]:
        """Atomically: check the upload still exists and each part number in ``used_blobs``
        still has that blob (else raise ShoalError("NoSuchUpload") or RetryConflict), delete the
        upload and all its parts, and put ``record``. Returns blobs freed: the blobs of parts
        not used, plus those of any object replaced at the key."""

    def abort_upload(self, upload_id: str) -> list[str] | None:
        """Delete the upload and its parts; returns their blobs, or None if no such upload."""

    def list_uploads(
        self, bucket: str, prefix: str, key_marker: str, upload_id_marker: str, limit: int
    ) -> list[Upload]:
        """Uploads with prefix, ordered by (key, initiated, upload_id), after the markers:
        (key == key_marker and upload_id > upload_id_marker) or key > key_marker. With an
        empty upload_id_marker, uploads of key_marker itself are skipped."""

    def uploads_older_than(self, cutoff: float) -> list[Upload]: ...

    # -- maintenance -----------------------------------------------------------------------
    def referenced_blobs(self) -> Iterator[str]:
        """Every blob id any part or object segment refers to."""

    def close(self) -> None: ...


class AccountStore(Protocol):
    """Users and their access keys (secrets arrive sealed; the store never sees them plain)."""

    def create_user(self, user: User) -> bool:
        """Insert; False (and nothing inserted) when the name or canonical id is taken."""

    def get_user(self, name: str) -> User | None: ...

    def get_user_by_id(self, user_id: str) -> User | None: ...

    def list_users(self) -> list[User]:
        """All users, ordered by name."""

    def delete_user(self, name: str) -> list[AccessKey] | None:
        """Atomically delete the user and all its keys; returns the keys, or None if there was
        no such user."""

    def add_key(self, key: AccessKey) -> bool:
        """Insert; False when the access key exists (of any user). Raises
        AccountError("NoSuchUser") if ``key.user_id`` is no user's."""

    def get_key(self, access_key: str) -> AccessKey | None: ...

    def lookup_key(self, access_key: str) -> tuple[AccessKey, User] | None:
        """The key and its user in one read (the server's authentication path)."""

    def list_keys(self, user_id: str | None = None) -> list[AccessKey]:
        """All keys (of ``user_id`` when given), ordered by (created, access_key)."""

    def set_key_active(self, access_key: str, active: bool) -> bool:
        """False when there is no such key."""


class Store(MetaStore, AccountStore, Protocol):
    """Both metadata ports: what the SQLite, PostgreSQL and in-memory stores implement."""


class BlobWriter(Protocol):
    blob_id: str

    def write(self, data: bytes | memoryview) -> None: ...

    def commit(self) -> str:
        """fsync and make durable; returns the blob id."""

    def abort(self) -> None:
        """Discard what was written (safe to call after commit failed, or twice)."""


class BlobStore(Protocol):
    def writer(self) -> BlobWriter: ...

    def open(self, blob_id: str) -> BinaryIO:
        """Open for reading (raises FileNotFoundError if missing)."""

    def path(self, blob_id: str) -> str | None:
        """A filesystem path for zero-copy sends, when the store has one."""

    def size(self, blob_id: str) -> int | None: ...

    def delete(self, blob_ids: list[str]) -> None:
        """Remove blobs; missing ones are ignored."""

    def iter_blobs(self) -> Iterator[tuple[str, float]]:
        """(blob id, mtime) of every committed blob."""

    def sweep_temp(self, older_than: float) -> int:
        """Remove unfinished writes older than the given epoch time; returns how many."""

    def check_space(self, incoming: int) -> None:
        """OSError(ENOSPC) when storing ``incoming`` more bytes would eat into the free space
        kept for the metadata store (a small body kept inline asks before it goes there)."""
