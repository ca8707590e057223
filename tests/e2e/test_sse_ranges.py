"""Ranged GETs of encrypted objects (single PUT and multipart, each SSE mode) return the right
bytes for any range (hypothesis); parts and part copies of encrypted uploads and sources."""

from __future__ import annotations

import os
import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .test_sse import KEY, KEY_B, MIN_PART, bkt, code_of, s3c, sse_server, ssec  # noqa: F401

CHUNK = 64 * 1024  # the sealed chunk size: ranges around its multiples matter most
READ = {"sse-s3": {}, "kms": {}, "sse-c": ssec()}
WRITE = {"sse-s3": {"ServerSideEncryption": "AES256"},
         "kms": {"ServerSideEncryption": "aws:kms"}, "sse-c": ssec()}


def payload(n: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(n)


def upload(client: Any, bucket: str, key: str, parts: list[bytes], args: dict[str, Any]) -> None:
    up = client.create_multipart_upload(Bucket=bucket, Key=key, **args)["UploadId"]
    part_args = ssec() if "SSECustomerKey" in args else {}
    etags = [client.upload_part(Bucket=bucket, Key=key, UploadId=up, PartNumber=n, Body=p,
                                **part_args)["ETag"] for n, p in enumerate(parts, 1)]
    client.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=up, MultipartUpload={
        "Parts": [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, 1)]})


@pytest.fixture(scope="module")
def objects(s3c: Any) -> dict[str, bytes]:  # noqa: F811
    """Per mode: a single-PUT object and a multipart one (parts not chunk-aligned)."""
    bucket = f"sse-ranges-{os.getpid()}"
    s3c.create_bucket(Bucket=bucket)
    single = payload(5 * CHUNK + 123, 1)
    parts = [payload(MIN_PART + 1, 2), payload(CHUNK + 7, 3)]
    out = {"bucket": bucket.encode()}
    for mode, args in WRITE.items():
        s3c.put_object(Bucket=bucket, Key=f"{mode}/single", Body=single, **args)
        upload(s3c, bucket, f"{mode}/multi", parts, args)
        out[f"{mode}/single"], out[f"{mode}/multi"] = single, b"".join(parts)
    return out


def near_chunk_edges(size: int) -> st.SearchStrategy[int]:
    edges = [i * CHUNK + d for i in range(size // CHUNK + 1) for d in (-1, 0, 1)]
    edges += [MIN_PART + d for d in (-1, 0, 1, 2)]
    return st.sampled_from([e for e in edges if 0 <= e < size]) | st.integers(0, size - 1)


@settings(max_examples=25, deadline=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
@pytest.mark.parametrize("mode", list(WRITE))
@pytest.mark.parametrize("shape", ["single", "multi"])
def test_any_range(s3c: Any, objects: dict[str, bytes], mode: str, shape: str,  # noqa: F811
                   data: st.DataObject) -> None:
    key = f"{mode}/{shape}"
    want = objects[key]
    first = data.draw(near_chunk_edges(len(want)), label="first")
    last = data.draw(st.integers(first, min(len(want) - 1, first + 3 * CHUNK)) |
                     near_chunk_edges(len(want)).filter(lambda x: x >= first), label="last")
    got = s3c.get_object(Bucket=objects["bucket"].decode(), Key=key,
                         Range=f"bytes={first}-{last}", **READ[mode])
    assert got["ContentRange"] == f"bytes {first}-{last}/{len(want)}"
    assert got["Body"].read() == want[first:last + 1]


@pytest.mark.parametrize("mode", list(WRITE))
def test_suffix_ranges_and_parts(s3c: Any, objects: dict[str, bytes], mode: str) -> None:  # noqa: F811
    bucket, want = objects["bucket"].decode(), objects[f"{mode}/multi"]
    tail = s3c.get_object(Bucket=bucket, Key=f"{mode}/multi", Range="bytes=-70000",
                          **READ[mode])
    assert tail["Body"].read() == want[-70000:]
    part2 = s3c.get_object(Bucket=bucket, Key=f"{mode}/multi", PartNumber=2, **READ[mode])
    assert part2["PartsCount"] == 2 and part2["Body"].read() == want[MIN_PART + 1:]


def test_part_copies_between_modes(s3c: Any, bkt: str, objects: dict[str, bytes]) -> None:  # noqa: F811
    """An SSE-S3 upload gets parts copied from a KMS source and from a range of an SSE-C one."""
    bucket = objects["bucket"].decode()
    up = s3c.create_multipart_upload(Bucket=bkt, Key="dst", ServerSideEncryption="AES256")
    etags = []
    for n, (key, args, rng) in enumerate([("kms/multi", {}, None),
                                          ("sse-c/single", ssec(prefix="CopySource"),
                                           "bytes=5000-99999")], 1):
        extra = {"CopySourceRange": rng} if rng else {}
        res = s3c.upload_part_copy(Bucket=bkt, Key="dst", UploadId=up["UploadId"], PartNumber=n,
                                   CopySource={"Bucket": bucket, "Key": key}, **args, **extra)
        assert res["ServerSideEncryption"] == "AES256"
        etags.append(res["CopyPartResult"]["ETag"])
    err = code_of(lambda: s3c.upload_part_copy(
        Bucket=bkt, Key="dst", UploadId=up["UploadId"], PartNumber=3,
        CopySource={"Bucket": bucket, "Key": "sse-c/single"}, **ssec(KEY_B, "CopySource")))
    assert err == (403, "AccessDenied")
    s3c.complete_multipart_upload(Bucket=bkt, Key="dst", UploadId=up["UploadId"],
                                  MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e}
                                                             for n, e in enumerate(etags, 1)]})
    got = s3c.get_object(Bucket=bkt, Key="dst")
    want = objects["kms/multi"] + objects["sse-c/single"][5000:100000]
    assert got["ServerSideEncryption"] == "AES256" and got["Body"].read() == want
    assert KEY not in want  # (the fixtures' keys are distinct from the data)
