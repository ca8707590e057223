"""SQLite implementation of the ``MetaStore`` and ``AccountStore`` ports.

One WAL database file shared by any number of worker processes; one connection per thread.
Every write is a short ``BEGIN IMMEDIATE`` transaction (so it never has to upgrade a read lock,
the case where SQLite gives up without waiting); every read is a single SELECT, i.e. one
implicit transaction and a consistent snapshot. ``synchronous=FULL`` makes a commit durable
when it returns. Object and upload writes are group-committed (``_batched``, see
``sqlite_writer``): writes that arrive while a commit is under way share the next one.
"""

from __future__ import annotations

import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from importlib import resources
from typing import Any, TypeVar

from ..core import process
from ..core.errors import RetryConflict, ShoalError
from ..core.model import (
    Bucket,
    ObjectRecord,
    Part,
    Segment,
    Upload,
)
from .epoch import SharedEpoch
from .kms_stores import SqliteKms
from .sql import (
    BUCKET,
    META_COLS,
    OBJ,
    OBJ_COLS,
    PART,
    PART_COLS,
    UPLOAD,
    SqlReads,
    blobs_of,
    bucket_from_row,
    bucket_params,
    drop_inline,
    dumps,
    obj_from_row,
    obj_params,
    part_from_row,
    part_params,
    segments_json,
    upload_from_row,
    upload_params,
)
from .sqlite_accounts import SqliteAccounts
from .sqlite_writer import Writer

SCHEMA_VERSION = 6  # v1: buckets, objects, uploads, parts; v2: users, access keys;
#                   v3: KMS keys; v4: objects.upload_id; v5: inline_blobs;
#                   v6: a covering index for listings
BUSY_TIMEOUT_S = 30.0
# Page cache per connection. Every thread that touches the store has its own connection (a
# worker has dozens), and SQLite's default of 2 MiB each kept ~25 MiB more resident per worker
# once listings and small requests had run, for pages the kernel's page cache holds anyway.
CACHE_KIB = 256
T = TypeVar("T")


def _statements(script: str) -> Iterator[str]:
    """Split a DDL script into statements (executescript would COMMIT our transaction)."""
    buf = ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            yield buf
            buf = ""


def _upsert(table: str, cols: tuple[str, ...], key: tuple[str, ...]) -> str:
    sets = ", ".join(f"{c} = excluded.{c}" for c in cols if c not in key)
    return (
        f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))}) "
        f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {sets}"
    )


# -- SQL ----------------------------------------------------------------------------------------
_UPSERT_OBJECT = _upsert("objects", OBJ_COLS, ("bucket", "key"))
_UPSERT_PART = _upsert("parts", PART_COLS, ("upload_id", "number"))
# The row, and the bytes of an object kept inline (the inline blob its one segment names).
_GET_OBJECT = (
    f"SELECT {OBJ}, (SELECT data FROM inline_blobs WHERE blob = "
    "json_extract(objects.segments, '$[0][0]')) FROM objects WHERE bucket = ? AND key = ?"
)
_GET_RECORD = f"SELECT {OBJ} FROM objects WHERE bucket = ? AND key = ?"  # the row alone
_UPDATE_META = (
    f"UPDATE objects SET {', '.join(c + ' = ?' for c in META_COLS)} "
    "WHERE bucket = ? AND key = ? AND segments = ?"
)


def _exists_object(conn: sqlite3.Connection, bucket: str, key: str) -> bool:
    sql = "SELECT 1 FROM objects WHERE bucket = ? AND key = ?"
    return conn.execute(sql, (bucket, key)).fetchone() is not None


def _exists(conn: sqlite3.Connection, table: str, column: str, value: Any) -> bool:
    sql = f"SELECT 1 FROM {table} WHERE {column} = ? LIMIT 1"
    return bool(conn.execute(sql, (value,)).fetchall())


class _Connection(sqlite3.Connection):
    """Weak-referenceable, so a finished thread's connection can be garbage-collected."""


