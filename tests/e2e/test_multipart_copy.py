"""UploadPartCopy: whole sources, ranges (also across a multipart source's parts),
copy-source conditionals and bad ranges."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from typing import Any

import pytest

from .test_multipart_support import (
    MIN_PART,
    client_error,
    code_of,
    complete,
    data,
    s3_etag,
    upload_parts,
)

SRC = data(MIN_PART + 4096, 7)


@pytest.fixture
def src(s3: Any, bucket: str) -> str:
    s3.put_object(Bucket=bucket, Key="src object", Body=SRC)
    return "src object"


def _copy(s3: Any, bucket: str, upload_id: str, n: int, source: str, **kw: Any) -> dict[str, Any]:
    return s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId=upload_id, PartNumber=n,
                               CopySource={"Bucket": bucket, "Key": source}, **kw)


def test_copy_whole_and_ranges(s3: Any, bucket: str, src: str) -> None:
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="dst")["UploadId"]
    whole = _copy(s3, bucket, upload_id, 1, src)
    assert whole["CopyPartResult"]["ETag"] == f'"{hashlib.md5(SRC).hexdigest()}"'
    assert whole["CopyPartResult"]["LastModified"].year >= 2024
    ranged = _copy(s3, bucket, upload_id, 2, src, CopySourceRange="bytes=100-199")
    assert ranged["CopyPartResult"]["ETag"] == f'"{hashlib.md5(SRC[100:200]).hexdigest()}"'
    end = len(SRC) - 1
    last = _copy(s3, bucket, upload_id, 3, src, CopySourceRange=f"bytes={end}-{end}")
    parts = s3.list_parts(Bucket=bucket, Key="dst", UploadId=upload_id)["Parts"]
    assert [p["Size"] for p in parts] == [len(SRC), 100, 1]
    etags = {1: whole["CopyPartResult"]["ETag"], 2: ranged["CopyPartResult"]["ETag"],
             3: last["CopyPartResult"]["ETag"]}
    err = client_error(lambda: complete(s3, bucket, "dst", upload_id, etags))
    assert code_of(err) == (400, "EntityTooSmall")  # part 2 is 100 bytes and not last
    done = complete(s3, bucket, "dst", upload_id, {1: etags[1], 2: etags[2]})
    assert done["ETag"] == s3_etag([SRC, SRC[100:200]])
    assert s3.get_object(Bucket=bucket, Key="dst")["Body"].read() == SRC + SRC[100:200]


def test_copy_range_across_parts_of_a_multipart_source(s3: Any, bucket: str) -> None:
    p1, p2 = data(MIN_PART, 11), data(3000, 12)
    upload_id, etags = upload_parts(s3, bucket, "mp-src", [p1, p2])
    complete(s3, bucket, "mp-src", upload_id, dict(enumerate(etags, 1)))
    whole = p1 + p2
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="dst")["UploadId"]
    first, last = MIN_PART - 500, MIN_PART + 499
    r = _copy(s3, bucket, upload_id, 1, "mp-src", CopySourceRange=f"bytes={first}-{last}")
    assert r["CopyPartResult"]["ETag"] == f'"{hashlib.md5(whole[first:last + 1]).hexdigest()}"'
    complete(s3, bucket, "dst", upload_id, {1: r["CopyPartResult"]["ETag"]})
    assert s3.get_object(Bucket=bucket, Key="dst")["Body"].read() == whole[first:last + 1]


def test_copy_keeps_the_uploads_metadata_not_the_sources(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="s", Body=b"abc", ContentType="text/src",
                  Metadata={"from": "source"})
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="dst", ContentType="text/dst",
                                           Metadata={"from": "upload"})["UploadId"]
    r = _copy(s3, bucket, upload_id, 1, "s")
    complete(s3, bucket, "dst", upload_id, {1: r["CopyPartResult"]["ETag"]})
    head = s3.head_object(Bucket=bucket, Key="dst")
    assert (head["ContentType"], head["Metadata"]) == ("text/dst", {"from": "upload"})


def test_copy_source_conditionals(s3: Any, bucket: str, src: str) -> None:
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="dst")["UploadId"]
    etag = s3.head_object(Bucket=bucket, Key=src)["ETag"]
    past = dt.datetime(2001, 1, 1, tzinfo=dt.UTC)
    future = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    failing = [{"CopySourceIfMatch": '"0123456789abcdef0123456789abcdef"'},
               {"CopySourceIfNoneMatch": etag},
               {"CopySourceIfModifiedSince": future},
               {"CopySourceIfUnmodifiedSince": past}]
    for cond in failing:
        err = client_error(lambda cond=cond: _copy(s3, bucket, upload_id, 1, src, **cond))
        assert code_of(err) == (412, "PreconditionFailed"), cond
    assert s3.list_parts(Bucket=bucket, Key="dst", UploadId=upload_id).get("Parts", []) == []
    passing = [{"CopySourceIfMatch": etag}, {"CopySourceIfNoneMatch": '"nope"'},
               {"CopySourceIfModifiedSince": past}, {"CopySourceIfUnmodifiedSince": future},
               {"CopySourceIfMatch": etag, "CopySourceIfUnmodifiedSince": past}]
    for n, cond in enumerate(passing, start=1):
        _copy(s3, bucket, upload_id, n, src, **cond)
    parts = s3.list_parts(Bucket=bucket, Key="dst", UploadId=upload_id)["Parts"]
    assert [p["PartNumber"] for p in parts] == [1, 2, 3, 4, 5]


@pytest.mark.parametrize(("rng", "expected"), [
    ("bytes=10-5", (400, "InvalidArgument")),
    ("bytes=abc", (400, "InvalidArgument")),
    ("bytes=-10", (400, "InvalidArgument")),
    ("items=0-10", (400, "InvalidArgument")),
    ("bytes=0-1,3-4", (400, "InvalidArgument")),
    (f"bytes=0-{len(SRC)}", (416, "InvalidRange")),
    (f"bytes={len(SRC)}-{len(SRC) + 10}", (416, "InvalidRange")),
])
def test_copy_bad_ranges(s3: Any, bucket: str, src: str, rng: str,
                         expected: tuple[int, str]) -> None:
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="dst")["UploadId"]
    err = client_error(lambda: _copy(s3, bucket, upload_id, 1, src, CopySourceRange=rng))
    assert code_of(err) == expected
    assert s3.list_parts(Bucket=bucket, Key="dst", UploadId=upload_id).get("Parts", []) == []


def test_copy_errors(s3: Any, bucket: str, src: str) -> None:
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="dst")["UploadId"]
    err = client_error(lambda: _copy(s3, bucket, upload_id, 1, "missing"))
    assert code_of(err) == (404, "NoSuchKey")
    err = client_error(lambda: s3.upload_part_copy(
        Bucket=bucket, Key="dst", UploadId=upload_id, PartNumber=1,
        CopySource={"Bucket": "no-such-bucket-mp", "Key": "x"}))
    assert code_of(err) == (404, "NoSuchBucket")
    err = client_error(lambda: _copy(s3, bucket, "nope", 1, src))
    assert code_of(err) == (404, "NoSuchUpload")
    err = client_error(lambda: _copy(s3, bucket, upload_id, 10001, src))
    assert code_of(err) == (400, "InvalidArgument")


def test_copy_reupload_replaces(s3: Any, bucket: str, src: str) -> None:
    upload_id, [etag] = upload_parts(s3, bucket, "dst", [b"uploaded"])
    r = _copy(s3, bucket, upload_id, 1, src, CopySourceRange="bytes=0-9")
    [part] = s3.list_parts(Bucket=bucket, Key="dst", UploadId=upload_id)["Parts"]
    assert (part["ETag"], part["Size"]) == (r["CopyPartResult"]["ETag"], 10)
    assert part["ETag"] != etag


def test_copy_into_a_checksummed_upload(s3: Any, bucket: str, src: str) -> None:
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="dst",
                                           ChecksumAlgorithm="SHA256")["UploadId"]
    r = _copy(s3, bucket, upload_id, 1, src, CopySourceRange="bytes=0-99")
    expected = base64.b64encode(hashlib.sha256(SRC[:100]).digest()).decode()
    assert r["CopyPartResult"]["ChecksumSHA256"] == expected
    [part] = s3.list_parts(Bucket=bucket, Key="dst", UploadId=upload_id)["Parts"]
    assert part["ChecksumSHA256"] == expected


def test_copy_with_sse_c_on_both_sides(s3: Any, bucket: str) -> None:
    src_key = {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": b"s" * 32}
    dst_key = {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": b"d" * 32}
    s3.put_object(Bucket=bucket, Key="secret-src", Body=b"0123456789", **src_key)
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="dst", **dst_key)["UploadId"]
    copy_src = {"CopySourceSSECustomerAlgorithm": "AES256",
                "CopySourceSSECustomerKey": b"s" * 32}
    err = client_error(lambda: _copy(s3, bucket, upload_id, 1, "secret-src", **dst_key))
    assert code_of(err) == (400, "InvalidRequest")  # source key missing
    err = client_error(lambda: _copy(s3, bucket, upload_id, 1, "secret-src", **copy_src))
    assert code_of(err) == (400, "InvalidRequest")  # destination key missing
    r = _copy(s3, bucket, upload_id, 1, "secret-src", CopySourceRange="bytes=2-5",
              **copy_src, **dst_key)
    complete(s3, bucket, "dst", upload_id, {1: r["CopyPartResult"]["ETag"]})
    assert s3.get_object(Bucket=bucket, Key="dst", **dst_key)["Body"].read() == b"2345"
