"""Races on one multipart upload or one key, each run ``ROUNDS`` times with the two requests
released together (a barrier), on a server of its own with two worker processes.

Whatever the interleaving, the outcome must be one a sequential order explains: an
acknowledged Complete leaves a whole, readable object; an acknowledged Abort leaves no
upload; no request gets a 5xx; and at the end ``shoal fsck`` finds no orphan blob (a part
replaced or a request that lost its race must not leak its bytes). Long mode:
``SHOAL_RACE_ROUNDS=200``.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError

from .server import ACCESS_KEY, SECRET_KEY, LiveServer, fsck_clean, own_server, with_sitecustomize

ROUNDS = int(os.environ.get("SHOAL_RACE_ROUNDS", "8"))
BUCKET = "races"
Outcome = tuple[int, Any]  # HTTP status, the response (or error code)


def make_client(endpoint: str) -> Any:
    """A boto3 client that never retries: a 5xx must reach the test, not be papered over."""
    cfg = BotoConfig(retries={"total_max_attempts": 1, "mode": "standard"})
    return boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=ACCESS_KEY,
                        aws_secret_access_key=SECRET_KEY, region_name="us-east-1", config=cfg)


@pytest.fixture(scope="module")
def racer() -> Iterator[LiveServer]:
    with own_server(workers=2) as srv:
        make_client(srv.endpoint).create_bucket(Bucket=BUCKET)
        yield srv


@pytest.fixture(scope="module")
def clients(racer: LiveServer) -> tuple[Any, Any]:
    """Two clients, so the two racing requests use two connections."""
    return make_client(racer.endpoint), make_client(racer.endpoint)


def call(fn: Callable[..., Any], **kwargs: Any) -> Outcome:
    try:
        resp = fn(**kwargs)
        return resp["ResponseMetadata"]["HTTPStatusCode"], resp
    except ClientError as err:
        return err.response["ResponseMetadata"]["HTTPStatusCode"], err.response["Error"]["Code"]


def together(*jobs: Callable[[], Outcome]) -> list[Outcome]:
    """Run the jobs on threads released at the same instant; their outcomes, in order."""
    barrier = threading.Barrier(len(jobs))
    out: list[Outcome | None] = [None] * len(jobs)

    def run(i: int) -> None:
        barrier.wait()
        out[i] = jobs[i]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert all(o is not None for o in out), "a racing request hung"
    for status, detail in out:  # type: ignore[misc]
        assert status < 500, detail
    return out  # type: ignore[return-value]


def body(tag: str, size: int = 4096) -> bytes:
    return (tag.encode() * (size // len(tag) + 1))[:size]


def md5(data: bytes) -> str:
    return f'"{hashlib.md5(data).hexdigest()}"'


def multipart_etag(*parts: bytes) -> str:
    digests = b"".join(hashlib.md5(p).digest() for p in parts)
    return f'"{hashlib.md5(digests).hexdigest()}-{len(parts)}"'


def read(s3: Any, key: str) -> bytes | None:
    try:
        return s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    except ClientError as err:
        assert err.response["Error"]["Code"] == "NoSuchKey"
        return None


def new_upload(s3: Any, key: str, data: bytes) -> tuple[str, str]:
    up = s3.create_multipart_upload(Bucket=BUCKET, Key=key)["UploadId"]
    etag = s3.upload_part(Bucket=BUCKET, Key=key, UploadId=up, PartNumber=1, Body=data)["ETag"]
    return up, etag


def complete(s3: Any, key: str, up: str, *parts: tuple[int, str]) -> Callable[[], Outcome]:
    doc = {"Parts": [{"PartNumber": n, "ETag": e} for n, e in parts]}
    return lambda: call(s3.complete_multipart_upload, Bucket=BUCKET, Key=key, UploadId=up,
                        MultipartUpload=doc)


def abort(s3: Any, key: str, up: str) -> Callable[[], Outcome]:
    return lambda: call(s3.abort_multipart_upload, Bucket=BUCKET, Key=key, UploadId=up)


def upload_part(s3: Any, key: str, up: str, n: int, data: bytes) -> Callable[[], Outcome]:
    return lambda: call(s3.upload_part, Bucket=BUCKET, Key=key, UploadId=up, PartNumber=n,
                        Body=data)


def upload_listed(s3: Any, key: str, up: str) -> bool:
    uploads = s3.list_multipart_uploads(Bucket=BUCKET, Prefix=key).get("Uploads", [])
    return any(u["UploadId"] == up for u in uploads)


# -- the races --------------------------------------------------------------------------------
def test_same_part_twice_at_once(clients: tuple[Any, Any]) -> None:
    a, b = clients
    for i in range(ROUNDS):
        key = f"same-part/{i}"
        up = a.create_multipart_upload(Bucket=BUCKET, Key=key)["UploadId"]
        one, two = body(f"one{i}", 70000), body(f"two{i}", 90000)
        outs = together(upload_part(a, key, up, 1, one), upload_part(b, key, up, 1, two))
        assert [o[0] for o in outs] == [200, 200]
        parts = a.list_parts(Bucket=BUCKET, Key=key, UploadId=up)["Parts"]
        assert len(parts) == 1 and parts[0]["PartNumber"] == 1
        winner = one if parts[0]["ETag"] == md5(one) else two
        assert (parts[0]["ETag"], parts[0]["Size"]) == (md5(winner), len(winner))
        loser = two if winner is one else one
        status, code = complete(a, key, up, (1, md5(loser)))()
        assert (status, code) == (400, "InvalidPart")
        assert complete(a, key, up, (1, md5(winner)))()[0] == 200
        assert read(a, key) == winner


def test_complete_racing_abort(clients: tuple[Any, Any]) -> None:
    a, b = clients
    seen = set()
    for i in range(ROUNDS):
        key, data = f"complete-abort/{i}", body(f"ca{i}")
        up, etag = new_upload(a, key, data)
        (c_status, c_resp), (a_status, a_resp) = together(complete(a, key, up, (1, etag)),
                                                          abort(b, key, up))
        seen.add((c_status, a_status))
        if c_status == 200:  # completed: whatever the abort said, the object is whole
            assert c_resp["ETag"] == multipart_etag(data)
            assert read(a, key) == data
            assert a_status == 204 or (a_status, a_resp) == (404, "NoSuchUpload")
        else:  # aborted first
            assert (c_status, c_resp) == (404, "NoSuchUpload") and a_status == 204
            assert read(a, key) is None
        assert not upload_listed(a, key, up)
    print(f"complete/abort outcomes: {sorted(seen)}")


def test_delete_racing_complete(clients: tuple[Any, Any]) -> None:
    a, b = clients
    for i in range(ROUNDS):
        key, old, new = f"delete-complete/{i}", body(f"old{i}"), body(f"new{i}")
        a.put_object(Bucket=BUCKET, Key=key, Body=old)
        up, etag = new_upload(a, key, new)
        (c_status, _), (d_status, _) = together(
            complete(a, key, up, (1, etag)),
            lambda key=key: call(b.delete_object, Bucket=BUCKET, Key=key))
        assert (c_status, d_status) == (200, 204)
        assert read(a, key) in (None, new)  # deleted after, or completed after: never old
        head = call(a.head_object, Bucket=BUCKET, Key=key)[0]
        assert head == (404 if read(a, key) is None else 200)


def test_two_completes_of_one_upload(clients: tuple[Any, Any]) -> None:
    a, b = clients
    for i in range(ROUNDS):
        key, data = f"double/{i}", body(f"dd{i}")
        up, etag = new_upload(a, key, data)
        outs = together(complete(a, key, up, (1, etag)), complete(b, key, up, (1, etag)))
        # Whichever finishes second answers as a repeated Complete does: the same result.
        assert [status for status, _ in outs] == [200, 200], outs
        assert outs[0][1]["ETag"] == outs[1][1]["ETag"] == multipart_etag(data)
        assert read(a, key) == data
        assert not upload_listed(a, key, up)


def test_completes_with_different_part_lists(clients: tuple[Any, Any]) -> None:
    """One Complete lists part 1, the other part 2: the object is exactly one of them."""
    a, b = clients
    for i in range(ROUNDS):
        key, p1, p2 = f"lists/{i}", body(f"p1-{i}"), body(f"p2-{i}")
        up, e1 = new_upload(a, key, p1)
        e2 = a.upload_part(Bucket=BUCKET, Key=key, UploadId=up, PartNumber=2, Body=p2)["ETag"]
        outs = together(complete(a, key, up, (1, e1)), complete(b, key, up, (2, e2)))
        ok = [(n, resp) for n, (status, resp) in enumerate(outs) if status == 200]
        assert len(ok) >= 1, outs
        got = read(a, key)
        assert got in (p1, p2)
        winner = 0 if got == p1 else 1
        assert winner in [n for n, _ in ok], (outs, winner)
        assert a.head_object(Bucket=BUCKET, Key=key)["ETag"] == ok[[n for n, _ in ok]
                                                                    .index(winner)][1]["ETag"]


@pytest.mark.parametrize("ender", ["complete", "abort"])
def test_part_upload_racing_the_end(clients: tuple[Any, Any], ender: str) -> None:
    """A part that arrives while the upload ends is refused or discarded, never leaked."""
    a, b = clients
    for i in range(ROUNDS):
        key, p1 = f"late-{ender}/{i}", body(f"late{i}")
        up, e1 = new_upload(a, key, p1)
        end = complete(a, key, up, (1, e1)) if ender == "complete" else abort(a, key, up)
        (e_status, _), (p_status, p_resp) = together(
            end, upload_part(b, key, up, 2, body(f"extra{i}", 200000)))
        assert e_status in (200, 204)
        assert p_status == 200 or (p_status, p_resp) == (404, "NoSuchUpload")
        assert read(a, key) == (p1 if ender == "complete" else None)
        assert not upload_listed(a, key, up)


# -- reads racing writes, with the window between metadata and file open made wide ----------
SLOW_OPEN = """
import os, time
from shoal.store import fs

