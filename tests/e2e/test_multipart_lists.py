"""ListParts and ListMultipartUploads: paging, markers, delimiters, encoding, owners."""

from __future__ import annotations

from typing import Any

import pytest

from .server import LiveServer
from .test_multipart_support import Raw, client_error, code_of, upload_parts, xml_root

KEYS = ["a/1", "a/2", "b/x/1", "c", "c", "d e", "e+f"]


@pytest.fixture
def raw(server: LiveServer) -> Raw:
    return Raw(server)


@pytest.fixture
def uploads(s3: Any, bucket: str) -> list[tuple[str, str]]:
    """(key, upload id) of uploads of KEYS, in initiation order."""
    return [(k, s3.create_multipart_upload(Bucket=bucket, Key=k)["UploadId"]) for k in KEYS]


def _pairs(page: dict[str, Any]) -> list[tuple[str, str]]:
    return [(u["Key"], u["UploadId"]) for u in page.get("Uploads", [])]


# -- ListParts -----------------------------------------------------------------------------------


def test_list_parts_paging(s3: Any, bucket: str) -> None:
    bodies = [b"p%d" % i * i for i in range(1, 8)]
    upload_id, etags = upload_parts(s3, bucket, "k", bodies)
    seen: list[int] = []
    marker = 0
    pages = 0
    while True:
        page = s3.list_parts(Bucket=bucket, Key="k", UploadId=upload_id, MaxParts=3,
                             PartNumberMarker=marker)
        pages += 1
        numbers = [p["PartNumber"] for p in page["Parts"]]
        assert page["MaxParts"] == 3 and page["PartNumberMarker"] == marker
        seen += numbers
        if not page["IsTruncated"]:
            break
        assert len(numbers) == 3 and page["NextPartNumberMarker"] == numbers[-1]
        marker = page["NextPartNumberMarker"]
    assert pages == 3 and seen == list(range(1, 8))
    full = s3.list_parts(Bucket=bucket, Key="k", UploadId=upload_id)
    assert full["IsTruncated"] is False and full["MaxParts"] == 1000
    assert [(p["ETag"], p["Size"]) for p in full["Parts"]] == \
        [(e, len(b)) for e, b in zip(etags, bodies, strict=True)]
    paginator = s3.get_paginator("list_parts")
    paged = [p["PartNumber"] for page in paginator.paginate(
        Bucket=bucket, Key="k", UploadId=upload_id, PaginationConfig={"PageSize": 2})
        for p in page["Parts"]]
    assert paged == list(range(1, 8))


def test_list_parts_document(raw: Raw, s3: Any, bucket: str) -> None:
    upload_id, _ = upload_parts(s3, bucket, "dir/a b", [b"one", b"two"],
                                StorageClass="GLACIER_IR")
    resp = raw.send("GET", f"/{bucket}/dir/a%20b", f"uploadId={upload_id}&max-parts=1")
    assert resp.status_code == 200, resp.text
    root = xml_root(resp.content)
    assert root.tag == "ListPartsResult"
    assert [root.findtext(n) for n in ("Bucket", "Key", "UploadId", "StorageClass",
                                      "PartNumberMarker", "NextPartNumberMarker", "MaxParts",
                                      "IsTruncated")] == \
        [bucket, "dir/a b", upload_id, "GLACIER_IR", "0", "1", "1", "true"]
    for who in ("Owner", "Initiator"):
        assert root.findtext(f"{who}/ID") and root.findtext(f"{who}/DisplayName")
    [part] = root.findall("Part")
    assert part.findtext("PartNumber") == "1" and part.findtext("Size") == "3"
    assert part.findtext("LastModified", "").endswith("Z")
    resp = raw.send("GET", f"/{bucket}/dir/a%20b", f"uploadId={upload_id}&encoding-type=url")
    root = xml_root(resp.content)
    assert root.findtext("Key") == "dir/a%20b" and root.findtext("EncodingType") == "url"
    page = s3.list_parts(Bucket=bucket, Key="dir/a b", UploadId=upload_id)
    assert page["Owner"]["ID"] == page["Initiator"]["ID"]
    assert page["StorageClass"] == "GLACIER_IR"


