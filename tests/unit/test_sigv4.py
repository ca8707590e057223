"""SigV4: dialects.md section 4 vectors, botocore round trips and negative cases."""

from __future__ import annotations

import dataclasses
import time
from urllib.parse import parse_qsl, quote, urlsplit

import pytest
from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from shoal.core.errors import ShoalError
from shoal.dialects.s3 import sigv4
from shoal.dialects.s3.sigv4 import (
    EMPTY_SHA256,
    SigV4Params,
    canonical_query,
    canonical_request,
    canonical_uri,
    check_time,
    header_amz_date,
    parse_auth_header,
    parse_presigned_query,
    sign,
    signing_key,
    string_to_sign,
    verify,
)

AK = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
AMZ_DATE = "20130524T000000Z"
T0 = 1369353600.0  # 2013-05-24T00:00:00Z

TV_S1_CANONICAL = (
    "GET\n/test.txt\n\n"
    "host:examplebucket.s3.amazonaws.com\n"
    "range:bytes=0-9\n"
    f"x-amz-content-sha256:{EMPTY_SHA256}\n"
    "x-amz-date:20130524T000000Z\n\n"
    "host;range;x-amz-content-sha256;x-amz-date\n"
    f"{EMPTY_SHA256}"
)


def _header_params(auth: str, headers: dict[str, str]) -> SigV4Params:
    params = parse_auth_header(auth)
    return dataclasses.replace(params, amz_date=header_amz_date(headers))


# --------------------------------------------------------------------------- vectors


def tv_s1() -> tuple[str, dict[str, str]]:
    headers = {
        "host": "examplebucket.s3.amazonaws.com",
        "range": "bytes=0-9",
        "x-amz-content-sha256": EMPTY_SHA256,
        "x-amz-date": AMZ_DATE,
    }
    auth = (
        f"AWS4-HMAC-SHA256 Credential={AK}/20130524/us-east-1/s3/aws4_request,"
        "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
        "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
    )
    return auth, headers


def test_tv_s1_get_object() -> None:
    auth, headers = tv_s1()
    params = _header_params(auth, headers)
    creq = canonical_request(
        "GET", "/test.txt", [], headers, params.signed_headers, EMPTY_SHA256, presigned=False
    )
    assert creq == TV_S1_CANONICAL
    sts = string_to_sign(AMZ_DATE, params.scope, creq)
    assert sts.endswith("7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972")
    key = signing_key(SECRET, "20130524", "us-east-1", "s3")
    assert sign(key, sts) == params.signature
    check_time(params, T0 + 60)
    verify(params, SECRET, "GET", "/test.txt", [], headers, EMPTY_SHA256)


def tv_s2_query() -> list[tuple[str, str]]:
    return [
        ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
        ("X-Amz-Credential", f"{AK}/20130524/us-east-1/s3/aws4_request"),
        ("X-Amz-Date", AMZ_DATE),
        ("X-Amz-Expires", "86400"),
        ("X-Amz-SignedHeaders", "host"),
        ("X-Amz-Signature", "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"),
    ]


def test_tv_s2_presigned_get() -> None:
    query = tv_s2_query()
    params = parse_presigned_query(query)
    assert params.presigned and params.expires == 86400 and params.amz_date == AMZ_DATE
    headers = {"host": "examplebucket.s3.amazonaws.com"}
    check_time(params, T0 + 86400)
    verify(params, SECRET, "GET", "/test.txt", query, headers, "ignored for presigned")
    with pytest.raises(ShoalError) as err:
        check_time(params, T0 + 86401)
    assert err.value.code == "AccessDenied"
    assert err.value.message == "Request has expired"
    assert err.value.fields["Expires"] == "2013-05-25T00:00:00Z"
    assert err.value.fields["X-Amz-Expires"] == "86400"
    assert err.value.fields["ServerTime"] == "2013-05-25T00:00:01Z"