_open = fs.FsBlobStore.open


def open_slowly(self, blob_id):
    if os.path.exists(os.environ["SHOAL_TEST_SLOW_OPEN_FLAG"]):
        time.sleep(0.5)
    return _open(self, blob_id)


fs.FsBlobStore.open = open_slowly
"""


@pytest.fixture(scope="module")
def slow_reader(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Any]]:
    """A server whose blob opens take 0.5 s while a flag file exists."""
    hooks = tmp_path_factory.mktemp("slow-open")
    flag = hooks / "flag"
    env = {**with_sitecustomize(hooks, SLOW_OPEN), "SHOAL_TEST_SLOW_OPEN_FLAG": str(flag)}
    with own_server(env=env) as srv:
        s3 = make_client(srv.endpoint)
        s3.create_bucket(Bucket=BUCKET)
        yield s3, flag


def read_while(s3: Any, flag: Any, key: str, writer: Callable[[], Any]) -> Outcome:
    """GET ``key`` with slow blob opens, and run ``writer`` while the GET waits to open."""
    flag.write_text("1")
    try:
        result: list[Outcome] = []
        reader = threading.Thread(target=lambda: result.append(
            call(s3.get_object, Bucket=BUCKET, Key=key)))
        reader.start()
        time.sleep(0.2)  # the GET has its metadata and is opening the blob
        writer()
        reader.join(30)
    finally:
        flag.unlink()
    status, resp = result[0]
    return (status, resp["Body"].read() if status == 200 else resp)


def test_get_racing_overwrite(slow_reader: tuple[Any, Any]) -> None:
    s3, flag = slow_reader
    old, new = body("old", 3000), body("new", 3000)
    s3.put_object(Bucket=BUCKET, Key="read-race", Body=old)
    status, got = read_while(s3, flag, "read-race",
                             lambda: s3.put_object(Bucket=BUCKET, Key="read-race", Body=new))
    assert status == 200 and got in (old, new), (status, got)


def test_get_racing_delete(slow_reader: tuple[Any, Any]) -> None:
    s3, flag = slow_reader
    old = body("old", 3000)
    s3.put_object(Bucket=BUCKET, Key="read-race", Body=old)
    status, got = read_while(s3, flag, "read-race",
                             lambda: s3.delete_object(Bucket=BUCKET, Key="read-race"))
    assert (status, got) in ((200, old), (404, "NoSuchKey")), (status, got)


def test_zz_no_leaks(racer: LiveServer) -> None:
    """After all the races (this test runs last in the module): no orphan blob, no temp file."""
    fsck_clean(racer.data_dir)
