"""Contract tests every ``MetaStore`` implementation must pass.

To run the suite against another implementation, add it to ``FACTORIES`` (and to ``SHARED``
when several processes can open the same store).

The "postgres" store needs a PostgreSQL server: SHOAL_TEST_PG_DSN, by default
postgresql://postgres@127.0.0.1:5432/test. Each test gets a schema of its own, dropped after it.
Where none is reachable its tests are skipped, unless CI is set: then they fail.
"""

from __future__ import annotations

import asyncio
import hashlib
import multiprocessing as mp
import os
import sqlite3
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import psycopg
import pytest

import shoal.store.postgres as postgres_store
import shoal.store.sql as sql_store
import shoal.store.sqlite as sqlite_store
from shoal.core.errors import RetryConflict, ShoalError
from shoal.core.model import (
    Bucket,
    ByteRange,
    ObjectMeta,
    ObjectRecord,
    Part,
    PartRef,
    Segment,
    Upload,
    new_inline_id,
)
from shoal.core.ports import MetaStore
from shoal.core.reader import BlobGone, object_bytes
from shoal.store.fs import new_blob_id
from shoal.store.memory import MemoryBlobStore, MemoryMetaStore
from shoal.store.postgres import PostgresMetaStore
from shoal.store.sql import list_objects_sql, prefix_successor
from shoal.store.sqlite import SqliteMetaStore

PG_DSN = os.environ.get("SHOAL_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")


@cache
def _pg_unreachable() -> str | None:
    """Why no PostgreSQL answers at PG_DSN (asked once per process), or None."""
    try:
        with psycopg.connect(PG_DSN, connect_timeout=5):
            return None
    except psycopg.OperationalError as exc:
        return f"no PostgreSQL reachable at SHOAL_TEST_PG_DSN={PG_DSN}: {exc}"


def pg_reachable() -> str:
    """PG_DSN, after checking a server answers there; else skip (fail when CI is set)."""
    message = _pg_unreachable()
    if message is None:
        return PG_DSN
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def dsn_with_schema(dsn: str, schema: str) -> str:
    """``dsn`` (URL or key=value form) with ``schema`` as its search_path."""
    option = f"-csearch_path={schema}"
    if "://" not in dsn:
        return f"{dsn} options='{option}'"
    url = urllib.parse.urlsplit(dsn)
    query = urllib.parse.parse_qsl(url.query) + [("options", option)]
    return url._replace(query=urllib.parse.urlencode(query)).geturl()


@contextmanager
def pg_schema(name: str | None = None) -> Iterator[str]:
    """A new, empty schema (dropped on exit); yields a DSN whose search_path is that schema."""
    dsn = pg_reachable()
    name = name or f"shoal_test_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")
        conn.execute(f"CREATE SCHEMA {name}")
    try:
        yield dsn_with_schema(dsn, name)
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")


def _pg_schema_name(tmp: Path) -> str:
    """The schema of the test whose tmp_path is ``tmp`` (spawned workers find it this way)."""
    return "shoal_test_" + hashlib.sha256(str(tmp).encode()).hexdigest()[:16]


FACTORIES: dict[str, Callable[[Path], MetaStore]] = {
    "memory": lambda tmp: MemoryMetaStore(),
    "sqlite": lambda tmp: SqliteMetaStore(str(tmp / "meta.db")),
    "postgres": lambda tmp: PostgresMetaStore(dsn_with_schema(PG_DSN, _pg_schema_name(tmp))),
}
SHARED: dict[str, Callable[[Path], MetaStore]] = {
    "sqlite": FACTORIES["sqlite"],
    "postgres": FACTORIES["postgres"],
}


@contextmanager
def backing(kind: str, tmp: Path) -> Iterator[None]:
    """Whatever a store of ``kind`` at ``tmp`` needs outside itself (a PostgreSQL schema)."""
    if kind != "postgres":
        yield
        return
    with pg_schema(_pg_schema_name(tmp)):
        yield


@pytest.fixture(params=list(FACTORIES))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MetaStore]:
    with backing(request.param, tmp_path):
        s = FACTORIES[request.param](tmp_path)
        s.create_bucket(Bucket("bkt", "alice", 1.0))
        yield s
        s.close()


def rec(key: str, bucket: str = "bkt", blobs: list[str] | None = None, **kw: Any) -> ObjectRecord:
    segments = [Segment(b, 0, 3) for b in (blobs or [new_blob_id()])]
    kw.setdefault("meta", ObjectMeta())
    return ObjectRecord(bucket, key, 3 * len(segments), "etag", 1.5, segments=segments, **kw)


def upload(upload_id: str, key: str = "k", initiated: float = 1.0, bucket: str = "bkt") -> Upload:
    return Upload(upload_id, bucket, key, initiated, ObjectMeta())


def part(upload_id: str, number: int, blob: str | None = None, **kw: Any) -> Part:
    return Part(upload_id, number, 5, f"etag{number}", 2.0, blob or new_blob_id(), **kw)


def codes(exc: pytest.ExceptionInfo[ShoalError]) -> str:
    return exc.value.code


# -- buckets ------------------------------------------------------------------------------------


