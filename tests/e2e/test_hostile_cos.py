"""Hostile input in the COS dialect: the same harness as test_hostile.py, requests signed with
``q-sign-algorithm=sha1`` and addressed by a COS virtual host, answers in COS spelling (COS
error codes, ``Server: tencent-cos``, a ``TraceId`` in every error document)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from urllib.parse import parse_qsl, unquote, urlsplit

import pytest

from shoal.dialects.cos.signature import make_authorization

from .server import ACCESS_KEY, SECRET_KEY, LiveServer
from .test_hostile import (
    BAD_HTTP,
    LAUGHS,
    MALFORMED,
    XXE,
    Case,
    Target,
    md5_header,
    parts_doc,
    run_case,
    stocked_bucket,
    tags_doc,
)

REGION = "ap-guangzhou"
COMPLETE = "/mp?uploadId={u}"
ETAG = '"00000000000000000000000000000000"'


def cos_host(bucket: str) -> str:
    return f"{bucket}.cos.{REGION}.myqcloud.com"


def cos_sign(t: Target, case: Case, url: str, headers: dict[str, str]) -> dict[str, str]:
    """Host names the bucket (``{b}`` in a case's Host header names another one)."""
    host = t.fill(headers.pop("host", cos_host("{b}")))
    out = {"host": host, **headers}
    if case.signed:
        parts = urlsplit(url)
        now = int(time.time())
        out["authorization"] = make_authorization(
            ACCESS_KEY, SECRET_KEY, case.method, unquote(parts.path, errors="replace"),
            parse_qsl(parts.query, keep_blank_values=True), out, now - 60, now + 600)
    return out


def corpus() -> list[Case]:
    meta = {f"x-cos-meta-m{i}": "v" * 100 for i in range(25)}
    tags = "&".join(f"k{i}=v" for i in range(11))
    cases = [Case(f"complete-{name}", "POST", COMPLETE, 400, MALFORMED, body=body)
             for name, body in (("laughs", LAUGHS), ("xxe", XXE),
                                ("truncated", parts_doc(("1", ETAG))[:40]), ("empty", b""))]
    cases += [
        Case("complete-10001-parts", "POST", COMPLETE, 400, ("InvalidArgument", "MalformedXML"),
             body=parts_doc(*[(str(i), ETAG) for i in range(1, 10002)])),
        Case("complete-part-zero", "POST", COMPLETE, 400, ("InvalidArgument",),
             body=parts_doc(("0", ETAG))),
        Case("complete-duplicate", "POST", COMPLETE, 400, ("InvalidPartOrder",),
             body=parts_doc(("1", ETAG), ("1", ETAG))),
        Case("tagging-11", "PUT", "/obj?tagging", 400, ("InvalidArgument",),
             headers=md5_header(tags_doc(11)), body=tags_doc(11)),
        Case("key-850-bytes", "PUT", "/" + "k" * 850, 200, body=b"x"),
        Case("key-851-bytes", "PUT", "/" + "k" * 851, 400, ("KeyTooLong",), body=b"x"),
        Case("key-invalid-utf8", "PUT", "/bad%FF", 400, ("InvalidURI",), body=b"x"),
        Case("key-raw-nul", "GET", "/a\x00b", 400, BAD_HTTP, raw_only=True, signed=False),
        Case("key-nul", "PUT", "/nul%00key", 400, ("InvalidArgument",), body=b"x"),
        Case("key-dot-dot", "PUT", "/..%2F..%2Fescape", 200, body=b"dots"),
        Case("header-9000", "GET", "/obj", 400, ("RequestHeaderSectionTooLarge",),
             headers={"x-cos-meta-pad": "p" * 9000}),
        Case("metadata-over-2k", "PUT", "/meta", 400, ("MetadataTooLarge",), headers=meta,
             body=b"m"),
        Case("tagging-header-11", "PUT", "/t", 400, ("InvalidArgument",),
             headers={"x-cos-tagging": tags}, body=b"t"),
        Case("traffic-limit", "PUT", "/t", 400, ("InvalidArgument",),
             headers={"x-cos-traffic-limit": "1"}, body=b"t"),
        Case("storage-class", "PUT", "/t", 400, ("NotSupportedStorageClass",),
             headers={"x-cos-storage-class": "GLACIER"}, body=b"t"),
        Case("range-past-end", "GET", "/obj", 416, ("InvalidRange",),
             headers={"Range": "bytes=10-"}),
        Case("range-suffix", "GET", "/obj", 206, headers={"Range": "bytes=-3"},
             reply_body=b"789"),
        Case("range-reversed", "GET", "/obj", 200, headers={"Range": "bytes=5-2"},
             reply_body=b"0123456789"),
    ]
    for name in ("under_score-1250000000", "-lead-1250000000", "a..b-1250000000"):
        cases.append(Case(f"bucket-{name[:10]}", "PUT", "/", 400, ("InvalidBucketName",),
                          headers={"Host": cos_host(name)}))
    return cases


@pytest.fixture(scope="module")
def cos_target(server: LiveServer, s3) -> Iterator[Target]:  # noqa: ANN001
    name = f"hostile-cos-{os.getpid()}-1250000000"
    with stocked_bucket(s3, name, {"obj": b"0123456789"}, part=b"p") as (up, etag):
        yield Target(server, name, up, etag, sign=cos_sign)


@pytest.mark.parametrize("mode", ["raw", "client"])
@pytest.mark.parametrize("case", [pytest.param(c, id=c.id, marks=c.marks) for c in corpus()])
def test_cos_corpus(cos_target: Target, case: Case, mode: str) -> None:
    reply = run_case(cos_target, case, mode)
    if reply.status >= 400 and case.codes and case.codes != BAD_HTTP:
        assert reply.headers.get("server") == "tencent-cos", case.id
        assert "x-cos-trace-id" in reply.headers, case.id
