"""COS request signature: dialects.md 3.4 vectors, SDK round trips and negative cases."""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Mapping
from urllib.parse import parse_qsl, unquote, urlsplit

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st
from qcloud_cos import CosConfig, CosS3Client
from qcloud_cos.cos_auth import CosS3Auth

from shoal.core.errors import ShoalError
from shoal.dialects.cos.signature import (
    FIELDS,
    CosAuth,
    encode,
    http_string,
    make_authorization,
    parse_auth_header,
    parse_auth_query,
    sign,
    sign_key,
    string_to_sign,
    verify,
)

Query = list[tuple[str, str]]

# Official Tencent document keys (TV-C1, TV-C2).
OAK = "AKIDQjz3ltompVjBni5LitkWHFlFpwkn9U5q"
OSK = "BQYIM75p8x0iWVFSIgqEKwFprpRSVHlz"
OHOST = "examplebucket-1250000000.cos.ap-beijing.myqcloud.com"
OPATH = unquote("/exampleobject(%E8%85%BE%E8%AE%AF%E4%BA%91)")

# SDK-computed vectors (TV-C3..C7).
AK = "AKIDEXAMPLE1234567890"
SK = "SECRETKEYEXAMPLE0987654321"
H = "examplebucket-1250000000.cos.ap-beijing.myqcloud.com"
KT = "1699999940;1700003600"
KT_PRE = "1699999940;1700000600"
NOW = 1700000000.0
UPLOAD_ID = "1585130821cbb7df1d11846c073ad648e8f33b087cec2381df437acdc833cf654b9ecc6361"

BUCKET = "examplebucket-1250000000"


def sha1_hex(s: str) -> str:
    return hashlib.sha1(s.encode("utf-8")).hexdigest()


def qs(raw: str) -> Query:
    """Decode a raw query string the way the server does (form rules, keep blanks)."""
    return parse_qsl(raw, keep_blank_values=True)


def auth_header(key_time: str, header_list: str, param_list: str, signature: str) -> str:
    return (
        f"q-sign-algorithm=sha1&q-ak={AK}&q-sign-time={key_time}&q-key-time={key_time}"
        f"&q-header-list={header_list}&q-url-param-list={param_list}&q-signature={signature}"
    )


def split_url(url: str) -> tuple[str, Query, str]:
    """(decoded path, decoded query, netloc) of a URL."""
    parts = urlsplit(url)
    return unquote(parts.path), qs(parts.query), parts.netloc


def hosts(netloc: str) -> list[str]:
    return [netloc, netloc.rsplit(":", 1)[0]] if ":" in netloc else [netloc]


# --------------------------------------------------------------------------- encode


def test_encode_rules() -> None:
    assert encode("a b/+=~-_.") == "a%20b%2F%2B%3D~-_."
    assert encode("腾") == "%E8%85%BE"
    assert encode('uin="1"') == "uin%3D%221%22"
    assert encode("") == ""


# --------------------------------------------------------------------------- TV-C1, TV-C2


C1_HEADERS = {
    "date": "Thu, 16 May 2019 06:45:51 GMT",
    "host": OHOST,
    "content-type": "text/plain",
    "content-length": "13",
    "content-md5": "mQ/fVh815F3k6TAUm8m0eg==",
    "x-cos-acl": "private",
    "x-cos-grant-read": 'uin="100000000011"',
}
C1_HTTP_HEADERS = (
    "content-length=13&content-md5=mQ%2FfVh815F3k6TAUm8m0eg%3D%3D&content-type=text%2Fplain"
    "&date=Thu%2C%2016%20May%202019%2006%3A45%3A51%20GMT"
    f"&host={OHOST}&x-cos-acl=private&x-cos-grant-read=uin%3D%22100000000011%22"
)