def test_bucket_round_trip_and_create_twice(store: MetaStore) -> None:
    b = Bucket("b2", "bob", 123.25, "eu-west-1", {"grants": [{"id": "x", "perm": "READ"}]},
               {"versioning": "Enabled", "cors": [{"origins": ["*"]}]})  # fmt: skip
    assert store.create_bucket(b) is None
    assert store.get_bucket("b2") == b
    again = Bucket("b2", "mallory", 999.0)
    assert store.create_bucket(again) == b  # the existing one, unchanged
    assert store.get_bucket("b2") == b
    assert store.get_bucket("nope") is None


def test_list_and_update_buckets(store: MetaStore) -> None:
    for name, owner in [("zeta", "bob"), ("alpha", "bob"), ("mid", "carol")]:
        store.create_bucket(Bucket(name, owner, 2.0))
    assert [b.name for b in store.list_buckets()] == ["alpha", "bkt", "mid", "zeta"]
    assert [b.name for b in store.list_buckets("bob")] == ["alpha", "zeta"]
    assert store.list_buckets("nobody") == []
    store.update_bucket(Bucket("mid", "ignored", 0.0, "ap-1", {"canned": "public-read"}, {"a": 1}))
    assert store.get_bucket("mid") == Bucket("mid", "carol", 2.0, "ap-1",
                                             {"canned": "public-read"}, {"a": 1})  # fmt: skip
    with pytest.raises(ShoalError) as exc:
        store.update_bucket(Bucket("nope", "x", 0.0))
    assert codes(exc) == "NoSuchBucket"


def test_bucket_epoch_moves_with_every_bucket_change(store: MetaStore) -> None:
    epoch = store.bucket_epoch
    if epoch() is None:
        pytest.skip("this store caches no buckets")
    seen = [epoch()]
    store.put_object(rec("k"))  # objects do not touch it
    store.get_bucket("bkt")
    assert epoch() == seen[-1]
    for change in (
        lambda: store.create_bucket(Bucket("other", "bob", 2.0)),
        lambda: store.update_bucket(Bucket("other", "bob", 2.0, config={"cors": []})),
        lambda: store.delete_bucket("other"),
    ):
        change()
        assert epoch() not in seen
        seen.append(epoch())
    # What changes nothing leaves it: a repeated create, a delete refused as not empty.
    assert store.create_bucket(Bucket("bkt", "bob", 3.0)) is not None
    assert store.delete_bucket("bkt") is False
    assert epoch() == seen[-1]


def test_bucket_epoch_is_shared_by_stores_on_one_file(tmp_path: Path) -> None:
    one = SqliteMetaStore(str(tmp_path / "meta.db"))
    two = SqliteMetaStore(str(tmp_path / "meta.db"))
    try:
        before = one.bucket_epoch()
        assert two.bucket_epoch() == before
        two.create_bucket(Bucket("bkt", "alice", 1.0))
        assert one.bucket_epoch() != before
        assert one.bucket_epoch() == two.bucket_epoch()
    finally:
        one.close()
        two.close()


def inline_rec(key: str, data: bytes, **kw: Any) -> ObjectRecord:
    return ObjectRecord("bkt", key, len(data), "etag", 1.5, ObjectMeta(),
                        [Segment(new_inline_id(), 0, len(data))], inline=data, **kw)


def test_inline_body_lives_and_goes_with_its_row(store: MetaStore) -> None:
    small = inline_rec("k", b"\x00small body\xff")
    assert store.put_object(small) == []
    assert store.get_object("bkt", "k") == small
    assert list(store.referenced_blobs()) == []  # no blob store holds it
    other = inline_rec("k2", b"")
    store.put_object(other)
    got = store.get_object("bkt", "k2")
    assert got is not None and got.inline == b""
    # Metadata-only changes keep the bytes.
    changed = inline_rec("k", small.inline or b"", owner="bob")
    changed.segments = small.segments
    store.update_object_meta(changed)
    got = store.get_object("bkt", "k")
    assert got is not None and got.inline == small.inline and got.owner == "bob"
    # Replaced by a file-backed object, and back: the freed blobs are only blob-store ones.
    filed = rec("k")
    assert store.put_object(filed) == []
    assert store.get_object("bkt", "k") == filed
    again = inline_rec("k", b"again")
    assert store.put_object(again) == [filed.segments[0].blob]
    assert store.put_object(inline_rec("k", b"third")) == []
    assert store.delete_object("bkt", "k") == []
    assert store.get_object("bkt", "k") is None
    # A Complete over an inline object frees nothing of it either.
    store.create_upload(upload("u1", key="k2"))
    blob = new_blob_id()
    store.put_part(part("u1", 1, blob))
    made = rec("k2", blobs=[blob], upload_id="u1")
    assert store.complete_upload("u1", made, {1: blob}) == []
    assert store.get_object("bkt", "k2") == made


def read_all(store: MetaStore, record: ObjectRecord, rng: ByteRange | None = None) -> bytes:
    async def run() -> bytes:
        return b"".join([c async for c in object_bytes(store, MemoryBlobStore(), record, rng)])

    return asyncio.run(run())


