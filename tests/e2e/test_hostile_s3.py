"""The S3 hostile-input corpus (harness in test_hostile.py): XML bombs and malformed
documents, Complete part lists, keys, bucket names, header and metadata sizes, tags, numeric
arguments and Range edge cases; then the same kinds of case through boto3."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from botocore.exceptions import ClientError

from .test_hostile import (
    BAD_HTTP,
    COMPLETE,
    GOOD_PART,
    KEY_1024,
    LAUGHS,
    MALFORMED,
    XXE,
    XXE_DTD,
    XXE_PARAM,
    Case,
    Target,
    assert_serving,
    md5_header,
    parts_doc,
    run_case,
    tags_doc,
    target,
)

__all__ = ["target"]  # the fixture, shared with test_hostile.py


def xml_cases() -> list[Case]:
    valid = parts_doc(GOOD_PART)
    bodies = {
        "unclosed": b"<CompleteMultipartUpload><Part>",
        "truncated": valid[: len(valid) // 2],
        "empty": b"",
        "blank": b"   \n ",
        "not-xml": b"hello world",
        "wrong-root": b"<Foo><Part><PartNumber>1</PartNumber><ETag>x</ETag></Part></Foo>",
        "no-parts": b"<CompleteMultipartUpload></CompleteMultipartUpload>",
        "missing-etag": b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber></Part>"
                        b"</CompleteMultipartUpload>",
        "billion-laughs": LAUGHS,
        "external-entity": XXE,
        "parameter-entity": XXE_PARAM,
        "external-dtd": XXE_DTD,
        "bad-encoding": b'<?xml version="1.0" encoding="UTF-16"?><CompleteMultipartUpload/>',
        "invalid-utf8": b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>\xff"
                        b"</ETag></Part></CompleteMultipartUpload>",
        "nul-char": b"<CompleteMultipartUpload>\x00</CompleteMultipartUpload>",
        "deep-nesting": b"<CompleteMultipartUpload>" + b"<a>" * 50000 + b"</a>" * 50000
                        + b"</CompleteMultipartUpload>",
        "part-non-numeric": parts_doc(("one", GOOD_PART[1])),
        "part-float": parts_doc(("1.0", GOOD_PART[1])),
    }
    cases = [Case(f"complete-{name}", "POST", COMPLETE, 400, MALFORMED, body=body)
             for name, body in bodies.items()]
    many = parts_doc(*[(str(i), GOOD_PART[1]) for i in range(1, 10002)])
    cases += [
        Case("complete-10001-parts", "POST", COMPLETE, 400, ("InvalidArgument", "MalformedXML"),
             body=many),
        Case("complete-part-zero", "POST", COMPLETE, 400, ("InvalidArgument",),
             body=parts_doc(("0", GOOD_PART[1]))),
        Case("complete-part-negative", "POST", COMPLETE, 400,
             ("InvalidArgument", "MalformedXML"), body=parts_doc(("-1", GOOD_PART[1]))),
        Case("complete-part-huge", "POST", COMPLETE, 400, ("InvalidArgument",),
             body=parts_doc(("99999999999999999999999", GOOD_PART[1]))),
        Case("complete-duplicate-parts", "POST", COMPLETE, 400, ("InvalidPartOrder",),
             body=parts_doc(GOOD_PART, GOOD_PART)),
        Case("complete-descending", "POST", COMPLETE, 400, ("InvalidPartOrder",),
             body=parts_doc(("2", GOOD_PART[1]), GOOD_PART)),
        Case("complete-wrong-etag", "POST", COMPLETE, 400, ("InvalidPart",),
             body=parts_doc(GOOD_PART)),
        Case("complete-unknown-upload", "POST", "/{b}/mp?uploadId=nope", 404, ("NoSuchUpload",),
             body=parts_doc(GOOD_PART)),
        Case("complete-too-large", "POST", COMPLETE, 400, MALFORMED,
             body=b"<CompleteMultipartUpload>" + b" " * (9 << 20) + b"</CompleteMultipartUpload>"),
    ]
    delete_1001 = ("<Delete>" + "".join(f"<Object><Key>k{i}</Key></Object>" for i in range(1001))
                   + "</Delete>").encode()
    for name, body in (("laughs", LAUGHS), ("truncated", b"<Delete><Object><Key>a</Key>"),
                       ("1001-keys", delete_1001)):
        cases.append(Case(f"delete-objects-{name}", "POST", "/{b}?delete", 400, MALFORMED,
                          headers=md5_header(body), body=body))
    for name, body, codes in (
            ("malformed", b"<Tagging><TagSet><Tag>", MALFORMED),
            ("laughs", LAUGHS, MALFORMED),
            ("11-tags", tags_doc(11), ("InvalidTag",)),
            ("duplicate-keys", tags_doc(2, key="same"), ("InvalidTag",)),
            ("long-key", tags_doc(1, key="k" * 129), ("InvalidTag",))):
        cases.append(Case(f"tagging-{name}", "PUT", "/{b}/obj?tagging", 400, codes,
                          headers=md5_header(body), body=body))
    cases += [
        Case("acl-laughs", "PUT", "/{b}/obj?acl", 400, MALFORMED, body=LAUGHS),
        Case("acl-malformed", "PUT", "/{b}/obj?acl", 400, MALFORMED, body=b"<AccessControlPolicy>"),
        Case("create-bucket-laughs", "PUT", "/hostile-new-bucket", 400, MALFORMED, body=LAUGHS),
    ]
    return cases


def key_cases() -> list[Case]:
    return [
        Case("key-1024-bytes", "PUT", "/{b}/" + KEY_1024, 200, body=b"x"),
        Case("key-1025-bytes", "PUT", "/{b}/" + KEY_1024 + "k", 400, ("KeyTooLongError",),
             body=b"x"),
        Case("key-1025-bytes-multibyte", "PUT", "/{b}/" + quote("é" * 512) + "k", 400,
             ("KeyTooLongError",), body=b"x"),
        Case("key-invalid-utf8", "PUT", "/{b}/bad%FFkey", 400, ("InvalidURI",), body=b"x"),
        Case("key-invalid-utf8-get", "GET", "/{b}/bad%C3%28", 400, ("InvalidURI",)),
        Case("key-raw-invalid-utf8", "GET", "/{b}/bad\udcffkey", 400, BAD_HTTP, raw_only=True,
             signed=False),
        Case("key-raw-nul", "GET", "/{b}/bad\x00key", 400, BAD_HTTP, raw_only=True,
             signed=False),
        Case("key-raw-space", "GET", "/{b}/bad key", 400, BAD_HTTP, raw_only=True,
             signed=False),
        Case("key-nul", "PUT", "/{b}/nul%00key", 400, ("InvalidArgument",), body=b"x"),
        Case("key-control-char-error-document", "GET", "/{b}/no%01such", 404, ("NoSuchKey",)),
        # requests removes dot segments from URLs (RFC 3986); S3 keys keep them
        Case("key-dot-dot", "PUT", "/{b}/../../../etc/escape", 200, body=b"dots",
             raw_only=True),
        Case("key-dot-dot-encoded", "PUT", "/{b}/..%2F..%2Fescape", 200, body=b"dots"),
        Case("key-dot-dot-get", "GET", "/{b}/..%2F..%2Fescape", 200, reply_body=b"dots"),
    ]


def bucket_cases() -> list[Case]:
    names = ["ab", "a" * 64, "UpperCase", "-leading", "trailing-", "dou..ble", "192.168.1.1",
             "xn--punycode", "sthree-bucket", "bucket-s3alias", "bucket--ol-s3", "under_score",
             "sp%20ace", ".dot", "dot."]
    return [Case(f"bucket-name-{name[:12]}", "PUT", f"/{name}", 400, ("InvalidBucketName",))
            for name in names]


def header_cases() -> list[Case]:
    meta = {f"x-amz-meta-m{i}": "v" * 100 for i in range(20)}  # > 2 KiB of metadata
    tags = "&".join(f"k{i}=v" for i in range(11))
    return [
        Case("header-9000-bytes", "GET", "/{b}/obj", 400, ("RequestHeaderSectionTooLarge",),
             headers={"x-amz-meta-pad": "p" * 9000}),
        Case("header-40k-bytes", "GET", "/{b}/obj", 400, ("RequestHeaderSectionTooLarge",),
             headers={"x-pad": "p" * 40000}),
        Case("metadata-over-2k", "PUT", "/{b}/meta", 400, ("MetadataTooLarge",),
             headers=meta, body=b"m"),
        Case("metadata-2k-ok", "PUT", "/{b}/meta", 200,
             headers={"x-amz-meta-m": "v" * 2000}, body=b"m"),
        Case("tagging-header-11-tags", "PUT", "/{b}/tagged", 400, ("InvalidTag",),
             headers={"x-amz-tagging": tags}, body=b"t"),
        Case("part-number-zero", "PUT", "/{b}/mp?partNumber=0&uploadId={u}", 400,
             ("InvalidArgument",), body=b"p"),
        Case("part-number-10001", "PUT", "/{b}/mp?partNumber=10001&uploadId={u}", 400,
             ("InvalidArgument",), body=b"p"),
        Case("part-number-text", "PUT", "/{b}/mp?partNumber=abc&uploadId={u}", 400,
             ("InvalidArgument",), body=b"p"),
        Case("max-keys-negative", "GET", "/{b}?list-type=2&max-keys=-1", 400,
             ("InvalidArgument",)),
        Case("max-keys-text", "GET", "/{b}?max-keys=many", 400, ("InvalidArgument",)),
        Case("part-number-unicode-digit", "POST", COMPLETE, 400, MALFORMED,
             body=parts_doc(("\u00b2", GOOD_PART[1]))),
        Case("if-match-size-unicode-digit", "DELETE", "/{b}/nothing", 400,
             ("InvalidArgument",), headers={"x-amz-if-match-size": "\u00b2"},),
        Case("mp-object-size-unicode-digit", "POST", COMPLETE, 400, ("InvalidArgument",),
             headers={"x-amz-mp-object-size": "\u00b2"}, body=parts_doc(GOOD_PART),),
        Case("decoded-length-unicode-digit", "PUT", "/{b}/chunked", 411,
             ("MissingContentLength",), headers={
                 "x-amz-decoded-content-length": "\u00b2", "content-encoding": "aws-chunked"},
             body=b"0\r\n\r\n", payload="STREAMING-UNSIGNED-PAYLOAD-TRAILER",),
        Case("content-md5-garbage", "PUT", "/{b}/md5", 400, ("InvalidDigest",),
             headers={"Content-MD5": "not-base64!"}, body=b"x"),
        Case("content-md5-mismatch", "PUT", "/{b}/md5", 400, ("BadDigest",),
             headers=md5_header(b"other"), body=b"x"),
    ]


def range_cases() -> list[Case]:
    full = b"0123456789"
    table = [
        ("bytes=0-0", 206, b"0"), ("bytes=9-9", 206, b"9"), ("bytes=-1", 206, b"9"),
        ("bytes=-0", 416, None), ("bytes=10-", 416, None), ("bytes=10-20", 416, None),
        ("bytes=5-2", 200, full), ("bytes=0-99999999999999999999999", 206, full),
        ("bytes=-99", 206, full), ("bytes=0-1,3-4", 200, full), ("bytes=abc", 200, full),
        ("items=0-1", 200, full), ("bytes=", 200, full), ("bytes=--1", 200, full),
    ]
    cases = [Case(f"range-{spec}", "GET", "/{b}/obj", status,
                  ("InvalidRange",) if status == 416 else (), headers={"Range": spec},
                  reply_body=body) for spec, status, body in table]
    cases.append(Case("range-on-empty-object", "GET", "/{b}/empty", 416, ("InvalidRange",),
                      headers={"Range": "bytes=0-0"}))
    return cases


CORPUS = xml_cases() + key_cases() + bucket_cases() + header_cases() + range_cases()


@pytest.mark.parametrize("mode", ["raw", "client"])
@pytest.mark.parametrize("case", [pytest.param(c, id=c.id, marks=c.marks) for c in CORPUS])
def test_corpus(target: Target, case: Case, mode: str) -> None:
    run_case(target, case, mode)


BOTO_CASES = [  # (operation, arguments, status, code): the corpus through boto3 where it can
    ("put_object", {"Key": KEY_1024 + "k", "Body": b"x"}, 400, "KeyTooLongError"),
    ("put_object", {"Key": "m", "Body": b"x", "Metadata": {"a": "v" * 2100}}, 400,
     "MetadataTooLarge"),
    ("put_object", {"Key": "t", "Body": b"x", "Tagging": "&".join(f"k{i}=v" for i in range(11))},
     400, "InvalidTag"),
    ("put_object_tagging", {"Key": "obj", "Tagging": {"TagSet": [
        {"Key": f"k{i}", "Value": "v"} for i in range(11)]}}, 400, "InvalidTag"),
    ("get_object", {"Key": "obj", "Range": "bytes=10-"}, 416, "InvalidRange"),
    ("get_object", {"Key": "obj", "Range": "bytes=-0"}, 416, "InvalidRange"),
    ("complete_multipart_upload", {"Key": "mp", "UploadId": "{u}", "MultipartUpload": {
        "Parts": [{"PartNumber": 1, "ETag": "{e}"}, {"PartNumber": 1, "ETag": "{e}"}]}},
     400, "InvalidPartOrder"),
    ("complete_multipart_upload", {"Key": "mp", "UploadId": "{u}", "MultipartUpload": {
        "Parts": [{"PartNumber": 0, "ETag": "{e}"}]}}, 400, "InvalidArgument"),
    ("complete_multipart_upload", {"Key": "mp", "UploadId": "{u}",
                                   "MultipartUpload": {"Parts": []}}, 400, "MalformedXML"),
    ("upload_part", {"Key": "mp", "UploadId": "{u}", "PartNumber": 10001, "Body": b"p"}, 400,
     "InvalidArgument"),
    ("list_objects_v2", {"MaxKeys": -1}, 400, "InvalidArgument"),
]


@pytest.mark.parametrize("op,args,status,code", BOTO_CASES,
                         ids=[f"{c[0]}-{c[3]}-{i}" for i, c in enumerate(BOTO_CASES)])
def test_corpus_boto3(target: Target, s3, op: str, args: dict, status: int,  # noqa: ANN001
                      code: str) -> None:
    def fill(value: object) -> object:
        if isinstance(value, str):
            return value.replace("{u}", target.upload).replace("{e}", target.etag)
        if isinstance(value, dict):
            return {k: fill(v) for k, v in value.items()}
        if isinstance(value, list):
            return [fill(v) for v in value]
        return value

    with pytest.raises(ClientError) as exc:
        getattr(s3, op)(Bucket=target.bucket, **fill(args))
    err = exc.value.response
    assert (err["ResponseMetadata"]["HTTPStatusCode"], err["Error"]["Code"]) == (status, code)
    assert_serving(target.server)
    assert s3.head_object(Bucket=target.bucket, Key="obj")["ContentLength"] == 10