def test_tv_c1_official_put_object() -> None:
    key_time = "1557989151;1557996351"
    assert sign_key(OSK, key_time) == "eb2519b498b02ac213cb1f3d1a3d27a3b3c9bc5f"
    value = make_authorization(OAK, OSK, "PUT", OPATH, [], C1_HEADERS, 1557989151, 1557996351)
    auth = parse_auth_header(value)
    assert ";".join(auth.header_list) == (
        "content-length;content-md5;content-type;date;host;x-cos-acl;x-cos-grant-read"
    )
    assert auth.url_param_list == []
    text = http_string("PUT", OPATH, [], C1_HEADERS, auth)
    assert text.split("\n")[3] == C1_HTTP_HEADERS
    assert sha1_hex(text) == "8b2751e77f43a0995d6e9eb9477f4b685cca4172"
    assert auth.signature == "3b8851a11a569213c17ba8fa7dcf2abec6935172"
    assert sign(OSK, key_time, text) == auth.signature
    verify(auth, OSK, "PUT", OPATH, [], C1_HEADERS, 1557989200.0, [OHOST])


def test_tv_c2_official_get_with_params() -> None:
    key_time = "1557989753;1557996953"
    query = qs(
        "response-content-type=application%2Foctet-stream&response-cache-control=max-age%3D600"
    )
    headers = {"date": "Thu, 16 May 2019 06:55:53 GMT", "host": OHOST}
    assert sign_key(OSK, key_time) == "937914bf490e9e8c189836aad2052e4feeb35eaf"
    value = make_authorization(OAK, OSK, "GET", OPATH, query, headers, 1557989753, 1557996953)
    auth = parse_auth_header(value)
    assert ";".join(auth.url_param_list) == "response-cache-control;response-content-type"
    assert ";".join(auth.header_list) == "date;host"
    text = http_string("GET", OPATH, query, headers, auth)
    assert sha1_hex(text) == "54ecfe22f59d3514fdc764b87a32d8133ea611e6"
    assert auth.signature == "01681b8c9d798a678e43b685a9f1bba0f6c0e012"
    verify(auth, OSK, "GET", OPATH, query, headers, 1557989800.0, [OHOST])


# --------------------------------------------------------------------------- TV-C3 .. C5


C3_HEADER = (
    "q-sign-algorithm=sha1&q-ak=AKIDEXAMPLE1234567890&q-sign-time=1699999940;1700003600"
    "&q-key-time=1699999940;1700003600&q-header-list=content-type;host&q-url-param-list=uploads"
    "&q-signature=bb96f63670bec4a972f0cf82008d249f9dbcf4a3"
)


def test_tv_c3_initiate_multipart_intermediates() -> None:
    headers = {"content-type": "video/mp4", "host": H}
    query = qs("uploads")
    assert sign_key(SK, KT) == "d852c1403f8d3d1716f6e9c2758a20d45683b233"
    auth = parse_auth_header(C3_HEADER)
    text = http_string("POST", "/exampleobject", query, headers, auth)
    assert text == f"post\n/exampleobject\nuploads=\ncontent-type=video%2Fmp4&host={H}\n"
    assert sha1_hex(text) == "fe7307beb6e43ffb806e56ffbee629a83a91424a"
    made = make_authorization(
        AK, SK, "POST", "/exampleobject", query, headers, 1699999940, 1700003600
    )
    assert made == C3_HEADER
    verify(auth, SK, "POST", "/exampleobject", query, headers, NOW, [H])


C4_HEADERS = {
    "content-length": "1048576",
    "content-md5": "mQ/fVh815F3k6TAUm8m0eg==",
    "x-cos-meta-foo": "a b",
    "user-agent": "x",
    "host": H,
}
HEADER_VECTORS = [
    pytest.param(
        "POST",
        "/exampleobject",
        "uploads",
        {"content-type": "video/mp4", "host": H},
        "content-type;host",
        "uploads",
        "bb96f63670bec4a972f0cf82008d249f9dbcf4a3",
        id="C3",
    ),
    pytest.param(
        "PUT",
        "/dir/my%20file%2B%281%29.bin",
        f"partNumber=1&uploadId={UPLOAD_ID}",
        C4_HEADERS,
        "content-length;content-md5;host;x-cos-meta-foo",
        "partnumber;uploadid",
        "ef5d27e15e710d058ef39bc100f0785ee504c871",
        id="C4",
    ),
    pytest.param(
        "GET",
        "/",
        "prefix=photos%2F2024%2F&delimiter=%2F&max-keys=10&encoding-type=url",
        {"host": H},
        "host",
        "delimiter;encoding-type;max-keys;prefix",
        "e8ed45ecfb66153a9c04e67d6449c3b7aa97ade1",
        id="C5",
    ),
]


