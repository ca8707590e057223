"""COS on the wire: the seed's five requests, error documents, signatures, dialect detection."""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import os
import re
import time
from collections.abc import Iterator, Sequence
from typing import Any
from xml.etree import ElementTree

import pytest
import requests
from urllib3 import encode_multipart_formdata

from shoal.core.model import INLINE_MAX
from shoal.dialects.cos.signature import make_authorization

from ..server import ACCESS_KEY, SECRET_KEY, LiveServer
from .conftest import empty_and_delete
from .wire import REGION, Wire, cos_host, xml

SEED_BUCKET = "examplebucket-1250000000"
KMS_KEY = "48ba38aa-26c5-11ea-855c-52540085****"
SSEC_KEY = "MDEyMzQ1Njc4OUFCQ0RFRjAxMjM0NTY3ODlBQkNERUY="
SSEC_MD5 = "U5L61r7jcwdNvT7frmUG8g=="
SEED_BASE = {"Date": "Wed, 25 Mar 2020 10:07:01 GMT", "Content-Type": "video/mp4"}
# (extra request headers, SSE headers the response must echo) for the seed's five examples.
SEED_CASES = [
    ({}, {}),
    ({"Cache-Control": "max-age=86400", "Content-Disposition": "attachment; filename=example.jpg",
      "x-cos-meta-example-field": "example-value", "x-cos-acl": "public-read"}, {}),
    ({"x-cos-server-side-encryption": "AES256"}, {"x-cos-server-side-encryption": "AES256"}),
    ({"x-cos-server-side-encryption": "cos/kms",
      "x-cos-server-side-encryption-cos-kms-key-id": KMS_KEY,
      "x-cos-server-side-encryption-context":
          "eyJhdXRob3IiOiJmeXNudGlhbiIsImNvbXBhbnkiOiJUZW5jZW50In0="},
     {"x-cos-server-side-encryption": "cos/kms",
      "x-cos-server-side-encryption-cos-kms-key-id": KMS_KEY}),
    ({"x-cos-server-side-encryption-customer-algorithm": "AES256",
      "x-cos-server-side-encryption-customer-key": SSEC_KEY,
      "x-cos-server-side-encryption-customer-key-MD5": SSEC_MD5},
     {"x-cos-server-side-encryption-customer-algorithm": "AES256",
      "x-cos-server-side-encryption-customer-key-MD5": SSEC_MD5}),
]
REQUEST_ID = re.compile(r"[0-9a-f]{8}_[0-9a-f]{8}_[0-9a-f]{4}_[0-9a-f]{4}")


@pytest.fixture(scope="module")
def seed_bucket(wire: Wire, boto) -> Iterator[str]:  # noqa: ANN001
    assert wire.request("PUT", SEED_BUCKET).status_code == 200
    yield SEED_BUCKET
    empty_and_delete(boto, SEED_BUCKET)


def check_request_id(value: str) -> None:
    text = base64.b64decode(value, validate=True).decode()
    assert REQUEST_ID.fullmatch(text), text
    assert abs(int(text[:8], 16) - time.time()) < 600


@pytest.mark.parametrize(("extra", "echo"), SEED_CASES, ids=["plain", "meta-acl", "aes256",
                                                             "kms", "sse-c"])
def test_seed_initiate_requests(wire: Wire, seed_bucket: str, extra: dict[str, str],
                                echo: dict[str, str]) -> None:
    resp = wire.request("POST", seed_bucket, "exampleobject", query=[("uploads", "")],
                        headers={**SEED_BASE, **extra})
    assert resp.status_code == 200, resp.text
    assert resp.headers["Content-Type"] == "application/xml"
    assert resp.headers["Server"] == "tencent-cos"
    check_request_id(resp.headers["x-cos-request-id"])
    root = xml(resp)
    assert root.tag == "InitiateMultipartUploadResult"  # no namespace
    assert [c.tag for c in root] == ["Bucket", "Key", "UploadId"]
    assert (root.findtext("Bucket"), root.findtext("Key")) == (seed_bucket, "exampleobject")
    assert re.fullmatch(r"[0-9A-Za-z]{16,}", root.findtext("UploadId") or "")
    sse = {k.lower(): v for k, v in resp.headers.items() if "server-side-encryption" in k.lower()}
    # Exactly the seed's echo; SSE-KMS also returns the encryption context it was given.
    context = {k.lower(): v for k, v in extra.items() if k.endswith("-context")}
    assert sse == {**{k.lower(): v for k, v in echo.items()}, **context}
    assert b"<?xml" in resp.content and b"xmlns" not in resp.content


