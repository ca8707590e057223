"""End to end: object basics (digests, checksums, metadata, ranges, conditions, keys)."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import os
import threading
import time
from collections.abc import Iterator
from email.utils import formatdate
from urllib.parse import quote
from xml.etree import ElementTree

import pytest
import requests
from botocore.exceptions import ClientError

from .conftest import make_client
from .server import LiveServer, own_server
from .test_s3_auth import EMPTY_SHA256, sign_v4

DATA = bytes(range(100))


def code_of(exc: pytest.ExceptionInfo[ClientError]) -> tuple[int, str]:
    err = exc.value.response
    return err["ResponseMetadata"]["HTTPStatusCode"], err["Error"]["Code"]


def b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


def raises(code: str, status: int, fn, **kw) -> None:  # noqa: ANN001
    with pytest.raises(ClientError) as exc:
        fn(**kw)
    assert code_of(exc) == (status, code)


def assert_absent(s3, bucket: str, key: str) -> None:  # noqa: ANN001
    raises("404", 404, s3.head_object, Bucket=bucket, Key=key)


# --------------------------------------------------------------------------- digests


def test_content_md5(s3, bucket: str) -> None:  # noqa: ANN001
    good = b64(hashlib.md5(DATA).digest())
    put = s3.put_object(Bucket=bucket, Key="md5", Body=DATA, ContentMD5=good)
    assert put["ETag"] == f'"{hashlib.md5(DATA).hexdigest()}"'
    bad = b64(hashlib.md5(b"other").digest())
    raises("BadDigest", 400, s3.put_object, Bucket=bucket, Key="bad", Body=DATA, ContentMD5=bad)
    for invalid in ("not base64!", b64(b"short"), "", b64(hashlib.sha1(DATA).digest())):
        raises("InvalidDigest", 400, s3.put_object, Bucket=bucket, Key="bad", Body=DATA,
               ContentMD5=invalid)
    assert_absent(s3, bucket, "bad")


CHECKSUMS = ["CRC32", "CRC32C", "SHA1", "SHA256", "CRC64NVME"]


@pytest.mark.parametrize("algo", CHECKSUMS)
def test_checksum_stored_and_returned(s3, bucket: str, algo: str) -> None:  # noqa: ANN001
    put = s3.put_object(Bucket=bucket, Key="c", Body=DATA, ChecksumAlgorithm=algo)
    value = put[f"Checksum{algo}"]
    if algo in ("SHA1", "SHA256"):
        assert value == b64(hashlib.new(algo.lower(), DATA).digest())
    got = s3.get_object(Bucket=bucket, Key="c", ChecksumMode="ENABLED")
    assert got["Body"].read() == DATA
    assert got[f"Checksum{algo}"] == value
    head = s3.head_object(Bucket=bucket, Key="c", ChecksumMode="ENABLED")
    assert head[f"Checksum{algo}"] == value


@pytest.mark.parametrize("algo", CHECKSUMS)
def test_wrong_checksum(s3, bucket: str, algo: str) -> None:  # noqa: ANN001
    s3.put_object(Bucket=bucket, Key="w", Body=b"x", ChecksumAlgorithm=algo)
    wrong = s3.head_object(Bucket=bucket, Key="w", ChecksumMode="ENABLED")[f"Checksum{algo}"]
    raises("BadDigest", 400, s3.put_object, Bucket=bucket, Key="w2", Body=DATA,
           **{f"Checksum{algo}": wrong})
    assert_absent(s3, bucket, "w2")


def test_malformed_checksum_header(s3, bucket: str) -> None:  # noqa: ANN001
    raises("InvalidRequest", 400, s3.put_object, Bucket=bucket, Key="m", Body=DATA,
           ChecksumSHA256="short")
    assert_absent(s3, bucket, "m")


# --------------------------------------------------------------------------- metadata


def test_user_metadata_limit(s3, bucket: str) -> None:  # noqa: ANN001
    s3.put_object(Bucket=bucket, Key="m", Body=b"", Metadata={"Name": "v" * 2000, "a": "b"})
    meta = s3.head_object(Bucket=bucket, Key="m")["Metadata"]
    assert meta == {"name": "v" * 2000, "a": "b"}
    raises("MetadataTooLarge", 400, s3.put_object, Bucket=bucket, Key="big", Body=b"",
           Metadata={"big": "x" * 2100})
    assert_absent(s3, bucket, "big")


def test_system_metadata_round_trip(s3, bucket: str) -> None:  # noqa: ANN001
    expires = dt.datetime(2031, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    s3.put_object(Bucket=bucket, Key="sys", Body=b"zzz", ContentType="text/x-test; charset=utf-8",
                  CacheControl="max-age=60", ContentDisposition='attachment; filename="a.txt"',
                  ContentEncoding="gzip", ContentLanguage="de-DE", Expires=expires,
                  StorageClass="STANDARD_IA")
    for got in (s3.head_object(Bucket=bucket, Key="sys"), s3.get_object(Bucket=bucket, Key="sys")):
        assert got["ContentType"] == "text/x-test; charset=utf-8"
        assert got["CacheControl"] == "max-age=60"
        assert got["ContentDisposition"] == 'attachment; filename="a.txt"'
        assert got["ContentEncoding"] == "gzip"
        assert got["ContentLanguage"] == "de-DE"
        assert got["ExpiresString"] == "Thu, 02 Jan 2031 03:04:05 GMT"
        assert got["StorageClass"] == "STANDARD_IA"
    listed = s3.list_objects_v2(Bucket=bucket)["Contents"][0]
    assert listed["StorageClass"] == "STANDARD_IA"
    plain = s3.put_object(Bucket=bucket, Key="plain", Body=b"p")
    head = s3.head_object(Bucket=bucket, Key="plain")
    assert head["ContentType"] == "binary/octet-stream"
    assert "StorageClass" not in head and plain["ETag"] == head["ETag"]
    raises("InvalidStorageClass", 400, s3.put_object, Bucket=bucket, Key="x", Body=b"",
           StorageClass="NOPE")  # type: ignore[arg-type]


def test_response_overrides(s3, bucket: str) -> None:  # noqa: ANN001
    s3.put_object(Bucket=bucket, Key="o", Body=b"data", ContentType="text/plain")
    got = s3.get_object(Bucket=bucket, Key="o", ResponseContentType="image/png",
                        ResponseContentLanguage="fr", ResponseExpires=dt.datetime(2030, 1, 1),
                        ResponseCacheControl="no-cache",
                        ResponseContentDisposition="inline; filename=x.png",
                        ResponseContentEncoding="identity")
    assert got["ContentType"] == "image/png"
    assert got["ContentLanguage"] == "fr"
    assert got["CacheControl"] == "no-cache"
    assert got["ContentDisposition"] == "inline; filename=x.png"
    assert got["ContentEncoding"] == "identity"
    assert "2030" in got["ExpiresString"]
    assert got["Body"].read() == b"data"
    assert s3.head_object(Bucket=bucket, Key="o")["ContentType"] == "text/plain"


# --------------------------------------------------------------------------- ranges


@pytest.fixture
def hundred(s3, bucket: str) -> str:  # noqa: ANN001
    s3.put_object(Bucket=bucket, Key="r", Body=DATA)
    return bucket


@pytest.mark.parametrize(("header", "first", "last"), [
    ("bytes=0-9", 0, 9), ("bytes=-10", 90, 99), ("bytes=90-", 90, 99),
    ("bytes=95-1000", 95, 99), ("bytes=-500", 0, 99), ("bytes=42-42", 42, 42),
])
def test_range(s3, hundred: str, header: str, first: int, last: int) -> None:  # noqa: ANN001
    got = s3.get_object(Bucket=hundred, Key="r", Range=header)
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert got["ContentRange"] == f"bytes {first}-{last}/100"
    assert got["ContentLength"] == last - first + 1
    assert got["Body"].read() == DATA[first:last + 1]


@pytest.mark.parametrize("header", ["bytes=500-600", "bytes=100-100",
                                    "bytes=100-",
                                    "bytes=150-"])
def test_range_unsatisfiable(s3, hundred: str, header: str) -> None:  # noqa: ANN001
    raises("InvalidRange", 416, s3.get_object, Bucket=hundred, Key="r", Range=header)


@pytest.mark.parametrize("header", ["bytes=0-1,5-6", "bytes=abc", "items=0-5", "bytes=9-3"])
def test_range_served_whole(s3, hundred: str, header: str) -> None:  # noqa: ANN001
    got = s3.get_object(Bucket=hundred, Key="r", Range=header)
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert got["Body"].read() == DATA and "ContentRange" not in got


# --------------------------------------------------------------------------- conditions


def test_conditional_get(s3, hundred: str) -> None:  # noqa: ANN001
    head = s3.head_object(Bucket=hundred, Key="r")
    etag, lm = head["ETag"], head["LastModified"]
    before, after = lm - dt.timedelta(hours=1), lm + dt.timedelta(hours=1)
    ok = [{"IfMatch": etag}, {"IfMatch": "*"}, {"IfNoneMatch": '"nope"'},
          {"IfModifiedSince": before}, {"IfUnmodifiedSince": after},
          {"IfMatch": etag, "IfUnmodifiedSince": before}]
    for kw in ok:
        assert s3.get_object(Bucket=hundred, Key="r", **kw)["Body"].read() == DATA, kw
    failed = [{"IfMatch": '"nope"'}, {"IfUnmodifiedSince": before}]
    not_modified = [{"IfNoneMatch": etag}, {"IfNoneMatch": "*"}, {"IfModifiedSince": lm},
                    {"IfModifiedSince": after}, {"IfNoneMatch": etag, "IfModifiedSince": before}]
    for kw in failed:
        raises("PreconditionFailed", 412, s3.get_object, Bucket=hundred, Key="r", **kw)
        raises("412", 412, s3.head_object, Bucket=hundred, Key="r", **kw)
    for kw in not_modified:
        raises("304", 304, s3.get_object, Bucket=hundred, Key="r", **kw)
        raises("304", 304, s3.head_object, Bucket=hundred, Key="r", **kw)


# --------------------------------------------------------------------------- keys


STRANGE_KEYS = ["../../etc/passwd", "a//b", "./a/../b", "ünï/cödé ☃.txt", "/leading",
                "trailing/", "plus+and space", "percent%2Fencoded", "q?x=1&y#frag", "..", "."]


def test_strange_keys(server: LiveServer, s3, bucket: str) -> None:  # noqa: ANN001
    for key in STRANGE_KEYS:
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    listed = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"])
    assert listed == sorted(STRANGE_KEYS)
    for key in STRANGE_KEYS:
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == key.encode(), key
    parent = os.path.dirname(os.path.abspath(server.data_dir))
    with open("/etc/passwd", "rb") as f:
        assert f.read() != b"../../etc/passwd"
    assert not os.path.exists(os.path.join(parent, "etc"))
    assert not os.path.exists(os.path.join(parent, "b"))
    for root, _, files in os.walk(server.data_dir):
        for name in files:
            assert name not in ("passwd", "b", "leading"), os.path.join(root, name)


def test_dot_segments_not_normalised(server: LiveServer, s3, bucket: str) -> None:  # noqa: ANN001
    s3.put_object(Bucket=bucket, Key="b", Body=b"plain b")
    s3.put_object(Bucket=bucket, Key="./a/../b", Body=b"dotted")
    assert s3.get_object(Bucket=bucket, Key="b")["Body"].read() == b"plain b"
    assert s3.get_object(Bucket=bucket, Key="./a/../b")["Body"].read() == b"dotted"


def test_key_length(s3, bucket: str) -> None:  # noqa: ANN001
    ok = "k" * 1022 + "é"  # 1024 bytes, 1023 characters
    s3.put_object(Bucket=bucket, Key=ok, Body=b"1")
    assert s3.get_object(Bucket=bucket, Key=ok)["Body"].read() == b"1"
    raises("KeyTooLongError", 400, s3.put_object, Bucket=bucket, Key="k" * 1025, Body=b"1")
    raises("KeyTooLongError", 400, s3.put_object, Bucket=bucket, Key="k" * 1023 + "é", Body=b"")
    s3.delete_object(Bucket=bucket, Key=ok)


def test_empty_object(s3, bucket: str) -> None:  # noqa: ANN001
    put = s3.put_object(Bucket=bucket, Key="empty", Body=b"")
    assert put["ETag"] == '"d41d8cd98f00b204e9800998ecf8427e"'
    got = s3.get_object(Bucket=bucket, Key="empty")
    assert got["ContentLength"] == 0 and got["Body"].read() == b""
    assert s3.head_object(Bucket=bucket, Key="empty")["ContentLength"] == 0
    s3.delete_object(Bucket=bucket, Key="empty")
    s3.delete_object(Bucket=bucket, Key="empty")  # absent: still 204
    assert_absent(s3, bucket, "empty")


# --------------------------------------------------------------------------- envelope


def _ids(headers: dict[str, str]) -> None:
    lower = {k.lower(): v for k, v in headers.items()}
    assert lower.get("x-amz-request-id") and lower.get("x-amz-id-2"), headers


def test_request_ids_everywhere(server: LiveServer, s3, bucket: str) -> None:  # noqa: ANN001
    responses = [s3.put_object(Bucket=bucket, Key="i", Body=b"1"),
                 s3.get_object(Bucket=bucket, Key="i"), s3.head_object(Bucket=bucket, Key="i"),
                 s3.list_objects_v2(Bucket=bucket), s3.list_buckets(),
                 s3.delete_object(Bucket=bucket, Key="i")]
    for resp in responses:
        _ids(resp["ResponseMetadata"]["HTTPHeaders"])
    for method, path in [("GET", f"/{bucket}/missing"), ("HEAD", f"/{bucket}/missing"),
                         ("GET", "/no-such-bucket-xyz/k"), ("PATCH", f"/{bucket}"),
                         ("GET", "/%ff%fe")]:
        resp = requests.request(method, server.endpoint + path, timeout=10)
        assert resp.status_code >= 400
        _ids(dict(resp.headers))
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="missing")
    _ids(exc.value.response["ResponseMetadata"]["HTTPHeaders"])
    assert exc.value.response["Error"]["Code"] == "NoSuchKey"


@pytest.mark.parametrize(("method", "query"), [("PUT", "website"), ("GET", "torrent"),
                                               ("GET", "website"), ("PUT", "logging")])
def test_unsupported_operation(server: LiveServer, bucket: str, method: str,
                               query: str) -> None:
    key = "/k" if query == "torrent" else ""
    url = f"{server.endpoint}/{bucket}{key}?{query}"
    body = b"<x/>" if method == "PUT" else b""
    s = sign_v4(method, url, {}, hashlib.sha256(body).hexdigest())
    resp = requests.request(method, url, data=body, headers=s.headers, timeout=10)
    assert resp.status_code == 501, resp.text
    assert ElementTree.fromstring(resp.content).findtext("Code") == "NotImplemented"
    _ids(dict(resp.headers))


# --------------------------------------------------------------------------- large bodies


def test_large_object_streams_and_server_stays_responsive(s3, bucket: str) -> None:  # noqa: ANN001
    size = 24 * 1024 * 1024 + 7
    blob = os.urandom(1 << 20)
    data = (blob * 25)[:size]
    digest = hashlib.md5(data).hexdigest()
    s3.put_object(Bucket=bucket, Key="big", Body=data)
    got = s3.get_object(Bucket=bucket, Key="big")
    body = got["Body"]
    first = body.read(1 << 16)  # leave the rest of the response unread for now
    latencies: list[float] = []

    def probe() -> None:
        t0 = time.monotonic()
        s3.head_object(Bucket=bucket, Key="big")
        latencies.append(time.monotonic() - t0)

    thread = threading.Thread(target=probe)
    thread.start()
    thread.join(10)
    assert latencies and latencies[0] < 5
    rest = body.read()
    assert hashlib.md5(first + rest).hexdigest() == digest
    part = s3.get_object(Bucket=bucket, Key="big", Range=f"bytes={size - 10}-")["Body"].read()
    assert part == data[-10:]


def _peak_rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


@pytest.fixture(scope="module")
def fresh_server() -> Iterator[LiveServer]:
    """A server of its own, so its peak memory reflects only the test below."""
    with own_server() as srv:
        yield srv


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs procfs")
def test_big_bodies_are_streamed_not_buffered(fresh_server: LiveServer) -> None:
    s3 = make_client(fresh_server.endpoint)
    s3.create_bucket(Bucket="mem")
    s3.put_object(Bucket="mem", Key="warm", Body=b"w" * 100000)
    s3.get_object(Bucket="mem", Key="warm")["Body"].read()
    assert fresh_server.proc is not None
    pid = fresh_server.proc.pid
    before = _peak_rss(pid)
    size = 64 * 1024 * 1024
    data = os.urandom(1 << 20) * 64
    s3.put_object(Bucket="mem", Key="big", Body=data)
    got = hashlib.md5()
    for piece in s3.get_object(Bucket="mem", Key="big")["Body"].iter_chunks(1 << 20):
        got.update(piece)
    assert got.hexdigest() == hashlib.md5(data).hexdigest()
    grown = _peak_rss(pid) - before
    assert grown < size // 2, f"server peak memory grew by {grown >> 20} MiB for a 64 MiB object"


def test_if_modified_since_http_date(server: LiveServer, s3, bucket: str) -> None:  # noqa: ANN001
    s3.put_object(Bucket=bucket, Key="d", Body=b"1")
    url = f"{server.endpoint}/{bucket}/{quote('d')}"
    future = formatdate(time.time() + 3600, usegmt=True)
    s = sign_v4("GET", url, {"if-modified-since": future}, EMPTY_SHA256)
    resp = requests.get(url, headers=s.headers, timeout=10)
    assert resp.status_code == 304 and resp.content == b""
    assert resp.headers["ETag"] == f'"{hashlib.md5(b"1").hexdigest()}"'
