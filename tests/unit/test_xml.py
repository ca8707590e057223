"""XML documents as golden strings, and safe parsing of hostile input."""

from __future__ import annotations

import pytest

from shoal.api import acl as acl_doc
from shoal.api.request import Request
from shoal.api.xmldoc import E, doc, iso8601, parse, raw
from shoal.core.errors import ShoalError
from shoal.dialects.s3.dialect import S3Dialect

NS = "http://s3.amazonaws.com/doc/2006-03-01/"


def _req() -> Request:
    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b"", "more_body": False}

    req = Request("GET", "/bkt/a%20b", "", {"host": "127.0.0.1"}, receive)
    req.request_id = "REQ1"
    return req


def test_initiate_result_golden() -> None:
    got = doc("InitiateMultipartUploadResult", [
        E("Bucket", "some-bucket"), E("Key", "multipart-object-123"),
        E("UploadId", "0000015a-95e1-4326-654e-a1b57887784f")], NS)
    assert got == (
        b'<?xml version="1.0" encoding="UTF-8"?>\n'
        b'<InitiateMultipartUploadResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
        b"<Bucket>some-bucket</Bucket><Key>multipart-object-123</Key>"
        b"<UploadId>0000015a-95e1-4326-654e-a1b57887784f</UploadId>"
        b"</InitiateMultipartUploadResult>"
    )


def test_escaping_and_no_namespace() -> None:
    got = doc("R", [E("Key", 'a<&>"b'), raw("X", E("Y", 1)), E("Skip", None)], None)
    assert got.endswith(b"<R><Key>a&lt;&amp;&gt;&quot;b</Key><X><Y>1</Y></X></R>")


def test_iso8601_has_milliseconds() -> None:
    assert iso8601(1704067200.25) == "2024-01-01T00:00:00.250Z"
    assert iso8601(0) == "1970-01-01T00:00:00.000Z"


def test_s3_error_document_golden() -> None:
    d = S3Dialect([], 5 << 20)
    resp = d.render_error(_req(), ShoalError("NoSuchKey", Key="a b"))
    assert resp.status == 404
    assert resp.body == (
        b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>NoSuchKey</Code>'
        b"<Message>The specified key does not exist.</Message><Key>a b</Key>"
        b"<Resource>/bkt/a%20b</Resource><RequestId>REQ1</RequestId>"
        b"<HostId>REQ1</HostId></Error>"
    )


def test_head_errors_have_no_body() -> None:
    d = S3Dialect([], 5 << 20)
    req = _req()
    req.method = "HEAD"
    resp = d.render_error(req, ShoalError("NoSuchKey"))
    assert resp.status == 404 and resp.body == b""


def test_acl_render_public_read() -> None:
    d = S3Dialect([], 5 << 20)
    body = acl_doc.render({"canned": "public-read"}, "abc", "root", d).decode()
    assert "<Owner><ID>abc</ID><DisplayName>root</DisplayName></Owner>" in body
    assert '<URI>http://acs.amazonaws.com/groups/global/AllUsers</URI>' in body
    assert body.count("<Grant>") == 2


def test_acl_parse_round_trip() -> None:
    d = S3Dialect([], 5 << 20)
    body = acl_doc.render({"canned": "authenticated-read"}, "abc", "root", d)
    parsed = acl_doc.parse(body)
    assert parsed == {"grants": [
        {"permission": "READ",
         "uri": "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"},
        {"permission": "FULL_CONTROL", "id": "abc"},
    ]}


@pytest.mark.parametrize("body", [
    b"",
    b"   ",
    b"<a><b></a>",
    b"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'aaaa'><!ENTITY b '&a;&a;&a;'>]><x>&b;</x>",
    b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>',
    b"\xff\xfe<x/>",
])
def test_hostile_or_malformed_xml_is_malformedxml(body: bytes) -> None:
    with pytest.raises(ShoalError) as exc:
        parse(body)
    assert exc.value.code == "MalformedXML"


def test_parse_strips_namespaces() -> None:
    root = parse(b'<CompleteMultipartUpload xmlns="' + NS.encode() + b'"><Part>'
                 b"<PartNumber>1</PartNumber></Part></CompleteMultipartUpload>")
    assert root.tag == "CompleteMultipartUpload"
    assert root.find("Part/PartNumber").text == "1"  # type: ignore[union-attr]