def test_seed_metadata_and_acl_are_kept(wire: Wire, seed_bucket: str) -> None:
    resp = wire.request("POST", seed_bucket, "seed2", query=[("uploads", "")],
                        headers={**SEED_BASE, **SEED_CASES[1][0]})
    upload_id = xml(resp).findtext("UploadId") or ""
    part = wire.request("PUT", seed_bucket, "seed2", body=b"seed bytes",
                        query=[("partNumber", "1"), ("uploadId", upload_id)])
    etag = part.headers["ETag"]
    doc = (f"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>{etag}</ETag></Part>"
           "</CompleteMultipartUpload>").encode()
    done = wire.request("POST", seed_bucket, "seed2", query=[("uploadId", upload_id)], body=doc)
    assert done.status_code == 200 and xml(done).tag == "CompleteMultipartUploadResult"
    anon = wire.request("GET", seed_bucket, "seed2", sign=False)
    assert (anon.status_code, anon.content) == (200, b"seed bytes")
    assert anon.headers["Cache-Control"] == "max-age=86400"
    assert anon.headers["Content-Disposition"] == "attachment; filename=example.jpg"
    assert anon.headers["x-cos-meta-example-field"] == "example-value"
    assert anon.headers["Content-Type"] == "video/mp4"


def test_error_document_shape(wire: Wire, seed_bucket: str) -> None:
    resp = wire.request("GET", seed_bucket, "no/such key")
    assert resp.status_code == 404 and resp.headers["Content-Type"] == "application/xml"
    root = xml(resp)
    assert root.tag == "Error" and b"xmlns" not in resp.content
    assert [c.tag for c in root] == ["Code", "Message", "Resource", "RequestId", "TraceId"]
    assert root.findtext("Code") == "NoSuchKey"
    assert root.findtext("Resource") == f"{cos_host(seed_bucket)}/no/such%20key"
    assert root.findtext("RequestId") == resp.headers["x-cos-request-id"]
    assert root.findtext("TraceId") == resp.headers["x-cos-trace-id"]
    head = wire.request("HEAD", seed_bucket, "no/such key")
    assert head.status_code == 404 and head.content == b""
    assert head.headers["x-cos-trace-id"]


def test_expired_signature(wire: Wire, seed_bucket: str) -> None:
    now = int(time.time())
    resp = wire.request("GET", seed_bucket, window=(now - 2000, now - 1000))
    root = xml(resp)
    assert (resp.status_code, root.findtext("Code")) == (403, "AccessDenied")
    assert root.findtext("Message") == "Request has expired"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", root.findtext("ServerTime") or "")


def test_unknown_key_and_malformed_authorization(wire: Wire, seed_bucket: str) -> None:
    now = int(time.time())
    host = cos_host(seed_bucket)
    auth = make_authorization("nobody", SECRET_KEY, "GET", "/", [], {"host": host},
                              now - 60, now + 60)
    resp = wire.request("GET", seed_bucket, sign=False, headers={"Authorization": auth})
    assert (resp.status_code, xml(resp).findtext("Code")) == (403, "InvalidAccessKeyId")
    resp = wire.request("GET", seed_bucket, sign=False,
                        headers={"Authorization": f"q-sign-algorithm=sha1&q-ak={ACCESS_KEY}"})
    assert (resp.status_code, xml(resp).findtext("Code")) == (403, "AccessDenied")


