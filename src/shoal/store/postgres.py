"""PostgreSQL implementation of the ``MetaStore`` and ``AccountStore`` ports (scale-out).

Any number of worker processes, on any number of hosts, share one database; each thread of a
process has its own connection (in autocommit mode, so every read is one statement: its own
snapshot). Every write is one short READ COMMITTED transaction that locks the rows it depends on
(``SELECT ... FOR UPDATE / FOR SHARE``), always in the order bucket -> upload -> object/part, and
is retried whole on a serialization failure or deadlock. Tables live in the first schema of the
connection's search_path (e.g. ``?options=-csearch_path%3Dtenant``); keys are ``COLLATE "C"``,
i.e. they compare in UTF-8 byte order, like the SQLite store's BINARY collation.

PostgreSQL text cannot hold NUL characters: no stored name, key or id contains one, so lookups
with one find nothing, and storing an object or upload under such a key is an InvalidArgument.
"""

from __future__ import annotations

import random
import threading
import time
import weakref
from collections.abc import Callable
from functools import cache
from importlib import resources
from typing import Any, Concatenate, ParamSpec, TypeVar

import psycopg
from psycopg import IsolationLevel, errors
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from ..core import process
from ..core.errors import RetryConflict, ShoalError
from ..core.model import (
    Bucket,
    ObjectRecord,
    Part,
    Segment,
    Upload,
)
from .kms_stores import PostgresKms
from .postgres_accounts import PostgresAccounts
from .sql import (
    BUCKET,
    META_COLS,
    OBJ,
    OBJ_COLS,
    PART,
    PART_COLS,
    UPLOAD,
    UPLOAD_COLS,
    SqlReads,
    blobs_of,
    bucket_from_row,
    bucket_params,
    drop_inline,
    obj_from_row,
    obj_params,
    part_from_row,
    part_params,
    segments_json,
    upload_from_row,
    upload_params,
)

P = ParamSpec("P")
T = TypeVar("T")
Conn = psycopg.Connection[Any]

SCHEMA_VERSION = 6  # v1: buckets, objects, uploads, parts; v2: users, access keys;
#                   v3: KMS keys; v4: objects.upload_id; v5: inline_blobs;
#                   v6: a covering index for listings
MAX_ATTEMPTS = 10  # of one write transaction, on serialization failures and deadlocks
_UPSERT_ROUNDS = 100  # insert-or-lock rounds of one upsert (each lost race costs one)
_LOCK_CLASS = 0x53484F41  # advisory lock class of schema migrations ("SHOA")
_RETRYABLE = (errors.SerializationFailure, errors.DeadlockDetected)

_UPDATE_META = (
    f"UPDATE objects SET {', '.join(f'{c} = %({c})s' for c in META_COLS)} "
    "WHERE bucket = %(bucket)s AND key = %(key)s AND segments = %(segments)s"
)
# The row, and the bytes of an object kept inline (the inline blob its one segment names).
_GET_OBJECT = (
    f"SELECT {OBJ}, (SELECT data FROM inline_blobs WHERE blob = "
    "(objects.segments::json -> 0 ->> 0)) FROM objects WHERE bucket = %s AND key = %s"
)
_GET_RECORD = f"SELECT {OBJ} FROM objects WHERE bucket = %s AND key = %s"  # the row alone
_DELETE_PARTS = "DELETE FROM parts WHERE upload_id = %s RETURNING number, blob"


def _nul(*values: str) -> bool:
    """True when a value holds a NUL, which no stored text can (so no row matches it)."""
    return any("\x00" in v for v in values)


def _cut_nul(value: str) -> str:
    """The lower bound ``value`` amounts to against NUL-free keys: ``k > "a\\0b"`` iff ``k > "a"``."""
    return value.split("\x00", 1)[0]


@cache
def _replace_sql(table: str, cols: tuple[str, ...], key: tuple[str, ...], old: str) -> list[str]:
    """SELECT ... FOR UPDATE, UPDATE and INSERT ... ON CONFLICT DO NOTHING of one row."""
    where = " AND ".join(f"{c} = %({c})s" for c in key)
    sets = ", ".join(f"{c} = %({c})s" for c in cols if c not in key)
    values = ", ".join(f"%({c})s" for c in cols)
    return [
        f"SELECT {old} FROM {table} WHERE {where} FOR UPDATE",
        f"UPDATE {table} SET {sets} WHERE {where}",
        f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({values}) ON CONFLICT DO NOTHING",
    ]


