"""SigV2 (HMAC-SHA1): botocore HmacV1Auth / HmacV1QueryAuth round trips and negative cases."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from urllib.parse import parse_qsl, quote, urlsplit

import pytest
from botocore.auth import HmacV1Auth, HmacV1QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from shoal.core.errors import ShoalError
from shoal.dialects.s3.sigv2 import (
    SigV2Params,
    amz_headers,
    canonical_resource,
    check_time,
    parse_auth_header,
    parse_presigned_query,
    sign,
    string_to_sign,
    verify,
)

AK = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"

Wire = tuple[str, list[tuple[str, str]], dict[str, str]]


def checked(params: SigV2Params, secret: str, method: str, path: str,
            query: list[tuple[str, str]], headers: dict[str, str], *, now: float) -> None:
    """What the S3 dialect does with a SigV2 request: the time check, then the signature."""
    check_time(params, headers, now)
    verify(params, secret, method, path, query, headers)



def _split(url: str, headers: dict[str, str]) -> Wire:
    split = urlsplit(url)
    pairs = parse_qsl(split.query, keep_blank_values=True)
    return split.path, pairs, {name.lower(): str(value) for name, value in headers.items()}


def _boto_header(
    method: str,
    url: str,
    headers: dict[str, str] | None = None,
    *,
    auth_path: str | None = None,
    secret: str = SECRET,
) -> tuple[SigV2Params, Wire]:
    request = AWSRequest(method=method, url=url, headers=dict(headers or {}))
    request.auth_path = auth_path
    HmacV1Auth(Credentials(AK, secret)).add_auth(request)
    wire = _split(request.url, dict(request.headers.items()))
    return parse_auth_header(wire[2]["authorization"]), wire


def _boto_query(
    method: str, url: str, headers: dict[str, str] | None = None
) -> tuple[SigV2Params, Wire]:
    request = AWSRequest(method=method, url=url, headers=dict(headers or {}))
    HmacV1QueryAuth(Credentials(AK, SECRET), expires=300).add_auth(request)
    # The browser/curl that follows a presigned URL sends none of the signed headers.
    path, pairs, _ = _split(request.url, {})
    return parse_presigned_query(pairs), (path, pairs, {"host": "127.0.0.1:9000"})


def _url(key: str, query: str = "", host: str = "127.0.0.1:9000/bucket") -> str:
    url = f"http://{host}/{quote(key, safe='/~')}"
    return url + ("?" + query if query else "")


# --------------------------------------------------------------------------- documented example


def test_aws_documented_object_get() -> None:
    """AWS RESTAuthentication "Object GET" example (photos/puppy.jpg)."""
    headers = {"host": "awsexamplebucket1.us-west-1.s3.amazonaws.com"}
    headers["date"] = "Tue, 27 Mar 2007 19:36:42 +0000"
    resource = canonical_resource("/photos/puppy.jpg", [], bucket="awsexamplebucket1")
    sts = string_to_sign("GET", headers, resource, date=headers["date"])
    assert sts == "GET\n\n\nTue, 27 Mar 2007 19:36:42 +0000\n/awsexamplebucket1/photos/puppy.jpg"
    signature = sign(SECRET, sts)
    assert signature == "qgk2+6Sv9/oM7G3qLEjTH1a1l1g="
    params = parse_auth_header(f"AWS {AK}:{signature}")
    verify(params, SECRET, "GET", "/photos/puppy.jpg", [], headers, bucket="awsexamplebucket1")


def test_aws_documented_johnsmith_examples() -> None:
    """The older RESTAuthentication examples (bucket johnsmith)."""
    get = "GET\n\n\nTue, 27 Mar 2007 19:36:42 +0000\n/johnsmith/photos/puppy.jpg"
    assert sign(SECRET, get) == "bWq2s1WEIj+Ydj0vQ697zp+IXMU="
    headers = {"content-type": "image/jpeg", "date": "Tue, 27 Mar 2007 21:15:45 +0000"}
    resource = canonical_resource("/photos/puppy.jpg", [], bucket="johnsmith")
    put = string_to_sign("PUT", headers, resource, date=headers["date"])
    assert sign(SECRET, put) == "MyyxeRY7whkBe+bq8fHCL/2kKUg="
    params = parse_auth_header(f"AWS {AK}:MyyxeRY7whkBe+bq8fHCL/2kKUg=")
    verify(params, SECRET, "PUT", "/photos/puppy.jpg", [], headers, bucket="johnsmith")


def test_canonical_resource_subresources() -> None:
    query = [
        ("versionId", "v1"),
        ("prefix", "ignored"),
        ("acl", ""),
        ("response-content-type", "text/plain; charset=utf-8"),
        ("uploads", ""),
        ("list-type", "2"),
    ]
    assert canonical_resource("/b/k", query) == (
        "/b/k?acl&response-content-type=text/plain; charset=utf-8&uploads&versionId=v1"
    )
    assert canonical_resource("", [], bucket="bkt") == "/bkt/"
    assert canonical_resource("/", [("location", "")], bucket="bkt") == "/bkt/?location"


def test_amz_headers_sorted_and_trimmed() -> None:
    headers = {"x-amz-meta-b": " 2 ", "x-amz-acl": "private", "content-type": "x", "host": "h"}
    assert amz_headers(headers) == "x-amz-acl:private\nx-amz-meta-b:2\n"


# --------------------------------------------------------------------------- botocore round trips

KEYS = ["plain", "a b", "ünï/ключ", "a+b", "100%", "~tilde", "!*'()", "dir/../x//y"]


@pytest.mark.parametrize("key", KEYS)
def test_hmacv1_header_round_trip(key: str) -> None:
    headers = {"Content-Type": "text/plain", "Content-MD5": "1B2M2Y8AsgTpgAmY7PhCfg=="}
    headers["x-amz-meta-note"] = "  hello  "
    headers["x-amz-acl"] = "private"
    params, (path, pairs, wire) = _boto_header("PUT", _url(key), headers)
    assert not params.presigned and params.access_key == AK
    checked(params, SECRET, "PUT", path, pairs, wire, now=time.time())
    with pytest.raises(ShoalError, match="SignatureDoesNotMatch"):
        verify(params, SECRET, "PUT", path, pairs, {**wire, "x-amz-acl": "public-read"})
    with pytest.raises(ShoalError, match="SignatureDoesNotMatch"):
        verify(params, SECRET, "PUT", path, pairs, {**wire, "content-type": "text/html"})
    with pytest.raises(ShoalError, match="SignatureDoesNotMatch"):
        verify(params, SECRET, "PUT", path + "2", pairs, wire)
    with pytest.raises(ShoalError, match="SignatureDoesNotMatch"):
        verify(params, SECRET, "DELETE", path, pairs, wire)


@pytest.mark.parametrize(
    "query",
    [
        "acl",
        "uploads",
        "uploadId=abc&partNumber=3",
        "versionId=v%2B1&tagging",
        "response-content-disposition=attachment%3B%20filename%3D%22a%20b%22"
        "&response-cache-control=no-cache",
        "delete",
        "prefix=a&delimiter=%2F&max-keys=10",
    ],
)
def test_hmacv1_subresources_round_trip(query: str) -> None:
    params, (path, pairs, wire) = _boto_header("GET", _url("k", query))
    verify(params, SECRET, "GET", path, pairs, wire)
    signed = [(n, v) for n, v in pairs if n not in ("prefix", "delimiter", "max-keys")]
    if signed:
        with pytest.raises(ShoalError, match="SignatureDoesNotMatch"):
            verify(params, SECRET, "GET", path, [(n, v + "x") for n, v in signed], wire)


def test_hmacv1_virtual_host() -> None:
    url = _url("photos/a b.jpg", "acl", host="mybucket.s3.example.com")
    params, (path, pairs, wire) = _boto_header("GET", url, auth_path="/mybucket/photos/a%20b.jpg")
    assert path == "/photos/a%20b.jpg"
    verify(params, SECRET, "GET", path, pairs, wire, bucket="mybucket")
    with pytest.raises(ShoalError, match="SignatureDoesNotMatch"):
        verify(params, SECRET, "GET", path, pairs, wire, bucket="otherbucket")
    with pytest.raises(ShoalError, match="SignatureDoesNotMatch"):
        verify(params, SECRET, "GET", path, pairs, wire)


def test_hmacv1_path_style_bucket_signed_with_slash() -> None:
    """botocore signs the path-style bucket URL ``/bucket`` as ``/bucket/`` (its auth_path)."""
    url = "http://127.0.0.1:9000/bucket?prefix=a%2F&encoding-type=url"
    params, (path, pairs, wire) = _boto_header("GET", url, auth_path="/bucket/")
    assert path == "/bucket"
    verify(params, SECRET, "GET", path, pairs, wire)
    with pytest.raises(ShoalError, match="SignatureDoesNotMatch"):
        verify(params, SECRET, "GET", "/other", pairs, wire)


@pytest.mark.parametrize("key", KEYS)
def test_hmacv1_query_round_trip(key: str) -> None:
    url = _url(key, "response-content-type=text%2Fplain")
    params, (path, pairs, wire) = _boto_query("GET", url, {"Content-Type": "text/x"})
    assert params.presigned and params.expires and params.expires > time.time()
    checked(params, SECRET, "GET", path, pairs, wire, now=time.time())
    with pytest.raises(ShoalError, match="SignatureDoesNotMatch"):
        verify(params, SECRET, "GET", path + "x", pairs, wire)
    later = [(n, str(int(v) + 1) if n == "Expires" else v) for n, v in pairs]
    with pytest.raises(ShoalError, match="SignatureDoesNotMatch"):
        verify(parse_presigned_query(later), SECRET, "GET", path, later, wire)


def test_wrong_secret_reports_string_to_sign() -> None:
    params, (path, pairs, wire) = _boto_header("GET", _url("k", "acl"))
    with pytest.raises(ShoalError) as err:
        verify(params, "other", "GET", path, pairs, wire)
    fields = err.value.fields
    assert err.value.code == "SignatureDoesNotMatch" and err.value.status == 403
    assert fields["AWSAccessKeyId"] == AK
    assert fields["SignatureProvided"] == params.signature
    assert fields["StringToSign"] == f"GET\n\n\n{wire['date']}\n/bucket/k?acl"
    assert fields["StringToSignBytes"].startswith("47 45 54 0a")


# --------------------------------------------------------------------------- other clients


def _manual(sts: str) -> SigV2Params:
    digest = hmac.new(SECRET.encode(), sts.encode(), hashlib.sha1).digest()
    return parse_auth_header(f"AWS {AK}:{base64.b64encode(digest).decode()}")


def test_x_amz_date_blanks_the_date_line() -> None:
    """s3cmd style: x-amz-date instead of Date, empty Date line."""
    headers = {"x-amz-date": "Fri, 24 May 2013 00:00:00 GMT", "host": "h"}
    params = _manual("GET\n\n\n\nx-amz-date:Fri, 24 May 2013 00:00:00 GMT\n/b/k")
    checked(params, SECRET, "GET", "/b/k", [], headers, now=1369353600.0)
    headers["date"] = "Fri, 24 May 2013 00:00:01 GMT"
    verify(params, SECRET, "GET", "/b/k", [], headers)
    # ...and a client that also signed the Date line anyway
    other = _manual(
        "GET\n\n\nFri, 24 May 2013 00:00:01 GMT\nx-amz-date:Fri, 24 May 2013 00:00:00 GMT\n/b/k"
    )
    verify(other, SECRET, "GET", "/b/k", [], headers)


def test_blank_subresource_with_equals_sign() -> None:
    params = _manual("POST\n\n\nd\n/b/k?uploads=")
    verify(params, SECRET, "POST", "/b/k", [("uploads", "")], {"date": "d"})


def test_extra_subresources_signed_by_other_clients() -> None:
    params = _manual("GET\n\n\nd\n/b?encryption")
    verify(params, SECRET, "GET", "/b", [("encryption", "")], {"date": "d"})


def test_path_encoding_variants() -> None:
    encoded = _manual("GET\n\n\nd\n/b/a%21b")
    verify(encoded, SECRET, "GET", "/b/a!b", [], {"date": "d"})
    verify(encoded, SECRET, "GET", "/b/a%21b", [], {"date": "d"})
    raw = _manual("GET\n\n\nd\n/b/a%2F")
    verify(raw, SECRET, "GET", "/b/a%2F", [], {"date": "d"})
    with pytest.raises(ShoalError, match="SignatureDoesNotMatch"):
        # decoding "/b/a%252F" once gives "/b/a%2F" but names another key: never accepted
        verify(raw, SECRET, "GET", "/b/a%252F", [], {"date": "d"})


def test_query_signature_with_plus_decoded_as_space() -> None:
    params, (path, pairs, wire) = _boto_query("GET", _url("k"))
    for _ in range(50):
        if "+" in params.signature:
            break
        params, (path, pairs, wire) = _boto_query("GET", _url(f"k{time.time_ns()}"))
    assert "+" in params.signature
    mangled = [(n, v.replace("+", " ") if n == "Signature" else v) for n, v in pairs]
    verify(parse_presigned_query(mangled), SECRET, "GET", path, mangled, wire)


# --------------------------------------------------------------------------- parsing and time


@pytest.mark.parametrize("value", ["AWS nocolon", "AWS :sig", "AWS AK:", "AWS4 AK:sig", "", "AWS"])
def test_parse_auth_header_malformed(value: str) -> None:
    with pytest.raises(ShoalError) as err:
        parse_auth_header(value)
    assert err.value.code == "AuthorizationHeaderMalformed"


def test_parse_auth_header_ok() -> None:
    assert parse_auth_header("  AWS AK:a+b/c=  ") == SigV2Params("AK", "a+b/c=", False, None)


@pytest.mark.parametrize(
    "query",
    [
        [("AWSAccessKeyId", "AK"), ("Signature", "s")],
        [("AWSAccessKeyId", "AK"), ("Expires", "1"), ("Signature", "")],
        [("AWSAccessKeyId", "AK"), ("Expires", "soon"), ("Signature", "s")],
        [("AWSAccessKeyId", "AK"), ("Expires", "1"), ("Expires", "2"), ("Signature", "s")],
    ],
)
def test_parse_query_errors(query: list[tuple[str, str]]) -> None:
    with pytest.raises(ShoalError) as err:
        parse_presigned_query(query)
    assert err.value.code == "AuthorizationQueryParametersError"


def test_check_time() -> None:
    params = SigV2Params(AK, "s", False, None)
    headers = {"date": "Fri, 24 May 2013 00:00:00 GMT"}
    check_time(params, headers, 1369353600.0 + 900)
    with pytest.raises(ShoalError) as err:
        check_time(params, headers, 1369353600.0 + 901)
    assert err.value.code == "RequestTimeTooSkewed"
    assert err.value.fields["RequestTime"] == headers["date"]
    assert err.value.fields["MaxAllowedSkewMilliseconds"] == "900000"
    for bad in ({}, {"date": "whenever"}):
        with pytest.raises(ShoalError) as err:
            check_time(params, bad, 1369353600.0)
        assert err.value.code == "AccessDenied"
    presigned = SigV2Params(AK, "s", True, 1369353600)
    check_time(presigned, {}, 1369353600.0)
    with pytest.raises(ShoalError) as err:
        check_time(presigned, {}, 1369353601.0)
    assert err.value.code == "AccessDenied" and err.value.message == "Request has expired"
    assert err.value.fields == {
        "Expires": "2013-05-24T00:00:00Z",
        "ServerTime": "2013-05-24T00:00:01Z",
    }


def test_verify_query_checks_expiry() -> None:
    params, (path, pairs, wire) = _boto_query("GET", _url("k"))
    with pytest.raises(ShoalError, match="Request has expired"):
        checked(params, SECRET, "GET", path, pairs, wire, now=time.time() + 301)
