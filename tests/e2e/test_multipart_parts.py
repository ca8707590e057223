"""UploadPart, CompleteMultipartUpload, AbortMultipartUpload and reading parts back."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest

from .server import LiveServer
from .test_multipart_support import (
    MIN_PART,
    Raw,
    client_error,
    code_of,
    complete,
    complete_xml,
    data,
    error_code,
    lone_client,
    md5_b64,
    s3_etag,
    upload_parts,
    xml_root,
)

P1, P2, P3 = data(MIN_PART, 1), data(MIN_PART, 2), data(1234, 3)


@pytest.fixture
def raw(server: LiveServer) -> Raw:
    return Raw(server)


@pytest.fixture
def three(s3: Any, bucket: str) -> tuple[str, list[str]]:
    """An upload of key "obj" with parts 1..3 = P1, P2, P3."""
    return upload_parts(s3, bucket, "obj", [P1, P2, P3])


def _parts(s3: Any, bucket: str, key: str, upload_id: str) -> list[dict[str, Any]]:
    return s3.list_parts(Bucket=bucket, Key=key, UploadId=upload_id).get("Parts", [])


# -- UploadPart ----------------------------------------------------------------------------------


@pytest.mark.parametrize("number", ["0", "10001", "abc", "-1", "", "1.5"])
def test_part_number_out_of_range(raw: Raw, s3: Any, bucket: str, number: str) -> None:
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    resp = raw.send("PUT", f"/{bucket}/k", f"partNumber={number}&uploadId={upload_id}",
                    body=b"data")
    assert (resp.status_code, error_code(resp)) == (400, "InvalidArgument"), resp.text
    assert b"Part number must be an integer between 1 and 10000, inclusive" in resp.content
    assert _parts(s3, bucket, "k", upload_id) == []


def test_part_number_limits_accepted(s3: Any, bucket: str) -> None:
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    for n in (1, 10000):
        s3.upload_part(Bucket=bucket, Key="k", UploadId=upload_id, PartNumber=n, Body=b"x")
    assert [p["PartNumber"] for p in _parts(s3, bucket, "k", upload_id)] == [1, 10000]


def test_content_md5(s3: Any, bucket: str) -> None:
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    err = client_error(lambda: s3.upload_part(Bucket=bucket, Key="k", UploadId=upload_id,
                                              PartNumber=1, Body=b"abc",
                                              ContentMD5=md5_b64(b"abd")))
    assert code_of(err) == (400, "BadDigest")
    assert _parts(s3, bucket, "k", upload_id) == []
    ok = s3.upload_part(Bucket=bucket, Key="k", UploadId=upload_id, PartNumber=1, Body=b"abc",
                        ContentMD5=md5_b64(b"abc"))
    assert ok["ETag"] == f'"{hashlib.md5(b"abc").hexdigest()}"'


@pytest.mark.parametrize("algo", ["SHA256", "SHA1", "CRC32", "CRC32C"])
def test_part_checksum_header_verified(raw: Raw, s3: Any, bucket: str, algo: str) -> None:
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    body = b"checked part body"
    good = _digest(algo, body)
    bad = _digest(algo, body + b"!")
    header = f"x-amz-checksum-{algo.lower()}"
    query = f"partNumber=1&uploadId={upload_id}"
    resp = raw.send("PUT", f"/{bucket}/k", query, body=body, headers={header: bad})
    assert (resp.status_code, error_code(resp)) == (400, "BadDigest")
    assert _parts(s3, bucket, "k", upload_id) == []
    resp = raw.send("PUT", f"/{bucket}/k", query, body=body, headers={header: good})
    assert resp.status_code == 200, resp.text
    assert resp.headers[header] == good
    [part] = _parts(s3, bucket, "k", upload_id)
    assert part[f"Checksum{algo}"] == good


def _digest(algo: str, body: bytes) -> str:
    import zlib

    from awscrt import checksums

    raw = {"SHA256": lambda: hashlib.sha256(body).digest(),
           "SHA1": lambda: hashlib.sha1(body).digest(),
           "CRC32": lambda: zlib.crc32(body).to_bytes(4, "big"),
           "CRC32C": lambda: checksums.crc32c(body).to_bytes(4, "big")}[algo]()
    return base64.b64encode(raw).decode()


def test_reupload_replaces_the_part(s3: Any, bucket: str) -> None:
    upload_id, [old] = upload_parts(s3, bucket, "k", [b"first version"])
    new = s3.upload_part(Bucket=bucket, Key="k", UploadId=upload_id, PartNumber=1,
                         Body=b"second")["ETag"]
    [part] = _parts(s3, bucket, "k", upload_id)
    assert (part["ETag"], part["Size"]) == (new, 6)
    err = client_error(lambda: complete(s3, bucket, "k", upload_id, {1: old}))
    assert code_of(err) == (400, "InvalidPart")
    complete(s3, bucket, "k", upload_id, {1: new})
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"second"


def test_upload_part_unknown_upload(server: LiveServer, s3: Any, bucket: str) -> None:
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    for key, uid in (("k", "nope"), ("other", upload_id), ("k", upload_id + "0")):
        err = client_error(lambda key=key, uid=uid: lone_client(server).upload_part(
            Bucket=bucket, Key=key, UploadId=uid, PartNumber=1, Body=b"x"))
        assert code_of(err) == (404, "NoSuchUpload")
    assert _parts(s3, bucket, "k", upload_id) == []


def test_error_before_body_keeps_the_connection_usable(server: LiveServer, bucket: str) -> None:
    """An error answered before an ``Expect: 100-continue`` body was read must not leave the
    connection out of step (the unsent body would be parsed as the next request)."""
    lone = lone_client(server)
    err = client_error(lambda: lone.upload_part(Bucket=bucket, Key="k", UploadId="nope",
                                                PartNumber=1, Body=b"x"))
    assert code_of(err) == (404, "NoSuchUpload")
    assert lone.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]


# -- CompleteMultipartUpload ---------------------------------------------------------------------


def test_complete_etag_and_content(s3: Any, bucket: str, three: tuple[str, list[str]]) -> None:
    upload_id, etags = three
    done = complete(s3, bucket, "obj", upload_id, dict(enumerate(etags, 1)))
    assert done["ETag"] == s3_etag([P1, P2, P3])
    head = s3.head_object(Bucket=bucket, Key="obj")
    assert head["ETag"] == s3_etag([P1, P2, P3])
    assert head["ContentLength"] == len(P1) + len(P2) + len(P3)
    body = s3.get_object(Bucket=bucket, Key="obj")["Body"].read()
    assert hashlib.sha256(body).digest() == hashlib.sha256(P1 + P2 + P3).digest()
    err = client_error(lambda: _parts(s3, bucket, "obj", upload_id))
    assert code_of(err) == (404, "NoSuchUpload")


def test_repeated_complete_answers_the_same(s3: Any, bucket: str,
                                            three: tuple[str, list[str]]) -> None:
    """A client retrying a Complete whose response was lost gets the first answer again, for as
    long as the object at the key is the one that upload made."""
    upload_id, etags = three
    listed = dict(enumerate(etags, 1))
    first = complete(s3, bucket, "obj", upload_id, listed)
    again = complete(s3, bucket, "obj", upload_id, listed)
    fields = ("ETag", "Bucket", "Key", "Location")
    assert [again[f] for f in fields] == [first[f] for f in fields]
    assert again["ETag"] == s3_etag([P1, P2, P3])
    assert s3.get_object(Bucket=bucket, Key="obj")["Body"].read() == P1 + P2 + P3
    # A different list does not describe what was completed.
    err = client_error(lambda: complete(s3, bucket, "obj", upload_id, {1: etags[0]}))
    assert code_of(err) == (400, "InvalidPart")
    # Once the key holds something else, the upload is simply gone.
    s3.put_object(Bucket=bucket, Key="obj", Body=b"replaced")
    err = client_error(lambda: complete(s3, bucket, "obj", upload_id, listed))
    assert code_of(err) == (404, "NoSuchUpload")
    assert s3.get_object(Bucket=bucket, Key="obj")["Body"].read() == b"replaced"


def test_repeated_complete_keeps_checksums(s3: Any, bucket: str) -> None:
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="ck",
                                           ChecksumAlgorithm="SHA256")["UploadId"]
    parts = []
    for n, body in enumerate((P1, P3), 1):
        got = s3.upload_part(Bucket=bucket, Key="ck", UploadId=upload_id, PartNumber=n,
                             Body=body, ChecksumAlgorithm="SHA256")
        parts.append({"PartNumber": n, "ETag": got["ETag"],
                      "ChecksumSHA256": got["ChecksumSHA256"]})
    digest = hashlib.sha256(b"".join(hashlib.sha256(b).digest() for b in (P1, P3))).digest()
    whole = base64.b64encode(digest).decode() + "-2"

    def again() -> dict[str, Any]:
        return s3.complete_multipart_upload(Bucket=bucket, Key="ck", UploadId=upload_id,
                                            ChecksumSHA256=whole,
                                            MultipartUpload={"Parts": parts})

    first, second = again(), again()
    assert first["ChecksumSHA256"] == second["ChecksumSHA256"] == whole
    assert first["ETag"] == second["ETag"] == s3_etag([P1, P3])
    # The whole-object claim is still checked on a repeat.
    wrong = base64.b64encode(hashlib.sha256(b"x").digest()).decode() + "-2"
    err = client_error(lambda: s3.complete_multipart_upload(
        Bucket=bucket, Key="ck", UploadId=upload_id, ChecksumSHA256=wrong,
        MultipartUpload={"Parts": parts}))
    assert code_of(err) == (400, "BadDigest")


def test_repeated_complete_after_a_copy_onto_itself(s3: Any, bucket: str) -> None:
    upload_id, [etag] = upload_parts(s3, bucket, "k", [b"body"])
    complete(s3, bucket, "k", upload_id, {1: etag})
    s3.copy_object(Bucket=bucket, Key="k", CopySource={"Bucket": bucket, "Key": "k"},
                   MetadataDirective="REPLACE", Metadata={"new": "1"})
    err = client_error(lambda: complete(s3, bucket, "k", upload_id, {1: etag}))
    assert code_of(err) == (404, "NoSuchUpload")


def test_parts_left_out_are_discarded(s3: Any, bucket: str,
                                      three: tuple[str, list[str]]) -> None:
    upload_id, etags = three
    done = complete(s3, bucket, "obj", upload_id, {1: etags[0], 3: etags[2]})
    assert done["ETag"] == s3_etag([P1, P3])
    assert s3.get_object(Bucket=bucket, Key="obj")["Body"].read() == P1 + P3
    head = s3.head_object(Bucket=bucket, Key="obj", PartNumber=2)
    assert head["PartsCount"] == 2 and head["ContentLength"] == len(P3)


def test_complete_raw_xml_forms(raw: Raw, s3: Any, bucket: str) -> None:
    """Unquoted and entity-quoted ETags, no namespace: all the same parts list."""
    upload_id, [etag] = upload_parts(s3, bucket, "k", [b"only part"])
    bare = etag.strip('"')
    body = (f"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber>"
            f"<ETag>&quot;{bare}&quot;</ETag></Part></CompleteMultipartUpload>").encode()
    resp = raw.send("POST", f"/{bucket}/k", f"uploadId={upload_id}", body=body)
    assert resp.status_code == 200, resp.text
    root = xml_root(resp.content)
    assert root.tag == "CompleteMultipartUploadResult"
    assert root.findtext("ETag") == s3_etag([b"only part"])
    assert root.findtext("Location") == f"{raw.server.endpoint}/{bucket}/k"
    upload_id, [etag] = upload_parts(s3, bucket, "k2", [b"x"])
    resp = raw.send("POST", f"/{bucket}/k2", f"uploadId={upload_id}",
                    body=complete_xml([(1, etag.strip('"'))]))
    assert resp.status_code == 200, resp.text


@pytest.mark.parametrize("body", [
    b"", b"   ", b"<CompleteMultipartUpload>", b"not xml at all",
    b"<CompleteMultipartUpload></CompleteMultipartUpload>",
    b"<Other><Part><PartNumber>1</PartNumber><ETag>x</ETag></Part></Other>",
    b"<CompleteMultipartUpload><Part><ETag>x</ETag></Part></CompleteMultipartUpload>",
    b"<CompleteMultipartUpload><Part><PartNumber>one</PartNumber><ETag>x</ETag></Part>"
    b"</CompleteMultipartUpload>",
])
def test_complete_malformed_xml(raw: Raw, s3: Any, bucket: str, body: bytes) -> None:
    upload_id, _ = upload_parts(s3, bucket, "k", [b"x"])
    resp = raw.send("POST", f"/{bucket}/k", f"uploadId={upload_id}", body=body)
    assert (resp.status_code, error_code(resp)) == (400, "MalformedXML"), resp.text
    assert len(_parts(s3, bucket, "k", upload_id)) == 1


def test_complete_empty_parts_list_via_boto3(s3: Any, bucket: str) -> None:
    upload_id, _ = upload_parts(s3, bucket, "k", [b"x"])
    err = client_error(lambda: complete(s3, bucket, "k", upload_id, {}))
    assert code_of(err) == (400, "MalformedXML")


def test_complete_unknown_upload_comes_first(raw: Raw, s3: Any, bucket: str) -> None:
    err = client_error(lambda: complete(s3, bucket, "k", "nope", {1: '"abc"'}))
    assert code_of(err) == (404, "NoSuchUpload")
    resp = raw.send("POST", f"/{bucket}/k", "uploadId=nope", body=b"<broken")
    assert (resp.status_code, error_code(resp)) == (404, "NoSuchUpload")


def test_complete_part_order(raw: Raw, s3: Any, bucket: str,
                             three: tuple[str, list[str]]) -> None:
    upload_id, etags = three
    for order in ([(2, etags[1]), (1, etags[0])], [(1, etags[0]), (1, etags[0])]):
        resp = raw.send("POST", f"/{bucket}/obj", f"uploadId={upload_id}",
                        body=complete_xml(order))
        assert (resp.status_code, error_code(resp)) == (400, "InvalidPartOrder")
    assert len(_parts(s3, bucket, "obj", upload_id)) == 3


def test_complete_invalid_part(s3: Any, bucket: str, three: tuple[str, list[str]]) -> None:
    upload_id, etags = three
    for listed in ({1: etags[0], 4: etags[2]}, {1: etags[0], 2: etags[2], 3: etags[2]},
                   {1: '"00000000000000000000000000000000"'}):
        err = client_error(lambda listed=listed: complete(s3, bucket, "obj", upload_id, listed))
        assert code_of(err) == (400, "InvalidPart")
    assert len(_parts(s3, bucket, "obj", upload_id)) == 3


def test_complete_entity_too_small(s3: Any, bucket: str) -> None:
    small = data(MIN_PART - 1, 9)
    upload_id, etags = upload_parts(s3, bucket, "k", [small, b"last"])
    err = client_error(lambda: complete(s3, bucket, "k", upload_id, dict(enumerate(etags, 1))))
    assert code_of(err) == (400, "EntityTooSmall")
    assert len(_parts(s3, bucket, "k", upload_id)) == 2
    # the same parts are fine when the small one is last, or alone
    complete(s3, bucket, "k", upload_id, {1: etags[0]})
    assert s3.head_object(Bucket=bucket, Key="k")["ContentLength"] == MIN_PART - 1


def test_last_part_may_be_tiny_and_the_first_exactly_min(s3: Any, bucket: str) -> None:
    upload_id, etags = upload_parts(s3, bucket, "k", [P1, b"z"])
    done = complete(s3, bucket, "k", upload_id, dict(enumerate(etags, 1)))
    assert done["ETag"] == s3_etag([P1, b"z"])


# -- reading parts back --------------------------------------------------------------------------


def test_get_and_head_by_part_number(s3: Any, bucket: str,
                                     three: tuple[str, list[str]]) -> None:
    upload_id, etags = three
    complete(s3, bucket, "obj", upload_id, dict(enumerate(etags, 1)))
    offset = 0
    for n, body in enumerate([P1, P2, P3], start=1):
        got = s3.get_object(Bucket=bucket, Key="obj", PartNumber=n)
        assert got["PartsCount"] == 3
        assert got["ContentLength"] == len(body)
        assert got["ContentRange"] == f"bytes {offset}-{offset + len(body) - 1}/{len(P1) * 2 + len(P3)}"
        assert got["Body"].read() == body
        head = s3.head_object(Bucket=bucket, Key="obj", PartNumber=n)
        assert head["ResponseMetadata"]["HTTPStatusCode"] == 206
        assert head["PartsCount"] == 3 and head["ContentLength"] == len(body)
        offset += len(body)
    err = client_error(lambda: s3.get_object(Bucket=bucket, Key="obj", PartNumber=4))
    assert code_of(err) == (416, "InvalidPartNumber")


def test_ranges_across_part_boundaries(s3: Any, bucket: str,
                                       three: tuple[str, list[str]]) -> None:
    upload_id, etags = three
    complete(s3, bucket, "obj", upload_id, dict(enumerate(etags, 1)))
    whole = P1 + P2 + P3
    for first, last in ((MIN_PART - 10, MIN_PART + 9), (MIN_PART - 1, 2 * MIN_PART),
                        (10, len(whole) - 1), (2 * MIN_PART - 5, 2 * MIN_PART + 5)):
        got = s3.get_object(Bucket=bucket, Key="obj", Range=f"bytes={first}-{last}")
        assert got["ContentRange"] == f"bytes {first}-{last}/{len(whole)}"
        assert got["Body"].read() == whole[first:last + 1]
    got = s3.get_object(Bucket=bucket, Key="obj", Range="bytes=-100")
    assert got["Body"].read() == whole[-100:]


# -- AbortMultipartUpload ------------------------------------------------------------------------


def test_abort(server: LiveServer, s3: Any, bucket: str) -> None:
    upload_id, etags = upload_parts(s3, bucket, "k", [b"a", b"b"])
    resp = s3.abort_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id)
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 204
    calls = [
        lambda: s3.abort_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id),
        lambda: _parts(s3, bucket, "k", upload_id),
        lambda: lone_client(server).upload_part(Bucket=bucket, Key="k", UploadId=upload_id,
                                                PartNumber=3, Body=b"c"),
        lambda: complete(s3, bucket, "k", upload_id, {1: etags[0]}),
    ]
    for call in calls:
        assert code_of(client_error(call)) == (404, "NoSuchUpload")
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    assert code_of(client_error(lambda: s3.head_object(Bucket=bucket, Key="k")))[0] == 404


def test_two_uploads_of_one_key_last_completed_wins(s3: Any, bucket: str) -> None:
    first, [e1] = upload_parts(s3, bucket, "k", [b"from the first upload"])
    second, [e2] = upload_parts(s3, bucket, "k", [b"from the second upload"])
    complete(s3, bucket, "k", second, {1: e2})
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"from the second upload"
    complete(s3, bucket, "k", first, {1: e1})
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"from the first upload"
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_complete_replaces_a_plain_object(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"old", ContentType="text/old",
                  Metadata={"old": "1"})
    upload_id, [etag] = upload_parts(s3, bucket, "k", [b"new"], ContentType="text/new")
    complete(s3, bucket, "k", upload_id, {1: etag})
    got = s3.get_object(Bucket=bucket, Key="k")
    assert (got["Body"].read(), got["ContentType"], got["Metadata"]) == (b"new", "text/new", {})


def test_empty_last_part_reads_back_empty(s3: Any, bucket: str) -> None:
    upload_id, etags = upload_parts(s3, bucket, "k", [P1, b""])
    done = complete(s3, bucket, "k", upload_id, dict(enumerate(etags, 1)))
    assert done["ETag"] == s3_etag([P1, b""])
    assert s3.head_object(Bucket=bucket, Key="k")["ContentLength"] == len(P1)
    got = s3.get_object(Bucket=bucket, Key="k", PartNumber=2)
    assert got["PartsCount"] == 2
    assert got["Body"].read() == b""


def test_conditional_complete(s3: Any, bucket: str) -> None:
    """If-None-Match: * and If-Match: <etag> on Complete (S3 conditional writes)."""
    upload_id, [etag] = upload_parts(s3, bucket, "k", [b"v1"])
    err = client_error(lambda: complete(s3, bucket, "k", upload_id, {1: etag}, IfMatch='"x"'))
    assert code_of(err) == (404, "NoSuchKey")
    complete(s3, bucket, "k", upload_id, {1: etag}, IfNoneMatch="*")
    current = s3.head_object(Bucket=bucket, Key="k")["ETag"]
    upload_id, [etag] = upload_parts(s3, bucket, "k", [b"v2"])
    for cond in ({"IfNoneMatch": "*"}, {"IfMatch": '"0123456789abcdef0123456789abcdef-1"'}):
        err = client_error(lambda cond=cond: complete(s3, bucket, "k", upload_id, {1: etag},
                                                      **cond))
        assert code_of(err) == (412, "PreconditionFailed")
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v1"
    complete(s3, bucket, "k", upload_id, {1: etag}, IfMatch=current)
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v2"