@pytest.mark.parametrize(
    ("method", "wire_path", "raw_query", "headers", "header_list", "param_list", "signature"),
    HEADER_VECTORS,
)
def test_tv_header_vectors(
    method: str,
    wire_path: str,
    raw_query: str,
    headers: dict[str, str],
    header_list: str,
    param_list: str,
    signature: str,
) -> None:
    path, query = unquote(wire_path), qs(raw_query)
    auth = parse_auth_header(auth_header(KT, header_list, param_list, signature))
    verify(auth, SK, method, path, query, headers, NOW, [H])
    signed = {k: v for k, v in headers.items() if k in header_list.split(";")}
    made = parse_auth_header(
        make_authorization(AK, SK, method, path, query, signed, 1699999940, 1700003600)
    )
    assert made == auth


def test_tv_c4_http_string() -> None:
    path = unquote("/dir/my%20file%2B%281%29.bin")
    assert path == "/dir/my file+(1).bin"
    query = qs(f"partNumber=1&uploadId={UPLOAD_ID}")
    auth = parse_auth_header(
        auth_header(
            KT, "content-length;content-md5;host;x-cos-meta-foo", "partnumber;uploadid", "x"
        )
    )
    assert http_string("PUT", path, query, C4_HEADERS, auth) == (
        f"put\n/dir/my file+(1).bin\npartnumber=1&uploadid={UPLOAD_ID}\n"
        "content-length=1048576&content-md5=mQ%2FfVh815F3k6TAUm8m0eg%3D%3D"
        f"&host={H}&x-cos-meta-foo=a%20b\n"
    )


# --------------------------------------------------------------------------- TV-C6, C7


C6_URL = (
    f"http://{H}/dir/%E4%B8%AD%E6%96%87%20file.txt?q-sign-algorithm=sha1&q-ak={AK}"
    "&q-sign-time=1699999940%3B1700000600&q-key-time=1699999940%3B1700000600"
    "&q-header-list=host&q-url-param-list=&q-signature=6302968e6e8008ad522450cf9a7e30b1c3236c6f"
)
C7_URL = (
    f"http://{H}/a.txt?q-sign-algorithm=sha1&q-ak={AK}"
    "&q-sign-time=1699999940%3B1700000600&q-key-time=1699999940%3B1700000600"
    "&q-header-list=host&q-url-param-list=response-content-type"
    "&q-signature=42e2e7adb7b1922cf97fc2badbb01a4ba84fc4e2&response-content-type=text%2Fplain"
)


@pytest.mark.parametrize("url", [C6_URL, C7_URL], ids=["C6", "C7"])
def test_tv_presigned_vectors(url: str) -> None:
    path, query, netloc = split_url(url)
    auth = parse_auth_query(query)
    assert auth is not None and auth.presigned
    assert auth.sign_time == (1699999940, 1700000600) and auth.key_time == KT_PRE
    assert auth.header_list == ["host"]
    verify(auth, SK, "GET", path, query, {"host": netloc}, NOW, [netloc])
    # q-* params are not signed: HttpParameters holds only the listed params.
    assert http_string("GET", path, query, {"host": H}, auth).split("\n")[2] == (
        "response-content-type=text%2Fplain" if auth.url_param_list else ""
    )


def test_tv_c6_path_and_c7_make_authorization() -> None:
    assert split_url(C6_URL)[0] == "/dir/中文 file.txt"
    made = make_authorization(
        AK,
        SK,
        "GET",
        "/a.txt",
        {"response-content-type": "text/plain"},
        {"host": H},
        1699999940,
        1700000600,
    )
    assert made.endswith("&q-signature=42e2e7adb7b1922cf97fc2badbb01a4ba84fc4e2")
    made = make_authorization(
        AK, SK, "GET", "/dir/中文 file.txt", [], {"host": H}, 1699999940, 1700000600
    )
    assert made.endswith("&q-signature=6302968e6e8008ad522450cf9a7e30b1c3236c6f")


# --------------------------------------------------------------------------- SDK round trips


