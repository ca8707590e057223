"""Disk full: a write that runs out of space is a clean 503 with Retry-After; what was stored
before stays whole, nothing half-written is left behind, and the server recovers once space
is freed.

Two ways to run out of space:

* a real one: ``shoal serve`` runs in a private mount namespace (``unshare``) whose data dir
  is a small tmpfs. Skipped where mount namespaces are not allowed. The test reads the data
  dir through ``/proc/<pid>/root`` to look for temp files and to run ``shoal fsck``;
* an injected one, which always runs: a ``sitecustomize`` module in the server process makes
  blob writes (or metadata writes) fail with ENOSPC (SQLITE_FULL) while a flag file exists.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from .conftest import make_client
from .server import (
    LiveServer,
    fsck_clean,
    own_server,
    serving,
    temp_data_dir,
    with_sitecustomize,
)

MiB = 1 << 20
TMPFS_MIB = 24
BUCKET = "full"


class NamespacedServer(LiveServer):
    """``shoal serve`` on a tmpfs of ``TMPFS_MIB`` MiB mounted in its own mount namespace."""

    def command(self) -> list[str]:
        script = (f'mount -t tmpfs -o size={TMPFS_MIB}m shoal-full "$1" && exec "$2" -m shoal '
                  f'serve --host 127.0.0.1 --port "$3" --data-dir "$1"')
        return [*unshare_prefix(), "sh", "-c", script, "sh", self.data_dir, sys.executable,
                str(self.port)]

    @property
    def inside(self) -> str:
        """The data dir as the server sees it (its mount namespace), from outside. Good for
        listing files; SQLite does not see the WAL's content by this path."""
        assert self.proc is not None
        return f"/proc/{self.proc.pid}/root{self.data_dir}"

    def fsck_clean(self) -> None:
        """``shoal fsck`` run inside the server's mount namespace finds nothing wrong."""
        assert self.proc is not None
        enter = ["nsenter", "-t", str(self.proc.pid), "-m"]
        if os.geteuid() != 0:
            enter[3:3] = ["-U", "--preserve-credentials"]
        fsck_clean(self.data_dir, prefix=enter)


def unshare_prefix() -> list[str]:
    return ["unshare", "-m"] if os.geteuid() == 0 else ["unshare", "-r", "-m"]


