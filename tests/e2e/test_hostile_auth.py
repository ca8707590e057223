"""Forged credentials in every signing dialect: tampered, replayed elsewhere, and expired
signatures for SigV4 (header and presigned), SigV2 (header and query) and COS (header and
query), plus anonymous requests on private data in both dialects. Each is sent raw over a
socket and through requests; each must be refused with its documented code, never served.

An identical replay inside the validity window is accepted, as S3 and COS do (their
signatures carry no nonce); what a captured signature must never do is authorise another
request or outlive its window.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.utils import formatdate
from urllib.parse import quote, urlencode

import pytest
import requests

from shoal.dialects.cos.signature import make_authorization

from .server import ACCESS_KEY, SECRET_KEY, LiveServer
from .test_hostile import Reply, assert_serving, raw_request, send_raw, stocked_bucket
from .test_s3_auth import EMPTY_SHA256, REGION, _q, sign_v4, signing_key

COS_REGION = "ap-guangzhou"
Request = tuple[str, str, dict[str, str]]  # method, path+query, headers
Build = Callable[["Place"], Request]


@dataclass
class Place:
    server: LiveServer
    bucket: str  # private bucket holding "secret"; "other" is a second private object
    upload: str  # a pending upload on "mp"

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.server.port}"

    @property
    def cos_host(self) -> str:
        return f"{self.bucket}.cos.{COS_REGION}.myqcloud.com"


@pytest.fixture(scope="module")
def place(server: LiveServer, s3) -> Iterator[Place]:  # noqa: ANN001
    name = f"forged-{os.getpid()}"
    with stocked_bucket(s3, name, {"secret": b"top secret", "other": b"also secret"}) as (up, _):
        yield Place(server, name, up)


# -- signers ----------------------------------------------------------------------------------
def v4_header(p: Place, key: str = "secret", when: dt.datetime | None = None,
              method: str = "GET") -> Request:
    path = f"/{p.bucket}/{key}"
    return method, path, sign_v4(method, p.server.endpoint + path, {}, EMPTY_SHA256,
                                 when=when).headers


def v4_presigned(p: Place, key: str = "secret", when: dt.datetime | None = None,
                 expires: int = 300) -> Request:
    now = when or dt.datetime.now(dt.UTC)
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    scope = f"{amz_date[:8]}/{REGION}/s3/aws4_request"
    query = {"X-Amz-Algorithm": "AWS4-HMAC-SHA256", "X-Amz-Credential": f"{ACCESS_KEY}/{scope}",
             "X-Amz-Date": amz_date, "X-Amz-Expires": str(expires),
             "X-Amz-SignedHeaders": "host"}
    canonical_query = "&".join(f"{_q(k)}={_q(v)}" for k, v in sorted(query.items()))
    path = f"/{p.bucket}/{key}"
    creq = "\n".join(["GET", path, canonical_query, f"host:{p.host}\n", "host",
                      "UNSIGNED-PAYLOAD"])
    sts = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                     hashlib.sha256(creq.encode()).hexdigest()])
    sig = hmac.new(signing_key(SECRET_KEY, amz_date[:8]), sts.encode(),
                   hashlib.sha256).hexdigest()
    return "GET", f"{path}?{canonical_query}&X-Amz-Signature={sig}", {"host": p.host}


def _v2_signature(string_to_sign: str) -> str:
    mac = hmac.new(SECRET_KEY.encode(), string_to_sign.encode(), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode()


def v2_header(p: Place, key: str = "secret", age: float = 0.0) -> Request:
    date = formatdate(time.time() - age, usegmt=True)
    path = f"/{p.bucket}/{key}"
    sig = _v2_signature(f"GET\n\n\n{date}\n{path}")
    return "GET", path, {"host": p.host, "date": date,
                         "authorization": f"AWS {ACCESS_KEY}:{sig}"}


def v2_query(p: Place, key: str = "secret", expires_in: int = 300) -> Request:
    expires = str(int(time.time()) + expires_in)
    path = f"/{p.bucket}/{key}"
    sig = _v2_signature(f"GET\n\n\n{expires}\n{path}")
    query = urlencode({"AWSAccessKeyId": ACCESS_KEY, "Expires": expires, "Signature": sig})
    return "GET", f"{path}?{query}", {"host": p.host}


def cos_header(p: Place, key: str = "secret", window: tuple[int, int] | None = None,
               method: str = "GET") -> Request:
    now = int(time.time())
    start, end = window or (now - 60, now + 600)
    headers = {"host": p.cos_host}
    headers["authorization"] = make_authorization(ACCESS_KEY, SECRET_KEY, method, f"/{key}", [],
                                                  headers, start, end)
    return method, f"/{quote(key)}", headers


def cos_query(p: Place, key: str = "secret", window: tuple[int, int] | None = None) -> Request:
    method, path, headers = cos_header(p, key, window)
    auth = headers.pop("authorization")
    return method, f"{path}?{auth.replace(';', '%3B')}", headers


# -- forgeries --------------------------------------------------------------------------------
def flip_signature(req: Request) -> Request:
    """Change one character of the signature, wherever the dialect carries it."""
    method, path, headers = req
    for marker in ("Signature=", "q-signature=", "X-Amz-Signature=", f"AWS {ACCESS_KEY}:"):
        for where in ("path", "authorization"):
            text = path if where == "path" else headers.get("authorization", "")
            at = text.find(marker)
            if at < 0:
                continue
            i = at + len(marker)
            # a digit: hex signatures compare case-insensitively, "a" -> "A" would not change it
            swapped = text[:i] + ("0" if text[i] != "0" else "1") + text[i + 1:]
            if where == "path":
                return method, swapped, headers
            return method, path, {**headers, "authorization": swapped}
    raise AssertionError(f"no signature in {req}")


def other_key(req: Request) -> Request:
    """Replay the captured signature against another object of the same bucket."""
    method, path, headers = req
    return method, path.replace("secret", "other", 1), headers


def as_delete(req: Request) -> Request:
    """Replay a captured GET signature as a DELETE."""
    return "DELETE", req[1], req[2]


LONG_AGO = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=20)
def ago(seconds: int) -> int:
    """Now minus ``seconds``, when the request is built (the tests run long after import)."""
    return int(time.time()) - seconds

SIG = (403, "SignatureDoesNotMatch")
EXPIRED = (403, "AccessDenied")
SKEWED = (403, "RequestTimeTooSkewed")

CASES: dict[str, tuple[Build, tuple[int, str]]] = {
    "v4-header-tampered": (lambda p: flip_signature(v4_header(p)), SIG),
    "v4-header-replayed-other-key": (lambda p: other_key(v4_header(p)), SIG),
    "v4-header-replayed-as-delete": (lambda p: as_delete(v4_header(p)), SIG),
    "v4-header-expired": (lambda p: v4_header(p, when=LONG_AGO), SKEWED),
    "v4-presigned-tampered": (lambda p: flip_signature(v4_presigned(p)), SIG),
    "v4-presigned-replayed-other-key": (lambda p: other_key(v4_presigned(p)), SIG),
    "v4-presigned-replayed-as-delete": (lambda p: as_delete(v4_presigned(p)), SIG),
    "v4-presigned-expired": (lambda p: v4_presigned(p, when=LONG_AGO, expires=60), EXPIRED),
    "v2-header-tampered": (lambda p: flip_signature(v2_header(p)), SIG),
    "v2-header-replayed-other-key": (lambda p: other_key(v2_header(p)), SIG),
    "v2-header-replayed-as-delete": (lambda p: as_delete(v2_header(p)), SIG),
    "v2-header-expired": (lambda p: v2_header(p, age=20 * 60), SKEWED),
    "v2-query-tampered": (lambda p: flip_signature(v2_query(p)), SIG),
    "v2-query-replayed-other-key": (lambda p: other_key(v2_query(p)), SIG),
    "v2-query-expired": (lambda p: v2_query(p, expires_in=-60), EXPIRED),
    "cos-header-tampered": (lambda p: flip_signature(cos_header(p)), SIG),
    "cos-header-replayed-other-key": (lambda p: other_key(cos_header(p)), SIG),
    "cos-header-replayed-as-delete": (lambda p: as_delete(cos_header(p)), SIG),
    "cos-header-expired": (lambda p: cos_header(p, window=(ago(2000), ago(1000))), EXPIRED),
    "cos-header-not-yet-valid": (lambda p: cos_header(p, window=(ago(-1000), ago(-2000))),
                                 EXPIRED),
    "cos-query-tampered": (lambda p: flip_signature(cos_query(p)), SIG),
    "cos-query-replayed-other-key": (lambda p: other_key(cos_query(p)), SIG),
    "cos-query-expired": (lambda p: cos_query(p, window=(ago(2000), ago(1000))), EXPIRED),
}


def send(p: Place, req: Request, mode: str) -> Reply:
    method, path, headers = req
    if mode == "raw":
        return send_raw(p.server, raw_request(method, path, headers, b""), method)
    resp = requests.request(method, p.server.endpoint + path, headers=headers, timeout=15)
    return Reply(resp.status_code, {k.lower(): v for k, v in resp.headers.items()},
                 resp.content)


def assert_still_there(p: Place, s3) -> None:  # noqa: ANN001
    for key, body in (("secret", b"top secret"), ("other", b"also secret")):
        assert s3.get_object(Bucket=p.bucket, Key=key)["Body"].read() == body


@pytest.mark.parametrize("mode", ["raw", "client"])
@pytest.mark.parametrize("name", CASES)
def test_forged(place: Place, s3, name: str, mode: str) -> None:  # noqa: ANN001
    build, expected = CASES[name]
    reply = send(place, build(place), mode)
    assert (reply.status, reply.code) == expected, (name, reply.status, reply.body[:400])
    assert b"top secret" not in reply.body and b"also secret" not in reply.body
    assert_still_there(place, s3)
    assert_serving(place.server)


@pytest.mark.parametrize("sign", [v4_header, v4_presigned, v2_header, v2_query, cos_header,
                                  cos_query], ids=lambda f: f.__name__)
def test_genuine_signature_and_identical_replay(place: Place, sign: Callable[..., Request]) \
        -> None:
    """Each signer is right (so the refusals above are about the forgery, not the signer)."""
    req = sign(place)
    for _ in range(2):
        reply = send(place, req, "raw")
        assert (reply.status, reply.body) == (200, b"top secret")


ANONYMOUS = [
    ("GET", "/{b}/secret"), ("HEAD", "/{b}/secret"), ("GET", "/{b}"),
    ("GET", "/{b}?list-type=2"), ("GET", "/{b}?uploads"), ("GET", "/{b}?acl"),
    ("GET", "/{b}/secret?acl"), ("GET", "/{b}/secret?tagging"), ("PUT", "/{b}/new"),
    ("DELETE", "/{b}/secret"), ("DELETE", "/{b}"), ("POST", "/{b}/new?uploads"),
    ("GET", "/{b}/mp?uploadId={u}"), ("DELETE", "/{b}/mp?uploadId={u}"),
    ("PUT", "/{b}/mp?partNumber=1&uploadId={u}"), ("POST", "/{b}/mp?uploadId={u}"),
    ("PUT", "/{b}/secret?tagging"), ("PUT", "/{b}/secret?acl"), ("POST", "/{b}?delete"),
    ("GET", "/"),
]


@pytest.mark.parametrize("dialect", ["s3", "cos"])
@pytest.mark.parametrize("method,target", ANONYMOUS, ids=[f"{m} {t}" for m, t in ANONYMOUS])
def test_anonymous_on_private_data(place: Place, s3, dialect: str, method: str,  # noqa: ANN001
                                   target: str) -> None:
    path = target.replace("{b}", place.bucket).replace("{u}", place.upload)
    headers = {"host": place.host, "content-length": "0"}
    if dialect == "cos":  # virtual host; the COS SDK sends an empty Authorization when anonymous
        path = path.replace(f"/{place.bucket}", "", 1)
        path = path if path.startswith("/") else "/" + path
        headers.update(host=place.cos_host, authorization="")
        if target == "/":
            headers["host"] = "service.cos.myqcloud.com"
    reply = send_raw(place.server, raw_request(method, path, headers, b""), method)
    assert reply.status == 403, (reply.status, reply.body[:300])
    if method != "HEAD":
        assert reply.code == "AccessDenied", reply.body[:300]
        server = reply.headers.get("server")
        assert server == ("tencent-cos" if dialect == "cos" else "AmazonS3")
    assert_still_there(place, s3)
    ups = s3.list_multipart_uploads(Bucket=place.bucket).get("Uploads", [])
    assert [u["UploadId"] for u in ups] == [place.upload]
    assert not s3.list_parts(Bucket=place.bucket, Key="mp", UploadId=place.upload).get("Parts")
