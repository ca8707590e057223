"""``shoal fsck`` (the real CLI) on data dirs written by a live server, damaged on purpose."""

from __future__ import annotations

import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator

import pytest

from shoal.core.model import INLINE_MAX
from shoal.store.sqlite import SqliteMetaStore

from .conftest import make_client
from .server import LiveServer, fsck, own_server

BUCKET = "fsck-bucket"
HOURS_AGO = time.time() - 2 * 3600  # older than the default one-hour grace period


@pytest.fixture
def server() -> Iterator[LiveServer]:
    """A server of its own: these tests damage its data directory."""
    with own_server() as srv:
        yield srv


@pytest.fixture
def s3(server: LiveServer):  # noqa: ANN201 - botocore client type is dynamic
    client = make_client(server.endpoint)
    client.create_bucket(Bucket=BUCKET)
    return client


def blob_of(data_dir: str, key: str) -> str:
    meta = SqliteMetaStore(os.path.join(data_dir, "meta.db"))
    try:
        record = meta.get_object(BUCKET, key)
    finally:
        meta.close()
    assert record is not None
    return record.segments[0].blob


def blob_path(data_dir: str, blob_id: str) -> str:
    return os.path.join(data_dir, "blobs", blob_id[:2], blob_id[2:4], blob_id)


def aged_file(path: str, data: bytes) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    os.utime(path, (HOURS_AGO, HOURS_AGO))