# -- write transactions (run by PostgresMetaStore._run, inside BEGIN ... COMMIT) -----------------


def _locked(conn: Conn, table: str, column: str, value: str, mode: str) -> bool:
    """Lock the row whose ``column`` is ``value``; False when there is none."""
    sql = f"SELECT 1 FROM {table} WHERE {column} = %s FOR {mode}"
    return bool(conn.execute(sql, (value,)).fetchall())


def _exists(conn: Conn, table: str, column: str, value: str) -> bool:
    sql = f"SELECT 1 FROM {table} WHERE {column} = %s LIMIT 1"
    return bool(conn.execute(sql, (value,)).fetchall())


def _replace(
    conn: Conn, table: str, cols: tuple[str, ...], key: tuple[str, ...], old: str,
    params: dict[str, Any],
) -> Any:  # fmt: skip
    """Insert or overwrite one row; returns column ``old`` of the row replaced, or None.
    Lock the row if it exists, else insert it; a concurrent insert that won makes the INSERT
    do nothing, and the next round locks the row that insert made."""
    select, update, insert = _replace_sql(table, cols, key, old)
    for _ in range(_UPSERT_ROUNDS):
        rows = conn.execute(select, params).fetchall()
        if rows:
            conn.execute(update, params)
            return rows[0][0]
        if conn.execute(insert, params).rowcount == 1:
            return None
    raise RetryConflict(f"a row of {table} kept changing")


def _create_bucket(conn: Conn, bucket: Bucket) -> Bucket | None:
    insert = (
        f"INSERT INTO buckets ({BUCKET}) VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING"
    )
    select = f"SELECT {BUCKET} FROM buckets WHERE name = %s"
    for _ in range(_UPSERT_ROUNDS):
        if conn.execute(insert, bucket_params(bucket)).rowcount == 1:
            return None
        if rows := conn.execute(select, (bucket.name,)).fetchall():
            return bucket_from_row(rows[0])
    raise RetryConflict(f"bucket {bucket.name} kept changing")


def _delete_bucket(conn: Conn, name: str) -> bool:
    """FOR UPDATE waits for every transaction that holds the bucket to put into it."""
    if not _locked(conn, "buckets", "name", name, "UPDATE"):
        raise ShoalError("NoSuchBucket", BucketName=name)
    if _exists(conn, "objects", "bucket", name) or _exists(conn, "uploads", "bucket", name):
        return False
    conn.execute("DELETE FROM buckets WHERE name = %s", (name,))
    return True


def _update_bucket(conn: Conn, bucket: Bucket) -> bool:
    _, _, _, region, acl, config = bucket_params(bucket)
    sql = "UPDATE buckets SET region = %s, acl = %s, config = %s WHERE name = %s"
    return conn.execute(sql, (region, acl, config, bucket.name)).rowcount == 1


def _put_object(conn: Conn, record: ObjectRecord) -> list[str]:
    """Upsert; returns the blobs of the replaced object that the record does not keep."""
    if _nul(record.bucket) or not _locked(conn, "buckets", "name", record.bucket, "KEY SHARE"):
        raise ShoalError("NoSuchBucket", BucketName=record.bucket)
    if _nul(record.key):
        raise ShoalError("InvalidArgument", "Object keys cannot contain NUL characters.")
    params = obj_params(record)
    old = _replace(conn, "objects", OBJ_COLS, ("bucket", "key"), "segments", params)
    if record.inline is not None:
        sql = ("INSERT INTO inline_blobs (blob, data) VALUES (%s, %s) "
               "ON CONFLICT (blob) DO UPDATE SET data = excluded.data")
        conn.execute(sql, (record.segments[0].blob, record.inline))
    keep = {s.blob for s in record.segments}
    return drop_inline(conn, [] if old is None else [b for b in blobs_of(old) if b not in keep],
                        "%s")


