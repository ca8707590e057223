"""Server-side encryption through boto3: SSE-S3, SSE-KMS and SSE-C are real (nothing on disk
gives away the plaintext or the customer's key), their headers, their errors, KMS keys, bucket
default encryption and copies between encryption modes.

The tests run against a server of their own started with ``--allow-insecure-ssec`` (SSE-C over
plain HTTP); another one, without the flag, shows that SSE-C is refused there.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from .conftest import make_client, unique_name
from .server import LiveServer, files_containing, fsck, kms_create, own_server, shoal_cli

MARK = b"SHOAL-RECOGNISABLE-PLAINTEXT-"
KEY = bytes(range(32))  # the customer's key (SSE-C)
KEY_B = bytes(range(1, 33))
MIN_PART = 5 * 1024 * 1024


@pytest.fixture(scope="module")
def sse_server() -> Iterator[LiveServer]:
    with own_server(extra_args=["--allow-insecure-ssec"]) as srv:
        yield srv


@pytest.fixture(scope="module")
def s3c(sse_server: LiveServer) -> Any:
    return make_client(sse_server.endpoint)


@pytest.fixture
def bkt(s3c: Any) -> str:
    name = unique_name("sse")
    s3c.create_bucket(Bucket=name)
    return name


def ssec(key: bytes = KEY, prefix: str = "") -> dict[str, Any]:
    return {f"{prefix}SSECustomerAlgorithm": "AES256", f"{prefix}SSECustomerKey": key}


def md5_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def code_of(fn: Callable[[], Any]) -> tuple[int, str]:
    with pytest.raises(ClientError) as exc:
        fn()
    err = exc.value.response
    return err["ResponseMetadata"]["HTTPStatusCode"], err["Error"]["Code"]


def body(n: int, tag: str) -> bytes:
    """``n`` bytes of recognisable plaintext."""
    unit = MARK + tag.encode() + b"|"
    return (unit * (n // len(unit) + 1))[:n]


MODES: dict[str, Callable[[LiveServer], dict[str, Any]]] = {
    "sse-s3": lambda srv: {"ServerSideEncryption": "AES256"},
    "kms-default": lambda srv: {"ServerSideEncryption": "aws:kms"},
    "kms-named": lambda srv: {"ServerSideEncryption": "aws:kms",
                              "SSEKMSKeyId": kms_create(srv.data_dir)},
    "sse-c": lambda srv: ssec(),
}


@pytest.mark.parametrize("mode", list(MODES))
def test_each_mode_round_trips_with_its_headers(sse_server: LiveServer, s3c: Any, bkt: str,
                                                mode: str) -> None:
    args = MODES[mode](sse_server)
    read = ssec() if mode == "sse-c" else {}
    data = body(200_000, mode)
    put = s3c.put_object(Bucket=bkt, Key="k", Body=data, **args)
    assert put["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'  # the plaintext's MD5
    for resp in (put, s3c.head_object(Bucket=bkt, Key="k", **read),
                 s3c.get_object(Bucket=bkt, Key="k", **read)):
        if mode == "sse-c":
            assert resp["SSECustomerAlgorithm"] == "AES256"
            assert resp["SSECustomerKeyMD5"] == md5_b64(KEY)
            assert "ServerSideEncryption" not in resp
        else:
            assert resp["ServerSideEncryption"] == args["ServerSideEncryption"]
            want = args.get("SSEKMSKeyId", "default") if mode.startswith("kms") else None
            assert resp.get("SSEKMSKeyId") == want
    assert s3c.get_object(Bucket=bkt, Key="k", **read)["Body"].read() == data
    got = s3c.get_object(Bucket=bkt, Key="k", Range="bytes=65530-131080", **read)
    assert got["Body"].read() == data[65530:131081]


def test_nothing_on_disk_gives_the_plaintext_or_the_key_away(sse_server: LiveServer, s3c: Any,
                                                             bkt: str) -> None:
    named = kms_create(sse_server.data_dir)
    for key, args in (("s3", {"ServerSideEncryption": "AES256"}),
                      ("kms", {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": named}),
                      ("kms-default", {"ServerSideEncryption": "aws:kms"}),
                      ("c", ssec(KEY_B))):
        s3c.put_object(Bucket=bkt, Key=key, Body=body(300_000, "secret"), **args)
    up = s3c.create_multipart_upload(Bucket=bkt, Key="mp", **ssec(KEY_B))["UploadId"]
    etags = [s3c.upload_part(Bucket=bkt, Key="mp", UploadId=up, PartNumber=n,
                             Body=body(size, "secret"), **ssec(KEY_B))["ETag"]
             for n, size in ((1, MIN_PART), (2, 1000))]
    s3c.complete_multipart_upload(Bucket=bkt, Key="mp", UploadId=up, MultipartUpload={
        "Parts": [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, 1)]})
    s3c.put_object(Bucket=bkt, Key="plain", Body=body(1000, "control"))  # the scan works
    secret = MARK + b"secret"
    key_forms = [KEY_B, base64.b64encode(KEY_B), KEY_B.hex().encode()]
    found = files_containing(sse_server.data_dir, [secret, MARK + b"control", *key_forms])
    assert found and all("control" in f for f in found), found
    assert s3c.get_object(Bucket=bkt, Key="mp", **ssec(KEY_B))["Body"].read() == \
        body(MIN_PART, "secret") + body(1000, "secret")


def test_sse_c_errors(s3c: Any, bkt: str) -> None:
    s3c.put_object(Bucket=bkt, Key="c", Body=b"data", **ssec())
    s3c.put_object(Bucket=bkt, Key="plain", Body=b"data")
    assert code_of(lambda: s3c.get_object(Bucket=bkt, Key="c")) == (400, "InvalidRequest")
    assert code_of(lambda: s3c.head_object(Bucket=bkt, Key="c"))[0] == 400
    assert code_of(lambda: s3c.get_object(Bucket=bkt, Key="c", **ssec(KEY_B))) == \
        (403, "AccessDenied")
    assert code_of(lambda: s3c.head_object(Bucket=bkt, Key="c", **ssec(KEY_B)))[0] == 403
    assert code_of(lambda: s3c.get_object(Bucket=bkt, Key="plain", **ssec())) == \
        (400, "InvalidRequest")
    bad_md5 = {"SSECustomerAlgorithm": "AES256",  # with an MD5 boto3 sends the key as is
               "SSECustomerKey": base64.b64encode(KEY).decode(),
               "SSECustomerKeyMD5": md5_b64(KEY_B)}
    assert code_of(lambda: s3c.put_object(Bucket=bkt, Key="x", Body=b"d", **bad_md5)) == \
        (400, "InvalidArgument")
    short = {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": b"short"}
    assert code_of(lambda: s3c.put_object(Bucket=bkt, Key="x", Body=b"d", **short)) == \
        (400, "InvalidArgument")
    src = {"Bucket": bkt, "Key": "c"}
    assert code_of(lambda: s3c.copy_object(Bucket=bkt, Key="cp", CopySource=src)) == \
        (400, "InvalidRequest")
    assert code_of(lambda: s3c.copy_object(Bucket=bkt, Key="cp", CopySource=src,
                                           **ssec(KEY_B, "CopySource"))) == (403, "AccessDenied")
    up = s3c.create_multipart_upload(Bucket=bkt, Key="mp", **ssec())["UploadId"]
    for args in ({}, ssec(KEY_B)):
        assert code_of(lambda a=args: s3c.upload_part(  # type: ignore[misc]
            Bucket=bkt, Key="mp", UploadId=up, PartNumber=1, Body=b"x", **a)) == \
            (400, "InvalidRequest")
    part = s3c.upload_part(Bucket=bkt, Key="mp", UploadId=up, PartNumber=1, Body=b"x", **ssec())
    assert part["SSECustomerKeyMD5"] == md5_b64(KEY)
    parts = {"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]}
    assert code_of(lambda: s3c.complete_multipart_upload(  # a key, but not the upload's
        Bucket=bkt, Key="mp", UploadId=up, MultipartUpload=parts, **ssec(KEY_B)))[0] == 400
    done = s3c.complete_multipart_upload(Bucket=bkt, Key="mp", UploadId=up,
                                         MultipartUpload=parts, **ssec())
    assert done["ResponseMetadata"]["HTTPHeaders"][
        "x-amz-server-side-encryption-customer-key-md5"] == md5_b64(KEY)


@pytest.fixture(scope="module")
def strict_server() -> Iterator[LiveServer]:
    """A server without --allow-insecure-ssec (whatever the environment says)."""
    with own_server(env={"SHOAL_ALLOW_INSECURE_SSEC": ""}) as srv:
        yield srv


def test_sse_c_needs_https_or_the_flag(strict_server: LiveServer) -> None:
    s3, bucket, server = make_client(strict_server.endpoint), "strict", strict_server
    s3.create_bucket(Bucket=bucket)
    err = code_of(lambda: s3.put_object(Bucket=bucket, Key="c", Body=b"d", **ssec()))
    assert err == (400, "InvalidRequest")
    s3.put_object(Bucket=bucket, Key="plain", Body=b"d")
    assert code_of(lambda: s3.get_object(Bucket=bucket, Key="plain", **ssec()))[0] == 400
    proxied = make_client(server.endpoint)  # as from a TLS-terminating proxy on loopback

    def https(params: dict[str, Any], **_: Any) -> None:
        params["headers"]["X-Forwarded-Proto"] = "https"

    proxied.meta.events.register("before-call.s3.*", https)
    proxied.put_object(Bucket=bucket, Key="c", Body=b"d", **ssec())
    assert proxied.get_object(Bucket=bucket, Key="c", **ssec())["Body"].read() == b"d"


def test_kms_keys(sse_server: LiveServer, s3c: Any, bkt: str) -> None:
    err = code_of(lambda: s3c.put_object(Bucket=bkt, Key="k", Body=b"d",
                                         ServerSideEncryption="aws:kms", SSEKMSKeyId="no-such"))
    assert err == (400, "KMS.NotFoundException")
    made = shoal_cli(sse_server.data_dir, "kms", "create", "--id", f"e2e-{os.getpid()}")
    assert made["key_id"] == f"e2e-{os.getpid()}"
    listed = [k["key_id"] for k in shoal_cli(sse_server.data_dir, "kms", "list")]
    assert made["key_id"] in listed and all("material" not in k for k in
                                            shoal_cli(sse_server.data_dir, "kms", "list"))
    context = base64.b64encode(json.dumps({"team": "blue"}).encode()).decode()
    put = s3c.put_object(Bucket=bkt, Key="k", Body=b"data", ServerSideEncryption="aws:kms",
                         SSEKMSKeyId=made["key_id"], SSEKMSEncryptionContext=context)
    assert put["SSEKMSKeyId"] == made["key_id"]
    assert put["ResponseMetadata"]["HTTPHeaders"][
        "x-amz-server-side-encryption-context"] == context
    assert s3c.get_object(Bucket=bkt, Key="k")["Body"].read() == b"data"
    err = code_of(lambda: s3c.put_object(Bucket=bkt, Key="k", Body=b"d",
                                         SSEKMSKeyId=made["key_id"]))
    assert err == (400, "InvalidArgument")  # a key id without aws:kms


def test_bucket_default_encryption_is_real(sse_server: LiveServer, s3c: Any, bkt: str) -> None:
    named = kms_create(sse_server.data_dir)
    s3c.put_bucket_encryption(Bucket=bkt, ServerSideEncryptionConfiguration={"Rules": [{
        "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms",
                                               "KMSMasterKeyID": named}}]})
    data = body(100_000, "default")
    assert s3c.put_object(Bucket=bkt, Key="one", Body=data)["SSEKMSKeyId"] == named
    init = s3c.create_multipart_upload(Bucket=bkt, Key="mp")
    assert (init["ServerSideEncryption"], init["SSEKMSKeyId"]) == ("aws:kms", named)
    part = s3c.upload_part(Bucket=bkt, Key="mp", UploadId=init["UploadId"], PartNumber=1,
                           Body=data)
    assert part["SSEKMSKeyId"] == named
    done = s3c.complete_multipart_upload(Bucket=bkt, Key="mp", UploadId=init["UploadId"],
                                         MultipartUpload={"Parts": [
                                             {"PartNumber": 1, "ETag": part["ETag"]}]})
    assert (done["ServerSideEncryption"], done["SSEKMSKeyId"]) == ("aws:kms", named)
    for key in ("one", "mp"):
        got = s3c.get_object(Bucket=bkt, Key=key)
        assert got["Body"].read() == data and got["SSEKMSKeyId"] == named
    assert not files_containing(sse_server.data_dir, [MARK + b"default"])
    s3c.delete_bucket_encryption(Bucket=bkt)
    assert "ServerSideEncryption" not in s3c.put_object(Bucket=bkt, Key="p", Body=b"x")


def test_copies_between_modes(sse_server: LiveServer, s3c: Any, bkt: str) -> None:
    data = body(150_000, "copy")
    s3c.put_object(Bucket=bkt, Key="c", Body=data, **ssec())
    s3c.copy_object(Bucket=bkt, Key="s3", CopySource={"Bucket": bkt, "Key": "c"},
                    ServerSideEncryption="AES256", **ssec(prefix="CopySource"))
    s3c.copy_object(Bucket=bkt, Key="plain", CopySource={"Bucket": bkt, "Key": "s3"})
    cp = s3c.copy_object(Bucket=bkt, Key="c2", CopySource={"Bucket": bkt, "Key": "plain"},
                         **ssec(KEY_B))
    assert cp["SSECustomerKeyMD5"] == md5_b64(KEY_B)
    assert s3c.get_object(Bucket=bkt, Key="s3")["ServerSideEncryption"] == "AES256"
    assert "ServerSideEncryption" not in s3c.head_object(Bucket=bkt, Key="plain")
    for key, args in (("s3", {}), ("plain", {}), ("c2", ssec(KEY_B))):
        assert s3c.get_object(Bucket=bkt, Key=key, **args)["Body"].read() == data
    # onto itself: encrypt in place, then change the SSE-C key in place
    s3c.copy_object(Bucket=bkt, Key="plain", CopySource={"Bucket": bkt, "Key": "plain"},
                    ServerSideEncryption="AES256")
    s3c.copy_object(Bucket=bkt, Key="c2", CopySource={"Bucket": bkt, "Key": "c2"},
                    **ssec(KEY), **ssec(KEY_B, "CopySource"))
    assert s3c.get_object(Bucket=bkt, Key="plain")["Body"].read() == data
    assert s3c.get_object(Bucket=bkt, Key="c2", **ssec())["Body"].read() == data
    assert code_of(lambda: s3c.get_object(Bucket=bkt, Key="c2", **ssec(KEY_B)))[0] == 403
    assert not files_containing(sse_server.data_dir, [MARK + b"copy"])


def test_fsck_agrees_with_encrypted_data(sse_server: LiveServer, s3c: Any, bkt: str) -> None:
    s3c.put_object(Bucket=bkt, Key="s3", Body=body(70_000, "f"), ServerSideEncryption="AES256")
    s3c.put_object(Bucket=bkt, Key="c", Body=body(10, "f"), **ssec())
    out = fsck(sse_server.data_dir)
    assert out.returncode == 0, out.stdout + out.stderr