def test_host_signed_without_port(wire: Wire, seed_bucket: str, cos_server: LiveServer) -> None:
    host = f"{seed_bucket}.cos.local"
    resp = wire.request("GET", None, host=f"{host}:{cos_server.port}", signed_host=host)
    assert resp.status_code == 200 and xml(resp).findtext("Name") == seed_bucket


def test_absolute_form_target(wire: Wire, seed_bucket: str, cos_server: LiveServer) -> None:
    """What coscmd sends through HTTP_PROXY."""
    assert wire.request("PUT", seed_bucket, "abs/k", body=b"absolute").status_code == 200
    host = f"{seed_bucket}.cos.local:{cos_server.port}"
    now = int(time.time())
    auth = make_authorization(ACCESS_KEY, SECRET_KEY, "GET", "/abs/k", [],
                              {"host": f"{seed_bucket}.cos.local"}, now - 60, now + 60)
    conn = http.client.HTTPConnection("127.0.0.1", cos_server.port, timeout=10)
    try:
        conn.request("GET", f"http://{host}/abs/k", headers={"Host": host, "Authorization": auth})
        resp = conn.getresponse()
        assert (resp.status, resp.read()) == (200, b"absolute")
    finally:
        conn.close()


def test_get_service(wire: Wire, seed_bucket: str, cos_server: LiveServer) -> None:
    for host, signed in ((None, "127.0.0.1"), ("service.cos.myqcloud.com", None)):
        resp = wire.request("GET", None, host=host, signed_host=signed,
                            query=[("marker", ""), ("max-keys", "2000")])
        assert resp.status_code == 200 and resp.headers["Server"] == "tencent-cos"
        root = xml(resp)
        assert root.tag == "ListAllMyBucketsResult" and root.find("Buckets") is not None
        assert seed_bucket in [b.findtext("Name") for b in root.iter("Bucket")]


def test_dialect_by_host_when_unsigned(wire: Wire, seed_bucket: str) -> None:
    cos_resp = wire.request("GET", seed_bucket, "private", sign=False,
                            headers={"Authorization": ""})
    assert cos_resp.status_code == 403 and cos_resp.headers["Server"] == "tencent-cos"
    assert "x-cos-request-id" in cos_resp.headers and "x-amz-request-id" not in cos_resp.headers
    s3_resp = wire.request("GET", None, f"{seed_bucket}/private", sign=False)
    assert s3_resp.status_code == 403 and "x-amz-request-id" in s3_resp.headers
    assert b"<HostId>" in s3_resp.content and b"<TraceId>" not in s3_resp.content


def test_bad_content_md5_and_header_values(wire: Wire, seed_bucket: str) -> None:
    resp = wire.request("PUT", seed_bucket, "md5", body=b"data",
                        headers={"Content-MD5": "mQ/fVh815F3k6TAUm8m0eg=="})
    assert (resp.status_code, xml(resp).findtext("Code")) == (400, "BadDigest")
    resp = wire.request("PUT", seed_bucket, "sc", body=b"x",
                        headers={"x-cos-storage-class": "GLACIER"})
    assert (resp.status_code, xml(resp).findtext("Code")) == (400, "NotSupportedStorageClass")
    resp = wire.request("PUT", seed_bucket, "tl", body=b"x", headers={"x-cos-traffic-limit": "1"})
    assert (resp.status_code, xml(resp).findtext("Code")) == (400, "InvalidArgument")
    ok = wire.request("PUT", seed_bucket, "tl", body=b"x",
                      headers={"x-cos-traffic-limit": "819200"})
    assert ok.status_code == 200


@pytest.mark.parametrize("form", ["{b}.cos." + REGION + ".myqcloud.com/src%20key",
                                  "/{b}/src%20key", "{b}.cos.local/src%20key"])