def _update_object_meta(conn: Conn, params: dict[str, Any]) -> int:
    """1 updated, 0 no such object, -1 the object's content changed (compare-and-set)."""
    if conn.execute(_UPDATE_META, params).rowcount:
        return 1
    sql = "SELECT 1 FROM objects WHERE bucket = %(bucket)s AND key = %(key)s"
    return -1 if conn.execute(sql, params).fetchone() else 0


def _delete_object(
    conn: Conn, bucket: str, key: str, segments: list[Segment] | None
) -> list[str] | None:
    sql = "DELETE FROM objects WHERE bucket = %s AND key = %s"
    params: tuple[str, ...] = (bucket, key)
    if segments is not None:
        sql, params = sql + " AND segments = %s", (bucket, key, segments_json(segments))
    rows = conn.execute(sql + " RETURNING segments", params).fetchall()
    return drop_inline(conn, blobs_of(rows[0][0]), "%s") if rows else None


def _create_upload(conn: Conn, upload: Upload) -> None:
    if _nul(upload.bucket) or not _locked(conn, "buckets", "name", upload.bucket, "KEY SHARE"):
        raise ShoalError("NoSuchBucket", BucketName=upload.bucket)
    if _nul(upload.key, upload.upload_id):
        raise ShoalError("InvalidArgument", "Object keys cannot contain NUL characters.")
    values = ", ".join(["%s"] * len(UPLOAD_COLS))
    sql = f"INSERT INTO uploads ({UPLOAD}) VALUES ({values}) ON CONFLICT DO NOTHING"
    if conn.execute(sql, upload_params(upload)).rowcount == 0:
        raise ValueError(f"duplicate upload id {upload.upload_id}")


def _put_part(conn: Conn, part: Part) -> list[str]:
    """FOR SHARE on the upload: parts go in side by side, Complete/Abort wait for them."""
    if not _locked(conn, "uploads", "upload_id", part.upload_id, "SHARE"):
        raise ShoalError("NoSuchUpload", UploadId=part.upload_id)
    params = dict(zip(PART_COLS, part_params(part), strict=True))
    old = _replace(conn, "parts", PART_COLS, ("upload_id", "number"), "blob", params)
    return [old] if old is not None and old != part.blob else []


def _complete_upload(
    conn: Conn, upload_id: str, record: ObjectRecord, used_blobs: dict[int, str]
) -> tuple[dict[int, str], list[str]]:
    """Returns (the parts the upload had, the blobs the replaced object frees)."""
    if not _locked(conn, "uploads", "upload_id", upload_id, "UPDATE"):
        raise ShoalError("NoSuchUpload", UploadId=upload_id)
    parts: dict[int, str] = dict(conn.execute(_DELETE_PARTS, (upload_id,)).fetchall())
    for number, blob in used_blobs.items():
        if parts.get(number) != blob:  # raising rolls the DELETE back
            raise RetryConflict(f"part {number} of upload {upload_id} changed")
    conn.execute("DELETE FROM uploads WHERE upload_id = %s", (upload_id,))
    return parts, _put_object(conn, record)


def _abort_upload(conn: Conn, upload_id: str) -> list[str] | None:
    if not _locked(conn, "uploads", "upload_id", upload_id, "UPDATE"):
        return None
    rows = conn.execute(_DELETE_PARTS, (upload_id,)).fetchall()
    conn.execute("DELETE FROM uploads WHERE upload_id = %s", (upload_id,))
    return [b for _, b in sorted(rows)]


def _migrate(conn: Conn) -> None:
    """Create or upgrade the tables, once, whichever of several processes starting together
    gets here first."""
    conn.execute(
        "SELECT pg_advisory_xact_lock(%s, hashtext(coalesce(current_schema(), '')))",
        (_LOCK_CLASS,),
    )
    schema, encoding, path = conn.execute(
        "SELECT current_schema(), current_setting('server_encoding'), "
        "current_setting('search_path')"
    ).fetchall()[0]
    if encoding != "UTF8":
        raise RuntimeError(f"PostgreSQL database encoding must be UTF8, not {encoding}")
    if schema is None:
        raise RuntimeError(f"no schema of search_path {path!r} exists: create it first")
    if conn.execute("SELECT to_regclass('shoal_schema')").fetchall()[0][0] is None:
        version = 0
    else:
        version = conn.execute("SELECT max(version) FROM shoal_schema").fetchall()[0][0]
    if version is None or version > SCHEMA_VERSION:
        raise RuntimeError(f"schema {schema}: version {version} is not one this code knows")
    for target in range(version + 1, SCHEMA_VERSION + 1):  # each step on the last
        ddl = resources.files(__package__).joinpath(f"schema/postgres_v{target}.sql").read_text()
        conn.execute(ddl)  # no parameters: sent as one multi-statement script