def namespaces_work() -> bool:
    if shutil.which("unshare") is None or shutil.which("nsenter") is None:
        return False
    probe = [*unshare_prefix(), "sh", "-c", "mount -t tmpfs -o size=1m none /mnt 2>/dev/null "
             "|| mount -t tmpfs -o size=1m none /tmp"]
    try:
        return subprocess.run(probe, capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def assert_out_of_space(exc: pytest.ExceptionInfo[ClientError]) -> None:
    resp = exc.value.response
    meta = resp["ResponseMetadata"]
    assert (meta["HTTPStatusCode"], resp["Error"]["Code"]) == (503, "ServiceUnavailable"), resp
    assert meta["HTTPHeaders"].get("retry-after", "").isdigit(), meta["HTTPHeaders"]


def put(s3, key: str, data: bytes) -> bool:  # noqa: ANN001
    """True when stored; False on the out-of-space answer; anything else fails the test."""
    try:
        s3.put_object(Bucket=BUCKET, Key=key, Body=data)
        return True
    except ClientError as err:
        assert_out_of_space(pytest.ExceptionInfo.from_exc_info((type(err), err, None)))
        return False


def check_stored(s3, stored: dict[str, str]) -> None:  # noqa: ANN001
    """Every acknowledged object reads back whole, and the listing shows exactly them."""
    for key, digest in stored.items():
        body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        assert hashlib.md5(body).hexdigest() == digest, key
    listed = set()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        listed |= {o["Key"] for o in page.get("Contents", [])}
    assert listed == set(stored)


def random_bytes(size: int, seed: int) -> bytes:
    block = hashlib.sha256(str(seed).encode()).digest() * 2048  # 64 KiB
    return (block * (size // len(block) + 1))[:size]


# -- a real full disk -------------------------------------------------------------------------
def tmpfs_server(reserve: int) -> Iterator[NamespacedServer]:
    if not namespaces_work():
        pytest.skip("needs a mount namespace (unshare -m, or unprivileged user namespaces)")
    path = temp_data_dir()
    with serving(NamespacedServer(data_dir=path, log_path=path + ".log",
                                  env={"SHOAL_FREE_SPACE_RESERVE": str(reserve)})) as srv:
        yield srv
    with contextlib.suppress(OSError):
        os.remove(path + ".log")


@pytest.fixture
def bare_tmpfs() -> Iterator[NamespacedServer]:
    """No free-space reserve: blob writes run into the kernel's ENOSPC."""
    yield from tmpfs_server(0)


@pytest.fixture
def reserved_tmpfs() -> Iterator[NamespacedServer]:
    """Blob writes stop 2 MiB short of full, which metadata writes can still use."""
    yield from tmpfs_server(2 * MiB)


def put_before(s3) -> tuple[dict[str, str], str]:  # noqa: ANN001
    """The bucket, with three 1 MiB objects (returned: key -> MD5) and a pending upload on
    ``mp`` (returned: its id)."""
    s3.create_bucket(Bucket=BUCKET)
    stored: dict[str, str] = {}
    for i in range(3):
        data = random_bytes(MiB, -i)
        s3.put_object(Bucket=BUCKET, Key=f"before/{i}", Body=data)
        stored[f"before/{i}"] = hashlib.md5(data).hexdigest()
    return stored, s3.create_multipart_upload(Bucket=BUCKET, Key="mp")["UploadId"]


def complete_mp(s3, up: str, stored: dict[str, str], seed: int) -> None:  # noqa: ANN001
    """Upload 1 MiB as part 1 of ``mp`` and complete it; then every stored object, ``mp`` now
    too, reads back whole."""
    data = random_bytes(MiB, seed)
    etag = s3.upload_part(Bucket=BUCKET, Key="mp", UploadId=up, PartNumber=1, Body=data)["ETag"]
    s3.complete_multipart_upload(Bucket=BUCKET, Key="mp", UploadId=up,
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
    stored["mp"] = hashlib.md5(data).hexdigest()
    check_stored(s3, stored)


def test_kernel_enospc(bare_tmpfs: NamespacedServer) -> None:
    s3 = make_client(bare_tmpfs.endpoint)
    stored, up = put_before(s3)
    with pytest.raises(ClientError) as exc:  # bigger than the whole disk
        s3.put_object(Bucket=BUCKET, Key="huge", Body=random_bytes(2 * TMPFS_MIB * MiB, 7))
    assert_out_of_space(exc)
    with pytest.raises(ClientError) as exc:
        s3.upload_part(Bucket=BUCKET, Key="mp", UploadId=up, PartNumber=1,
                       Body=random_bytes(2 * TMPFS_MIB * MiB, 8))
    assert_out_of_space(exc)
    assert not os.listdir(os.path.join(bare_tmpfs.inside, "tmp")), "temp files left behind"
    check_stored(s3, stored)
    complete_mp(s3, up, stored, 9)  # the failed writes freed what they had taken
    bare_tmpfs.fsck_clean()


def fill_down(s3, stored: dict[str, str]) -> int:  # noqa: ANN001
    """PUT ever smaller objects, each size until the first refusal, so that the disk ends up
    as full as blob writes may make it. Returns how many PUTs were refused."""
    refused, n = 0, 0
    for size in (4 * MiB, MiB, 256 << 10, 64 << 10, 16 << 10, 4 << 10):
        for _ in range(64):
            n += 1
            data = random_bytes(size, n)
            if not put(s3, f"fill/{n:04d}", data):
                refused += 1
                break
            stored[f"fill/{n:04d}"] = hashlib.md5(data).hexdigest()
    return refused


def test_reserve_keeps_metadata_writable(reserved_tmpfs: NamespacedServer) -> None:
    s3 = make_client(reserved_tmpfs.endpoint)
    stored, up = put_before(s3)
    assert fill_down(s3, stored) == 6  # every size ran out
    with pytest.raises(ClientError) as exc:
        s3.upload_part(Bucket=BUCKET, Key="mp", UploadId=up, PartNumber=1, Body=b"p" * 5000)
    assert_out_of_space(exc)
    assert not os.listdir(os.path.join(reserved_tmpfs.inside, "tmp")), "temp files left behind"
    check_stored(s3, stored)
    for i in range(20):  # metadata-only writes still work on a full disk
        s3.put_object_tagging(Bucket=BUCKET, Key="before/0",
                              Tagging={"TagSet": [{"Key": "k", "Value": str(i)}]})
        u = s3.create_multipart_upload(Bucket=BUCKET, Key=f"mp{i}")["UploadId"]
        s3.abort_multipart_upload(Bucket=BUCKET, Key=f"mp{i}", UploadId=u)
    for key in [k for k in stored if k.startswith("fill/")][:2]:  # so does freeing space
        s3.delete_object(Bucket=BUCKET, Key=key)
        del stored[key]
    complete_mp(s3, up, stored, 99)
    reserved_tmpfs.fsck_clean()


# -- an injected one --------------------------------------------------------------------------
FAULTS = '''
import errno, os, sqlite3

from shoal.store import fs, sqlite as meta

_FLAG = os.environ["SHOAL_TEST_FAULT_FLAG"]


def _fault():
    try:
        with open(_FLAG) as f:
            return f.read().strip()
    except FileNotFoundError:
        return ""


_write = fs.FsBlobWriter.write


def write(self, data):
    if _fault() == "blob":
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), self._tmp)
    return _write(self, data)


_put = meta.SqliteMetaStore.put_object


def put_object(self, record):
    if _fault() == "meta":
        exc = sqlite3.OperationalError("database or disk is full")
        exc.sqlite_errorcode = 13
        raise exc
    return _put(self, record)


fs.FsBlobWriter.write = write
meta.SqliteMetaStore.put_object = put_object
'''


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, Path]]:
    hooks = tmp_path_factory.mktemp("hooks")
    flag = hooks / "fault"
    env = {**with_sitecustomize(hooks, textwrap.dedent(FAULTS)), "SHOAL_TEST_FAULT_FLAG": str(flag)}
    with own_server(env=env) as srv:
        yield srv, flag


@pytest.mark.parametrize("fault", ["blob", "meta"])
def test_injected_enospc(faulty: tuple[LiveServer, Path], fault: str) -> None:
    srv, flag = faulty
    s3 = make_client(srv.endpoint)
    if BUCKET not in {b["Name"] for b in s3.list_buckets()["Buckets"]}:
        s3.create_bucket(Bucket=BUCKET)
    key, old = f"{fault}/obj", random_bytes(300_000, 1)
    s3.put_object(Bucket=BUCKET, Key=key, Body=old)
    up = s3.create_multipart_upload(Bucket=BUCKET, Key=key)["UploadId"]
    flag.write_text(fault)
    try:
        with pytest.raises(ClientError) as exc:
            s3.put_object(Bucket=BUCKET, Key=key, Body=random_bytes(3 * MiB, 2))
        assert_out_of_space(exc)
        with pytest.raises(ClientError) as exc:
            s3.copy_object(Bucket=BUCKET, Key=key + "-copy", CopySource=f"{BUCKET}/{key}")
        assert_out_of_space(exc)
        if fault == "blob":
            with pytest.raises(ClientError) as exc:
                s3.upload_part(Bucket=BUCKET, Key=key, UploadId=up, PartNumber=1, Body=b"x" * 9)
            assert_out_of_space(exc)
    finally:
        flag.unlink()
    assert s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() == old
    with pytest.raises(ClientError):
        s3.head_object(Bucket=BUCKET, Key=key + "-copy")
    assert not os.listdir(os.path.join(srv.data_dir, "tmp"))
    s3.abort_multipart_upload(Bucket=BUCKET, Key=key, UploadId=up)
    s3.delete_object(Bucket=BUCKET, Key=key)
    fsck_clean(srv.data_dir)