def test_record_without_its_inline_bytes(store: MetaStore) -> None:
    small = inline_rec("k", b"\x00small body\xff", owner="alice", checksums={"crc32": "x"})
    store.put_object(small)
    bare = store.get_object("bkt", "k", with_inline=False)
    assert bare is not None and bare.inline is None
    assert replace(bare, inline=small.inline) == store.get_object("bkt", "k") == small
    blob = small.segments[0].blob
    assert store.get_inline_blob(blob) == small.inline
    # reader.object_bytes reads the bytes the record came without.
    assert read_all(store, bare) == small.inline
    assert read_all(store, bare, ByteRange(1, 5)) == b"small"
    # A metadata-only change made from such a record keeps the bytes.
    bare.owner = "bob"
    store.update_object_meta(bare)
    got = store.get_object("bkt", "k")
    assert got is not None and got.owner == "bob" and got.inline == small.inline
    # An empty inline body is b"", not missing; a file-backed record is the same either way.
    store.put_object(inline_rec("empty", b""))
    empty = store.get_object("bkt", "empty", with_inline=False)
    assert empty is not None and empty.inline is None
    assert store.get_inline_blob(empty.segments[0].blob) == b"" and read_all(store, empty) == b""
    filed = rec("filed")
    store.put_object(filed)
    assert store.get_object("bkt", "filed", with_inline=False) == filed
    assert store.get_object("bkt", "nope", with_inline=False) is None
    # Once the object is replaced its bytes are gone: the reader says so (BlobGone).
    store.put_object(inline_rec("k", b"new"))
    assert store.get_inline_blob(blob) is None
    with pytest.raises(BlobGone):
        read_all(store, bare)
    assert store.get_inline_blob(new_inline_id()) is None
    assert store.get_inline_blob(filed.segments[0].blob) is None


def test_delete_bucket(store: MetaStore) -> None:
    with pytest.raises(ShoalError) as exc:
        store.delete_bucket("nope")
    assert codes(exc) == "NoSuchBucket"
    store.put_object(rec("k"))
    assert store.delete_bucket("bkt") is False
    store.delete_object("bkt", "k")
    store.create_upload(upload("u1"))
    assert store.delete_bucket("bkt") is False  # only an upload left
    store.abort_upload("u1")
    assert store.delete_bucket("bkt") is True
    assert store.get_bucket("bkt") is None
    with pytest.raises(ShoalError) as exc:
        store.put_object(rec("k"))
    assert codes(exc) == "NoSuchBucket"
    with pytest.raises(ShoalError) as exc:
        store.create_upload(upload("u2"))
    assert codes(exc) == "NoSuchBucket"


# -- objects ------------------------------------------------------------------------------------

FULL_META = ObjectMeta(
    content_type="text/plain; charset=utf-8",
    cache_control="max-age=60",
    content_disposition='attachment; filename="ünï.txt"',
    content_encoding="gzip",
    content_language="fr-CA",
    expires="Wed, 21 Oct 2015 07:28:00 GMT",
    user={"name": "välue ✓ 😀", "empty": "", "quote": '"\\'},
    storage_class="STANDARD_IA",
    tags=[("k", "v"), ("ключ", "значение 🙂"), ("empty", "")],
    acl={"grants": [{"grantee": {"id": "abc"}, "permission": "FULL_CONTROL"}]},
    sse={"algorithm": "aws:kms", "key_id": "arn:aws:kms:x", "context": {"a": "b"}},
    website_redirect="/other/page",
)


@pytest.mark.parametrize("crc", [None, 0, 1, 2**63 - 1, 2**63, 2**64 - 1])
def test_object_round_trip(store: MetaStore, crc: int | None) -> None:
    r = ObjectRecord(
        bucket="bkt", key="dir/ü 😀", size=8, etag="0123456789abcdef0123456789abcdef-2",
        last_modified=1700000000.123456, meta=FULL_META,
        segments=[Segment(new_blob_id(), 0, 5), Segment(new_blob_id(), 2, 3)],
        owner="owner-ü", checksums={"CRC64NVME": "AAAAAAAAAAA=", "SHA256": "x+/=-2"},
        checksum_type="COMPOSITE", crc64ecma=crc,
        parts=[PartRef(1, 5, "e1", "c1=="), PartRef(2, 3, "e2")], version_id="v-1",
        upload_id="0123abc",
    )  # fmt: skip
    assert store.put_object(r) == []
    assert store.get_object("bkt", r.key) == r
    assert store.get_object("bkt", "other") is None
    assert store.get_object("nobucket", r.key) is None
    [summary] = store.list_objects("bkt", "", "", 10)
    assert (summary.key, summary.size, summary.etag, summary.last_modified) == (
        r.key, 8, r.etag, r.last_modified)  # fmt: skip
    assert (summary.storage_class, summary.owner) == ("STANDARD_IA", "owner-ü")


@pytest.mark.parametrize("crc", [-1, 2**64])
def test_crc_out_of_range_rejected(store: MetaStore, crc: int) -> None:
    with pytest.raises(ValueError):
        store.put_object(rec("k", crc64ecma=crc))
    assert store.get_object("bkt", "k") is None


def test_stored_values_are_not_aliased(store: MetaStore) -> None:
    r = rec("k", meta=ObjectMeta(user={"a": "1"}))
    store.put_object(r)
    r.meta.user["a"] = "changed"
    got = store.get_object("bkt", "k")
    assert got is not None and got.meta.user == {"a": "1"}
    got.meta.user["a"] = "changed"
    got.segments.clear()
    again = store.get_object("bkt", "k")
    assert again is not None and again.meta.user == {"a": "1"} and again.segments


def test_put_object_replace_returns_old_blobs(store: MetaStore) -> None:
    b1, b2, b3 = new_blob_id(), new_blob_id(), new_blob_id()
    assert store.put_object(rec("k", blobs=[b1, b2])) == []
    assert sorted(store.put_object(rec("k", blobs=[b3]))) == sorted([b1, b2])
    got = store.get_object("bkt", "k")
    assert got is not None and [s.blob for s in got.segments] == [b3]
    # A blob the new record still uses is never reported as freed.
    assert store.put_object(rec("k", blobs=[b3])) == []
    with pytest.raises(ShoalError) as exc:
        store.put_object(rec("k", bucket="nope"))
    assert codes(exc) == "NoSuchBucket"