def test_tv_s3_ncloud_initiate_multipart() -> None:
    headers = {
        "host": "kr.object.ncloudstorage.com",
        "x-amz-content-sha256": EMPTY_SHA256,
        "x-amz-date": AMZ_DATE,
    }
    auth = (
        f"AWS4-HMAC-SHA256 Credential={AK}/20130524/kr-standard/s3/aws4_request, "
        "SignedHeaders=host;x-amz-content-sha256;x-amz-date, "
        "Signature=8a95a04ce34dad31fdd0a931a1a6fbda0d3e46b1ea1e2ce40ed1c7922fa89af0"
    )
    params = _header_params(auth, headers)
    assert params.region == "kr-standard"
    path = "/some-bucket/multipart-object-123"
    verify(params, SECRET, "POST", path, [("uploads", "")], headers, EMPTY_SHA256)


def test_streaming_seed_signature_aws_example() -> None:
    """AWS "Example: PUT Object" (sigv4-streaming): the seed signature."""
    headers = {
        "content-encoding": "aws-chunked",
        "content-length": "66824",
        "host": "s3.amazonaws.com",
        "x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
        "x-amz-date": AMZ_DATE,
        "x-amz-decoded-content-length": "66560",
        "x-amz-storage-class": "REDUCED_REDUNDANCY",
    }
    auth = (
        f"AWS4-HMAC-SHA256 Credential={AK}/20130524/us-east-1/s3/aws4_request, "
        "SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;"
        "x-amz-decoded-content-length;x-amz-storage-class, "
        "Signature=4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
    )
    params = _header_params(auth, headers)
    payload = headers["x-amz-content-sha256"]
    verify(params, SECRET, "PUT", "/examplebucket/chunkObject.txt", [], headers, payload)


def test_mismatch_reports_aws_fields() -> None:
    auth, headers = tv_s1()
    headers["range"] = "bytes=0-10"
    params = _header_params(auth, headers)
    with pytest.raises(ShoalError) as err:
        verify(params, SECRET, "GET", "/test.txt", [], headers, EMPTY_SHA256)
    fields = err.value.fields
    assert err.value.code == "SignatureDoesNotMatch" and err.value.status == 403
    assert fields["AWSAccessKeyId"] == AK
    assert fields["SignatureProvided"] == params.signature
    assert fields["StringToSign"].startswith("AWS4-HMAC-SHA256\n20130524T000000Z\n")
    assert fields["StringToSignBytes"].startswith("41 57 53 34 2d")
    assert fields["CanonicalRequest"].startswith("GET\n/test.txt\n")
    assert fields["CanonicalRequestBytes"].split(" ")[:3] == ["47", "45", "54"]
    assert list(fields)[:3] == ["AWSAccessKeyId", "StringToSign", "SignatureProvided"]


def test_wrong_secret_rejected() -> None:
    auth, headers = tv_s1()
    params = _header_params(auth, headers)
    with pytest.raises(ShoalError, match="SignatureDoesNotMatch"):
        verify(params, SECRET + "x", "GET", "/test.txt", [], headers, EMPTY_SHA256)


def test_signature_compare_is_case_insensitive_and_tolerates_junk() -> None:
    auth, headers = tv_s1()
    params = _header_params(auth, headers)
    upper = dataclasses.replace(params, signature=params.signature.upper())
    verify(upper, SECRET, "GET", "/test.txt", [], headers, EMPTY_SHA256)
    junk = dataclasses.replace(params, signature="ü" * 64)
    with pytest.raises(ShoalError, match="SignatureDoesNotMatch"):
        verify(junk, SECRET, "GET", "/test.txt", [], headers, EMPTY_SHA256)


# --------------------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    "value",
    [
        "AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws4_request, "
        "SignedHeaders=host;x-amz-date, Signature=abc",
        "AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws4_request,"
        "SignedHeaders=host;x-amz-date,Signature=abc",
        "  AWS4-HMAC-SHA256   Credential=AK/20130524/us-east-1/s3/aws4_request ,  "
        "SignedHeaders=host;x-amz-date ,\n Signature=abc  ",
        "AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws4_request "
        "SignedHeaders=host;x-amz-date Signature=abc",
        "AWS4-HMAC-SHA256\tSignature=abc,Credential=AK/20130524/us-east-1/s3/aws4_request,"
        "SignedHeaders=host;X-Amz-Date",
    ],
)
def test_parse_auth_header_variants(value: str) -> None:
    params = parse_auth_header(value)
    assert params == SigV4Params(
        access_key="AK",
        date="20130524",
        region="us-east-1",
        service="s3",
        signed_headers=["host", "x-amz-date"],
        signature="abc",
        amz_date=None,
        presigned=False,
        expires=None,
    )
    assert params.scope == "20130524/us-east-1/s3/aws4_request"


