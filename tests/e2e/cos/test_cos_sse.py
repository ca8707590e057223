"""Server-side encryption through cos-python-sdk-v5: SSE-COS (AES256), cos/kms and SSE-C on
PUT, GET, HEAD and multipart, ranged reads, bucket default encryption, and nothing of the
plaintext or the customer's key on disk. A server of its own runs with --allow-insecure-ssec."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
from qcloud_cos import CosS3Client
from qcloud_cos.cos_exception import CosServiceError

from ..conftest import make_client
from ..server import COS_SERVE_ARGS, LiveServer, files_containing, kms_create, own_server
from .conftest import empty_and_delete, make_cos, new_bucket_name

MiB = 1024 * 1024
MARK = b"COS-RECOGNISABLE-PLAINTEXT-"
KEY = os.urandom(32)
KEY_B64 = base64.b64encode(KEY).decode()
KEY_MD5 = base64.b64encode(hashlib.md5(KEY).digest()).decode()
SSEC = {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": KEY_B64,
        "SSECustomerKeyMD5": KEY_MD5}


@pytest.fixture(scope="module")
def sse_cos_server() -> Iterator[LiveServer]:
    with own_server(extra_args=COS_SERVE_ARGS) as srv:
        yield srv


@pytest.fixture(scope="module")
def cos(sse_cos_server: LiveServer) -> CosS3Client:
    return make_cos(sse_cos_server.port)


@pytest.fixture
def bucket(cos: CosS3Client, sse_cos_server: LiveServer) -> Iterator[str]:
    name = new_bucket_name()
    cos.create_bucket(Bucket=name)
    yield name
    empty_and_delete(make_client(sse_cos_server.endpoint), name)


@pytest.fixture(scope="module")
def kms_id(sse_cos_server: LiveServer) -> str:
    return kms_create(sse_cos_server.data_dir)


def body(n: int, tag: str) -> bytes:
    unit = MARK + tag.encode() + b"|"
    return (unit * (n // len(unit) + 1))[:n]


def read(cos: CosS3Client, bucket: str, key: str, **kw: Any) -> tuple[dict[str, Any], bytes]:
    got = cos.get_object(Bucket=bucket, Key=key, **kw)
    return got, got["Body"].get_raw_stream().read()


def lower(headers: dict[str, Any]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def test_sse_cos_and_kms(cos: CosS3Client, bucket: str, kms_id: str) -> None:
    data = body(150_000, "modes")
    context = base64.b64encode(json.dumps({"app": "shoal"}).encode()).decode()
    cases = [("aes", {"ServerSideEncryption": "AES256"}, {}),
             ("kms", {"ServerSideEncryption": "cos/kms", "SSEKMSKeyId": kms_id,
                      "SSEKMSContext": context},
              {"x-cos-server-side-encryption-cos-kms-key-id": kms_id,
               "x-cos-server-side-encryption-context": context})]
    for key, args, extra in cases:
        put = lower(cos.put_object(Bucket=bucket, Key=key, Body=data, **args))
        head = lower(cos.head_object(Bucket=bucket, Key=key))
        got, content = read(cos, bucket, key, Range="bytes=65535-70000")
        assert content == data[65535:70001]
        for headers in (put, head, lower(got)):
            assert headers["x-cos-server-side-encryption"] == args["ServerSideEncryption"]
            for name, value in extra.items():
                assert headers[name] == value
    with pytest.raises(CosServiceError) as err:
        cos.put_object(Bucket=bucket, Key="x", Body=b"d", ServerSideEncryption="cos/kms",
                       SSEKMSKeyId="no-such-key")
    assert err.value.get_status_code() == 400


def test_sse_c(cos: CosS3Client, bucket: str) -> None:
    data = body(100_000, "ssec")
    put = lower(cos.put_object(Bucket=bucket, Key="c", Body=data, **SSEC))
    assert put["x-cos-server-side-encryption-customer-key-md5"] == KEY_MD5
    head = lower(cos.head_object(Bucket=bucket, Key="c", **SSEC))
    assert head["x-cos-server-side-encryption-customer-algorithm"] == "AES256"
    assert read(cos, bucket, "c", Range="bytes=10-99999", **SSEC)[1] == data[10:]
    with pytest.raises(CosServiceError) as err:
        cos.get_object(Bucket=bucket, Key="c")
    assert err.value.get_status_code() == 400
    other = os.urandom(32)
    with pytest.raises(CosServiceError) as err:
        cos.get_object(Bucket=bucket, Key="c", SSECustomerAlgorithm="AES256",
                       SSECustomerKey=base64.b64encode(other).decode(),
                       SSECustomerKeyMD5=base64.b64encode(hashlib.md5(other).digest()).decode())
    assert err.value.get_status_code() == 403
    with pytest.raises(CosServiceError) as err:
        cos.put_object(Bucket=bucket, Key="x", Body=b"d", **dict(SSEC, SSECustomerKeyMD5="AAAA"))
    assert (err.value.get_status_code(), err.value.get_error_code()) == (400, "InvalidArgument")


@pytest.mark.parametrize("mode", ["aes", "kms", "ssec"])
def test_multipart(cos: CosS3Client, bucket: str, kms_id: str, mode: str) -> None:
    args = {"aes": {"ServerSideEncryption": "AES256"},
            "kms": {"ServerSideEncryption": "cos/kms", "SSEKMSKeyId": kms_id},
            "ssec": SSEC}[mode]
    part_args = SSEC if mode == "ssec" else {}
    init = cos.create_multipart_upload(Bucket=bucket, Key="mp", **args)
    chunks = [body(MiB + 3, "mp1"), body(5000, "mp2")]
    parts = []
    for n, chunk in enumerate(chunks, 1):
        res = lower(cos.upload_part(Bucket=bucket, Key="mp", Body=chunk, PartNumber=n,
                                    UploadId=init["UploadId"], **part_args))
        if mode == "ssec":
            assert res["x-cos-server-side-encryption-customer-key-md5"] == KEY_MD5
        else:
            assert res["x-cos-server-side-encryption"] == args["ServerSideEncryption"]
        parts.append({"PartNumber": n, "ETag": res["etag"]})
    cos.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=init["UploadId"],
                                  MultipartUpload={"Part": parts})
    whole = b"".join(chunks)
    got, content = read(cos, bucket, "mp", Range=f"bytes={MiB - 10}-{MiB + 100}", **part_args)
    assert content == whole[MiB - 10:MiB + 101]
    assert read(cos, bucket, "mp", **part_args)[1] == whole


def test_bucket_default_and_nothing_on_disk(cos: CosS3Client, bucket: str,
                                            sse_cos_server: LiveServer) -> None:
    cos.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={
        "Rule": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})
    data = body(80_000, "secret")
    put = lower(cos.put_object(Bucket=bucket, Key="default", Body=data))
    assert put["x-cos-server-side-encryption"] == "AES256"
    init = lower(cos.create_multipart_upload(Bucket=bucket, Key="mp-default"))
    assert init.get("uploadid")
    res = cos.upload_part(Bucket=bucket, Key="mp-default", Body=data, PartNumber=1,
                          UploadId=init["uploadid"])
    assert lower(res)["x-cos-server-side-encryption"] == "AES256"
    cos.complete_multipart_upload(Bucket=bucket, Key="mp-default", UploadId=init["uploadid"],
                                  MultipartUpload={"Part": [{"PartNumber": 1,
                                                             "ETag": res["ETag"]}]})
    cos.put_object(Bucket=bucket, Key="c", Body=data, **SSEC)
    for key, kw in (("default", {}), ("mp-default", {}), ("c", SSEC)):
        assert read(cos, bucket, key, **kw)[1] == data
    needles = [MARK + b"secret", KEY, KEY_B64.encode()]
    assert not files_containing(sse_cos_server.data_dir, needles)
