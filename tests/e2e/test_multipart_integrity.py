"""Concurrency and storage hygiene: Complete racing Abort, and no orphaned blob files.

These tests run against a server of their own, so the blob files on its disk can be compared
with everything its database references, exactly.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from shoal.store.sqlite import SqliteMetaStore

from .conftest import make_client
from .server import LiveServer, own_server
from .test_multipart_support import MIN_PART, code_of, complete, data, upload_parts

ROUNDS = 30


@pytest.fixture(scope="module")
def integrity_server() -> Iterator[LiveServer]:
    with own_server() as srv:
        yield srv


@pytest.fixture(scope="module")
def c3(integrity_server: LiveServer) -> Any:
    client = make_client(integrity_server.endpoint)
    client.create_bucket(Bucket="integrity")
    return client


def _blob_files(data_dir: str) -> set[str]:
    found: set[str] = set()
    for _, _, files in os.walk(os.path.join(data_dir, "blobs")):
        found.update(files)
    return found


def _referenced(data_dir: str) -> set[str]:
    store = SqliteMetaStore(os.path.join(data_dir, "meta.db"))
    try:
        return set(store.referenced_blobs())
    finally:
        store.close()


def _outcome(call: Callable[[], Any]) -> str:
    try:
        call()
    except ClientError as err:
        status, code = code_of(err)
        return f"{status} {code}"
    return "ok"


def _race(c3: Any, other: Any, key: str, upload_id: str, etags: list[str],
          abort_delay: float) -> tuple[str, str]:
    """Run Complete and Abort of one upload at (about) the same moment; returns both outcomes.
    The abort is held back a little in some rounds so that both orders get exercised."""
    barrier = threading.Barrier(2)
    results: dict[str, str] = {}

    def run(name: str, call: Callable[[], Any]) -> None:
        barrier.wait()
        if name == "abort":
            threading.Event().wait(abort_delay)
        results[name] = _outcome(call)

    threads = [
        threading.Thread(target=run, args=("complete", lambda: complete(
            c3, "integrity", key, upload_id, dict(enumerate(etags, 1)))), daemon=True),
        threading.Thread(target=run, args=("abort", lambda: other.abort_multipart_upload(
            Bucket="integrity", Key=key, UploadId=upload_id)), daemon=True),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results["complete"], results["abort"]


def test_complete_racing_abort(integrity_server: LiveServer, c3: Any) -> None:
    other = make_client(integrity_server.endpoint)
    tally = {"complete": 0, "abort": 0}
    for i in range(ROUNDS):
        key = f"race/{i}"
        parts = [data(MIN_PART, i), b"tail %d" % i] if i % 5 == 0 else [b"round %d" % i]
        upload_id, etags = upload_parts(c3, "integrity", key, parts)
        done, aborted = _race(c3, other, key, upload_id, etags, (i % 6) * 0.002)
        assert {done, aborted} in ({"ok", "404 NoSuchUpload"},), (done, aborted)
        exists = _outcome(lambda key=key: c3.head_object(Bucket="integrity", Key=key))
        if done == "ok":
            tally["complete"] += 1
            body = c3.get_object(Bucket="integrity", Key=key)["Body"].read()
            assert body == b"".join(parts)
        else:
            tally["abort"] += 1
            assert exists == "404 404"
        listed = c3.list_multipart_uploads(Bucket="integrity", Prefix=key).get("Uploads", [])
        assert listed == []
    assert sum(tally.values()) == ROUNDS
    _assert_no_orphans(integrity_server.data_dir)


def test_no_orphaned_blobs(integrity_server: LiveServer, c3: Any) -> None:
    b = "integrity"
    # aborted upload
    upload_id, _ = upload_parts(c3, b, "aborted", [b"a", b"b", b"c"])
    c3.abort_multipart_upload(Bucket=b, Key="aborted", UploadId=upload_id)
    # part replaced twice, parts left out, then completed
    upload_id, etags = upload_parts(c3, b, "replaced", [data(MIN_PART, 1), b"2", b"3"])
    for body in (b"first again", data(MIN_PART, 5)):
        etags[0] = c3.upload_part(Bucket=b, Key="replaced", UploadId=upload_id, PartNumber=1,
                                  Body=body)["ETag"]
    complete(c3, b, "replaced", upload_id, {1: etags[0], 3: etags[2]})
    # a failed Complete leaves the parts, a later one uses them
    upload_id, etags = upload_parts(c3, b, "retried", [data(MIN_PART - 1, 6), b"x"])
    with pytest.raises(ClientError):
        complete(c3, b, "retried", upload_id, dict(enumerate(etags, 1)))
    complete(c3, b, "retried", upload_id, {2: etags[1]})
    # completing over an existing object (plain and multipart) frees the old content
    c3.put_object(Bucket=b, Key="over", Body=b"plain")
    for round_ in range(2):
        upload_id, etags = upload_parts(c3, b, "over", [data(MIN_PART, 7 + round_), b"y"])
        complete(c3, b, "over", upload_id, dict(enumerate(etags, 1)))
    # a part copied from an object, then the object deleted
    c3.put_object(Bucket=b, Key="copy-src", Body=b"copied bytes")
    upload_id = c3.create_multipart_upload(Bucket=b, Key="copy-dst")["UploadId"]
    c3.upload_part_copy(Bucket=b, Key="copy-dst", UploadId=upload_id, PartNumber=1,
                        CopySource={"Bucket": b, "Key": "copy-src"}, CopySourceRange="bytes=0-5")
    c3.delete_object(Bucket=b, Key="copy-src")
    c3.abort_multipart_upload(Bucket=b, Key="copy-dst", UploadId=upload_id)
    # bad digests never leave a blob behind
    upload_id = c3.create_multipart_upload(Bucket=b, Key="bad")["UploadId"]
    with pytest.raises(ClientError):
        c3.upload_part(Bucket=b, Key="bad", UploadId=upload_id, PartNumber=1, Body=b"z",
                       ContentMD5="AAAAAAAAAAAAAAAAAAAAAA==")
    # an upload left open keeps its parts
    open_id, _ = upload_parts(c3, b, "open", [b"kept"])
    _assert_no_orphans(integrity_server.data_dir)
    assert c3.get_object(Bucket=b, Key="replaced")["Body"].read() == data(MIN_PART, 5) + b"3"
    assert c3.get_object(Bucket=b, Key="retried")["Body"].read() == b"x"
    assert c3.list_parts(Bucket=b, Key="open", UploadId=open_id)["Parts"][0]["Size"] == 4
    # deleting everything leaves no blob at all
    for key in ("replaced", "retried", "over"):
        c3.delete_object(Bucket=b, Key=key)
    c3.abort_multipart_upload(Bucket=b, Key="open", UploadId=open_id)
    c3.abort_multipart_upload(Bucket=b, Key="bad", UploadId=upload_id)
    for obj in c3.list_objects_v2(Bucket=b).get("Contents", []):
        c3.delete_object(Bucket=b, Key=obj["Key"])
    assert _blob_files(integrity_server.data_dir) == set()
    assert os.listdir(os.path.join(integrity_server.data_dir, "tmp")) == []


def _assert_no_orphans(data_dir: str) -> None:
    on_disk = _blob_files(data_dir)
    referenced = _referenced(data_dir)
    assert on_disk - referenced == set(), "orphaned blob files"
    assert referenced - on_disk == set(), "referenced blobs missing on disk"
    assert os.listdir(os.path.join(data_dir, "tmp")) == []


def test_get_survives_the_object_being_replaced(integrity_server: LiveServer, c3: Any) -> None:
    size = 16 * 1024 * 1024
    old = [data(size, 31), data(size, 32)]
    upload_id, etags = upload_parts(c3, "integrity", "replaced-while-read", old)
    complete(c3, "integrity", "replaced-while-read", upload_id, dict(enumerate(etags, 1)))
    reader = make_client(integrity_server.endpoint)
    body = reader.get_object(Bucket="integrity", Key="replaced-while-read")["Body"]
    first = body.read(1024 * 1024)
    upload_id, etags = upload_parts(c3, "integrity", "replaced-while-read", [b"new"])
    complete(c3, "integrity", "replaced-while-read", upload_id, {1: etags[0]})
    assert first + body.read() == b"".join(old)
