"""COS dialect: detection, addressing, authentication, error documents, host parsing."""

from __future__ import annotations

import asyncio
import base64
import re
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote
from xml.etree import ElementTree

import pytest

from shoal.api.request import Request
from shoal.core.auth import Keyring
from shoal.core.errors import ShoalError
from shoal.dialects.cos import hosts
from shoal.dialects.cos.dialect import CosDialect
from shoal.dialects.cos.signature import make_authorization

AK, SK = "AKIDcos", "cos-secret"
H = "examplebucket-1250000000.cos.ap-beijing.myqcloud.com"
D = CosDialect(["cos.local"], 1024 * 1024)


def receiver(body: bytes) -> Callable[[], Any]:
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


def make_req(method: str = "GET", path: str = "/", query: str = "", body: bytes = b"",
             **headers: str) -> Request:
    hdrs = {k.replace("_", "-").lower(): v for k, v in headers.items()}
    return Request(method=method, raw_path=path, query_string=query, headers=hdrs,
                   receive=receiver(body))


def keys() -> Keyring:
    ring = Keyring()
    ring.add(AK, SK, "root", admin=True)
    return ring


def signed(method: str, key: str, headers: dict[str, str], secret: str = SK,
           window: tuple[int, int] | None = None, query: str = "",
           params: list[tuple[str, str]] | None = None, body: bytes = b"") -> Request:
    now = int(time.time())
    start, end = window or (now - 60, now + 600)
    auth = make_authorization(AK, secret, method, "/" + key, params or [],
                              {k.lower(): v for k, v in headers.items()}, start, end)
    hdrs = {k.lower(): v for k, v in headers.items()}
    hdrs["authorization"] = auth
    return Request(method=method, raw_path="/" + quote(key, safe="/-_.~"), query_string=query,
                   headers=hdrs, receive=receiver(body))


def authenticate(req: Request) -> None:
    asyncio.run(D.authenticate(req, keys()))


async def _read(req: Request) -> bytes:
    assert req.body is not None
    return b"".join([c async for c in req.body])


# -- hosts ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("host", "bucket"), [
    (H, "examplebucket-1250000000"),
    (H + ":9000", "examplebucket-1250000000"),
    ("bkt-1.cos.ap-guangzhou.tencentcos.cn", "bkt-1"),
    ("bkt.cos.accelerate.myqcloud.com", "bkt"),
    ("my.dotted.bucket.cos.local:8080", "my.dotted.bucket"),
    ("bkt.cos.local", "bkt"),
    ("bkt.example.com", "bkt"),
    ("bkt.localhost:9000", "bkt"),
    ("cos.local", None),
    ("service.cos.myqcloud.com", None),
    ("cos.ap-beijing.myqcloud.com", None),
    ("127.0.0.1:9000", None),
    ("[::1]:9000", None),
    ("localhost", None),
    ("myhost.lan", None),
    ("", None),
])
def test_bucket_from_host(host: str, bucket: str | None) -> None:
    assert hosts.bucket_from_host(host, ["cos.local"]) == bucket


@pytest.mark.parametrize(("host", "is_cos"), [
    (H, True), ("x.cos.local:1", True), ("cos.local", True), ("service.cos.myqcloud.com", True),
    ("b.cos.ap-x.tencentcos.cn", True), ("127.0.0.1:9000", False), ("b.localhost", False),
    ("b.s3.amazonaws.com", False), ("b.example.com", False),
])
def test_is_cos_host(host: str, is_cos: bool) -> None:
    assert hosts.is_cos_host(host, ["cos.local"]) is is_cos


def test_host_candidates() -> None:
    assert hosts.host_candidates("b.cos.local:9000") == ["b.cos.local:9000", "b.cos.local"]
    assert hosts.host_candidates("b.cos.local") == ["b.cos.local"]
    assert hosts.hostname("[::1]:80") == "[::1]"


@pytest.mark.parametrize(("value", "expected"), [
    ("src-125.cos.ap-guangzhou.myqcloud.com/a/b%20c", ("src-125", "a/b c", None)),
    ("src-125.cos.ap-guangzhou.myqcloud.com/k?versionId=v1", ("src-125", "k", "v1")),
    ("dotted.name.cos.local:9000/k%2Bplus", ("dotted.name", "k+plus", None)),
    ("/bkt/dir/key", ("bkt", "dir/key", None)),
    ("bkt/dir/key", ("bkt", "dir/key", None)),
    ("http://b.cos.local/x", ("b", "x", None)),
    ("b.cos.local/.%2Fa/..%2Fb", ("b", "./a/../b", None)),
])
def test_copy_source(value: str, expected: tuple[str, str, str | None]) -> None:
    assert D.copy_source(value) == expected