def test_parse_auth_header_odd_access_keys() -> None:
    value = (
        "AWS4-HMAC-SHA256 Credential=AK/with/slashes+%~ü/20130524/kr-standard/s3/aws4_request, "
        "SignedHeaders=host, Signature=abc"
    )
    params = parse_auth_header(value)
    assert params.access_key == "AK/with/slashes+%~ü"
    assert params.region == "kr-standard"


@pytest.mark.parametrize(
    "value",
    [
        "",
        "AWS4-HMAC-SHA1 Credential=AK/20130524/us-east-1/s3/aws4_request, "
        "SignedHeaders=host, Signature=abc",
        "AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws4_request, SignedHeaders=host",
        "AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3, SignedHeaders=host, Signature=a",
        "AWS4-HMAC-SHA256 Credential=AK/2013052/us-east-1/s3/aws4_request, "
        "SignedHeaders=host, Signature=a",
        "AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws5_request, "
        "SignedHeaders=host, Signature=a",
        "AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/ec2/aws4_request, "
        "SignedHeaders=host, Signature=a",
        "AWS4-HMAC-SHA256 Credential=/20130524/us-east-1/s3/aws4_request, "
        "SignedHeaders=host, Signature=a",
        "AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws4_request, "
        "SignedHeaders=host;;x-amz-date, Signature=a",
        "AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws4_request, "
        "SignedHeaders=host, Signature=a, Signature=b",
        "AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws4_request, "
        "SignedHeaders=host, Signature=a, junk",
        "AWS4-HMAC-SHA256 Credential=AK/٢٠١٣٠٥٢٤/us-east-1/s3/aws4_request, "
        "SignedHeaders=host, Signature=a",
    ],
)
def test_parse_auth_header_malformed(value: str) -> None:
    with pytest.raises(ShoalError) as err:
        parse_auth_header(value)
    assert err.value.code == "AuthorizationHeaderMalformed"
    assert err.value.status == 400


def test_parse_presigned_query_errors() -> None:
    base = tv_s2_query()

    def broken(name: str, value: str | None) -> list[tuple[str, str]]:
        out = [(n, v) for n, v in base if n != name]
        return out if value is None else [*out, (name, value)]

    cases = [
        broken("X-Amz-Signature", None),
        broken("X-Amz-Expires", ""),
        broken("X-Amz-Algorithm", "AWS4-HMAC-SHA1"),
        broken("X-Amz-Credential", "AK/20130524/us-east-1/s3"),
        broken("X-Amz-Credential", "AK/20130524/us-east-1/sqs/aws4_request"),
        broken("X-Amz-Date", "2013-05-24T00:00:00Z"),
        broken("X-Amz-Date", "20131324T000000Z"),
        broken("X-Amz-Expires", "0"),
        broken("X-Amz-Expires", "604801"),
        broken("X-Amz-Expires", "-5"),
        broken("X-Amz-Expires", "1e3"),
        broken("X-Amz-SignedHeaders", "host;"),
        [*base, ("X-Amz-Date", AMZ_DATE)],
    ]
    for query in cases:
        with pytest.raises(ShoalError) as err:
            parse_presigned_query(query)
        assert err.value.code == "AuthorizationQueryParametersError", query
    assert parse_presigned_query(broken("X-Amz-Expires", "604800")).expires == 604800
    assert parse_presigned_query(broken("X-Amz-Expires", "1")).expires == 1


