"""Contract tests every ``BlobStore`` implementation must pass (add new ones to FACTORIES)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from shoal.core.ports import BlobStore
from shoal.store.fs import FsBlobStore, check_blob_id
from shoal.store.memory import MemoryBlobStore

FACTORIES: dict[str, Callable[[Path], BlobStore]] = {
    "memory": lambda tmp: MemoryBlobStore(),
    "fs": lambda tmp: FsBlobStore(str(tmp / "data")),
}

INVALID_IDS = [
    "", "0" * 31, "0" * 33, "A" * 32, "g" * 32, "0" * 32 + "\n", "../" + "0" * 29,
    "../../etc/passwd", "0" * 16 + "/" + "0" * 15, "\uff10" * 32, None, 12345,
]  # fmt: skip


@pytest.fixture(params=list(FACTORIES))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    return FACTORIES[request.param](tmp_path)


def put(store: BlobStore, *pieces: bytes) -> str:
    w = store.writer()
    for piece in pieces:
        w.write(piece)
    return w.commit()


def read(store: BlobStore, blob_id: str) -> bytes:
    with store.open(blob_id) as f:
        return f.read()


def test_write_in_pieces_and_read_back(store: BlobStore) -> None:
    big = os.urandom(1 << 20) + b"tail"
    w = store.writer()
    assert check_blob_id(w.blob_id) == w.blob_id
    w.write(b"abc")
    w.write(memoryview(b"--def--")[2:5])
    w.write(bytearray(b"ghi"))
    w.write(memoryview(bytearray(b"\x00\x01")))
    w.write(b"")
    w.write(big)
    assert w.commit() == w.blob_id
    assert read(store, w.blob_id) == b"abcdefghi\x00\x01" + big
    assert store.size(w.blob_id) == 11 + len(big)
    with store.open(w.blob_id) as f:
        f.seek(3)
        assert f.read(3) == b"def"


def test_empty_blob(store: BlobStore) -> None:
    blob = put(store)
    assert read(store, blob) == b"" and store.size(blob) == 0


def test_ids_are_unique(store: BlobStore) -> None:
    assert len({store.writer().blob_id for _ in range(100)}) == 100


def test_path(store: BlobStore, tmp_path: Path) -> None:
    blob = put(store, b"hello")
    path = store.path(blob)
    if isinstance(store, FsBlobStore):
        assert path is not None and Path(path).read_bytes() == b"hello"
        assert Path(path).is_relative_to(tmp_path / "data" / "blobs")
        assert Path(path).parent.name == blob[2:4] and Path(path).parent.parent.name == blob[:2]
    else:
        assert path is None


def test_delete(store: BlobStore) -> None:
    a, b = put(store, b"a"), put(store, b"b")
    store.delete([a])
    assert store.size(a) is None and store.size(b) == 1
    with pytest.raises(FileNotFoundError):
        store.open(a)
    store.delete([a, b, "0" * 32])  # missing ones are fine
    store.delete([])
    assert list(store.iter_blobs()) == []


def test_missing_blob(store: BlobStore) -> None:
    missing = "f" * 32
    assert store.size(missing) is None
    with pytest.raises(FileNotFoundError):
        store.open(missing)


def test_abort_leaves_nothing(store: BlobStore, tmp_path: Path) -> None:
    w = store.writer()
    w.write(b"data")
    w.abort()
    w.abort()  # twice is fine
    with pytest.raises(ValueError):
        w.write(b"more")
    with pytest.raises(ValueError):
        w.commit()
    assert store.size(w.blob_id) is None
    assert list(store.iter_blobs()) == []
    assert store.sweep_temp(time.time() + 3600) == 0
    if isinstance(store, FsBlobStore):
        assert os.listdir(tmp_path / "data" / "tmp") == []


def test_commit_twice_and_abort_after_commit(store: BlobStore) -> None:
    w = store.writer()
    w.write(b"x")
    assert w.commit() == w.commit() == w.blob_id
    w.abort()  # no-op: the committed blob belongs to the caller now
    assert read(store, w.blob_id) == b"x"
    with pytest.raises(ValueError):
        w.write(b"y")


def test_iter_blobs(store: BlobStore) -> None:
    before = time.time()
    blobs = {put(store, bytes([i])) for i in range(20)}
    store.writer().write(b"unfinished")
    listed = dict(store.iter_blobs())
    assert set(listed) == blobs
    assert all(before - 5 <= mtime <= time.time() + 5 for mtime in listed.values())


def test_sweep_temp(store: BlobStore) -> None:
    kept = put(store, b"committed")
    old, fresh = store.writer(), store.writer()
    old.write(b"old")
    fresh.write(b"fresh")
    assert store.sweep_temp(time.time() - 3600) == 0  # nothing that old
    assert store.sweep_temp(time.time() + 3600) == 2
    assert store.sweep_temp(time.time() + 3600) == 0
    assert read(store, kept) == b"committed"
    with pytest.raises(FileNotFoundError):  # a swept write cannot be committed any more
        old.commit()
    old.abort()
    assert [b for b, _ in store.iter_blobs()] == [kept]


@pytest.mark.parametrize("bad", INVALID_IDS)
def test_invalid_blob_ids_rejected(store: BlobStore, bad: str) -> None:
    with pytest.raises(ValueError):
        store.open(bad)
    with pytest.raises(ValueError):
        store.path(bad)
    with pytest.raises(ValueError):
        store.size(bad)
    with pytest.raises(ValueError):
        store.delete([bad])


def test_delete_validates_before_removing(store: BlobStore) -> None:
    blob = put(store, b"x")
    with pytest.raises(ValueError):
        store.delete([blob, "../x"])
    assert store.size(blob) == 1


def test_concurrent_writers(store: BlobStore) -> None:
    results: dict[str, bytes] = {}
    lock = threading.Lock()

    def work(n: int) -> None:
        for i in range(10):
            data = f"{n}:{i}".encode() * 100
            blob = put(store, data[:50], data[50:])
            with lock:
                results[blob] = data

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 80
    assert all(read(store, b) == data for b, data in results.items())
    assert {b for b, _ in store.iter_blobs()} == set(results)


def test_fs_reopen_sees_blobs_and_ignores_foreign_files(tmp_path: Path) -> None:
    first = FsBlobStore(str(tmp_path / "data"))
    blob = put(first, b"persisted")
    (tmp_path / "data" / "blobs" / "zz").mkdir()
    (tmp_path / "data" / "blobs" / blob[:2] / blob[2:4] / "README").write_text("not a blob")
    (tmp_path / "data" / "tmp" / "notes.txt").write_text("not a temp blob")
    second = FsBlobStore(str(tmp_path / "data"))
    assert [b for b, _ in second.iter_blobs()] == [blob]
    assert read(second, blob) == b"persisted"
    assert second.sweep_temp(time.time() + 3600) == 0


def test_fs_sweep_uses_mtime(tmp_path: Path) -> None:
    store = FsBlobStore(str(tmp_path / "data"))
    stale, live = store.writer(), store.writer()
    stale.write(b"a")
    live.write(b"b")
    long_ago = time.time() - 7200
    os.utime(tmp_path / "data" / "tmp" / stale.blob_id, (long_ago, long_ago))
    assert store.sweep_temp(time.time() - 3600) == 1
    assert live.commit() == live.blob_id
    assert read(store, live.blob_id) == b"b"
