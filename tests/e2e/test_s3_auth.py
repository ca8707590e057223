"""End to end: S3 authentication (SigV4 header/presigned/streaming, SigV2) against a live server.

The SigV4 signer below is written from the AWS description, independent of the server code, so
the server is checked against a second implementation, not against itself.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import hmac
import zlib
from collections.abc import Iterator
from unittest import mock
from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit
from xml.etree import ElementTree

import boto3
import botocore.auth
import pytest
import requests
from botocore.auth import HmacV1QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from .conftest import make_client
from .server import ACCESS_KEY, SECRET_KEY, LiveServer

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
REGION = "us-east-1"


# --------------------------------------------------------------------------- a test signer


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def signing_key(secret: str, date: str, region: str = REGION) -> bytes:
    key = _hmac(("AWS4" + secret).encode(), date)
    for part in (region, "s3", "aws4_request"):
        key = _hmac(key, part)
    return key


def _q(value: str) -> str:
    return quote(value, safe="-_.~")


class Signed:
    """Headers of a SigV4-signed request plus what chunk signatures chain from."""

    def __init__(self, headers: dict[str, str], key: bytes, amz_date: str, scope: str,
                 signature: str) -> None:
        self.headers = headers
        self.key = key
        self.amz_date = amz_date
        self.scope = scope
        self.signature = signature


def sign_v4(method: str, url: str, headers: dict[str, str] | None, payload_hash: str, *,
            access: str = ACCESS_KEY, secret: str = SECRET_KEY,
            when: dt.datetime | None = None, hash_header: bool = True) -> Signed:
    """Sign every given header plus host, x-amz-date and (unless told not to send it)
    x-amz-content-sha256; ``payload_hash`` is the last line of the canonical request."""
    parts = urlsplit(url)
    now = when or dt.datetime.now(dt.UTC)
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    h = {k.lower(): v for k, v in (headers or {}).items()}
    h.update({"host": parts.netloc, "x-amz-date": amz_date})
    if hash_header:
        h["x-amz-content-sha256"] = payload_hash
    names = sorted(h)
    query = "&".join(sorted(f"{_q(k)}={_q(v)}"
                            for k, v in parse_qsl(parts.query, keep_blank_values=True)))
    creq = "\n".join([method, parts.path or "/", query,
                      "".join(f"{n}:{h[n].strip()}\n" for n in names), ";".join(names),
                      payload_hash])
    scope = f"{amz_date[:8]}/{REGION}/s3/aws4_request"
    sts = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                     hashlib.sha256(creq.encode()).hexdigest()])
    key = signing_key(secret, amz_date[:8])
    sig = hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
    h["authorization"] = (f"AWS4-HMAC-SHA256 Credential={access}/{scope}, "
                          f"SignedHeaders={';'.join(names)}, Signature={sig}")
    return Signed(h, key, amz_date, scope, sig)


def signed_chunks(chunks: list[bytes], s: Signed) -> bytes:
    """An aws-chunked body whose chunk signatures chain from the request signature."""
    out = bytearray()
    prev = s.signature
    for chunk in [*chunks, b""]:
        sts = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", s.amz_date, s.scope, prev, EMPTY_SHA256,
                         hashlib.sha256(chunk).hexdigest()])
        prev = hmac.new(s.key, sts.encode(), hashlib.sha256).hexdigest()
        out += f"{len(chunk):x};chunk-signature={prev}\r\n".encode() + chunk + b"\r\n"
    return bytes(out)


def crc32_b64(data: bytes) -> str:
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


@contextlib.contextmanager
def shifted_clock(delta: dt.timedelta) -> Iterator[None]:
    """botocore (pure Python and CRT signers) signs as if the clock were off by ``delta``."""

    def fake(remove_tzinfo: bool = True) -> dt.datetime:
        now = dt.datetime.now(dt.UTC) + delta
        return now.replace(tzinfo=None) if remove_tzinfo else now

    targets = [botocore.auth]
    try:
        import botocore.crt.auth as crt_auth

        targets.append(crt_auth)
    except ImportError:  # awscrt not installed
        pass
    with contextlib.ExitStack() as stack:
        for module in targets:
            stack.enter_context(mock.patch.object(module, "get_current_datetime", fake))
        yield


def error_of(resp: requests.Response) -> dict[str, str]:
    root = ElementTree.fromstring(resp.content)
    return {child.tag: child.text or "" for child in root}


def client_code(exc: pytest.ExceptionInfo[ClientError]) -> tuple[int, str]:
    err = exc.value.response
    return err["ResponseMetadata"]["HTTPStatusCode"], err["Error"]["Code"]


def obj_url(server: LiveServer, bucket: str, key: str) -> str:
    return f"{server.endpoint}/{bucket}/{quote(key)}"


def assert_absent(s3, bucket: str, key: str) -> None:  # noqa: ANN001
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=bucket, Key=key)
    assert client_code(exc)[0] == 404


# --------------------------------------------------------------------------- SigV4 header


def test_sigv4_header_roundtrip(s3, bucket: str) -> None:  # noqa: ANN001
    s3.put_object(Bucket=bucket, Key="a b+c/ü.txt", Body=b"hello")
    got = s3.get_object(Bucket=bucket, Key="a b+c/ü.txt")
    assert got["Body"].read() == b"hello"
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert keys == ["a b+c/ü.txt"]
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="a b+c/", StartAfter="a b+c/*",
                                Delimiter="/", MaxKeys=5)
    assert [o["Key"] for o in listed["Contents"]] == ["a b+c/ü.txt"]


def test_any_region_in_scope(server: LiveServer, bucket: str) -> None:
    """Ncloud clients sign for kr-standard; whatever region is in the scope is accepted."""
    ncloud = boto3.client("s3", endpoint_url=server.endpoint, region_name="kr-standard",
                          aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY)
    ncloud.put_object(Bucket=bucket, Key="kr", Body=b"seoul")
    assert ncloud.get_object(Bucket=bucket, Key="kr")["Body"].read() == b"seoul"


def test_own_signer_is_accepted(server: LiveServer, bucket: str) -> None:
    url = obj_url(server, bucket, "own")
    body = b"signed by the test"
    s = sign_v4("PUT", url, {}, hashlib.sha256(body).hexdigest())
    assert requests.put(url, data=body, headers=s.headers, timeout=10).status_code == 200
    s = sign_v4("GET", url, {}, EMPTY_SHA256)
    resp = requests.get(url, headers=s.headers, timeout=10)
    assert resp.status_code == 200 and resp.content == body


def test_unknown_access_key(server: LiveServer, bucket: str) -> None:
    other = make_client(server.endpoint)
    other._request_signer._credentials = Credentials("NOSUCHKEY", SECRET_KEY)  # noqa: SLF001
    with pytest.raises(ClientError) as exc:
        other.list_objects_v2(Bucket=bucket)
    assert client_code(exc) == (403, "InvalidAccessKeyId")


def test_wrong_secret_reports_string_to_sign(server: LiveServer, bucket: str) -> None:
    url = obj_url(server, bucket, "k")
    s = sign_v4("GET", url, {}, EMPTY_SHA256, secret="not-the-secret")
    resp = requests.get(url, headers=s.headers, timeout=10)
    assert resp.status_code == 403
    err = error_of(resp)
    assert err["Code"] == "SignatureDoesNotMatch"
    assert err["StringToSign"].startswith(f"AWS4-HMAC-SHA256\n{s.amz_date}\n{s.scope}\n")
    assert err["CanonicalRequest"].startswith(f"GET\n/{bucket}/k\n\n")
    assert resp.headers["x-amz-request-id"]


@pytest.mark.parametrize("minutes", [20, -20])
def test_clock_skew(s3, bucket: str, minutes: int) -> None:  # noqa: ANN001
    with shifted_clock(dt.timedelta(minutes=minutes)), pytest.raises(ClientError) as exc:
        s3.list_objects_v2(Bucket=bucket)
    assert client_code(exc) == (403, "RequestTimeTooSkewed")


def test_small_skew_is_fine(s3, bucket: str) -> None:  # noqa: ANN001
    with shifted_clock(dt.timedelta(minutes=-10)):
        s3.list_objects_v2(Bucket=bucket)


def test_payload_hash_mismatch_stores_nothing(server: LiveServer, s3, bucket: str) -> None:  # noqa: ANN001
    url = obj_url(server, bucket, "mismatch")
    s = sign_v4("PUT", url, {}, hashlib.sha256(b"other").hexdigest())
    resp = requests.put(url, data=b"payload", headers=s.headers, timeout=10)
    assert resp.status_code == 400
    assert error_of(resp)["Code"] == "XAmzContentSHA256Mismatch"
    assert_absent(s3, bucket, "mismatch")


def test_unsigned_payload(server: LiveServer, s3, bucket: str) -> None:  # noqa: ANN001
    url = obj_url(server, bucket, "unsigned")
    s = sign_v4("PUT", url, {}, "UNSIGNED-PAYLOAD")
    assert requests.put(url, data=b"anything", headers=s.headers, timeout=10).status_code == 200
    assert s3.get_object(Bucket=bucket, Key="unsigned")["Body"].read() == b"anything"


def test_without_content_sha256_header(server: LiveServer, s3, bucket: str) -> None:  # noqa: ANN001
    """Plain SigV4 (the Ncloud seed request): no header, the empty-body hash is signed."""
    s3.put_object(Bucket=bucket, Key="k", Body=b"body")
    url = obj_url(server, bucket, "k")
    s = sign_v4("GET", url, {}, EMPTY_SHA256, hash_header=False)
    resp = requests.get(url, headers=s.headers, timeout=10)
    assert resp.status_code == 200 and resp.content == b"body"
    s = sign_v4("GET", url, {}, "UNSIGNED-PAYLOAD", hash_header=False)
    assert requests.get(url, headers=s.headers, timeout=10).status_code == 403
    body = b"with a body the hash cannot be known before reading it"
    s = sign_v4("PUT", url, {}, hashlib.sha256(body).hexdigest(), hash_header=False)
    resp = requests.put(url, data=body, headers=s.headers, timeout=10)
    assert resp.status_code == 400 and error_of(resp)["Code"] == "InvalidRequest"
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"body"


def test_malformed_authorization(server: LiveServer, bucket: str) -> None:
    url = obj_url(server, bucket, "k")
    headers = {"Authorization": "AWS4-HMAC-SHA256 Credential=garbage",
               "x-amz-date": dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ"),
               "x-amz-content-sha256": EMPTY_SHA256}
    resp = requests.get(url, headers=headers, timeout=10)
    assert resp.status_code == 400
    assert error_of(resp)["Code"] == "AuthorizationHeaderMalformed"


# --------------------------------------------------------------------------- streaming


def streaming_headers(body_len: int, decoded: int, extra: dict[str, str]) -> dict[str, str]:
    return {"content-encoding": "aws-chunked", "x-amz-decoded-content-length": str(decoded),
            "content-length": str(body_len), **extra}


def _put_streaming(url: str, chunks: list[bytes], tamper: bool = False) -> requests.Response:
    data = b"".join(chunks)
    # The body length depends only on chunk sizes, so sign with a placeholder body first.
    probe = sign_v4("PUT", url, {}, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD")
    body_len = len(signed_chunks(chunks, probe))
    s = sign_v4("PUT", url, streaming_headers(body_len, len(data), {}),
                "STREAMING-AWS4-HMAC-SHA256-PAYLOAD")
    body = signed_chunks(chunks, s)
    if tamper:
        at = body.index(b"chunk-signature=", body.index(b"\r\n") + 2) + len(b"chunk-signature=")
        body = body[:at] + (b"0" if body[at:at + 1] != b"0" else b"1") + body[at + 1:]
    return requests.put(url, data=body, headers=s.headers, timeout=10)


def test_streaming_signed_payload(server: LiveServer, s3, bucket: str) -> None:  # noqa: ANN001
    chunks = [b"a" * 65536, bytes(range(256)) * 100, b"tail"]
    resp = _put_streaming(obj_url(server, bucket, "streamed"), chunks)
    assert resp.status_code == 200, resp.text
    got = s3.get_object(Bucket=bucket, Key="streamed")
    data = b"".join(chunks)
    assert got["Body"].read() == data
    assert got["ContentLength"] == len(data)
    assert got["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'
    assert got.get("ContentEncoding") in (None, "")


def test_streaming_bad_chunk_signature(server: LiveServer, s3, bucket: str) -> None:  # noqa: ANN001
    resp = _put_streaming(obj_url(server, bucket, "bad-chunk"), [b"x" * 9000, b"y" * 10],
                          tamper=True)
    assert resp.status_code == 403
    assert error_of(resp)["Code"] == "SignatureDoesNotMatch"
    assert_absent(s3, bucket, "bad-chunk")


def signed_chunks_with_trailer(chunks: list[bytes], s: Signed, trailers: dict[str, str]) -> bytes:
    """STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER: signed chunks, then a signed trailer."""
    body = signed_chunks(chunks, s)
    last = body.rsplit(b"chunk-signature=", 1)[1].split(b"\r\n", 1)[0].decode()
    body = body[: -2]  # the final chunk's empty line is replaced by the trailer block
    canonical = "".join(f"{k}:{v}\n" for k, v in sorted(trailers.items()))
    sts = "\n".join(["AWS4-HMAC-SHA256-TRAILER", s.amz_date, s.scope, last,
                     hashlib.sha256(canonical.encode()).hexdigest()])
    sig = hmac.new(s.key, sts.encode(), hashlib.sha256).hexdigest()
    lines = "".join(f"{k}:{v}\r\n" for k, v in trailers.items())
    return body + f"{lines}x-amz-trailer-signature:{sig}\r\n\r\n".encode()


def _put_signed_trailer(url: str, chunks: list[bytes], checksum: str,
                        tamper: bool = False) -> requests.Response:
    payload = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
    trailers = {"x-amz-checksum-crc32": checksum}
    probe = sign_v4("PUT", url, {}, payload)
    body_len = len(signed_chunks_with_trailer(chunks, probe, trailers))
    s = sign_v4("PUT", url, streaming_headers(body_len, sum(map(len, chunks)),
                                               {"x-amz-trailer": "x-amz-checksum-crc32"}),
                payload)
    body = signed_chunks_with_trailer(chunks, s, trailers)
    if tamper:  # flip the first hex digit of the trailer signature, same length
        at = body.index(b"x-amz-trailer-signature:") + len(b"x-amz-trailer-signature:")
        body = body[:at] + (b"0" if body[at:at + 1] != b"0" else b"1") + body[at + 1:]
    return requests.put(url, data=body, headers=s.headers, timeout=10)


def test_streaming_signed_trailer(server: LiveServer, s3, bucket: str) -> None:  # noqa: ANN001
    chunks = [b"q" * 10000, b"r" * 3]
    data = b"".join(chunks)
    resp = _put_signed_trailer(obj_url(server, bucket, "st"), chunks, crc32_b64(data))
    assert resp.status_code == 200, resp.text
    got = s3.get_object(Bucket=bucket, Key="st", ChecksumMode="ENABLED")
    assert got["Body"].read() == data and got["ChecksumCRC32"] == crc32_b64(data)
    resp = _put_signed_trailer(obj_url(server, bucket, "st2"), chunks, crc32_b64(data),
                               tamper=True)
    assert resp.status_code == 403
    assert error_of(resp)["Code"] == "SignatureDoesNotMatch"
    assert_absent(s3, bucket, "st2")


# --------------------------------------------------------------------------- presigned


@pytest.fixture(scope="module")
def v4(server: LiveServer):  # noqa: ANN201 - botocore client type is dynamic
    """A client whose presigned URLs are SigV4 (botocore presigns SigV2 by default)."""
    return make_client(server.endpoint, signature_version="s3v4")


@pytest.mark.parametrize("key", ["p k", "dir/ü+plus=eq&amp~*'()", "a//b"])  # requests drops /./
def test_presigned_get_and_put(v4, bucket: str, key: str) -> None:  # noqa: ANN001
    put_url = v4.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": key},
                                        ExpiresIn=300)
    assert requests.put(put_url, data=b"via presigned", timeout=10).status_code == 200
    get_url = v4.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key},
                                        ExpiresIn=300)
    resp = requests.get(get_url, timeout=10)
    assert resp.status_code == 200 and resp.content == b"via presigned"


def test_presigned_response_override(v4, s3, bucket: str) -> None:  # noqa: ANN001
    s3.put_object(Bucket=bucket, Key="doc", Body=b"report")
    url = v4.generate_presigned_url("get_object", Params={
        "Bucket": bucket, "Key": "doc", "ResponseContentDisposition": 'attachment; filename="r.txt"',
        "ResponseContentType": "text/plain"})
    resp = requests.get(url, timeout=10)
    assert resp.status_code == 200 and resp.content == b"report"
    assert resp.headers["Content-Disposition"] == 'attachment; filename="r.txt"'
    assert resp.headers["Content-Type"] == "text/plain"


def test_presigned_put_with_signed_headers(v4, s3, bucket: str) -> None:  # noqa: ANN001
    url = v4.generate_presigned_url("put_object", Params={
        "Bucket": bucket, "Key": "typed", "ContentType": "application/json",
        "Metadata": {"origin": "presigned"}})
    headers = {"Content-Type": "application/json", "x-amz-meta-origin": "presigned"}
    assert requests.put(url, data=b"{}", headers=headers, timeout=10).status_code == 200
    head = s3.head_object(Bucket=bucket, Key="typed")
    assert head["ContentType"] == "application/json"
    assert head["Metadata"] == {"origin": "presigned"}
    wrong = requests.put(url, data=b"{}", headers={**headers, "Content-Type": "text/html"},
                         timeout=10)
    assert wrong.status_code == 403


def _with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    query.update(changes)
    encoded = "&".join(f"{_q(k)}={_q(v)}" for k, v in query.items())
    return urlunsplit(parts._replace(query=encoded))


def test_presigned_tampered_signature(s3, v4, bucket: str) -> None:  # noqa: ANN001
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    url = v4.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"})
    sig = dict(parse_qsl(urlsplit(url).query))["X-Amz-Signature"]
    bad = _with_query(url, **{"X-Amz-Signature": ("0" if sig[0] != "0" else "1") + sig[1:]})
    resp = requests.get(bad, timeout=10)
    assert resp.status_code == 403
    assert error_of(resp)["Code"] == "SignatureDoesNotMatch"
    other_key = _with_query(url.replace("/k?", "/other?"))
    assert requests.get(other_key, timeout=10).status_code == 403


def test_presigned_expired(s3, v4, bucket: str) -> None:  # noqa: ANN001
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    with shifted_clock(dt.timedelta(hours=-2)):
        url = v4.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"},
                                        ExpiresIn=60)
    resp = requests.get(url, timeout=10)
    assert resp.status_code == 403
    err = error_of(resp)
    assert err["Code"] == "AccessDenied" and "expired" in err["Message"]


@pytest.mark.parametrize("expires", ["604801", "0", "-5", "soon"])
def test_presigned_expires_out_of_range(v4, bucket: str, expires: str) -> None:  # noqa: ANN001
    url = v4.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"})
    resp = requests.get(_with_query(url, **{"X-Amz-Expires": expires}), timeout=10)
    assert resp.status_code == 400
    assert error_of(resp)["Code"] == "AuthorizationQueryParametersError"


# --------------------------------------------------------------------------- SigV2 and anonymous


def test_sigv2_header(server: LiveServer, bucket: str) -> None:
    v2 = make_client(server.endpoint, signature_version="s3")
    v2.put_object(Bucket=bucket, Key="v2/obj ü", Body=b"sigv2", ContentType="text/plain",
                  Metadata={"m": "v"})
    got = v2.get_object(Bucket=bucket, Key="v2/obj ü")
    assert got["Body"].read() == b"sigv2" and got["Metadata"] == {"m": "v"}
    assert [o["Key"] for o in v2.list_objects(Bucket=bucket, Prefix="v2/")["Contents"]] == \
        ["v2/obj ü"]
    v2.delete_object(Bucket=bucket, Key="v2/obj ü")


def test_sigv2_subresources(server: LiveServer, bucket: str) -> None:
    v2 = make_client(server.endpoint, signature_version="s3")
    up = v2.create_multipart_upload(Bucket=bucket, Key="mp v2")
    part = v2.upload_part(Bucket=bucket, Key="mp v2", UploadId=up["UploadId"], PartNumber=1,
                          Body=b"only part")
    assert v2.list_parts(Bucket=bucket, Key="mp v2", UploadId=up["UploadId"])["Parts"]
    v2.complete_multipart_upload(Bucket=bucket, Key="mp v2", UploadId=up["UploadId"],
                                 MultipartUpload={"Parts": [{"PartNumber": 1,
                                                             "ETag": part["ETag"]}]})
    assert v2.get_object(Bucket=bucket, Key="mp v2")["Body"].read() == b"only part"
    v2.put_object_tagging(Bucket=bucket, Key="mp v2",
                          Tagging={"TagSet": [{"Key": "k", "Value": "v"}]})
    assert v2.get_object_tagging(Bucket=bucket, Key="mp v2")["TagSet"] == \
        [{"Key": "k", "Value": "v"}]
    assert v2.get_bucket_acl(Bucket=bucket)["Grants"]
    v2.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "mp v2"}]})


def test_sigv2_wrong_secret(server: LiveServer, bucket: str) -> None:
    v2 = make_client(server.endpoint, signature_version="s3")
    v2._request_signer._credentials = Credentials(ACCESS_KEY, "wrong")  # noqa: SLF001
    with pytest.raises(ClientError) as exc:
        v2.list_objects(Bucket=bucket)
    assert client_code(exc) == (403, "SignatureDoesNotMatch")


def test_sigv2_query(server: LiveServer, s3, bucket: str) -> None:  # noqa: ANN001
    s3.put_object(Bucket=bucket, Key="q2", Body=b"query v2")
    v2 = make_client(server.endpoint, signature_version="s3")
    url = v2.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "q2"},
                                    ExpiresIn=300)
    assert "AWSAccessKeyId=" in url and "Signature=" in url
    resp = requests.get(url, timeout=10)
    assert resp.status_code == 200 and resp.content == b"query v2"
    req = AWSRequest("GET", obj_url(server, bucket, "q2"))
    HmacV1QueryAuth(Credentials(ACCESS_KEY, SECRET_KEY), expires=60).add_auth(req)
    assert requests.get(req.url, timeout=10).content == b"query v2"
    req = AWSRequest("GET", obj_url(server, bucket, "q2"))
    HmacV1QueryAuth(Credentials(ACCESS_KEY, "wrong"), expires=60).add_auth(req)
    assert requests.get(req.url, timeout=10).status_code == 403


def test_sigv2_query_expired(server: LiveServer, s3, bucket: str) -> None:  # noqa: ANN001
    s3.put_object(Bucket=bucket, Key="q2", Body=b"x")
    req = AWSRequest("GET", obj_url(server, bucket, "q2"))
    HmacV1QueryAuth(Credentials(ACCESS_KEY, SECRET_KEY), expires=-60).add_auth(req)
    resp = requests.get(req.url, timeout=10)
    assert resp.status_code == 403
    assert error_of(resp)["Code"] == "AccessDenied"


def test_anonymous_private_bucket(server: LiveServer, s3, bucket: str) -> None:  # noqa: ANN001
    s3.put_object(Bucket=bucket, Key="secret", Body=b"x")
    for method, path in [("GET", f"/{bucket}/secret"), ("GET", f"/{bucket}"),
                         ("PUT", f"/{bucket}/new"), ("DELETE", f"/{bucket}/secret"),
                         ("GET", "/")]:
        resp = requests.request(method, server.endpoint + path, data=b"", timeout=10)
        assert resp.status_code == 403, (method, path)
        assert error_of(resp)["Code"] == "AccessDenied"
    resp = requests.head(f"{server.endpoint}/{bucket}/secret", timeout=10)
    assert resp.status_code == 403 and resp.content == b""
    assert_absent(s3, bucket, "new")
    assert s3.get_object(Bucket=bucket, Key="secret")["Body"].read() == b"x"


def test_anonymous_public_read(server: LiveServer, s3, bucket: str) -> None:  # noqa: ANN001
    s3.put_object(Bucket=bucket, Key="open", Body=b"public", ACL="public-read")
    s3.put_object(Bucket=bucket, Key="closed", Body=b"private")
    assert requests.get(f"{server.endpoint}/{bucket}/open", timeout=10).content == b"public"
    assert requests.get(f"{server.endpoint}/{bucket}/closed", timeout=10).status_code == 403
    assert requests.get(f"{server.endpoint}/{bucket}", timeout=10).status_code == 403
    s3.put_bucket_acl(Bucket=bucket, ACL="public-read")
    listing = requests.get(f"{server.endpoint}/{bucket}?list-type=2", timeout=10)
    assert listing.status_code == 200 and b"<Key>closed</Key>" in listing.content
    assert requests.put(f"{server.endpoint}/{bucket}/new", data=b"x",
                        timeout=10).status_code == 403


def test_anonymous_boto3_unsigned(server: LiveServer, bucket: str) -> None:
    from botocore import UNSIGNED

    anon = make_client(server.endpoint, signature_version=UNSIGNED)
    with pytest.raises(ClientError) as exc:
        anon.get_object(Bucket=bucket, Key="nothing")
    assert client_code(exc) == (403, "AccessDenied")
    with pytest.raises(ClientError) as exc:
        anon.list_objects_v2(Bucket=bucket)
    assert client_code(exc) == (403, "AccessDenied")