def fill(s3) -> None:  # noqa: ANN001
    """One of each: single PUTs (in blob files), small and empty objects (kept inline), a
    completed multipart, a pending upload."""
    for i in range(4):
        s3.put_object(Bucket=BUCKET, Key=f"obj{i}", Body=os.urandom(INLINE_MAX + 1000 * i + 1))
    s3.put_object(Bucket=BUCKET, Key="empty", Body=b"")
    s3.put_object(Bucket=BUCKET, Key="tiny", Body=os.urandom(100))
    up = s3.create_multipart_upload(Bucket=BUCKET, Key="multi")["UploadId"]
    etag = s3.upload_part(Bucket=BUCKET, Key="multi", UploadId=up, PartNumber=1,
                          Body=os.urandom(5000))["ETag"]  # fmt: skip
    s3.complete_multipart_upload(Bucket=BUCKET, Key="multi", UploadId=up,
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
    pending = s3.create_multipart_upload(Bucket=BUCKET, Key="pending")["UploadId"]
    s3.upload_part(Bucket=BUCKET, Key="pending", UploadId=pending, PartNumber=1, Body=b"p" * 10)


def test_clean_data_dir_exits_0(server: LiveServer, s3) -> None:  # noqa: ANN001
    fill(s3)
    for args in ((), ("--no-verify-data",), ("--repair",)):
        run = fsck(server.data_dir, *args)
        assert run.returncode == 0, run.stdout + run.stderr
        assert "clean: no problems found" in run.stdout
        assert "7 objects, 1 uploads (1 parts), 6 blobs" in run.stdout
    assert run.stderr == ""  # no progress bar when stderr is not a terminal


def test_inline_bodies_are_checked(server: LiveServer, s3) -> None:  # noqa: ANN001
    """Small objects keep their bytes in the metadata store: fsck checks those too."""
    fill(s3)
    for key in ("tiny0", "tiny1"):
        s3.put_object(Bucket=BUCKET, Key=key, Body=os.urandom(100))
    data = server.data_dir
    corrupt, lost = blob_of(data, "tiny0"), blob_of(data, "tiny1")
    assert not os.path.exists(blob_path(data, corrupt))  # no file: the bytes are inline
    with sqlite3.connect(os.path.join(data, "meta.db")) as db:
        db.execute("UPDATE inline_blobs SET data = zeroblob(100) WHERE blob = ?", (corrupt,))
        db.execute("DELETE FROM inline_blobs WHERE blob = ?", (lost,))
    run = fsck(data)
    assert run.returncode == 1, run.stdout + run.stderr
    lines = run.stdout.splitlines()
    assert any(ln.startswith(f"hash-mismatch: object {BUCKET}/tiny0: ") for ln in lines)
    assert any(ln.startswith(f"missing-blob: object {BUCKET}/tiny1: ") and lost in ln
               for ln in lines)
    assert lines[-1] == "found: 1 hash-mismatch, 1 missing-blob"
    assert "hash-mismatch" not in fsck(data, "--no-verify-data").stdout
    s3.put_object(Bucket=BUCKET, Key="tiny0", Body=b"replaced")
    s3.delete_object(Bucket=BUCKET, Key="tiny1")
    assert fsck(data).returncode == 0
    with sqlite3.connect(os.path.join(data, "meta.db")) as db:  # nothing left behind
        blobs = {b for (b,) in db.execute("SELECT blob FROM inline_blobs")}
    assert len(blobs) == 3 and corrupt not in blobs  # empty, tiny and the new tiny0


def test_damage_is_found_reported_and_partly_repaired(server: LiveServer, s3) -> None:  # noqa: ANN001
    fill(s3)
    data = server.data_dir
    lost, short, corrupt = (blob_of(data, k) for k in ("obj0", "obj1", "obj2"))
    os.unlink(blob_path(data, lost))
    os.truncate(blob_path(data, short), 500)
    with open(blob_path(data, corrupt), "r+b") as f:
        f.write(b"\0" * 16)  # same size, other bytes
    orphan, temp = secrets.token_hex(16), secrets.token_hex(16)
    aged_file(blob_path(data, orphan), b"nobody refers to me")
    aged_file(os.path.join(data, "tmp", temp), b"half a write")
    young = secrets.token_hex(16)
    with open(os.path.join(data, "tmp", young), "wb") as f:
        f.write(b"a write in progress")

    run = fsck(data)
    assert run.returncode == 1, run.stdout + run.stderr
    lines = run.stdout.splitlines()
    expect = [("missing-blob", f"object {BUCKET}/obj0", lost),
              ("size-mismatch", f"object {BUCKET}/obj1", short),
              ("hash-mismatch", f"object {BUCKET}/obj2", ""),
              ("orphan-blob", f"blob {orphan}", "19 bytes"), ("temp-file", f"tmp/{temp}", "")]
    for kind, subject, detail in expect:
        assert any(ln.startswith(f"{kind}: {subject}: ") and detail in ln for ln in lines), kind
    assert young not in run.stdout
    assert lines[-1] == ("found: 1 hash-mismatch, 1 missing-blob, 1 orphan-blob, "
                         "1 size-mismatch, 1 temp-file")
    quick = fsck(data, "--no-verify-data")
    assert quick.returncode == 1 and "hash-mismatch" not in quick.stdout

    fixed = fsck(data, "--repair")
    assert fixed.returncode == 1, fixed.stdout  # the damaged objects remain
    assert "removed 1 blobs and 1 temp files" in fixed.stdout
    assert "not repaired: 3 problems" in fixed.stdout
    assert not os.path.exists(blob_path(data, orphan))
    assert not os.path.exists(os.path.join(data, "tmp", temp))
    assert os.path.exists(os.path.join(data, "tmp", young))
    assert os.path.getsize(blob_path(data, short)) == 500  # reported, never deleted
    assert os.path.exists(blob_path(data, corrupt))
    assert len(s3.get_object(Bucket=BUCKET, Key="obj3")["Body"].read()) == INLINE_MAX + 3001

    again = fsck(data)
    assert again.returncode == 1
    assert again.stdout.splitlines()[-1] == "found: 1 hash-mismatch, 1 missing-blob, 1 size-mismatch"
    for key in ("obj0", "obj1", "obj2"):
        s3.delete_object(Bucket=BUCKET, Key=key)
    os.unlink(os.path.join(data, "tmp", young))
    final = fsck(data)
    assert final.returncode == 0, final.stdout


def test_stale_uploads_are_aborted_by_repair(server: LiveServer, s3) -> None:  # noqa: ANN001
    up = s3.create_multipart_upload(Bucket=BUCKET, Key="stale")["UploadId"]
    s3.upload_part(Bucket=BUCKET, Key="stale", UploadId=up, PartNumber=1, Body=b"s" * 100)
    assert fsck(server.data_dir).returncode == 0  # younger than the 7-day default
    run = fsck(server.data_dir, "--stale-upload-age", "0")
    assert run.returncode == 1 and f"stale-upload: upload {up} ({BUCKET}/stale)" in run.stdout
    fixed = fsck(server.data_dir, "--repair", "--stale-upload-age", "0")
    assert fixed.returncode == 0, fixed.stdout
    assert "aborted 1 stale uploads, removed 1 blobs" in fixed.stdout
    assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []
    run = fsck(server.data_dir, "--grace", "0")
    assert run.returncode == 0 and " 0 blobs," in run.stdout


def test_fsck_beside_a_busy_server_reports_nothing(server: LiveServer, s3) -> None:  # noqa: ANN001
    fill(s3)
    stop = threading.Event()
    done: list[int] = []

    def churn() -> None:
        client = make_client(server.endpoint)
        i = 0
        while not stop.is_set():
            key = f"churn{i % 5}"
            client.put_object(Bucket=BUCKET, Key=key, Body=os.urandom(20000))
            if i % 3 == 0:
                client.delete_object(Bucket=BUCKET, Key=key)
            i += 1
        done.append(i)

    worker = threading.Thread(target=churn)
    worker.start()
    try:
        runs = [fsck(server.data_dir) for _ in range(2)]
    finally:
        stop.set()
        worker.join(30)
    assert done and done[0] > 0
    for run in runs:
        assert run.returncode == 0, run.stdout


def test_refuses_a_directory_without_shoal_data(tmp_path: os.PathLike[str]) -> None:
    run = fsck(str(tmp_path))
    assert run.returncode == 2 and "not a Shoal data directory" in run.stderr
    os.makedirs(os.path.join(tmp_path, "blobs"))
    run = fsck(str(tmp_path), "--repair")
    assert run.returncode == 2 and "no metadata database" in run.stderr
    assert not os.path.exists(os.path.join(tmp_path, "meta.db"))