# --------------------------------------------------------------------------- canonical form


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("/bkt/a%20b/c%2Bd", "/bkt/a%20b/c%2Bd"),
        ("/bkt/a+b", "/bkt/a%2Bb"),
        ("/bkt/%7euser/~x", "/bkt/~user/~x"),
        ("/bkt/a%2fb", "/bkt/a/b"),
        ("/bkt/%C3%BC/ü", "/bkt/%C3%BC/%C3%BC"),
        ("/bkt/a!b*c'(d)$&=;:@,", "/bkt/a%21b%2Ac%27%28d%29%24%26%3D%3B%3A%40%2C"),
        ("/bkt/../x//y/./", "/bkt/../x//y/./"),
        ("/bkt/100%", "/bkt/100%25"),
        ("/bkt/%zz%ff", "/bkt/%25zz%FF"),
        ("", "/"),
        ("/", "/"),
    ],
)
def test_canonical_uri(raw: str, expected: str) -> None:
    assert canonical_uri(raw) == expected


def test_canonical_query() -> None:
    query = [
        ("prefix", "a b/c+d"),
        ("delimiter", "/"),
        ("uploads", ""),
        ("key", "z"),
        ("key", "a"),
        ("ü~", "€"),
        ("X-Amz-Signature", "abc"),
    ]
    assert canonical_query(query, exclude_signature=True) == (
        "%C3%BC~=%E2%82%AC&delimiter=%2F&key=a&key=z&prefix=a%20b%2Fc%2Bd&uploads="
    )
    assert "X-Amz-Signature=abc" in canonical_query(query, exclude_signature=False)
    assert canonical_query([], exclude_signature=False) == ""


def test_canonical_headers_trim_and_collapse() -> None:
    headers = {"host": "h", "x-amz-meta-a": "  one   two\t three  ", "x-amz-date": AMZ_DATE}
    creq = canonical_request(
        "put", "/b/k", [], headers, ["host", "x-amz-meta-a"], "UNSIGNED-PAYLOAD", presigned=False
    )
    assert creq == "PUT\n/b/k\n\nhost:h\nx-amz-meta-a:one two three\n\nhost;x-amz-meta-a\n" + (
        "UNSIGNED-PAYLOAD"
    )


def test_signing_key_is_cached() -> None:
    signing_key.cache_clear()
    first = signing_key(SECRET, "20130524", "us-east-1", "s3")
    assert signing_key(SECRET, "20130524", "us-east-1", "s3") is first
    assert signing_key.cache_info().hits == 1
    assert first.hex() == "dbb893acc010964918f1fd433add87c70e8b0db6be30c1fbeafefa5ec6ba8378"


# --------------------------------------------------------------------------- time


def _timed(
    amz_date: str | None, *, presigned: bool = False, expires: int | None = None
) -> SigV4Params:
    return SigV4Params(
        AK, "20130524", "us-east-1", "s3", ["host"], "0", amz_date, presigned, expires
    )


def test_check_time_header_skew() -> None:
    params = _timed(AMZ_DATE)
    check_time(params, T0 + 900)
    check_time(params, T0 - 900)
    for now in (T0 + 901, T0 - 901):
        with pytest.raises(ShoalError) as err:
            check_time(params, now)
        assert err.value.code == "RequestTimeTooSkewed"
        assert err.value.fields["RequestTime"] == AMZ_DATE
        assert err.value.fields["MaxAllowedSkewMilliseconds"] == "900000"
        assert err.value.fields["ServerTime"].endswith("Z")


def test_check_time_presigned_window() -> None:
    params = _timed(AMZ_DATE, presigned=True, expires=60)
    check_time(params, T0 - 900)
    check_time(params, T0 + 60)
    with pytest.raises(ShoalError, match="Request is not valid yet"):
        check_time(params, T0 - 901)
    with pytest.raises(ShoalError, match="Request has expired"):
        check_time(params, T0 + 61)