def test_list_parts_bad_arguments(s3: Any, bucket: str, raw: Raw) -> None:
    upload_id, _ = upload_parts(s3, bucket, "k", [b"x"])
    for query in ("max-parts=abc", "max-parts=-1", "part-number-marker=x"):
        resp = raw.send("GET", f"/{bucket}/k", f"uploadId={upload_id}&{query}")
        assert resp.status_code == 400, query
    resp = raw.send("GET", f"/{bucket}/k", f"uploadId={upload_id}&max-parts=5000")
    assert xml_root(resp.content).findtext("MaxParts") == "1000"
    err = client_error(lambda: s3.list_parts(Bucket=bucket, Key="k", UploadId="nope"))
    assert code_of(err) == (404, "NoSuchUpload")


# -- ListMultipartUploads ------------------------------------------------------------------------


def test_list_uploads_order_and_fields(s3: Any, bucket: str,
                                       uploads: list[tuple[str, str]]) -> None:
    page = s3.list_multipart_uploads(Bucket=bucket)
    assert _pairs(page) == uploads
    assert page["IsTruncated"] is False and page["MaxUploads"] == 1000
    for up in page["Uploads"]:
        assert up["StorageClass"] == "STANDARD"
        assert up["Owner"]["ID"] == up["Initiator"]["ID"]
        assert up["Initiated"].year >= 2024


def test_list_uploads_prefix_and_delimiter(s3: Any, bucket: str,
                                           uploads: list[tuple[str, str]]) -> None:
    page = s3.list_multipart_uploads(Bucket=bucket, Prefix="a/")
    assert _pairs(page) == uploads[:2] and page["Prefix"] == "a/"
    page = s3.list_multipart_uploads(Bucket=bucket, Delimiter="/")
    assert _pairs(page) == uploads[3:]
    assert [p["Prefix"] for p in page["CommonPrefixes"]] == ["a/", "b/"]
    page = s3.list_multipart_uploads(Bucket=bucket, Prefix="b/", Delimiter="/")
    assert _pairs(page) == [] and [p["Prefix"] for p in page["CommonPrefixes"]] == ["b/x/"]
    page = s3.list_multipart_uploads(Bucket=bucket, Prefix="zzz")
    assert _pairs(page) == [] and page.get("CommonPrefixes", []) == []


def test_list_uploads_paging(s3: Any, bucket: str, uploads: list[tuple[str, str]]) -> None:
    seen: list[tuple[str, str]] = []
    key_marker = id_marker = ""
    for _ in range(10):
        page = s3.list_multipart_uploads(Bucket=bucket, MaxUploads=2, KeyMarker=key_marker,
                                         UploadIdMarker=id_marker)
        assert page["MaxUploads"] == 2 and len(page.get("Uploads", [])) <= 2
        seen += _pairs(page)
        if not page["IsTruncated"]:
            break
        key_marker, id_marker = page["NextKeyMarker"], page["NextUploadIdMarker"]
        assert (key_marker, id_marker) == seen[-1]
    assert seen == uploads
    paginator = s3.get_paginator("list_multipart_uploads")
    paged = [(u["Key"], u["UploadId"]) for page in paginator.paginate(
        Bucket=bucket, PaginationConfig={"PageSize": 3}) for u in page.get("Uploads", [])]
    assert paged == uploads


def test_list_uploads_paging_with_delimiter(s3: Any, bucket: str,
                                            uploads: list[tuple[str, str]]) -> None:
    entries: list[str] = []
    kwargs: dict[str, str] = {}
    for _ in range(10):
        page = s3.list_multipart_uploads(Bucket=bucket, MaxUploads=1, Delimiter="/", **kwargs)
        got = [u["Key"] for u in page.get("Uploads", [])] + \
            [p["Prefix"] for p in page.get("CommonPrefixes", [])]
        assert len(got) <= 1
        entries += got
        if not page["IsTruncated"]:
            break
        kwargs = {"KeyMarker": page["NextKeyMarker"],
                  "UploadIdMarker": page.get("NextUploadIdMarker", "")}
    assert entries == ["a/", "b/", "c", "c", "d e", "e+f"]