def test_delete_object(store: MetaStore) -> None:
    b1, b2 = new_blob_id(), new_blob_id()
    store.put_object(rec("k", blobs=[b1, b2]))
    assert sorted(store.delete_object("bkt", "k") or []) == sorted([b1, b2])
    assert store.delete_object("bkt", "k") is None
    assert store.delete_object("nope", "k") is None
    assert store.get_object("bkt", "k") is None
    assert store.list_objects("bkt", "", "", 10) == []


def test_delete_object_of_given_segments(store: MetaStore) -> None:
    """With segments, only the object examined is deleted, never one that replaced it."""
    first = rec("k", blobs=[new_blob_id()])
    store.put_object(first)
    second = rec("k", blobs=[new_blob_id(), new_blob_id()])
    store.put_object(second)  # replaces first
    assert store.delete_object("bkt", "k", first.segments) is None
    got = store.get_object("bkt", "k")
    assert got is not None and got.segments == second.segments
    assert [o.key for o in store.list_objects("bkt", "", "", 10)] == ["k"]
    freed = store.delete_object("bkt", "k", second.segments)
    assert sorted(freed or []) == sorted(s.blob for s in second.segments)
    assert store.get_object("bkt", "k") is None
    assert store.delete_object("bkt", "k", second.segments) is None  # gone: nothing to do


def test_delete_object_of_given_segments_drops_inline_bytes(store: MetaStore) -> None:
    small = rec("k", blobs=[new_inline_id()], inline=b"abc")
    store.put_object(small)
    assert store.delete_object("bkt", "k", small.segments) == []  # no blob-store blob to free
    assert store.get_inline_blob(small.segments[0].blob) is None


def test_update_object_meta_keeps_segments(store: MetaStore) -> None:
    blob = new_blob_id()
    store.put_object(rec("k", blobs=[blob]))
    new = rec("k", blobs=[blob], meta=FULL_META, checksums={"CRC32": "abc="},
              checksum_type="FULL_OBJECT", crc64ecma=2**64 - 2, owner="bob", version_id="v2",
              upload_id="up-1")  # fmt: skip
    new.etag, new.last_modified, new.size = "newetag", 9.0, 999
    store.update_object_meta(new)
    got = store.get_object("bkt", "k")
    assert got is not None
    assert [s.blob for s in got.segments] == [blob] and got.size == 3
    assert (got.meta, got.etag, got.last_modified, got.owner) == (FULL_META, "newetag", 9.0, "bob")
    assert (got.checksums, got.checksum_type, got.crc64ecma, got.version_id, got.upload_id) == (
        {"CRC32": "abc="}, "FULL_OBJECT", 2**64 - 2, "v2", "up-1")  # fmt: skip
    new.upload_id = None  # a copy onto itself is no longer the upload's result
    store.update_object_meta(new)
    assert (got := store.get_object("bkt", "k")) is not None and got.upload_id is None
    assert store.list_objects("bkt", "", "", 1)[0].storage_class == "STANDARD_IA"
    with pytest.raises(ShoalError) as exc:
        store.update_object_meta(rec("missing"))
    assert codes(exc) == "NoSuchKey"


def test_update_object_meta_refuses_a_replaced_object(store: MetaStore) -> None:
    """Compare-and-set: metadata read before a PUT replaced the object must not land on it."""
    stale = rec("k", blobs=[new_blob_id()])
    store.put_object(stale)
    fresh = rec("k", blobs=[new_blob_id()])
    store.put_object(fresh)
    stale.etag = "stale"
    with pytest.raises(RetryConflict):
        store.update_object_meta(stale)
    got = store.get_object("bkt", "k")
    assert got is not None and got.etag == "etag" and got.segments == fresh.segments


# -- listing ------------------------------------------------------------------------------------

KEYS = [
    "a", "a/", "a0", "aé", "a\U0001f600", "a\uffff", "b", "A", "a b", "a%b", "a_b", "aXb",
    "a%%", "\u00ff", "\ud7ff", "\ud7ffz", "\ue000", "x\U0010ffff", "x\U0010ffffz", "y",
    "\U0010ffff", "\U0010ffff\U0010ffff", "\x01",
]  # fmt: skip
BYTE_ORDER = sorted(KEYS, key=lambda k: k.encode("utf-8"))
PREFIXES = [
    "", "a", "a%", "a_", "A", "a\U0001f600", "aé", "\ud7ff", "x\U0010ffff", "\U0010ffff", "zz",
    "a/", "\x01",
]  # fmt: skip
STARTS = ["", "0", "a", "a%", "a/", "aé", "a\uffff", "b", "x", "\U0010ffff", "\U0010ffff\U0010ffff"]


@pytest.fixture
def listed(store: MetaStore) -> MetaStore:
    store.create_bucket(Bucket("other", "alice", 1.0))
    for key in KEYS:
        store.put_object(rec(key))
        store.put_object(rec(key + "-other", bucket="other"))
    return store