class PostgresMetaStore(SqlReads, PostgresAccounts, PostgresKms):
    """``MetaStore`` and ``AccountStore`` over one PostgreSQL database (schema per search_path)."""

    MARK = "%s"
    _unstorable = staticmethod(_nul)
    _bound = staticmethod(_cut_nul)

    def __init__(self, dsn: str) -> None:
        given = conninfo_to_dict(dsn)
        defaults = {"application_name": "shoal", "connect_timeout": "10"}
        extra = {k: v for k, v in defaults.items() if k not in given}
        self.conninfo = make_conninfo(dsn, client_encoding="UTF8", **extra)
        self._closed = False
        self._after_fork()
        self._run(_migrate)

    # -- connections and transactions -------------------------------------------------------
    def _after_fork(self) -> None:
        """Fresh per-process state (a child must never use its parent's connections; psycopg
        does not close a connection in a process other than the one that opened it)."""
        self._pid = process.pid()
        self._local = threading.local()
        self._lock = threading.Lock()  # guards _conns
        self._conns: weakref.WeakSet[Conn] = weakref.WeakSet()

    def _conn(self) -> Conn:
        """This thread's connection; a new one if it has none or its old one broke."""
        if self._pid != process.pid():
            self._after_fork()
        conn: Conn | None = getattr(self._local, "conn", None)
        if conn is not None and not conn.closed:
            return conn
        if self._closed:
            raise RuntimeError("PostgresMetaStore is closed")
        conn = psycopg.connect(self.conninfo, autocommit=True)
        try:
            conn.isolation_level = IsolationLevel.READ_COMMITTED
            # Durable commits: blobs are freed once the metadata that used them is committed.
            if conn.execute("SHOW synchronous_commit").fetchall()[0][0] == "off":
                conn.execute("SET synchronous_commit = on")
        except BaseException:
            conn.close()
            raise
        with self._lock:
            self._conns.add(conn)
        self._local.conn = conn
        return conn

    def _run(self, fn: Callable[Concatenate[Conn, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``fn`` in one transaction; again, whole, when it lost a serialization race."""
        for attempt in range(1, MAX_ATTEMPTS + 1):
            conn = self._conn()
            try:
                with conn.transaction():
                    return fn(conn, *args, **kwargs)
            except _RETRYABLE:
                if attempt == MAX_ATTEMPTS:
                    raise
            time.sleep(random.uniform(0, 0.001 * 2**attempt))
        raise AssertionError("unreachable")

    def _all(self, sql: str, params: tuple[Any, ...] | list[Any] = ()) -> list[Any]:
        """One SELECT, one snapshot; tried again once on a new connection if the old broke."""
        for attempt in (1, 2):
            conn = self._conn()
            try:
                return conn.execute(sql, params).fetchall()
            except psycopg.OperationalError:
                if attempt == 2 or not conn.closed:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        with self._lock:
            self._closed = True
            for conn in list(self._conns):
                conn.close()
            self._conns = weakref.WeakSet()
        self._local = threading.local()

    # -- buckets ----------------------------------------------------------------------------
    def create_bucket(self, bucket: Bucket) -> Bucket | None:
        if _nul(bucket.name):
            raise ShoalError("InvalidBucketName", BucketName=bucket.name)
        return self._run(_create_bucket, bucket)

    def get_bucket(self, name: str) -> Bucket | None:
        if _nul(name):
            return None
        rows = self._all(f"SELECT {BUCKET} FROM buckets WHERE name = %s", (name,))
        return bucket_from_row(rows[0]) if rows else None

    def list_buckets(self, owner: str | None = None) -> list[Bucket]:
        if owner is None:
            rows = self._all(f"SELECT {BUCKET} FROM buckets ORDER BY name")
        elif _nul(owner):
            rows = []
        else:
            sql = f"SELECT {BUCKET} FROM buckets WHERE owner = %s ORDER BY name"
            rows = self._all(sql, (owner,))
        return [bucket_from_row(r) for r in rows]

    def update_bucket(self, bucket: Bucket) -> None:
        if _nul(bucket.name) or not self._run(_update_bucket, bucket):
            raise ShoalError("NoSuchBucket", BucketName=bucket.name)

    def delete_bucket(self, name: str) -> bool:
        if _nul(name):
            raise ShoalError("NoSuchBucket", BucketName=name)
        return self._run(_delete_bucket, name)

    def bucket_epoch(self) -> int | None:
        return None  # servers on other machines change buckets unseen: nothing is cached

    # -- objects ----------------------------------------------------------------------------
    def get_object(
        self, bucket: str, key: str, with_inline: bool = True
    ) -> ObjectRecord | None:
        if _nul(bucket, key):
            return None
        rows = self._all(_GET_OBJECT if with_inline else _GET_RECORD, (bucket, key))
        return obj_from_row(rows[0]) if rows else None

    def get_inline_blob(self, blob_id: str) -> bytes | None:
        if _nul(blob_id):
            return None
        rows = self._all("SELECT data FROM inline_blobs WHERE blob = %s", (blob_id,))
        return bytes(rows[0][0]) if rows else None

    def put_object(self, record: ObjectRecord) -> list[str]:
        return self._run(_put_object, record)

    def update_object_meta(self, record: ObjectRecord) -> None:
        params = obj_params(record)
        done = 0 if _nul(record.bucket, record.key) else self._run(_update_object_meta, params)
        if done < 0:
            raise RetryConflict(f"object {record.key!r} was replaced")
        if not done:
            raise ShoalError("NoSuchKey", Key=record.key)

    def delete_object(
        self, bucket: str, key: str, segments: list[Segment] | None = None
    ) -> list[str] | None:
        if _nul(bucket, key):
            return None
        return self._run(_delete_object, bucket, key, segments)

    # -- multipart --------------------------------------------------------------------------
    def create_upload(self, upload: Upload) -> None:
        self._run(_create_upload, upload)

    def get_upload(self, upload_id: str) -> Upload | None:
        if _nul(upload_id):
            return None
        rows = self._all(f"SELECT {UPLOAD} FROM uploads WHERE upload_id = %s", (upload_id,))
        return upload_from_row(rows[0]) if rows else None

    def put_part(self, part: Part) -> list[str]:
        if _nul(part.upload_id):
            raise ShoalError("NoSuchUpload", UploadId=part.upload_id)
        return self._run(_put_part, part)

    def get_parts(self, upload_id: str, numbers: list[int] | None = None) -> list[Part]:
        if _nul(upload_id):
            return []
        if numbers is None:
            sql = f"SELECT {PART} FROM parts WHERE upload_id = %s ORDER BY number"
            rows = self._all(sql, (upload_id,))
        else:
            sql = (
                f"SELECT {PART} FROM parts WHERE upload_id = %s "
                "AND number = ANY(%s::bigint[]) ORDER BY number"
            )
            rows = self._all(sql, (upload_id, [int(n) for n in numbers]))
        return [part_from_row(r) for r in rows]

    def list_parts(self, upload_id: str, after: int, limit: int) -> list[Part]:
        if limit <= 0 or _nul(upload_id):
            return []
        sql = (
            f"SELECT {PART} FROM parts WHERE upload_id = %s AND number > %s "
            "ORDER BY number LIMIT %s"
        )
        return [part_from_row(r) for r in self._all(sql, (upload_id, after, limit))]

    def complete_upload(
        self, upload_id: str, record: ObjectRecord, used_blobs: dict[int, str]
    ) -> list[str]:
        if _nul(upload_id):
            raise ShoalError("NoSuchUpload", UploadId=upload_id)
        parts, replaced = self._run(_complete_upload, upload_id, record, used_blobs)
        keep = {s.blob for s in record.segments}
        unused = [b for n, b in sorted(parts.items()) if n not in used_blobs and b not in keep]
        return list(dict.fromkeys(unused + replaced))

    def abort_upload(self, upload_id: str) -> list[str] | None:
        return None if _nul(upload_id) else self._run(_abort_upload, upload_id)