KEYS = [
    "hello.txt",
    "dir/hello world.txt",
    "dir/my file+(1).bin",
    "中文/файл ☃.txt",
    "a+b=c&d;e?f#g.txt",
    "./a/../b",
    "%41literal%2Fpercent",
    "~tilde-_.txt",
]


def sdk_conf(**extra: object) -> CosConfig:
    return CosConfig(Region="ap-guangzhou", SecretId=AK, SecretKey=SK, Scheme="http", **extra)


def wire_headers(prepared: requests.PreparedRequest, host: str) -> dict[str, str]:
    """Headers as the server sees them: lower-case names, Host added, no Authorization."""
    out = {k.lower(): v for k, v in prepared.headers.items() if k.lower() != "authorization"}
    out["host"] = host
    return out


def sdk_signed(
    conf: CosConfig,
    method: str,
    key: str,
    params: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    body: bytes | None = None,
) -> tuple[CosAuth, str, Query, dict[str, str], str]:
    """Sign a request with CosS3Auth; return (auth, decoded path, query, headers, netloc)."""
    params = dict(params or {})
    url = conf.uri(bucket=BUCKET, path=key)
    prepared = requests.Request(method, url, headers=dict(headers or {}), params=params, data=body)
    signed = CosS3Auth(conf, key, params)(prepared.prepare())
    path, query, netloc = split_url(signed.url)
    auth = parse_auth_header(signed.headers["Authorization"])
    return auth, path, query, wire_headers(signed, netloc), netloc


@pytest.mark.parametrize("key", KEYS)
def test_sdk_header_form(key: str) -> None:
    auth, path, query, headers, netloc = sdk_signed(
        sdk_conf(),
        "PUT",
        key,
        {"partNumber": "3", "uploadId": "u p+l"},
        {"Content-Type": "text/plain; charset=utf-8", "x-cos-meta-Foo": "a b/c", "User-Agent": "t"},
        b"data",
    )
    assert path == "/" + key.lstrip("/")
    assert auth.header_list == ["content-length", "content-type", "host", "x-cos-meta-foo"]
    assert auth.url_param_list == ["partnumber", "uploadid"]
    verify(auth, SK, "PUT", path, query, headers, time.time(), hosts(netloc))


def test_sdk_header_form_empty_params_and_no_body() -> None:
    params = {
        "prefix": "dir/",
        "delimiter": "",
        "marker": "",
        "max-keys": "10",
        "encoding-type": "url",
    }
    conf = sdk_conf()
    url = conf.uri(bucket=BUCKET)
    prepared = requests.Request("GET", url, params=params).prepare()
    signed = CosS3Auth(conf, None, params)(prepared)
    path, query, netloc = split_url(signed.url)
    auth = parse_auth_header(signed.headers["Authorization"])
    assert path == "/" and ("delimiter", "") in query
    verify(auth, SK, "GET", path, query, wire_headers(signed, netloc), time.time(), [netloc])


def test_sdk_signs_host_without_port() -> None:
    conf = sdk_conf(Endpoint="cos.local:9000")
    auth, path, query, headers, netloc = sdk_signed(conf, "GET", "x y.txt")
    assert netloc == f"{BUCKET}.cos.local:9000"
    now = time.time()
    verify(auth, SK, "GET", path, query, headers, now, hosts(netloc))
    with pytest.raises(ShoalError) as exc:
        verify(auth, SK, "GET", path, query, headers, now, [netloc])
    assert exc.value.code == "SignatureDoesNotMatch"


def test_sdk_ip_port_mode_signs_explicit_host_header() -> None:
    conf = sdk_conf(IP="127.0.0.1", Port=9000)
    host = f"{BUCKET}.cos.ap-guangzhou.myqcloud.com"
    auth, path, query, headers, _ = sdk_signed(conf, "DELETE", "k", headers={"Host": host})
    verify(auth, SK, "DELETE", path, query, headers, time.time(), [host])