def test_list_uploads_markers(s3: Any, bucket: str, uploads: list[tuple[str, str]]) -> None:
    page = s3.list_multipart_uploads(Bucket=bucket, KeyMarker="c")
    assert _pairs(page) == uploads[5:] and page["KeyMarker"] == "c"
    first_c = uploads[3][1]
    page = s3.list_multipart_uploads(Bucket=bucket, KeyMarker="c", UploadIdMarker=first_c)
    assert _pairs(page) == uploads[4:] and page["UploadIdMarker"] == first_c
    page = s3.list_multipart_uploads(Bucket=bucket, KeyMarker="b")
    assert _pairs(page) == uploads[2:]
    # an upload-id-marker without a key-marker is ignored
    page = s3.list_multipart_uploads(Bucket=bucket, UploadIdMarker=first_c)
    assert _pairs(page) == uploads


def test_many_uploads_of_one_key_page_in_initiation_order(s3: Any, bucket: str) -> None:
    ids = [s3.create_multipart_upload(Bucket=bucket, Key="same")["UploadId"] for _ in range(12)]
    seen: list[str] = []
    kwargs: dict[str, str] = {}
    for _ in range(20):
        page = s3.list_multipart_uploads(Bucket=bucket, MaxUploads=1, **kwargs)
        seen += [u["UploadId"] for u in page.get("Uploads", [])]
        if not page["IsTruncated"]:
            break
        kwargs = {"KeyMarker": page["NextKeyMarker"],
                  "UploadIdMarker": page["NextUploadIdMarker"]}
    assert seen == ids


def test_list_uploads_encoding_type(raw: Raw, bucket: str,
                                    uploads: list[tuple[str, str]]) -> None:
    resp = raw.send("GET", f"/{bucket}", "uploads&encoding-type=url&prefix=d%20&delimiter=%20")
    assert resp.status_code == 200, resp.text
    root = xml_root(resp.content)
    assert root.findtext("EncodingType") == "url"
    assert root.findtext("Prefix") == "d%20" and root.findtext("Delimiter") == "%20"
    assert [u.findtext("Key") for u in root.findall("Upload")] == ["d%20e"]
    assert [p.findtext("Prefix") for p in root.findall("CommonPrefixes")] == []
    resp = raw.send("GET", f"/{bucket}", "uploads&encoding-type=url&key-marker=d%20e")
    root = xml_root(resp.content)
    assert [u.findtext("Key") for u in root.findall("Upload")] == ["e%2Bf"]
    assert root.findtext("KeyMarker") == "d%20e"
    resp = raw.send("GET", f"/{bucket}", "uploads&encoding-type=url&delimiter=%20")
    root = xml_root(resp.content)
    assert [p.findtext("Prefix") for p in root.findall("CommonPrefixes")] == ["d%20"]


def test_list_uploads_document(raw: Raw, bucket: str, uploads: list[tuple[str, str]]) -> None:
    resp = raw.send("GET", f"/{bucket}/", "uploads&max-uploads=1")
    assert resp.status_code == 200, resp.text
    root = xml_root(resp.content)
    assert root.tag == "ListMultipartUploadsResult"
    assert [root.findtext(n) for n in ("Bucket", "KeyMarker", "UploadIdMarker", "NextKeyMarker",
                                      "NextUploadIdMarker", "MaxUploads", "IsTruncated")] == \
        [bucket, "", "", "a/1", uploads[0][1], "1", "true"]
    [up] = root.findall("Upload")
    assert up.findtext("Initiated", "").endswith("Z")
    assert up.findtext("Owner/ID") and up.findtext("Initiator/ID")


def test_list_uploads_missing_bucket(s3: Any) -> None:
    err = client_error(lambda: s3.list_multipart_uploads(Bucket="no-such-bucket-mp"))
    assert code_of(err) == (404, "NoSuchBucket")
