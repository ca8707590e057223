"""COS multipart with cos-python-sdk-v5: by hand, upload_file/download_file, abort, listings."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import crcmod
import pytest
from qcloud_cos import CosS3Client
from qcloud_cos.cos_exception import CosServiceError

from .conftest import empty_and_delete, new_bucket_name
from .wire import REGION, Wire, ci

MiB = 1024 * 1024
crc64 = crcmod.mkCrcFun(0x142F0E1EBA9EA3693, initCrc=0, xorOut=0xFFFFFFFFFFFFFFFF, rev=True)


def service_error(call, *args: object, **kwargs: object) -> CosServiceError:  # noqa: ANN001
    with pytest.raises(CosServiceError) as info:
        call(*args, **kwargs)
    return info.value


def upload_parts(cos: CosS3Client, bucket: str, key: str, upload_id: str,
                 chunks: list[bytes]) -> list[dict[str, object]]:
    parts = []
    for n, chunk in enumerate(chunks, 1):
        res = ci(cos.upload_part(Bucket=bucket, Key=key, Body=chunk, PartNumber=n,
                                 UploadId=upload_id))
        assert res["etag"] == f'"{hashlib.md5(chunk).hexdigest()}"'
        assert res["x-cos-hash-crc64ecma"] == str(crc64(chunk))
        parts.append({"PartNumber": n, "ETag": res["etag"]})
    return parts


def test_multipart_by_hand(cos: CosS3Client, cos_bucket: str, wire: Wire) -> None:
    key = "video/exampleobject.mp4"
    init = cos.create_multipart_upload(
        Bucket=cos_bucket, Key=key, ContentType="video/mp4", CacheControl="max-age=86400",
        ContentDisposition="attachment; filename=example.jpg", ContentEncoding="x-shoal",
        Expires="Wed, 21 Oct 2037 07:28:00 GMT", Metadata={"x-cos-meta-example-field": "v"},
        StorageClass="STANDARD_IA", Tagging="Key1=Value1&Key2=Value%202", ACL="public-read",
        ServerSideEncryption="AES256")
    assert (init["Bucket"], init["Key"]) == (cos_bucket, key)
    upload_id = init["UploadId"]
    chunks = [os.urandom(MiB), os.urandom(MiB), os.urandom(12345)]
    parts = upload_parts(cos, cos_bucket, key, upload_id, chunks)
    listed = cos.list_parts(Bucket=cos_bucket, Key=key, UploadId=upload_id)
    assert listed["Key"] == key and listed["IsTruncated"] == "false"
    assert [(int(p["PartNumber"]), int(p["Size"]), p["ETag"]) for p in listed["Part"]] == \
        [(p["PartNumber"], len(c), p["ETag"]) for p, c in zip(parts, chunks, strict=True)]
    done = cos.complete_multipart_upload(Bucket=cos_bucket, Key=key, UploadId=upload_id,
                                         MultipartUpload={"Part": parts})
    digests = b"".join(hashlib.md5(c).digest() for c in chunks)
    assert done["ETag"] == f'"{hashlib.md5(digests).hexdigest()}-3"'
    assert done["Location"].endswith(f"/{key}") and done["Bucket"] == cos_bucket
    data = b"".join(chunks)
    assert ci(done)["x-cos-hash-crc64ecma"] == str(crc64(data))
    got = cos.get_object(Bucket=cos_bucket, Key=key)
    assert got["Body"].get_raw_stream().read() == data
    h = ci(got)
    assert (h["content-type"], h["cache-control"], h["content-disposition"]) == \
        ("video/mp4", "max-age=86400", "attachment; filename=example.jpg")
    assert (h["content-encoding"], h["expires"]) == ("x-shoal", "Wed, 21 Oct 2037 07:28:00 GMT")
    assert (h["x-cos-meta-example-field"], h["x-cos-storage-class"]) == ("v", "STANDARD_IA")
    assert (h["x-cos-tagging-count"], h["x-cos-server-side-encryption"]) == ("2", "AES256")
    tags = cos.get_object_tagging(Bucket=cos_bucket, Key=key)["TagSet"]["Tag"]
    assert [(t["Key"], t["Value"]) for t in tags] == [("Key1", "Value1"), ("Key2", "Value 2")]
    anon = wire.request("GET", cos_bucket, key, sign=False)
    assert anon.status_code == 200 and anon.content == data  # x-cos-acl: public-read
    again = cos.complete_multipart_upload(Bucket=cos_bucket, Key=key, UploadId=upload_id,
                                          MultipartUpload={"Part": parts})  # a retry
    assert (again["ETag"], ci(again)["x-cos-hash-crc64ecma"]) == (done["ETag"], str(crc64(data)))


def test_part_size_and_numbering_rules(cos: CosS3Client, cos_bucket: str) -> None:
    upload_id = cos.create_multipart_upload(Bucket=cos_bucket, Key="k")["UploadId"]
    parts = upload_parts(cos, cos_bucket, "k", upload_id, [b"a" * (MiB - 1), b"b", b"c"])
    err = service_error(cos.complete_multipart_upload, Bucket=cos_bucket, Key="k",
                        UploadId=upload_id, MultipartUpload={"Part": parts})
    assert (err.get_status_code(), err.get_error_code()) == (400, "EntityTooSmall")
    skipping = [parts[0], parts[2]]
    err = service_error(cos.complete_multipart_upload, Bucket=cos_bucket, Key="k",
                        UploadId=upload_id, MultipartUpload={"Part": skipping})
    assert (err.get_status_code(), err.get_error_code()) == (400, "InvalidPart")
    err = service_error(cos.complete_multipart_upload, Bucket=cos_bucket, Key="k",
                        UploadId=upload_id, MultipartUpload={"Part": [parts[0], parts[0]]})
    assert (err.get_status_code(), err.get_error_code()) == (400, "InvalidPartOrder")
    last = upload_parts(cos, cos_bucket, "k", upload_id, [b"a" * MiB])  # exactly 1 MiB is fine
    cos.complete_multipart_upload(Bucket=cos_bucket, Key="k", UploadId=upload_id,
                                  MultipartUpload={"Part": last + parts[1:2]})
    assert ci(cos.head_object(Bucket=cos_bucket, Key="k"))["content-length"] == str(MiB + 1)


def test_descending_parts_are_invalid_part_order(cos: CosS3Client, cos_bucket: str) -> None:
    upload_id = cos.create_multipart_upload(Bucket=cos_bucket, Key="k")["UploadId"]
    parts = upload_parts(cos, cos_bucket, "k", upload_id, [b"a" * MiB, b"b"])
    err = service_error(cos.complete_multipart_upload, Bucket=cos_bucket, Key="k",
                        UploadId=upload_id, MultipartUpload={"Part": parts[::-1]})
    assert (err.get_status_code(), err.get_error_code()) == (400, "InvalidPartOrder")


def test_abort_and_list_uploads(cos: CosS3Client, cos_bucket: str) -> None:
    ids = {}
    for key in ("logs/a", "logs/b", "top", "logs/sub/c"):
        ids[key] = cos.create_multipart_upload(Bucket=cos_bucket, Key=key)["UploadId"]
    res = cos.list_multipart_uploads(Bucket=cos_bucket, Prefix="logs/", Delimiter="/")
    assert [(u["Key"], u["UploadId"]) for u in res["Upload"]] == \
        [("logs/a", ids["logs/a"]), ("logs/b", ids["logs/b"])]
    assert [p["Prefix"] for p in res["CommonPrefixes"]] == ["logs/sub/"]
    page = cos.list_multipart_uploads(Bucket=cos_bucket, MaxUploads=2)
    assert page["IsTruncated"] == "true" and page["NextKeyMarker"] == "logs/b"
    upload_parts(cos, cos_bucket, "top", ids["top"], [b"x" * 100])
    cos.abort_multipart_upload(Bucket=cos_bucket, Key="top", UploadId=ids["top"])
    err = service_error(cos.list_parts, Bucket=cos_bucket, Key="top", UploadId=ids["top"])
    assert (err.get_status_code(), err.get_error_code()) == (404, "NoSuchUpload")
    keys = [u["Key"] for u in cos.list_multipart_uploads(Bucket=cos_bucket)["Upload"]]
    assert keys == ["logs/a", "logs/b", "logs/sub/c"]
    err = service_error(cos.delete_bucket, Bucket=cos_bucket)  # uploads left: not empty
    assert (err.get_status_code(), err.get_error_code()) == (409, "BucketNotEmpty")


def test_upload_part_copy(cos: CosS3Client, cos_bucket: str) -> None:
    src = os.urandom(2 * MiB + 10)
    cos.put_object(Bucket=cos_bucket, Key="src file", Body=src)
    upload_id = cos.create_multipart_upload(Bucket=cos_bucket, Key="dst")["UploadId"]
    source = {"Bucket": cos_bucket, "Key": "src file", "Region": REGION}
    parts = []
    for n, rng in enumerate(((0, MiB - 1), (MiB, 2 * MiB + 9)), 1):
        res = cos.upload_part_copy(Bucket=cos_bucket, Key="dst", PartNumber=n,
                                   UploadId=upload_id, CopySource=source,
                                   CopySourceRange=f"bytes={rng[0]}-{rng[1]}")
        assert res["ETag"] == f'"{hashlib.md5(src[rng[0]:rng[1] + 1]).hexdigest()}"'
        parts.append({"PartNumber": n, "ETag": res["ETag"]})
    cos.complete_multipart_upload(Bucket=cos_bucket, Key="dst", UploadId=upload_id,
                                  MultipartUpload={"Part": parts})
    assert cos.get_object(Bucket=cos_bucket, Key="dst")["Body"].get_raw_stream().read() == src


@pytest.fixture(scope="module")
def big_file(cos: CosS3Client, boto, tmp_path_factory: pytest.TempPathFactory,  # noqa: ANN001
             ) -> Iterator[tuple[str, Path, bytes]]:
    """A 50 MiB file uploaded with upload_file (1 MB parts, 5 threads)."""
    bucket = new_bucket_name()
    cos.create_bucket(Bucket=bucket)
    path = tmp_path_factory.mktemp("cosbig") / "big.bin"
    data = os.urandom(50 * MiB)
    path.write_bytes(data)
    cos.upload_file(Bucket=bucket, Key="big/file.bin", LocalFilePath=str(path), MAXThread=5,
                    Metadata={"x-cos-meta-src": "upload_file"})
    yield bucket, path, hashlib.sha256(data).digest()
    empty_and_delete(boto, bucket)


def test_upload_file_50mib(cos: CosS3Client, big_file: tuple[str, Path, bytes]) -> None:
    bucket, _, digest = big_file
    got = cos.get_object(Bucket=bucket, Key="big/file.bin")
    stream, sha = got["Body"].get_raw_stream(), hashlib.sha256()
    while chunk := stream.read(MiB):
        sha.update(chunk)
    assert sha.digest() == digest
    h = ci(got)
    assert h["etag"].endswith('-50"') and h["x-cos-meta-src"] == "upload_file"
    assert h["content-length"] == str(50 * MiB)
    assert "Upload" not in cos.list_multipart_uploads(Bucket=bucket)


def test_download_file_50mib(cos: CosS3Client, big_file: tuple[str, Path, bytes],
                             tmp_path: Path) -> None:
    bucket, _, digest = big_file
    dest = tmp_path / "down.bin"
    cos.download_file(Bucket=bucket, Key="big/file.bin", DestFilePath=str(dest), PartSize=8,
                      MAXThread=4, EnableCRC=True)
    assert hashlib.sha256(dest.read_bytes()).digest() == digest
