"""Hostile input, table-driven: the harness, shared documents, and the S3 corpus's fixture.

Every case is sent raw over a socket and again through a client (requests) and must get its
documented S3 error code with a 4xx status (or, for the boundary cases that are legal, the
right success), never a 500 and never a hang; the server keeps serving after each one.

Cases use ``{b}`` for the test bucket and ``{u}`` for a pending upload id on key ``mp`` (part 1
uploaded). The test bucket holds ``obj`` = ``0123456789`` and ``empty`` (zero bytes).
The S3 corpus is in test_hostile_s3.py, the COS corpus in test_hostile_cos.py,
connection-level cases (slowloris, framing, header sizes) in test_hostile_conn.py, signatures
and anonymous access in test_hostile_auth.py.
"""

from __future__ import annotations

import hashlib
import os
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from xml.etree import ElementTree

import pytest
import requests

from .conftest import empty_and_delete
from .server import LiveServer
from .test_s3_auth import sign_v4

TIMEOUT = 15.0
KEY_1024 = "k" * 1024


@dataclass(frozen=True)
class Case:
    """One hostile request and what it must get. ``codes`` empty means "no error document"."""

    id: str
    method: str
    target: str  # path and query as on the wire, with {b} / {u} placeholders
    status: int = 400
    codes: tuple[str, ...] = ()
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    raw_only: bool = False  # a client library cannot send it (or would rewrite it)
    signed: bool = True  # SigV4-signed by the test signer; else only Host and Content-Length
    marks: tuple[pytest.MarkDecorator, ...] = ()
    payload: str | None = None  # x-amz-content-sha256 to sign; default: the body's SHA-256
    reply_body: bytes | None = None  # expected response body, when it matters


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def code(self) -> str | None:
        if not self.body.lstrip().startswith(b"<"):
            return None
        root = ElementTree.fromstring(self.body)
        return root.findtext("Code") if root.tag == "Error" else None


@dataclass
class Target:
    """Where cases go. ``sign(target, method, url, headers, body)`` returns the headers to send
    (S3 SigV4 by default; the COS corpus passes its own)."""

    server: LiveServer
    bucket: str
    upload: str
    etag: str
    sign: Callable[[Target, Case, str, dict[str, str]], dict[str, str]] | None = None

    def fill(self, text: str) -> str:
        return text.replace("{b}", self.bucket).replace("{u}", self.upload)


# -- sending ----------------------------------------------------------------------------------
def signed_headers(t: Target, case: Case) -> dict[str, str]:
    url = t.server.endpoint + t.fill(case.target)
    extra = {k.lower(): v for k, v in case.headers.items()}
    extra.setdefault("content-length", str(len(case.body)))
    if t.sign is not None:
        return t.sign(t, case, url, extra)
    if not case.signed:
        return {"host": f"127.0.0.1:{t.server.port}", **extra}
    payload = case.payload or hashlib.sha256(case.body).hexdigest()
    return sign_v4(case.method, url, extra, payload).headers


def read_reply(sock: socket.socket, method: str) -> Reply:
    buf = b""
    while b"\r\n\r\n" not in buf:
        data = sock.recv(65536)
        if not data:
            raise ConnectionError(f"closed before a response: {buf[:200]!r}")
        buf += data
    head, rest = buf.split(b"\r\n\r\n", 1)
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = 0 if method == "HEAD" else int(headers.get("content-length", "0"))
    while len(rest) < length:
        data = sock.recv(65536)
        if not data:
            raise ConnectionError("closed inside a response body")
        rest += data
    return Reply(int(status_line.split()[1]), headers, rest[:length])


def raw_request(method: str, target: str, headers: dict[str, str], body: bytes) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", *(f"{k}: {v}" for k, v in headers.items())]
    return "\r\n".join(lines).encode("utf-8", "surrogateescape") + b"\r\n\r\n" + body


def send_raw(server: LiveServer, data: bytes, method: str) -> Reply:
    with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT) as sock:
        sock.sendall(data)
        return read_reply(sock, method)


def via_socket(t: Target, case: Case) -> Reply:
    data = raw_request(case.method, t.fill(case.target), signed_headers(t, case), case.body)
    return send_raw(t.server, data, case.method)


def via_requests(t: Target, case: Case) -> Reply:
    url = t.server.endpoint + t.fill(case.target)
    resp = requests.request(case.method, url, headers=signed_headers(t, case), data=case.body,
                            timeout=TIMEOUT, allow_redirects=False)
    return Reply(resp.status_code, {k.lower(): v for k, v in resp.headers.items()},
                 resp.content)