def test_prefix_successor() -> None:
    assert prefix_successor("") is None
    assert prefix_successor("\U0010ffff\U0010ffff") is None
    assert prefix_successor("ab") == "ac"
    assert prefix_successor("a\U0010ffff") == "b"
    assert prefix_successor("\ud7ff") == "\ue000"  # skips the surrogates
    assert prefix_successor("a\uffff") == "a\U00010000"


def test_listing_is_in_utf8_byte_order(listed: MetaStore) -> None:
    # Not UTF-16 order: "a\uffff" sorts before "a\U0001f600" (surrogates would say otherwise).
    assert BYTE_ORDER.index("a\uffff") < BYTE_ORDER.index("a\U0001f600")
    assert [o.key for o in listed.list_objects("bkt", "", "", 1000)] == BYTE_ORDER


@pytest.mark.parametrize("prefix", PREFIXES)
def test_list_prefix_start_after_limit(listed: MetaStore, prefix: str) -> None:
    for start in STARTS + [prefix]:
        matching = [k for k in BYTE_ORDER if k.startswith(prefix) and k > start]
        for limit in (0, 1, 3, 1000):
            got = [o.key for o in listed.list_objects("bkt", prefix, start, limit)]
            assert got == matching[:limit], (prefix, start, limit)


@pytest.mark.parametrize("prefix", ["", "a", "a%", "x\U0010ffff"])
def test_list_pagination_collects_everything(listed: MetaStore, prefix: str) -> None:
    seen: list[str] = []
    while page := listed.list_objects("bkt", prefix, seen[-1] if seen else "", 2):
        seen += [o.key for o in page]
    assert seen == [k for k in BYTE_ORDER if k.startswith(prefix)]


def test_list_special_prefixes_are_literal(listed: MetaStore) -> None:
    assert [o.key for o in listed.list_objects("bkt", "a%", "", 10)] == ["a%%", "a%b"]
    assert [o.key for o in listed.list_objects("bkt", "a_", "", 10)] == ["a_b"]
    assert [o.key for o in listed.list_objects("bkt", "A", "", 10)] == ["A"]
    assert listed.list_objects("nope", "", "", 10) == []


# -- multipart ----------------------------------------------------------------------------------


def test_upload_and_part_round_trip(store: MetaStore) -> None:
    u = Upload("u1", "bkt", "dir/ü", 12.5, FULL_META, "alice", "CRC64NVME", "FULL_OBJECT")
    store.create_upload(u)
    assert store.get_upload("u1") == u
    assert store.get_upload("nope") is None
    p = part("u1", 7, checksums={"CRC64NVME": "AAAAAAAAAAA="}, crc64ecma=2**64 - 1)
    assert store.put_part(p) == []
    assert store.get_parts("u1") == [p]
    with pytest.raises(ValueError):
        store.create_upload(u)  # upload ids are unique


def test_put_part_missing_upload(store: MetaStore) -> None:
    with pytest.raises(ShoalError) as exc:
        store.put_part(part("nope", 1))
    assert codes(exc) == "NoSuchUpload"
    store.create_upload(upload("u1"))
    store.abort_upload("u1")
    with pytest.raises(ShoalError) as exc:
        store.put_part(part("u1", 1))
    assert codes(exc) == "NoSuchUpload"
    assert store.get_parts("u1") == []


def test_put_part_replace_and_listing(store: MetaStore) -> None:
    store.create_upload(upload("u1"))
    parts = {n: part("u1", n) for n in (5, 1, 3, 10000)}
    for p in parts.values():
        assert store.put_part(p) == []
    new = part("u1", 3)
    assert store.put_part(new) == [parts[3].blob]
    assert store.put_part(new) == []  # same blob again: nothing to free
    parts[3] = new
    assert [p.number for p in store.get_parts("u1")] == [1, 3, 5, 10000]
    assert store.get_parts("u1", [5, 3, 42]) == [parts[3], parts[5]]
    assert store.get_parts("u1", []) == []
    assert store.list_parts("u1", 0, 2) == [parts[1], parts[3]]
    assert store.list_parts("u1", 3, 10) == [parts[5], parts[10000]]
    assert store.list_parts("u1", 10000, 10) == []
    assert store.list_parts("u1", 0, 0) == []
    assert store.get_parts("nope") == []


def test_complete_upload(store: MetaStore) -> None:
    old = [new_blob_id(), new_blob_id()]
    store.put_object(rec("k", blobs=old))
    store.create_upload(upload("u1", "k"))
    p = {n: part("u1", n) for n in (1, 2, 3)}
    for x in p.values():
        store.put_part(x)
    record = rec(
        "k", blobs=[p[1].blob, p[3].blob], parts=[PartRef(1, 5, "e1"), PartRef(3, 5, "e3")]
    )
    freed = store.complete_upload("u1", record, {1: p[1].blob, 3: p[3].blob})
    assert sorted(freed) == sorted([p[2].blob, *old])
    assert store.get_object("bkt", "k") == record
    assert store.get_upload("u1") is None and store.get_parts("u1") == []
    assert sorted(store.referenced_blobs()) == sorted([p[1].blob, p[3].blob])
    with pytest.raises(ShoalError) as exc:  # completing twice
        store.complete_upload("u1", record, {1: p[1].blob})
    assert codes(exc) == "NoSuchUpload"


def test_complete_upload_new_key(store: MetaStore) -> None:
    store.create_upload(upload("u1", "fresh"))
    p1 = part("u1", 1)
    store.put_part(p1)
    assert store.complete_upload("u1", rec("fresh", blobs=[p1.blob]), {1: p1.blob}) == []
    assert [o.key for o in store.list_objects("bkt", "", "", 10)] == ["fresh"]