def test_copy_source_forms(wire: Wire, seed_bucket: str, form: str) -> None:
    wire.request("PUT", seed_bucket, "src key", body=b"copy me")
    resp = wire.request("PUT", seed_bucket, "dst", headers={
        "x-cos-copy-source": form.format(b=seed_bucket), "x-cos-metadata-directive": "Replaced",
        "Content-Type": "text/x-copied"})
    assert resp.status_code == 200, resp.text
    assert xml(resp).tag == "CopyObjectResult" and b"xmlns" not in resp.content
    got = wire.request("GET", seed_bucket, "dst")
    assert (got.content, got.headers["Content-Type"]) == (b"copy me", "text/x-copied")
    bad = wire.request("PUT", seed_bucket, "dst", headers={"x-cos-copy-source": "nokey"})
    assert (bad.status_code, xml(bad).findtext("Code")) == (400, "InvalidArgument")


def test_response_header_names_keep_canonical_case(wire: Wire, seed_bucket: str) -> None:
    wire.request("PUT", seed_bucket, "case", body=b"x")
    resp = wire.request("HEAD", seed_bucket, "case")
    names = set(resp.headers.keys())  # requests keeps the spelling received
    assert {"ETag", "Last-Modified", "Content-Length", "Content-Type", "Server"} <= names


def _code(resp: object) -> tuple[int, str | None]:
    return resp.status_code, xml(resp).findtext("Code")  # type: ignore[attr-defined]


@pytest.mark.parametrize("value", ["true", "TRUE"])
def test_forbid_overwrite_put_and_copy(wire: Wire, seed_bucket: str, value: str) -> None:
    forbid = {"x-cos-forbid-overwrite": value}
    wire.request("PUT", seed_bucket, "src key", body=b"copy me")
    first = wire.request("PUT", seed_bucket, "keep", body=b"first", headers=forbid)
    assert first.status_code == 200, first.text  # nothing there yet: written
    again = wire.request("PUT", seed_bucket, "keep", body=b"second", headers=forbid)
    assert _code(again) == (409, "FileAlreadyExists")
    copy = wire.request("PUT", seed_bucket, "keep", headers={
        **forbid, "x-cos-copy-source": f"/{seed_bucket}/src%20key"})
    assert _code(copy) == (409, "FileAlreadyExists")
    assert wire.request("GET", seed_bucket, "keep").content == b"first"
    allowed = wire.request("PUT", seed_bucket, "keep", body=b"third",
                           headers={"x-cos-forbid-overwrite": "false"})
    assert allowed.status_code == 200
    assert wire.request("GET", seed_bucket, "keep").content == b"third"
    wire.request("DELETE", seed_bucket, "keep")


def test_forbid_overwrite_complete(wire: Wire, seed_bucket: str) -> None:
    def upload(key: str) -> tuple[str, bytes]:
        started = wire.request("POST", seed_bucket, key, query=[("uploads", "")])
        upload_id = xml(started).findtext("UploadId") or ""
        part = wire.request("PUT", seed_bucket, key, body=b"part",
                            query=[("partNumber", "1"), ("uploadId", upload_id)])
        etag = part.headers["ETag"]
        doc = (f"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>{etag}</ETag>"
               "</Part></CompleteMultipartUpload>").encode()
        return upload_id, doc

    forbid = {"x-cos-forbid-overwrite": "true"}
    upload_id, doc = upload("mp-keep")
    done = wire.request("POST", seed_bucket, "mp-keep", body=doc, headers=forbid,
                        query=[("uploadId", upload_id)])
    assert done.status_code == 200, done.text
    # A retry of that Complete is the same answer, not a refusal to overwrite itself.
    retry = wire.request("POST", seed_bucket, "mp-keep", body=doc, headers=forbid,
                         query=[("uploadId", upload_id)])
    assert retry.status_code == 200, retry.text
    second, doc2 = upload("mp-keep")
    refused = wire.request("POST", seed_bucket, "mp-keep", body=doc2, headers=forbid,
                           query=[("uploadId", second)])
    assert _code(refused) == (409, "FileAlreadyExists")
    wire.request("DELETE", seed_bucket, "mp-keep", query=[("uploadId", second)])
    wire.request("DELETE", seed_bucket, "mp-keep")