def test_check_time_scope_date_must_match() -> None:
    header = dataclasses.replace(_timed("20130525T000000Z"))
    with pytest.raises(ShoalError) as err:
        check_time(header, T0 + 86400)
    assert err.value.code == "AuthorizationHeaderMalformed"
    presigned = _timed("20130525T000000Z", presigned=True, expires=60)
    with pytest.raises(ShoalError) as err:
        check_time(presigned, T0 + 86400)
    assert err.value.code == "AuthorizationQueryParametersError"
    with pytest.raises(ShoalError) as err:
        verify(header, SECRET, "GET", "/", [], {"host": "h"}, EMPTY_SHA256)
    assert err.value.code == "AuthorizationHeaderMalformed"


def test_check_time_needs_a_date() -> None:
    for amz_date in (None, "garbage", "20130524T250000Z"):
        with pytest.raises(ShoalError) as err:
            check_time(_timed(amz_date), T0)
        assert err.value.code == "AccessDenied"


def test_header_amz_date() -> None:
    assert header_amz_date({"x-amz-date": AMZ_DATE, "date": "x"}) == AMZ_DATE
    assert header_amz_date({"date": "Fri, 24 May 2013 00:00:00 GMT"}) == AMZ_DATE
    assert header_amz_date({"date": "Fri, 24 May 2013 02:00:00 +0200"}) == AMZ_DATE
    for headers in ({}, {"date": "yesterday"}, {"x-amz-date": "2013-05-24"}):
        with pytest.raises(ShoalError) as err:
            header_amz_date(headers)
        assert err.value.code == "AccessDenied"


def test_presigned_payload_hash_from_query() -> None:
    query = [("X-Amz-Content-Sha256", "abc")]
    assert sigv4.presigned_payload_hash(query) == "abc"
    assert sigv4.presigned_payload_hash([]) == "UNSIGNED-PAYLOAD"


# --------------------------------------------------------------------------- botocore


ODD_KEYS = [
    "plain.txt",
    "a b",
    "ünïcödé/ключ/キー",
    "a+b",
    "100%",
    "tilde~x",
    "sp ace/+/%/~/%2F",
    "!*'()$&=;:@,?#[]",
    "a/b//c/../d/./e",
    "emoji😀",
]
ODD_QUERIES = [
    "",
    "uploads",
    "uploads=",
    "uploadId=abc%2B%2F%3D&partNumber=7",
    "prefix=a%20b%2Bc&delimiter=%2F&list-type=2",
    "prefix=%E2%82%AC&empty=&encoding-type=url",
    "tagging&versionId=~1",
]


def _botocore_request(
    method: str,
    key: str,
    query: str,
    *,
    access_key: str = AK,
    secret: str = SECRET,
    presign: bool = False,
    headers: dict[str, str] | None = None,
) -> tuple[str, list[tuple[str, str]], dict[str, str], SigV4Params]:
    url = f"http://127.0.0.1:9000/bucket/{quote(key, safe='/~')}"
    if query:
        url += "?" + query
    body = b"" if presign else b"body"
    request = AWSRequest(method=method, url=url, headers=dict(headers or {}), data=body)
    creds = Credentials(access_key, secret)
    if presign:
        S3SigV4QueryAuth(creds, "s3", "kr-standard", expires=300).add_auth(request)
    else:
        S3SigV4Auth(creds, "s3", "kr-standard").add_auth(request)
    split = urlsplit(request.url)
    pairs = parse_qsl(split.query, keep_blank_values=True)
    wire = {name.lower(): str(value) for name, value in request.headers.items()}
    wire.setdefault("host", split.netloc)
    if presign:
        params = parse_presigned_query(pairs)
    else:
        params = dataclasses.replace(
            parse_auth_header(wire["authorization"]), amz_date=header_amz_date(wire)
        )
    return split.path, pairs, wire, params


@pytest.mark.parametrize("presign", [False, True])
@pytest.mark.parametrize("query", ODD_QUERIES)
def test_botocore_round_trip_queries(query: str, presign: bool) -> None:
    path, pairs, wire, params = _botocore_request("POST", "k", query, presign=presign)
    check_time(params, time.time())
    verify(params, SECRET, "POST", path, pairs, wire, wire.get("x-amz-content-sha256", ""))
    with pytest.raises(ShoalError, match="SignatureDoesNotMatch"):
        tampered = [*pairs, ("extra", "")]
        verify(params, SECRET, "POST", path, tampered, wire, wire.get("x-amz-content-sha256", ""))