def test_complete_upload_conflict_changes_nothing(store: MetaStore) -> None:
    store.create_upload(upload("u1", "k"))
    p1, p2 = part("u1", 1), part("u1", 2)
    store.put_part(p1)
    store.put_part(p2)
    used = {1: p1.blob, 2: p2.blob}
    replacement = part("u1", 2)
    store.put_part(replacement)  # a racing UploadPart
    with pytest.raises(RetryConflict):
        store.complete_upload("u1", rec("k", blobs=[p1.blob, p2.blob]), used)
    with pytest.raises(RetryConflict):  # a used part that does not exist
        store.complete_upload("u1", rec("k", blobs=[p1.blob]), {1: p1.blob, 9: new_blob_id()})
    assert store.get_upload("u1") is not None
    assert store.get_parts("u1") == [p1, replacement]
    assert store.get_object("bkt", "k") is None


def test_complete_after_abort(store: MetaStore) -> None:
    store.create_upload(upload("u1", "k"))
    p1 = part("u1", 1)
    store.put_part(p1)
    assert store.abort_upload("u1") == [p1.blob]
    with pytest.raises(ShoalError) as exc:
        store.complete_upload("u1", rec("k", blobs=[p1.blob]), {1: p1.blob})
    assert codes(exc) == "NoSuchUpload"
    assert store.get_object("bkt", "k") is None


def test_abort_upload(store: MetaStore) -> None:
    store.create_upload(upload("u1"))
    blobs = [store_part.blob for store_part in (part("u1", n) for n in (2, 1))]
    for n, b in zip((2, 1), blobs, strict=True):
        store.put_part(part("u1", n, b))
    assert sorted(store.abort_upload("u1") or []) == sorted(blobs)
    assert store.abort_upload("u1") is None
    assert store.get_upload("u1") is None and store.get_parts("u1") == []
    store.create_upload(upload("u2"))
    assert store.abort_upload("u2") == []
    assert store.abort_upload("never") is None


def test_list_uploads_markers(store: MetaStore) -> None:
    ups = [
        upload("u5", "a", 3.0), upload("u1", "a", 3.0), upload("u9", "a", 1.0),
        upload("u2", "b", 1.0), upload("u3", "c/d", 1.0), upload("u4", "c/e", 1.0),
        upload("u0", "a%", 1.0),
    ]  # fmt: skip
    store.create_bucket(Bucket("other", "alice", 1.0))
    store.create_upload(upload("x1", "a", 1.0, bucket="other"))
    for u in ups:
        store.create_upload(u)

    def ids(prefix: str, key_marker: str, id_marker: str, limit: int = 100) -> list[str]:
        return [
            u.upload_id for u in store.list_uploads("bkt", prefix, key_marker, id_marker, limit)
        ]

    assert ids("", "", "") == ["u9", "u1", "u5", "u0", "u2", "u3", "u4"]
    assert ids("", "", "", 2) == ["u9", "u1"]
    assert ids("c/", "", "") == ["u3", "u4"]
    assert ids("a%", "", "") == ["u0"]
    assert ids("", "a", "") == ["u0", "u2", "u3", "u4"]  # uploads of the key marker skipped
    assert ids("", "a", "u1") == ["u9", "u5", "u0", "u2", "u3", "u4"]  # upload_id > marker
    assert ids("", "a", "u5") == ["u9", "u0", "u2", "u3", "u4"]
    assert ids("c/", "a", "u5") == ["u3", "u4"]  # marker before the prefix
    assert ids("a", "b", "u0") == []  # marker after the prefix
    assert ids("c/", "c/d", "u3") == ["u4"]
    assert ids("", "zzz", "") == []
    assert ids("", "", "", 0) == []


def test_uploads_older_than(store: MetaStore) -> None:
    for u in (upload("u3", "a", 30.0), upload("u1", "b", 10.0), upload("u2", "c", 20.0)):
        store.create_upload(u)
    assert [u.upload_id for u in store.uploads_older_than(25.0)] == ["u1", "u2"]
    assert store.uploads_older_than(10.0) == []


# -- maintenance --------------------------------------------------------------------------------


def test_referenced_blobs(store: MetaStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sql_store, "_BATCH", 2)  # exercise the batching
    assert list(store.referenced_blobs()) == []
    expected: list[str] = []
    for i in range(5):
        blobs = [new_blob_id(), new_blob_id()]
        store.put_object(rec(f"k{i}", blobs=blobs))
        expected += blobs
    freed = store.put_object(rec("k0"))
    expected = [b for b in expected if b not in freed] + [
        s.blob
        for s in store.get_object("bkt", "k0").segments  # type: ignore[union-attr]
    ]
    for u in ("u1", "u2"):
        store.create_upload(upload(u))
        for n in (1, 2, 3):
            p = part(u, n)
            store.put_part(p)
            expected.append(p.blob)
    assert sorted(store.referenced_blobs()) == sorted(expected)