@pytest.mark.parametrize("key", KEYS)
def test_sdk_get_auth(key: str) -> None:
    client = CosS3Client(sdk_conf())
    params = {"response-content-disposition": 'attachment; filename="a b+c.txt"'}
    value = client.get_auth(Method="GET", Bucket=BUCKET, Key=key, Params=params)
    auth = parse_auth_header(value)
    path, _, netloc = split_url(sdk_conf().uri(bucket=BUCKET, path=key))
    query = list(params.items())
    verify(auth, SK, "GET", path, query, {"host": netloc}, time.time(), [netloc])


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("method", ["GET", "PUT"])
def test_sdk_presigned_url(key: str, method: str) -> None:
    client = CosS3Client(sdk_conf())
    params = {"response-content-type": "text/plain", "x": "a b+c/d"}
    url = client.get_presigned_url(
        Bucket=BUCKET, Key=key, Method=method, Expired=600, Params=params
    )
    path, query, netloc = split_url(url)
    auth = parse_auth_query(query)
    assert auth is not None and auth.presigned
    assert auth.url_param_list == ["response-content-type", "x"]
    verify(auth, SK, method, path, query, {"host": netloc}, time.time(), [netloc])


@settings(max_examples=40, deadline=None, database=None)
@given(
    key=st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=30),
    value=st.text(st.characters(blacklist_categories=("Cs",)), max_size=20),
)
def test_sdk_presigned_url_property(key: str, value: str) -> None:
    client = CosS3Client(sdk_conf())
    url = client.get_presigned_url(Bucket=BUCKET, Key=key, Method="GET", Params={"v": value})
    path, query, netloc = split_url(url)
    auth = parse_auth_query(query)
    assert auth is not None
    verify(auth, SK, "GET", path, query, {"host": netloc}, time.time(), [netloc])


# --------------------------------------------------------------------------- negative cases


def c3_request() -> tuple[CosAuth, Query, dict[str, str]]:
    return parse_auth_header(C3_HEADER), qs("uploads"), {"content-type": "video/mp4", "host": H}


def expect(code: str, auth: CosAuth, **kw: object) -> ShoalError:
    _, query, headers = c3_request()
    args: dict[str, object] = {
        "secret": SK,
        "method": "POST",
        "decoded_path": "/exampleobject",
        "query": query,
        "headers": headers,
        "now": NOW,
        "host_candidates": [H],
    }
    args.update(kw)
    with pytest.raises(ShoalError) as exc:
        verify(auth, **args)  # type: ignore[arg-type]
    assert exc.value.code == code
    return exc.value


def test_tampered_signature() -> None:
    auth = c3_request()[0]
    bad = CosAuth(**{**auth.__dict__, "signature": "0" * 40})
    err = expect("SignatureDoesNotMatch", bad)
    assert err.status == 403
    assert err.fields["FormatString"] == http_string(
        "POST", "/exampleobject", qs("uploads"), c3_request()[2], auth
    )
    assert err.fields["StringToSign"].startswith(f"sha1\n{KT}\n")
    assert err.fields["StringToSign"] == string_to_sign(KT, err.fields["FormatString"])


def test_non_ascii_signature_is_a_mismatch() -> None:
    auth = c3_request()[0]
    expect("SignatureDoesNotMatch", CosAuth(**{**auth.__dict__, "signature": "é" * 40}))


def test_uppercase_signature_accepted() -> None:
    auth, query, headers = c3_request()
    upper = CosAuth(**{**auth.__dict__, "signature": auth.signature.upper()})
    verify(upper, SK, "POST", "/exampleobject", query, headers, NOW, [H])


def test_wrong_key() -> None:
    expect("SignatureDoesNotMatch", c3_request()[0], secret=SK + "x")


def test_wrong_host() -> None:
    expect("SignatureDoesNotMatch", c3_request()[0], host_candidates=["evil.example.com"])


@pytest.mark.parametrize(
    "change",
    [
        {"method": "PUT"},
        {"decoded_path": "/exampleobject2"},
        {"query": qs("uploads=x")},
        {"headers": {"content-type": "video/mp3", "host": H}},
    ],
    ids=["method", "path", "param", "header"],
)
def test_tampered_request(change: dict[str, object]) -> None:
    expect("SignatureDoesNotMatch", c3_request()[0], **change)