def _post_form(bucket: str, key: str, body: bytes, forbid: str | None = None,
               covered: bool = True) -> tuple[bytes, dict[str, str]]:
    """A signed POST Object form (policy signature V2) and its headers, for the COS Host. The
    policy lets ``x-cos-forbid-overwrite`` take any value, unless ``covered`` is False."""
    expires = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 600))
    conditions: list[object] = [{"bucket": bucket}, {"key": key}]
    if covered:
        conditions.append(["starts-with", "$x-cos-forbid-overwrite", ""])
    policy = base64.b64encode(json.dumps({"expiration": expires,
                                          "conditions": conditions}).encode()).decode()
    signature = base64.b64encode(hmac.new(SECRET_KEY.encode(), policy.encode(),
                                          hashlib.sha1).digest()).decode()
    fields: list[tuple[str, str | tuple[str, bytes]]] = [
        ("key", key), ("AWSAccessKeyId", ACCESS_KEY), ("policy", policy),
        ("signature", signature)]
    if forbid is not None:
        fields.append(("x-cos-forbid-overwrite", forbid))
    data, content_type = encode_multipart_formdata([*fields, ("file", ("f.bin", body))])
    return data, {"Host": cos_host(bucket), "Content-Type": content_type}


def _post(wire: Wire, bucket: str, key: str, body: bytes, forbid: str | None = None,
          covered: bool = True) -> requests.Response:
    data, headers = _post_form(bucket, key, body, forbid, covered)
    return requests.post(wire.base + "/", data=data, headers=headers, timeout=30)


def _blob_files(server: LiveServer) -> int:
    return sum(len(files) for _, _, files in os.walk(os.path.join(server.data_dir, "blobs")))


@pytest.mark.parametrize("value", ["true", "TRUE"])
def test_post_object_forbid_overwrite_field(wire: Wire, seed_bucket: str, value: str) -> None:
    put = wire.request("PUT", seed_bucket, "post-keep", body=b"old bytes")
    refused = _post(wire, seed_bucket, "post-keep", b"new bytes", forbid=value)
    assert _code(refused) == (409, "FileAlreadyExists")
    got = wire.request("GET", seed_bucket, "post-keep")
    assert (got.content, got.headers["ETag"]) == (b"old bytes", put.headers["ETag"])
    wire.request("DELETE", seed_bucket, "post-keep")


def test_post_object_forbid_overwrite_free_key_and_false(wire: Wire, seed_bucket: str) -> None:
    wire.request("DELETE", seed_bucket, "post-new")
    first = _post(wire, seed_bucket, "post-new", b"first", forbid="true")
    assert first.status_code == 204, first.text  # nothing there yet: written
    assert wire.request("GET", seed_bucket, "post-new").content == b"first"
    again = _post(wire, seed_bucket, "post-new", b"second", forbid="false")
    assert again.status_code == 204, again.text
    assert wire.request("GET", seed_bucket, "post-new").content == b"second"
    plain = _post(wire, seed_bucket, "post-new", b"third")
    assert plain.status_code == 204, plain.text
    assert wire.request("GET", seed_bucket, "post-new").content == b"third"
    wire.request("DELETE", seed_bucket, "post-new")


def test_post_object_forbid_overwrite_needs_a_policy_condition(wire: Wire,
                                                               seed_bucket: str) -> None:
    """Signed the S3 way (SigV2), the form follows S3's rule: like any other x-cos-* field, the
    policy must cover it. (COS-signed forms follow COS's rule, see the tests further down.)"""
    wire.request("DELETE", seed_bucket, "post-uncovered")
    resp = _post(wire, seed_bucket, "post-uncovered", b"x", forbid="true", covered=False)
    assert _code(resp) == (403, "AccessDenied")
    assert wire.request("GET", seed_bucket, "post-uncovered").status_code == 404