class SqliteMetaStore(SqlReads, SqliteAccounts, SqliteKms):
    """``MetaStore`` and ``AccountStore`` over one SQLite file (WAL, synchronous=FULL)."""

    def __init__(self, path: str) -> None:
        if sqlite3.sqlite_version_info < (3, 35):  # DELETE ... RETURNING
            raise RuntimeError(f"SQLite >= 3.35 required, found {sqlite3.sqlite_version}")
        if path in ("", ":memory:") or path.startswith("file:"):
            raise ValueError("SqliteMetaStore needs a plain file path")
        self.path = path
        self._closed = False
        self._epoch = SharedEpoch(path + "-buckets")
        self._after_fork()
        self._migrate()

    # -- connections and transactions -------------------------------------------------------
    def _after_fork(self) -> None:
        """Fresh per-process state (a child must never use its parent's connections)."""
        self._pid = process.pid()
        self._local = threading.local()
        self._lock = threading.Lock()  # guards _conns
        self._writer = Writer(self.path + "-writer")
        # Weak, so that the connection of a thread that has finished goes away with it.
        self._conns: weakref.WeakSet[_Connection] = weakref.WeakSet()

    def _conn(self) -> sqlite3.Connection:
        if self._pid != process.pid():
            self._after_fork()
        conn: _Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        if self._closed:
            raise RuntimeError("SqliteMetaStore is closed")
        conn = sqlite3.connect(
            self.path, BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False,
            factory=_Connection,
        )  # fmt: skip
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            self._enable_wal(conn)
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
            conn.execute("PRAGMA foreign_keys = ON")
        except BaseException:
            conn.close()
            raise
        with self._lock:
            self._conns.add(conn)
        self._local.conn = conn
        return conn

    def _enable_wal(self, conn: sqlite3.Connection) -> None:
        """Switch a new file to WAL. The switch needs an exclusive lock and may fail with
        SQLITE_BUSY without waiting (processes opening a new file together), so retry it."""
        deadline = time.monotonic() + BUSY_TIMEOUT_S
        while True:
            try:
                mode = conn.execute("PRAGMA journal_mode").fetchall()[0][0]
                if mode != "wal":
                    mode = conn.execute("PRAGMA journal_mode = WAL").fetchall()[0][0]
            except sqlite3.OperationalError as exc:
                if (
                    exc.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY
                    or time.monotonic() > deadline
                ):
                    raise
                time.sleep(0.005)
                continue
            if mode != "wal":
                raise RuntimeError(f"cannot put {self.path} in WAL mode (got {mode})")
            return

    def _batched(self, op: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``op(conn)`` in a write transaction shared with the writes of other threads
        queued meanwhile (group commit, see ``sqlite_writer``). Durable on return."""
        conn = self._conn()  # first: in a forked child it makes the child's own writer
        return self._writer.batched(conn, op)

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One short write transaction of its own."""
        conn = self._conn()  # first, as in _batched
        with self._writer.transaction(conn):
            yield conn

    def _all(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """Run one SELECT to completion: its own implicit transaction, one snapshot."""
        return self._conn().execute(sql, params).fetchall()

    def _migrate(self) -> None:
        if self._all("PRAGMA user_version")[0][0] == SCHEMA_VERSION:
            return
        with self._write() as conn:
            version = conn.execute("PRAGMA user_version").fetchall()[0][0]
            if version > SCHEMA_VERSION:
                raise RuntimeError(f"{self.path}: schema v{version} is newer than this code")
            for target in range(version + 1, SCHEMA_VERSION + 1):  # each step on the last
                ddl = resources.files(__package__).joinpath(f"schema/sqlite_v{target}.sql")
                for stmt in _statements(ddl.read_text()):
                    conn.execute(stmt)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def close(self) -> None:
        with self._lock:
            self._closed = True
            for conn in list(self._conns):
                conn.close()
            self._conns = weakref.WeakSet()
        self._writer.close()
        self._local = threading.local()

    # -- buckets ----------------------------------------------------------------------------
    def create_bucket(self, bucket: Bucket) -> Bucket | None:
        with self._write() as conn:
            sql = (
                f"INSERT INTO buckets ({BUCKET}) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
            )
            inserted = conn.execute(sql, bucket_params(bucket)).rowcount == 1
            if not inserted:
                sql = f"SELECT {BUCKET} FROM buckets WHERE name = ?"
                return bucket_from_row(conn.execute(sql, (bucket.name,)).fetchall()[0])
        self._epoch.bump()
        return None

    def get_bucket(self, name: str) -> Bucket | None:
        rows = self._all(f"SELECT {BUCKET} FROM buckets WHERE name = ?", (name,))
        return bucket_from_row(rows[0]) if rows else None

    def list_buckets(self, owner: str | None = None) -> list[Bucket]:
        if owner is None:
            rows = self._all(f"SELECT {BUCKET} FROM buckets ORDER BY name")
        else:
            sql = f"SELECT {BUCKET} FROM buckets WHERE owner = ? ORDER BY name"
            rows = self._all(sql, (owner,))
        return [bucket_from_row(r) for r in rows]

    def update_bucket(self, bucket: Bucket) -> None:
        _, _, _, region, acl, config = bucket_params(bucket)
        with self._write() as conn:
            sql = "UPDATE buckets SET region = ?, acl = ?, config = ? WHERE name = ?"
            if conn.execute(sql, (region, acl, config, bucket.name)).rowcount == 0:
                raise ShoalError("NoSuchBucket", BucketName=bucket.name)
        self._epoch.bump()

    def delete_bucket(self, name: str) -> bool:
        with self._write() as conn:
            if not _exists(conn, "buckets", "name", name):
                raise ShoalError("NoSuchBucket", BucketName=name)
            if _exists(conn, "objects", "bucket", name) or _exists(conn, "uploads", "bucket", name):
                return False
            conn.execute("DELETE FROM buckets WHERE name = ?", (name,))
        self._epoch.bump()
        return True

    def bucket_epoch(self) -> int | None:
        return self._epoch.read()

    # -- objects ----------------------------------------------------------------------------
    def get_object(
        self, bucket: str, key: str, with_inline: bool = True
    ) -> ObjectRecord | None:
        rows = self._all(_GET_OBJECT if with_inline else _GET_RECORD, (bucket, key))
        return obj_from_row(rows[0]) if rows else None

    def get_inline_blob(self, blob_id: str) -> bytes | None:
        rows = self._all("SELECT data FROM inline_blobs WHERE blob = ?", (blob_id,))
        return bytes(rows[0][0]) if rows else None

    @staticmethod
    def _put_object(conn: sqlite3.Connection, record: ObjectRecord) -> list[str]:
        """Upsert inside the caller's transaction; returns the blobs the record does not keep."""
        if not _exists(conn, "buckets", "name", record.bucket):
            raise ShoalError("NoSuchBucket", BucketName=record.bucket)
        sql = "SELECT segments FROM objects WHERE bucket = ? AND key = ?"
        old = conn.execute(sql, (record.bucket, record.key)).fetchall()
        p = obj_params(record)
        conn.execute(_UPSERT_OBJECT, [p[c] for c in OBJ_COLS])
        if record.inline is not None:
            sql = "INSERT OR REPLACE INTO inline_blobs (blob, data) VALUES (?, ?)"
            conn.execute(sql, (record.segments[0].blob, record.inline))
        keep = {s.blob for s in record.segments}
        return drop_inline(conn, [b for b in blobs_of(old[0][0]) if b not in keep] if old else [])

    def put_object(self, record: ObjectRecord) -> list[str]:
        return self._batched(lambda conn: self._put_object(conn, record))

    def update_object_meta(self, record: ObjectRecord) -> None:
        p = obj_params(record)
        params = [p[c] for c in META_COLS] + [record.bucket, record.key, p["segments"]]

        def op(conn: sqlite3.Connection) -> None:
            if conn.execute(_UPDATE_META, params).rowcount == 0:
                if _exists_object(conn, record.bucket, record.key):
                    raise RetryConflict(f"object {record.key!r} was replaced")
                raise ShoalError("NoSuchKey", Key=record.key)

        self._batched(op)

    def delete_object(
        self, bucket: str, key: str, segments: list[Segment] | None = None
    ) -> list[str] | None:
        sql = "DELETE FROM objects WHERE bucket = ? AND key = ?"
        params: tuple[str, ...] = (bucket, key)
        if segments is not None:
            sql, params = sql + " AND segments = ?", (bucket, key, segments_json(segments))

        def op(conn: sqlite3.Connection) -> list[str] | None:
            rows = conn.execute(sql + " RETURNING segments", params).fetchall()
            return drop_inline(conn, blobs_of(rows[0][0])) if rows else None

        return self._batched(op)

    # -- multipart --------------------------------------------------------------------------
    def create_upload(self, upload: Upload) -> None:
        def op(conn: sqlite3.Connection) -> None:
            if not _exists(conn, "buckets", "name", upload.bucket):
                raise ShoalError("NoSuchBucket", BucketName=upload.bucket)
            if _exists(conn, "uploads", "upload_id", upload.upload_id):
                raise ValueError(f"duplicate upload id {upload.upload_id}")
            sql = f"INSERT INTO uploads ({UPLOAD}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            conn.execute(sql, upload_params(upload))

        self._batched(op)

    def get_upload(self, upload_id: str) -> Upload | None:
        rows = self._all(f"SELECT {UPLOAD} FROM uploads WHERE upload_id = ?", (upload_id,))
        return upload_from_row(rows[0]) if rows else None

    def put_part(self, part: Part) -> list[str]:
        def op(conn: sqlite3.Connection) -> list[Any]:
            if not _exists(conn, "uploads", "upload_id", part.upload_id):
                raise ShoalError("NoSuchUpload", UploadId=part.upload_id)
            sql = "SELECT blob FROM parts WHERE upload_id = ? AND number = ?"
            old = conn.execute(sql, (part.upload_id, part.number)).fetchall()
            conn.execute(_UPSERT_PART, part_params(part))
            return old

        old = self._batched(op)
        return [old[0][0]] if old and old[0][0] != part.blob else []

    def get_parts(self, upload_id: str, numbers: list[int] | None = None) -> list[Part]:
        if numbers is None:
            sql = f"SELECT {PART} FROM parts WHERE upload_id = ? ORDER BY number"
            rows = self._all(sql, (upload_id,))
        else:
            sql = (
                f"SELECT {PART} FROM parts WHERE upload_id = ? "
                "AND number IN (SELECT value FROM json_each(?)) ORDER BY number"
            )
            rows = self._all(sql, (upload_id, dumps([int(n) for n in numbers])))
        return [part_from_row(r) for r in rows]

    def list_parts(self, upload_id: str, after: int, limit: int) -> list[Part]:
        if limit <= 0:
            return []
        sql = (
            f"SELECT {PART} FROM parts WHERE upload_id = ? AND number > ? ORDER BY number LIMIT ?"
        )
        return [part_from_row(r) for r in self._all(sql, (upload_id, after, limit))]

    def complete_upload(
        self, upload_id: str, record: ObjectRecord, used_blobs: dict[int, str]
    ) -> list[str]:
        def op(conn: sqlite3.Connection) -> tuple[dict[int, str], list[str]]:
            if not _exists(conn, "uploads", "upload_id", upload_id):
                raise ShoalError("NoSuchUpload", UploadId=upload_id)
            sql = "DELETE FROM parts WHERE upload_id = ? RETURNING number, blob"
            parts = dict(conn.execute(sql, (upload_id,)).fetchall())
            for number, blob in used_blobs.items():
                if parts.get(number) != blob:  # raising rolls the DELETE back
                    raise RetryConflict(f"part {number} of upload {upload_id} changed")
            conn.execute("DELETE FROM uploads WHERE upload_id = ?", (upload_id,))
            return parts, self._put_object(conn, record)

        parts, replaced = self._batched(op)
        keep = {s.blob for s in record.segments}
        unused = [b for n, b in sorted(parts.items()) if n not in used_blobs and b not in keep]
        return list(dict.fromkeys(unused + replaced))

    def abort_upload(self, upload_id: str) -> list[str] | None:
        def op(conn: sqlite3.Connection) -> list[Any] | None:
            if not _exists(conn, "uploads", "upload_id", upload_id):
                return None
            sql = "DELETE FROM parts WHERE upload_id = ? RETURNING number, blob"
            rows = conn.execute(sql, (upload_id,)).fetchall()
            conn.execute("DELETE FROM uploads WHERE upload_id = ?", (upload_id,))
            return rows

        rows = self._batched(op)
        return None if rows is None else [b for _, b in sorted(rows)]
