"""Small objects keep their bytes in the metadata store (no blob file): every way of reading,
copying, replacing and deleting them behaves as for any other object."""

from __future__ import annotations

import hashlib
import os
import sqlite3

import pytest
from botocore.exceptions import ClientError

from shoal.core.model import INLINE_MAX

from .server import LiveServer


def blob_files(server: LiveServer) -> int:
    return sum(len(files) for _, _, files in os.walk(os.path.join(server.data_dir, "blobs")))


def inline_rows(server: LiveServer) -> int:
    db = sqlite3.connect(f"file:{os.path.join(server.data_dir, 'meta.db')}?mode=ro", uri=True)
    try:
        return int(db.execute("SELECT count(*) FROM inline_blobs").fetchone()[0])
    finally:
        db.close()


def body(s3, bucket: str, key: str, **kw: object) -> bytes:  # noqa: ANN001
    return s3.get_object(Bucket=bucket, Key=key, **kw)["Body"].read()


def test_up_to_inline_max_no_blob_file_is_written(server: LiveServer, s3, bucket: str) -> None:  # noqa: ANN001
    files, rows = blob_files(server), inline_rows(server)
    small, large = os.urandom(INLINE_MAX), os.urandom(INLINE_MAX + 1)
    s3.put_object(Bucket=bucket, Key="small", Body=small)
    s3.put_object(Bucket=bucket, Key="empty", Body=b"")
    assert (blob_files(server), inline_rows(server)) == (files, rows + 2)
    s3.put_object(Bucket=bucket, Key="large", Body=large)
    assert (blob_files(server), inline_rows(server)) == (files + 1, rows + 2)
    assert body(s3, bucket, "small") == small and body(s3, bucket, "empty") == b""
    head = s3.head_object(Bucket=bucket, Key="small")
    assert head["ContentLength"] == INLINE_MAX
    assert head["ETag"] == f'"{hashlib.md5(small).hexdigest()}"'
    # Replacing and deleting take the inline bytes with the row.
    s3.put_object(Bucket=bucket, Key="small", Body=b"short")
    s3.put_object(Bucket=bucket, Key="large", Body=b"now small")
    assert (blob_files(server), inline_rows(server)) == (files, rows + 3)
    for key in ("small", "large", "empty"):
        s3.delete_object(Bucket=bucket, Key=key)
    assert (blob_files(server), inline_rows(server)) == (files, rows)


def test_reads_of_an_inline_object(s3, bucket: str) -> None:  # noqa: ANN001
    data = os.urandom(5000)
    etag = s3.put_object(Bucket=bucket, Key="k", Body=data, ContentType="text/x-small")["ETag"]
    assert body(s3, bucket, "k", Range="bytes=100-199") == data[100:200]
    assert body(s3, bucket, "k", Range="bytes=-10") == data[-10:]
    assert body(s3, bucket, "k", PartNumber=1) == data
    assert body(s3, bucket, "k", IfMatch=etag) == data
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="k", IfNoneMatch=etag)
    assert exc.value.response["Error"]["Code"] == "304"
    got = s3.get_object(Bucket=bucket, Key="k", ResponseContentType="a/b")
    assert got["ContentType"] == "a/b" and got["Body"].read() == data


def test_copies_from_and_to_inline_objects(s3, bucket: str) -> None:  # noqa: ANN001
    data = os.urandom(3000)
    s3.put_object(Bucket=bucket, Key="src", Body=data, Metadata={"a": "1"})
    s3.copy_object(Bucket=bucket, Key="plain", CopySource=f"{bucket}/src")
    s3.copy_object(Bucket=bucket, Key="sealed", CopySource=f"{bucket}/src",
                   ServerSideEncryption="AES256")
    s3.copy_object(Bucket=bucket, Key="unsealed", CopySource=f"{bucket}/sealed")
    s3.copy_object(Bucket=bucket, Key="src", CopySource=f"{bucket}/src",
                   MetadataDirective="REPLACE", Metadata={"a": "2"})
    for key in ("plain", "sealed", "unsealed", "src"):
        assert body(s3, bucket, key) == data, key
    assert s3.head_object(Bucket=bucket, Key="sealed")["ServerSideEncryption"] == "AES256"
    assert s3.head_object(Bucket=bucket, Key="src")["Metadata"] == {"a": "2"}
    # A part copied from an inline object becomes a part like any other.
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    first = s3.upload_part_copy(Bucket=bucket, Key="mp", UploadId=up, PartNumber=1,
                                CopySource=f"{bucket}/src", CopySourceRange="bytes=0-999")
    s3.complete_multipart_upload(
        Bucket=bucket, Key="mp", UploadId=up,
        MultipartUpload={"Parts": [{"PartNumber": 1,
                                    "ETag": first["CopyPartResult"]["ETag"]}]})
    assert body(s3, bucket, "mp") == data[:1000]


def code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def test_metadata_requests_on_an_inline_object(server: LiveServer, s3, bucket: str) -> None:  # noqa: ANN001
    """HEAD, precondition checks, tagging and ACL read the record without its bytes (and a
    copy onto itself that changes the encryption reads them when it needs them): the bytes
    stay with the object, and a GET still gets them with the record."""
    data = os.urandom(2000)
    etag = s3.put_object(Bucket=bucket, Key="k", Body=data)["ETag"]
    rows = inline_rows(server)
    head = s3.head_object(Bucket=bucket, Key="k")
    assert (head["ContentLength"], head["ETag"]) == (2000, etag)
    assert body(s3, bucket, "k") == data
    assert s3.head_object(Bucket=bucket, Key="k", IfMatch=etag)["ETag"] == etag
    assert s3.head_object(Bucket=bucket, Key="k", Range="bytes=0-9")["ContentLength"] == 10
    assert s3.head_object(Bucket=bucket, Key="k", PartNumber=1)["ContentLength"] == 2000
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=bucket, Key="k", IfNoneMatch=etag)
    assert code(exc) == "304"
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=bucket, Key="k", IfMatch='"0123"')
    assert code(exc) == "412"
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="k", Body=b"other", IfNoneMatch="*")
    assert code(exc) == "PreconditionFailed"
    with pytest.raises(ClientError) as exc:
        s3.delete_object(Bucket=bucket, Key="k", IfMatch='"0123"')
    assert code(exc) == "PreconditionFailed"
    s3.put_object_tagging(Bucket=bucket, Key="k", Tagging={"TagSet": [{"Key": "a", "Value": "b"}]})
    assert s3.get_object_tagging(Bucket=bucket, Key="k")["TagSet"] == [{"Key": "a", "Value": "b"}]
    s3.put_object_acl(Bucket=bucket, Key="k", ACL="public-read")
    assert len(s3.get_object_acl(Bucket=bucket, Key="k")["Grants"]) == 2
    s3.copy_object(Bucket=bucket, Key="k", CopySource=f"{bucket}/k",
                   MetadataDirective="REPLACE", Metadata={"a": "1"})
    assert inline_rows(server) == rows and body(s3, bucket, "k") == data
    assert s3.head_object(Bucket=bucket, Key="k")["Metadata"] == {"a": "1"}
    # Onto itself sealed: the copy reads the bytes itself, and they move to a (sealed) blob.
    s3.copy_object(Bucket=bucket, Key="k", CopySource=f"{bucket}/k",
                   ServerSideEncryption="AES256")
    assert inline_rows(server) == rows - 1 and body(s3, bucket, "k") == data
    assert s3.head_object(Bucket=bucket, Key="k")["ServerSideEncryption"] == "AES256"