@pytest.mark.parametrize("value", ["nokey", "/bkt", "b.cos.local/", ""])
def test_copy_source_invalid(value: str) -> None:
    with pytest.raises(ShoalError) as info:
        D.copy_source(value)
    assert info.value.code == "InvalidArgument"


# -- detection and addressing --------------------------------------------------------------

@pytest.mark.parametrize(("headers", "query", "expected"), [
    ({"authorization": "q-sign-algorithm=sha1&q-ak=x", "host": "127.0.0.1"}, "", True),
    ({"host": "127.0.0.1:9000"}, "q-sign-algorithm=sha1&q-ak=x", True),
    ({"authorization": "AWS4-HMAC-SHA256 Credential=x", "host": H}, "", False),
    ({"authorization": "AWS ak:sig", "host": H}, "", False),
    ({"host": H}, "X-Amz-Algorithm=AWS4-HMAC-SHA256", False),
    ({"host": H}, "AWSAccessKeyId=x&Signature=y", False),
    ({"host": H}, "", True),
    ({"host": H, "authorization": ""}, "", True),
    ({"host": "b.cos.local:9000"}, "", True),
    ({"host": "127.0.0.1:9000"}, "", False),
    ({"host": "b.localhost"}, "", False),
])
def test_matches(headers: dict[str, str], query: str, expected: bool) -> None:
    req = Request("GET", "/", query, headers, receiver(b""))
    assert D.matches(req) is expected


@pytest.mark.parametrize(("host", "path", "expected"), [
    (H, "/", ("examplebucket-1250000000", None)),
    (H, "/dir/a%20b+c.txt", ("examplebucket-1250000000", "dir/a b+c.txt")),
    (H, "/.%2Fa/..%2Fb", ("examplebucket-1250000000", "./a/../b")),
    (H, "//double", ("examplebucket-1250000000", "/double")),
    ("127.0.0.1:9000", "/", (None, None)),
    ("service.cos.myqcloud.com", "/", (None, None)),
    ("127.0.0.1:9000", "/bkt/key/x", ("bkt", "key/x")),
    ("127.0.0.1:9000", "/bkt", ("bkt", None)),
])
def test_address(host: str, path: str, expected: tuple[str | None, str | None]) -> None:
    assert D.address(make_req(path=path, host=host)) == expected


# -- authentication ------------------------------------------------------------------------

def test_authenticate_header_signature() -> None:
    req = signed("PUT", "dir/a b.txt", {"Host": H, "Content-Length": "5",
                                       "x-cos-meta-foo": "bar"}, body=b"hello")
    authenticate(req)
    assert req.principal.access_key == AK
    assert asyncio.run(_read(req)) == b"hello"
    assert req.state["decoded_length"] == 5


def test_authenticate_host_signed_without_port() -> None:
    req = signed("GET", "k", {"Host": "b.cos.local"})
    req.headers["host"] = "b.cos.local:9000"
    authenticate(req)
    assert req.principal.access_key == AK


def test_authenticate_query_params_are_signed() -> None:
    params = [("prefix", "a b/"), ("max-keys", "10"), ("delimiter", "")]
    req = signed("GET", "", {"Host": H}, params=params,
                 query="prefix=a+b%2F&max-keys=10&delimiter=")
    authenticate(req)
    tampered = signed("GET", "", {"Host": H}, params=params,
                      query="prefix=a+c%2F&max-keys=10&delimiter=")
    with pytest.raises(ShoalError) as info:
        authenticate(tampered)
    assert info.value.code == "SignatureDoesNotMatch"


def test_authenticate_presigned_query() -> None:
    now = int(time.time())
    auth = make_authorization(AK, SK, "GET", "/k", [], {"host": H}, now - 60, now + 300)
    fields = dict(item.split("=", 1) for item in auth.split("&"))
    query = "&".join(f"{k}={quote(v, safe='')}" for k, v in fields.items())
    req = make_req(path="/k", query=query, host=H + ":80")
    authenticate(req)
    assert req.principal.access_key == AK


@pytest.mark.parametrize(("secret", "window", "code"), [
    ("wrong", None, "SignatureDoesNotMatch"),
    (SK, (1, 2), "AccessDenied"),
])
def test_authenticate_failures(secret: str, window: tuple[int, int] | None, code: str) -> None:
    req = signed("GET", "k", {"Host": H}, secret=secret, window=window)
    with pytest.raises(ShoalError) as info:
        authenticate(req)
    assert info.value.code == code
    if code == "AccessDenied":
        assert info.value.message == "Request has expired"
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", info.value.fields["ServerTime"])