def test_sqlite_reopen_is_idempotent(tmp_path: Path) -> None:
    path = str(tmp_path / "meta.db")
    first = SqliteMetaStore(path)
    first.create_bucket(Bucket("b", "o", 1.0))
    first.put_object(rec("k", bucket="b", crc64ecma=2**64 - 1))
    second = SqliteMetaStore(path)
    got = second.get_object("b", "k")
    assert got is not None and got.crc64ecma == 2**64 - 1
    conn = second._conn()
    assert conn.execute("PRAGMA user_version").fetchall() == [(sqlite_store.SCHEMA_VERSION,)]
    assert conn.execute("PRAGMA journal_mode").fetchall() == [("wal",)]
    assert conn.execute("PRAGMA synchronous").fetchall() == [(2,)]  # FULL
    assert conn.execute("SELECT crc64ecma FROM objects").fetchall() == [(-1,)]
    first.close()
    second.close()


def test_postgres_reopen_is_idempotent() -> None:
    with pg_schema() as dsn:
        first = PostgresMetaStore(dsn)
        first.create_bucket(Bucket("b", "o", 1.0))
        first.put_object(rec("k", bucket="b", crc64ecma=2**64 - 1))
        second = PostgresMetaStore(dsn)
        got = second.get_object("b", "k")
        assert got is not None and got.crc64ecma == 2**64 - 1
        conn = second._conn()
        assert conn.execute("SELECT version FROM shoal_schema").fetchall() == [
            (postgres_store.SCHEMA_VERSION,)]  # fmt: skip
        assert conn.execute("SELECT crc64ecma FROM objects").fetchall() == [(-1,)]
        collations = conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND collation_name = 'C' ORDER BY 1, 2"
        ).fetchall()
        assert ("objects", "key") in collations and ("uploads", "upload_id") in collations
        first.close()
        second.close()


def test_sqlite_listing_is_one_scan_of_the_covering_index(tmp_path: Path) -> None:
    store = SqliteMetaStore(str(tmp_path / "meta.db"))
    try:
        store.create_bucket(Bucket("b", "o", 1.0))
        for i in range(3):
            store.put_object(rec(f"p/{i}", bucket="b"))
        conn = store._conn()
        for op, bounded in ((">", True), (">=", True), (">", False), (">=", False)):
            sql = list_objects_sql("?", op, bounded)
            params = ("b", "p/", "p0", 10) if bounded else ("b", "p/", 10)
            plan = " ".join(row[-1] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, params))
            assert "USING COVERING INDEX objects_listing" in plan, plan
            assert "TEMP B-TREE" not in plan, plan  # the index gives the order: no sort
        assert [o.key for o in store.list_objects("b", "p/", "p/0", 10)] == ["p/1", "p/2"]
    finally:
        store.close()


def test_postgres_listing_index_carries_the_listed_columns() -> None:
    with pg_schema() as dsn:
        store = PostgresMetaStore(dsn)
        try:
            rows = store._conn().execute(
                "SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema() "
                "AND tablename = 'objects'"
            ).fetchall()
            defs = [d for (d,) in rows if "(bucket, key" in d]
            assert len(defs) == 1 and "UNIQUE" in defs[0], defs  # the old index is gone
            assert "(bucket, key) INCLUDE (size, etag, last_modified, storage_class, owner)" \
                in defs[0]
            store.create_bucket(Bucket("b", "o", 1.0))
            store.put_object(rec("k", bucket="b"))
            again = rec("k", bucket="b")
            again.etag = "e2"
            store.put_object(again)  # the same key: replaced (ON CONFLICT (bucket, key))
            assert [(o.key, o.etag) for o in store.list_objects("b", "", "", 10)] == [("k", "e2")]
        finally:
            store.close()


_V3_OBJECT = ("INSERT INTO objects (bucket, key, size, etag, last_modified, owner, "
              "storage_class, meta, segments, parts, checksums) VALUES ('b', 'k', 3, 'e-1', "
              "1.5, 'o', 'STANDARD', '{}', '[[\"blob\",0,3]]', '[[1,3,\"e\",null]]', '{}')")


def _schema_script(name: str) -> str:
    return resources.files("shoal.store").joinpath(f"schema/{name}").read_text()


def test_sqlite_v3_objects_survive_the_upgrade(tmp_path: Path) -> None:
    """Objects written before v4 read back with no upload id (a repeated Complete of their
    upload is then NoSuchUpload, as it was)."""
    path = str(tmp_path / "meta.db")
    conn = sqlite3.connect(path)
    for v in (1, 2, 3):
        conn.executescript(_schema_script(f"sqlite_v{v}.sql"))
    conn.execute("INSERT INTO buckets VALUES ('b', 'o', 1.0, 'us-east-1', NULL, '{}')")
    conn.execute(_V3_OBJECT)
    conn.execute("PRAGMA user_version = 3")
    conn.commit()
    conn.close()
    store = SqliteMetaStore(path)
    try:
        got = store.get_object("b", "k")
        assert got is not None and (got.etag, got.upload_id) == ("e-1", None)
        assert [p.number for p in got.parts] == [1]
        store.put_object(rec("k", bucket="b", upload_id="u9"))
        assert (got := store.get_object("b", "k")) is not None and got.upload_id == "u9"
    finally:
        store.close()


def test_postgres_v3_objects_survive_the_upgrade() -> None:
    with pg_schema() as dsn:
        with psycopg.connect(dsn, autocommit=True) as conn:
            for v in (1, 2, 3):
                conn.execute(_schema_script(f"postgres_v{v}.sql"))  # type: ignore[arg-type]
            conn.execute("INSERT INTO buckets VALUES ('b', 'o', 1.0, 'us-east-1', NULL, '{}')")
            conn.execute(_V3_OBJECT)  # type: ignore[arg-type]
        store = PostgresMetaStore(dsn)
        try:
            got = store.get_object("b", "k")
            assert got is not None and (got.etag, got.upload_id) == ("e-1", None)
            store.put_object(rec("k", bucket="b", upload_id="u9"))
            assert (got := store.get_object("b", "k")) is not None and got.upload_id == "u9"
        finally:
            store.close()