def test_post_object_forbid_overwrite_checked_as_the_object_lands(
        wire: Wire, seed_bucket: str, cos_server: LiveServer) -> None:
    """The key is free when the file starts; a PUT lands while it is still arriving: the POST
    is refused at commit, keeps the PUT's object and leaves no blob behind."""
    key = "post-race"
    wire.request("DELETE", seed_bucket, key)
    body = os.urandom(INLINE_MAX + 1)  # stored in a blob file, so a leak would show
    data, headers = _post_form(seed_bucket, key, body, forbid="true")
    blobs = _blob_files(cos_server)
    conn = http.client.HTTPConnection("127.0.0.1", cos_server.port, timeout=30)
    try:
        conn.putrequest("POST", "/", skip_host=True, skip_accept_encoding=True)
        for name, value in {**headers, "Content-Length": str(len(data))}.items():
            conn.putheader(name, value)
        conn.endheaders()
        half = len(data) - len(body) // 2
        conn.send(data[:half])
        time.sleep(0.5)  # the server has read the fields and started on the file
        assert wire.request("PUT", seed_bucket, key, body=b"landed first").status_code == 200
        conn.send(data[half:])
        resp = conn.getresponse()
        status, doc = resp.status, resp.read()
    finally:
        conn.close()
    assert (status, ElementTree.fromstring(doc).findtext("Code")) == (409, "FileAlreadyExists")
    assert wire.request("GET", seed_bucket, key).content == b"landed first"
    assert _blob_files(cos_server) == blobs
    wire.request("DELETE", seed_bucket, key)


def _cos_form(bucket: str, key: str, body: bytes, *, conditions: Sequence[object] = (),
              fields: Sequence[tuple[str, str]] = (), access_key: str = ACCESS_KEY,
              secret: str = SECRET_KEY, key_time: str | None = None,
              signature: str | None = None) -> tuple[bytes, dict[str, str]]:
    """A POST Object form signed the COS way (product/436/14690), computed here from the
    documented steps: SignKey = HMAC-SHA1(SecretKey, KeyTime), StringToSign = SHA1(policy
    JSON), Signature = HMAC-SHA1(SignKey, StringToSign), all in lower-case hex."""
    now = int(time.time())
    key_time = key_time or f"{now - 60};{now + 600}"
    expires = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now + 600))
    text = json.dumps({"expiration": expires, "conditions": [
        {"q-sign-algorithm": "sha1"}, {"q-ak": access_key}, {"q-sign-time": key_time},
        {"bucket": bucket}, *conditions]}).encode()
    sign_key = hmac.new(secret.encode(), key_time.encode(), hashlib.sha1).hexdigest()
    string_to_sign = hashlib.sha1(text).hexdigest()
    signature = signature or hmac.new(sign_key.encode(), string_to_sign.encode(),
                                      hashlib.sha1).hexdigest()
    form: list[tuple[str, str | tuple[str, bytes]]] = [
        ("key", key), *fields, ("policy", base64.b64encode(text).decode()),
        ("q-sign-algorithm", "sha1"), ("q-ak", access_key), ("q-key-time", key_time),
        ("q-signature", signature), ("file", ("f.bin", body))]
    data, content_type = encode_multipart_formdata(form)
    return data, {"Host": cos_host(bucket), "Content-Type": content_type}


def _cos_post(wire: Wire, bucket: str, key: str, body: bytes,
              **kwargs: Any) -> requests.Response:
    data, headers = _cos_form(bucket, key, body, **kwargs)
    return requests.post(wire.base + "/", data=data, headers=headers, timeout=30,
                         allow_redirects=False)