def check(case: Case, reply: Reply) -> None:
    assert reply.status < 500, (case.id, reply.status, reply.body[:300])
    assert reply.status == case.status, (case.id, reply.status, reply.body[:300])
    if case.codes:
        assert reply.code in case.codes, (case.id, reply.code, reply.body[:300])
    if case.reply_body is not None:
        assert reply.body == case.reply_body, (case.id, reply.body[:100])


def assert_serving(server: LiveServer) -> None:
    reply = send_raw(server, b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", "GET")
    assert reply.status == 403 and reply.code == "AccessDenied"


def run_case(t: Target, case: Case, mode: str) -> Reply:
    if mode == "client" and case.raw_only:
        pytest.skip("a client cannot send this")
    reply = via_socket(t, case) if mode == "raw" else via_requests(t, case)
    check(case, reply)
    assert_serving(t.server)
    return reply


@contextmanager
def stocked_bucket(s3, name: str, objects: dict[str, bytes],  # noqa: ANN001
                   part: bytes | None = None) -> Iterator[tuple[str, str]]:
    """Bucket ``name`` holding ``objects`` and a pending upload on ``mp`` (part 1 = ``part``, if
    given): yields the upload id and the part's ETag ("" without a part). Emptied and deleted
    on exit (the corpus fixtures of the hostile test files)."""
    s3.create_bucket(Bucket=name)
    try:
        for key, body in objects.items():
            s3.put_object(Bucket=name, Key=key, Body=body)
        up = s3.create_multipart_upload(Bucket=name, Key="mp")["UploadId"]
        etag = "" if part is None else s3.upload_part(Bucket=name, Key="mp", UploadId=up,
                                                      PartNumber=1, Body=part)["ETag"]
        yield up, etag
    finally:
        empty_and_delete(s3, name)


@pytest.fixture(scope="module")
def target(server: LiveServer, s3) -> Iterator[Target]:  # noqa: ANN001
    name = f"hostile-{os.getpid()}"
    objects = {"obj": b"0123456789", "empty": b""}
    with stocked_bucket(s3, name, objects, part=b"part-one") as (up, etag):
        yield Target(server, name, up, etag)


# -- the corpus -------------------------------------------------------------------------------
LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
<!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">]>
<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>&lol5;</ETag></Part>
</CompleteMultipartUpload>"""
XXE = b"""<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>&x;</ETag></Part>
</CompleteMultipartUpload>"""
XXE_PARAM = b"""<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY % p SYSTEM "http://127.0.0.1:9/evil.dtd"> %p;]>
<CompleteMultipartUpload/>"""
XXE_DTD = b"""<?xml version="1.0"?><!DOCTYPE r SYSTEM "http://127.0.0.1:9/x.dtd">
<CompleteMultipartUpload/>"""


def parts_doc(*parts: tuple[str, str]) -> bytes:
    inner = "".join(f"<Part><PartNumber>{n}</PartNumber><ETag>{e}</ETag></Part>"
                    for n, e in parts)
    return f"<CompleteMultipartUpload>{inner}</CompleteMultipartUpload>".encode()


def tags_doc(n: int, key: str = "k{i}") -> bytes:
    tags = "".join(f"<Tag><Key>{key.format(i=i)}</Key><Value>v</Value></Tag>" for i in range(n))
    return f"<Tagging><TagSet>{tags}</TagSet></Tagging>".encode()


def md5_header(body: bytes) -> dict[str, str]:
    import base64

    return {"Content-MD5": base64.b64encode(hashlib.md5(body).digest()).decode()}


BAD_HTTP = ("InvalidRequest",)  # what the HTTP layer answers to what it cannot parse
COMPLETE = "/{b}/mp?uploadId={u}"
GOOD_PART = ("1", '"00000000000000000000000000000000"')
MALFORMED = ("MalformedXML",)


def test_dot_dot_keys_stay_keys(target: Target, s3) -> None:  # noqa: ANN001
    """``../`` is part of a key, never a path: stored and listed literally, nothing outside."""
    s3.put_object(Bucket=target.bucket, Key="../../../outside", Body=b"literal")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=target.bucket,
                                                  Prefix="../")["Contents"]]
    assert "../../../outside" in keys
    assert s3.get_object(Bucket=target.bucket, Key="../../../outside")["Body"].read() == \
        b"literal"
    assert not os.path.exists(os.path.join(os.path.dirname(target.server.data_dir), "outside"))