def test_postgres_needs_an_existing_schema() -> None:
    with pytest.raises(RuntimeError, match="create it first"):
        PostgresMetaStore(dsn_with_schema(pg_reachable(), "shoal_no_such_schema"))


def test_postgres_nul_characters_match_nothing() -> None:
    """PostgreSQL text cannot hold NUL: lookups with one find nothing, and listings treat a
    marker with one as the bound it is against the NUL-free keys that can be stored."""
    with pg_schema() as dsn:
        s = PostgresMetaStore(dsn)
        s.create_bucket(Bucket("bkt", "alice", 1.0))
        for key in ("a", "ab", "b"):
            s.put_object(rec(key))
        s.create_upload(upload("u1", "ab"))
        with pytest.raises(ShoalError) as exc:
            s.put_object(rec("a\x00"))
        assert codes(exc) == "InvalidArgument"
        with pytest.raises(ShoalError) as exc:
            s.put_part(part("u\x00", 1))
        assert codes(exc) == "NoSuchUpload"
        assert s.get_object("bkt", "a\x00") is None and s.get_bucket("b\x00") is None
        assert s.get_object("bkt", "a\x00", with_inline=False) is None
        assert s.get_inline_blob("i\x00") is None
        assert s.delete_object("bkt", "a\x00") is None and s.abort_upload("u\x00") is None
        assert s.list_objects("bkt", "a\x00", "", 10) == []
        assert [o.key for o in s.list_objects("bkt", "", "a\x00", 10)] == ["ab", "b"]
        assert [u.upload_id for u in s.list_uploads("bkt", "", "a\x00", "", 10)] == ["u1"]
        assert [u.upload_id for u in s.list_uploads("bkt", "", "ab", "\x00", 10)] == ["u1"]
        s.close()


# -- several processes --------------------------------------------------------------------------


def _hammer(kind: str, tmp: str, worker: int, barrier: Any, seconds: float, out: Any) -> None:
    """Runs in a spawned process: opens the (new) store together with the other workers, then
    two threads put objects and parts as fast as they can."""
    import threading

    written: list[str] = []
    numbers: list[int] = []
    shared: list[tuple[str, list[str]]] = []  # (blob put at "shared", blobs that put freed)
    errors: list[str] = []
    try:
        barrier.wait(30)
        store = SHARED[kind](Path(tmp))  # all workers create the schema at once
        store.create_bucket(Bucket("bkt", "alice", 1.0))
        if worker == 0:
            store.create_upload(upload("u-shared"))
        barrier.wait(30)
    except Exception as exc:  # noqa: BLE001 - reported to the parent
        out.put((worker, written, numbers, shared, [repr(exc)]))
        return

    def run(thread: int) -> None:
        deadline = time.monotonic() + seconds
        i = 0
        while time.monotonic() < deadline:
            try:
                key = f"w{worker}t{thread}/{i:06d}"
                store.put_object(rec(key))
                written.append(key)
                number = 1 + (worker * 2 + thread) * 100_000 + i
                store.put_part(part("u-shared", number))
                numbers.append(number)
                blob = new_blob_id()
                shared.append((blob, store.put_object(rec("shared", blobs=[blob]))))
            except Exception as exc:  # noqa: BLE001 - reported to the parent
                errors.append(repr(exc))
            i += 1

    threads = [threading.Thread(target=run, args=(t,)) for t in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    store.close()
    out.put((worker, written, numbers, shared, errors))


@pytest.mark.parametrize("kind", list(SHARED))
def test_processes_hammering_one_store(kind: str, tmp_path: Path) -> None:
    with backing(kind, tmp_path):
        _hammer_and_check(kind, tmp_path)


def _hammer_and_check(kind: str, tmp_path: Path) -> None:
    ctx = mp.get_context("spawn")
    out, barrier = ctx.Queue(), ctx.Barrier(2)
    procs = [ctx.Process(target=_hammer, args=(kind, str(tmp_path), w, barrier, 1.5, out))
             for w in range(2)]  # fmt: skip
    for p in procs:
        p.start()
    try:
        results = [out.get(timeout=60) for _ in procs]
    finally:
        for p in procs:
            p.join(30)
    assert [e for r in results for e in r[4]] == []
    assert all(p.exitcode == 0 for p in procs)
    written = [k for r in results for k in r[1]]
    numbers = sorted(n for r in results for n in r[2])
    shared = [s for r in results for s in r[3]]
    assert len(written) > 20 and len(shared) > 20
    store = SHARED[kind](tmp_path)
    listed: list[str] = []
    while page := store.list_objects("bkt", "w", listed[-1] if listed else "", 1000):
        listed += [o.key for o in page]
    assert sorted(listed) == sorted(written)
    assert [p.number for p in store.get_parts("u-shared")] == numbers
    # Every blob put at "shared" was freed by exactly one later put, except the current one.
    current = store.get_object("bkt", "shared")
    assert current is not None
    freed = [b for _, f in shared for b in f] + [current.segments[0].blob]
    assert sorted(freed) == sorted(b for b, _ in shared)
    store.close()