def test_authenticate_unknown_key() -> None:
    req = signed("GET", "k", {"Host": H})
    req.headers["authorization"] = req.headers["authorization"].replace(f"q-ak={AK}", "q-ak=no")
    with pytest.raises(ShoalError) as info:
        authenticate(req)
    assert info.value.code == "InvalidAccessKeyId"


def test_anonymous_and_body_rules() -> None:
    req = make_req("GET", "/k", host=H, authorization="")
    authenticate(req)
    assert req.principal.anonymous
    with pytest.raises(ShoalError) as info:
        authenticate(make_req("PUT", "/k", host=H))
    assert info.value.code == "MissingContentLength"
    short = make_req("PUT", "/k", body=b"abc", host=H, content_length="5")
    authenticate(short)
    with pytest.raises(ShoalError) as info:
        asyncio.run(_read(short))
    assert info.value.code == "IncompleteBody"


@pytest.mark.parametrize(("value", "ok"), [("819200", True), ("838860800", True),
                                           ("819199", False), ("fast", False)])
def test_traffic_limit(value: str, ok: bool) -> None:
    req = make_req("GET", "/k", host=H, x_cos_traffic_limit=value)
    if ok:
        authenticate(req)
        return
    with pytest.raises(ShoalError) as info:
        authenticate(req)
    assert info.value.code == "InvalidArgument"


# -- rendering -----------------------------------------------------------------------------

@pytest.mark.parametrize(("code", "expected"), [
    ("InvalidStorageClass", (400, "NotSupportedStorageClass")),
    ("BucketAlreadyOwnedByYou", (409, "BucketAlreadyExists")),
    ("KeyTooLongError", (400, "KeyTooLong")),
    ("InvalidTag", (400, "InvalidArgument")),
    ("NoSuchKey", (404, "NoSuchKey")),
    ("SignatureDoesNotMatch", (403, "SignatureDoesNotMatch")),
])
def test_error_code(code: str, expected: tuple[int, str]) -> None:
    assert D.error_code(ShoalError(code)) == expected


def test_render_error_document() -> None:
    req = make_req("GET", "/dir/a%20b", host=H + ":9000")
    req.request_id = D.new_request_id()
    err = ShoalError("AccessDenied", "Request has expired", ServerTime="2020-06-17T05:37:29Z",
                     Key="dir/a b")
    resp = D.render_error(req, err)
    assert resp.status == 403 and resp.headers["Content-Type"] == "application/xml"
    assert isinstance(resp.body, bytes)
    root = ElementTree.fromstring(resp.body)
    assert [c.tag for c in root] == ["Code", "Message", "Resource", "RequestId", "TraceId",
                                     "ServerTime"]
    assert root.findtext("Resource") == H + "/dir/a%20b"
    assert root.findtext("RequestId") == req.request_id
    assert root.findtext("TraceId") == resp.headers["x-cos-trace-id"]
    head = make_req("HEAD", "/k", host=H)
    resp = D.render_error(head, ShoalError("NoSuchKey"))
    assert (resp.status, resp.body, resp.head) == (404, b"", True)
    assert resp.headers["x-cos-trace-id"]


def test_request_id_and_base_headers() -> None:
    rid = D.new_request_id()
    assert len(rid) == 36 and "=" not in rid
    text = base64.b64decode(rid).decode()
    assert re.fullmatch(r"[0-9a-f]{8}_[0-9a-f]{8}_[0-9a-f]{4}_[0-9a-f]{4}", text)
    assert abs(int(text[:8], 16) - time.time()) < 5
    req = make_req(host=H)
    req.request_id = rid
    base = D.base_headers(req)
    assert (base["x-cos-request-id"], base["Server"]) == (rid, "tencent-cos")
    assert base["Date"].endswith(" GMT")


def test_location() -> None:
    assert D.location(make_req(host=H), "examplebucket-1250000000", "a b/c") == \
        f"http://{H}/a%20b/c"
    assert D.location(make_req(host="127.0.0.1:9000"), "bkt", "k") == "http://127.0.0.1:9000/bkt/k"


def test_dialect_data() -> None:
    assert (D.h("meta-"), D.xmlns, D.crc64_header) == ("x-cos-meta-", None, "x-cos-hash-crc64ecma")
    assert {"default", "private", "public-read"} <= D.canned_acls
    assert "authenticated-read" not in D.canned_acls
    assert {"STANDARD", "STANDARD_IA", "ARCHIVE", "DEEP_ARCHIVE"} <= D.storage_classes
    assert "GLACIER" not in D.storage_classes
    assert (D.min_part_size, D.max_key_bytes, D.consecutive_parts) == (1024 * 1024, 850, True)
    assert D.delete_bucket_aborts_uploads is False
    assert (D.kms_algorithm, D.kms_key_header) == (
        "cos/kms", "x-cos-server-side-encryption-cos-kms-key-id")