def test_unsigned_extras_ignored() -> None:
    auth, query, headers = c3_request()
    more_query = [*query, ("q-sign-algorithm", "sha1"), ("other", "1")]
    more_headers = {**headers, "user-agent": "x", "x-cos-meta-a": "b"}
    verify(auth, SK, "POST", "/exampleobject", more_query, more_headers, NOW, [H])


def test_listed_param_absent_signs_empty_value() -> None:
    auth = c3_request()[0]
    assert http_string("POST", "/o", [], {}, auth) == "post\n/o\nuploads=\ncontent-type=&host=\n"


def test_expired() -> None:
    err = expect("AccessDenied", c3_request()[0], now=1700003601.0)
    assert err.message == "Request has expired"
    assert err.fields["ServerTime"] == "2023-11-14T23:13:21Z"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", err.fields["ServerTime"])


def test_end_is_inclusive() -> None:
    auth, query, headers = c3_request()
    verify(auth, SK, "POST", "/exampleobject", query, headers, 1700003600.0, [H])


def test_not_yet_valid() -> None:
    auth, query, headers = c3_request()
    verify(auth, SK, "POST", "/exampleobject", query, headers, 1699999940.0 - 900, [H])
    err = expect("AccessDenied", auth, now=1699999940.0 - 901)
    assert "not valid yet" in err.message


def test_sign_time_cannot_extend_key_time() -> None:
    url = C6_URL.replace(
        "q-sign-time=1699999940%3B1700000600", "q-sign-time=1699999940%3B1999999999"
    )
    path, query, netloc = split_url(url)
    auth = parse_auth_query(query)
    assert auth is not None
    verify(auth, SK, "GET", path, query, {"host": netloc}, NOW, [netloc])
    with pytest.raises(ShoalError) as exc:
        verify(auth, SK, "GET", path, query, {"host": netloc}, 1700000601.0, [netloc])
    assert exc.value.message == "Request has expired"


def test_expired_presigned_url() -> None:
    path, query, netloc = split_url(C7_URL)
    auth = parse_auth_query(query)
    assert auth is not None
    with pytest.raises(ShoalError) as exc:
        verify(auth, SK, "GET", path, query, {"host": netloc}, 1700000601.0, [netloc])
    assert exc.value.code == "AccessDenied"


@pytest.mark.parametrize("field", FIELDS)
def test_missing_field_header(field: str) -> None:
    value = "&".join(item for item in C3_HEADER.split("&") if not item.startswith(field + "="))
    with pytest.raises(ShoalError) as exc:
        parse_auth_header(value)
    assert exc.value.code == "AccessDenied"


@pytest.mark.parametrize("field", [f for f in FIELDS if f != "q-sign-algorithm"])
def test_missing_field_query(field: str) -> None:
    query = [(k, v) for k, v in split_url(C7_URL)[1] if k != field]
    with pytest.raises(ShoalError) as exc:
        parse_auth_query(query)
    assert exc.value.code == "AccessDenied"


def test_query_without_signature_is_none() -> None:
    assert parse_auth_query(qs("uploads=&prefix=a")) is None
    assert parse_auth_query([]) is None


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("q-sign-algorithm=sha1", "q-sign-algorithm=sha256"),
        ("q-sign-time=1699999940;1700003600", "q-sign-time=abc"),
        ("q-sign-time=1699999940;1700003600", "q-sign-time=1699999940;"),
        ("q-sign-time=1699999940;1700003600", "q-sign-time=１６;1700003600"),
        ("q-sign-time=1699999940;1700003600", "q-sign-time=-1;1700003600"),
        ("q-key-time=1699999940;1700003600", "q-key-time=1699999940"),
    ],
)
def test_malformed_fields(old: str, new: str) -> None:
    with pytest.raises(ShoalError) as exc:
        parse_auth_header(C3_HEADER.replace(old, new))
    assert exc.value.code == "AccessDenied"


def test_parse_header_fields() -> None:
    auth = parse_auth_header(C3_HEADER)
    assert auth == CosAuth(
        algorithm="sha1",
        access_key=AK,
        sign_time=(1699999940, 1700003600),
        key_time=KT,
        header_list=["content-type", "host"],
        url_param_list=["uploads"],
        signature="bb96f63670bec4a972f0cf82008d249f9dbcf4a3",
        presigned=False,
    )