def test_cos_signed_post_object(wire: Wire, seed_bucket: str) -> None:
    key, body = "cos-post/plain", b"cos signed form"
    resp = _cos_post(wire, seed_bucket, key, body)
    assert resp.status_code == 204, resp.text
    assert resp.headers["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
    assert resp.headers["Location"].endswith(f"/{key}")
    got = wire.request("GET", seed_bucket, key)
    assert (got.status_code, got.content) == (200, body)
    wire.request("DELETE", seed_bucket, key)


def test_cos_signed_post_object_success_action(wire: Wire, seed_bucket: str) -> None:
    created = _cos_post(wire, seed_bucket, "cos-post/201", b"one",
                        fields=[("success_action_status", "201")])
    assert created.status_code == 201, created.text
    root = xml(created)
    assert (root.tag, root.findtext("Key"), root.findtext("Bucket")) == (
        "PostResponse", "cos-post/201", seed_bucket)
    ok = _cos_post(wire, seed_bucket, "cos-post/200", b"two",
                   fields=[("success_action_status", "200")])
    assert (ok.status_code, ok.content) == (200, b"")
    redirect = _cos_post(wire, seed_bucket, "cos-post/303", b"three",
                         fields=[("success_action_redirect", "https://my.website/done")])
    assert redirect.status_code == 303, redirect.text
    location = redirect.headers["Location"]
    assert location.startswith("https://my.website/done?bucket=" + seed_bucket)
    assert "key=cos-post%2F303" in location and hashlib.md5(b"three").hexdigest() in location
    for key, body in (("cos-post/201", b"one"), ("cos-post/200", b"two"),
                      ("cos-post/303", b"three")):
        assert wire.request("GET", seed_bucket, key).content == body
        wire.request("DELETE", seed_bucket, key)


def test_cos_signed_post_object_fields_need_no_condition(wire: Wire, seed_bucket: str) -> None:
    """COS only recommends limiting every field: Cache-Control, x-cos-meta-* and the token are
    not in the policy and the upload goes through with them."""
    key = "cos-post/meta"
    resp = _cos_post(wire, seed_bucket, key, b"meta", fields=[
        ("Cache-Control", "max-age=60"), ("x-cos-meta-note", "free"),
        ("x-cos-security-token", "not-checked")])
    assert resp.status_code == 204, resp.text
    got = wire.request("GET", seed_bucket, key)
    assert got.headers["Cache-Control"] == "max-age=60"
    assert got.headers["x-cos-meta-note"] == "free"
    wire.request("DELETE", seed_bucket, key)


def test_cos_signed_post_object_refusals(wire: Wire, seed_bucket: str) -> None:
    """Each refused form stores nothing."""
    key = "cos-post/refused"
    wire.request("DELETE", seed_bucket, key)
    wrong = _cos_post(wire, seed_bucket, key, b"x", signature="0" * 40)
    assert _code(wrong) == (403, "SignatureDoesNotMatch")
    assert xml(wrong).findtext("Message") == "The Signature you specified is invalid."
    other_secret = _cos_post(wire, seed_bucket, key, b"x", secret="not-the-secret")
    assert _code(other_secret) == (403, "SignatureDoesNotMatch")
    unknown = _cos_post(wire, seed_bucket, key, b"x", access_key="AKIDNOBODY")
    assert _code(unknown) == (403, "InvalidAccessKeyId")
    now = int(time.time())
    expired = _cos_post(wire, seed_bucket, key, b"x", key_time=f"{now - 2000};{now - 1000}")
    assert _code(expired) == (403, "AccessDenied")
    assert xml(expired).findtext("Message") == "Request has expired"
    assert wire.request("GET", seed_bucket, key).status_code == 404


def test_cos_signed_post_object_policy_conditions(wire: Wire, seed_bucket: str) -> None:
    limits = [["starts-with", "$key", "cos-post/in/"], ["content-length-range", 1, 10]]
    outside = _cos_post(wire, seed_bucket, "cos-post/out", b"x", conditions=limits)
    assert _code(outside) == (403, "AccessDenied")
    assert xml(outside).findtext("Message") == \
        "Condition key key doesn't match the value cos-post/in/"
    big = _cos_post(wire, seed_bucket, "cos-post/in/big", b"x" * 11, conditions=limits)
    assert _code(big) == (400, "EntityTooLarge")
    empty = _cos_post(wire, seed_bucket, "cos-post/in/empty", b"", conditions=limits)
    assert _code(empty) == (400, "EntityTooSmall")
    for key in ("cos-post/out", "cos-post/in/big", "cos-post/in/empty"):
        assert wire.request("GET", seed_bucket, key).status_code == 404
    # A field the policy limits must be in the form (COS rule), with a matching value.
    typed = [["starts-with", "$Content-Type", "image/"]]
    absent = _cos_post(wire, seed_bucket, "cos-post/in/t", b"x", conditions=typed)
    assert _code(absent) == (403, "AccessDenied")
    wrong_type = _cos_post(wire, seed_bucket, "cos-post/in/t", b"x", conditions=typed,
                           fields=[("Content-Type", "text/plain")])
    assert _code(wrong_type) == (403, "AccessDenied")
    assert wire.request("GET", seed_bucket, "cos-post/in/t").status_code == 404
    ok = _cos_post(wire, seed_bucket, "cos-post/in/t", b"0123456789",
                   conditions=[*limits, *typed], fields=[("Content-Type", "image/png")])
    assert ok.status_code == 204, ok.text
    got = wire.request("GET", seed_bucket, "cos-post/in/t")
    assert (got.content, got.headers["Content-Type"]) == (b"0123456789", "image/png")
    wire.request("DELETE", seed_bucket, "cos-post/in/t")


def test_cos_signed_post_object_forbid_overwrite(wire: Wire, seed_bucket: str) -> None:
    key = "cos-post/keep"
    put = wire.request("PUT", seed_bucket, key, body=b"old bytes")
    refused = _cos_post(wire, seed_bucket, key, b"new bytes",
                        fields=[("x-cos-forbid-overwrite", "true")])
    assert _code(refused) == (409, "FileAlreadyExists")
    got = wire.request("GET", seed_bucket, key)
    assert (got.content, got.headers["ETag"]) == (b"old bytes", put.headers["ETag"])
    allowed = _cos_post(wire, seed_bucket, key, b"new bytes",
                        fields=[("x-cos-forbid-overwrite", "false")])
    assert allowed.status_code == 204, allowed.text
    assert wire.request("GET", seed_bucket, key).content == b"new bytes"
    wire.request("DELETE", seed_bucket, key)


def test_anonymous_post_object_on_cos(wire: Wire, boto) -> None:  # noqa: ANN001
    """No signature at all: the bucket must grant WRITE to everyone (unchanged)."""
    bucket = f"cos-anon-post-{os.getpid()}-1250000000"
    assert wire.request("PUT", bucket).status_code == 200
    try:
        data, headers = encode_multipart_formdata([("key", "anon"), ("file", ("a", b"hi"))])
        form = {"Host": cos_host(bucket), "Content-Type": headers}
        denied = requests.post(wire.base + "/", data=data, headers=form, timeout=30)
        assert _code(denied) == (403, "AccessDenied")
        acl = wire.request("PUT", bucket, query=[("acl", "")],
                           headers={"x-cos-acl": "public-read-write"})
        assert acl.status_code == 200, acl.text
        resp = requests.post(wire.base + "/", data=data, headers=form, timeout=30)
        assert resp.status_code == 204, resp.text
        assert wire.request("GET", bucket, "anon").content == b"hi"
    finally:
        empty_and_delete(boto, bucket)


def test_traffic_limit_paces_uploads_and_downloads(wire: Wire, seed_bucket: str) -> None:
    """x-cos-traffic-limit: 819200 bit/s is 100 KiB/s: 200 KiB take about two seconds either
    way (the lower bound is what pacing guarantees; nothing is asserted about an upper one)."""
    body = bytes(range(256)) * 800  # 200 KiB
    limit = {"x-cos-traffic-limit": "819200"}
    t0 = time.monotonic()
    put = wire.request("PUT", seed_bucket, "paced", body=body, headers=limit)
    assert put.status_code == 200, put.text
    assert time.monotonic() - t0 >= 1.6
    t0 = time.monotonic()
    got = wire.request("GET", seed_bucket, "paced", headers=limit)
    assert (got.status_code, got.content) == (200, body)
    assert time.monotonic() - t0 >= 1.6
    part = wire.request("GET", seed_bucket, "paced", headers={**limit, "Range": "bytes=0-102399"})
    assert (part.status_code, part.content) == (206, body[:102400])
    bad = wire.request("GET", seed_bucket, "paced", headers={"x-cos-traffic-limit": "100"})
    assert _code(bad) == (400, "InvalidArgument")
    wire.request("DELETE", seed_bucket, "paced")