@pytest.mark.parametrize("presign", [False, True])
@pytest.mark.parametrize("key", ODD_KEYS)
def test_botocore_round_trip_keys(key: str, presign: bool) -> None:
    path, pairs, wire, params = _botocore_request(
        "PUT", key, "", presign=presign, headers={"x-amz-meta-note": "  a   b "}
    )
    payload = wire.get("x-amz-content-sha256", "")
    verify(params, SECRET, "PUT", path, pairs, wire, payload)
    with pytest.raises(ShoalError, match="SignatureDoesNotMatch"):
        verify(params, SECRET, "PUT", path + "x", pairs, wire, payload)
    with pytest.raises(ShoalError, match="SignatureDoesNotMatch"):
        verify(params, SECRET, "GET", path, pairs, wire, payload)


@pytest.mark.parametrize(
    ("access_key", "secret"),
    [("AK+%~", "s3cr3t +/=~ ünï"), ("ü-key", "/"), ("AK/with/slash", "x" * 100)],
)
def test_botocore_round_trip_odd_credentials(access_key: str, secret: str) -> None:
    for presign in (False, True):
        path, pairs, wire, params = _botocore_request(
            "GET", "k", "acl", access_key=access_key, secret=secret, presign=presign
        )
        assert params.access_key == access_key
        payload = wire.get("x-amz-content-sha256", "")
        verify(params, secret, "GET", path, pairs, wire, payload)
        with pytest.raises(ShoalError, match="SignatureDoesNotMatch"):
            verify(params, secret[:-1], "GET", path, pairs, wire, payload)


def test_botocore_tampered_header_and_payload() -> None:
    path, pairs, wire, params = _botocore_request(
        "PUT", "k", "", headers={"x-amz-meta-a": "1", "content-type": "text/plain"}
    )
    payload = wire["x-amz-content-sha256"]
    verify(params, SECRET, "PUT", path, pairs, wire, payload)
    with pytest.raises(ShoalError, match="SignatureDoesNotMatch"):
        verify(params, SECRET, "PUT", path, pairs, {**wire, "x-amz-meta-a": "2"}, payload)
    with pytest.raises(ShoalError, match="SignatureDoesNotMatch"):
        verify(params, SECRET, "PUT", path, pairs, wire, EMPTY_SHA256)


def test_botocore_presigned_tampered_expires() -> None:
    path, pairs, wire, params = _botocore_request("GET", "k", "", presign=True)
    longer = [(n, "604800" if n == "X-Amz-Expires" else v) for n, v in pairs]
    forged = parse_presigned_query(longer)
    with pytest.raises(ShoalError, match="SignatureDoesNotMatch"):
        verify(forged, SECRET, "GET", path, longer, wire, "")


def test_raw_path_fallback_for_clients_signing_the_wire_path() -> None:
    """A client that sends ``%2F`` inside a key and signs the path verbatim (AWS accepts it)."""
    raw = "/bucket/dir%2Fname"
    headers = {"host": "h", "x-amz-date": AMZ_DATE, "x-amz-content-sha256": EMPTY_SHA256}
    signed = ["host", "x-amz-content-sha256", "x-amz-date"]
    creq = "\n".join(
        ["GET", raw, "", "".join(f"{n}:{headers[n]}\n" for n in signed), ";".join(signed)]
        + [EMPTY_SHA256]
    )
    key = signing_key(SECRET, "20130524", "us-east-1", "s3")
    sts = string_to_sign(AMZ_DATE, "20130524/us-east-1/s3/aws4_request", creq)
    params = SigV4Params(
        AK, "20130524", "us-east-1", "s3", signed, sign(key, sts), AMZ_DATE, False, None
    )
    verify(params, SECRET, "GET", raw, [], headers, EMPTY_SHA256)
    with pytest.raises(ShoalError) as err:
        verify(params, SECRET, "GET", "/bucket/dir%252Fname", [], headers, EMPTY_SHA256)
    assert err.value.fields["CanonicalRequest"].split("\n")[1] == "/bucket/dir%252Fname"
