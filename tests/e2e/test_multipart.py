"""Initiate Multipart Upload as both seed documents describe it, in S3 form, end to end.

Every request header of the Ncloud seed and of the COS seed's five examples is sent with the
x-amz- spelling and a real SigV4 signature; each must give the documented response and end up
on the finished object.
"""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

import pytest

from .server import LiveServer
from .test_multipart_support import (
    MIN_PART,
    Raw,
    client_error,
    code_of,
    complete,
    data,
    error_code,
    lone_client,
    upload_parts,
    vhost_client,
    xml_root,
)

SEED_KEY = "MDEyMzQ1Njc4OUFCQ0RFRjAxMjM0NTY3ODlBQkNERUY="
SEED_KEY_RAW = base64.b64decode(SEED_KEY)
SEED_KEY_MD5 = "U5L61r7jcwdNvT7frmUG8g=="
KMS_KEY_ID = "48ba38aa-26c5-11ea-855c-52540085****"
KMS_CONTEXT = "eyJhdXRob3IiOiJmeXNudGlhbiIsImNvbXBhbnkiOiJUZW5jZW50In0="
SSEC = {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": SEED_KEY_RAW}


@pytest.fixture
def raw(server: LiveServer) -> Raw:
    return Raw(server)


def _finish(s3: Any, bucket: str, key: str, upload_id: str, **part_args: Any) -> dict[str, Any]:
    """Upload one small part and complete; returns the Complete response."""
    etag = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=1,
                          Body=b"seed body", **part_args)["ETag"]
    return complete(s3, bucket, key, upload_id, {1: etag})


def _listed(s3: Any, bucket: str) -> list[tuple[str, str]]:
    ups = s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    return [(u["Key"], u["UploadId"]) for u in ups]


# -- the query forms and addressing styles of the Ncloud seed ---------------------------------


@pytest.mark.parametrize("query", ["uploads", "uploads="])
@pytest.mark.parametrize("style", ["path", "vhost"])
def test_initiate_query_forms(raw: Raw, s3: Any, bucket: str, query: str, style: str) -> None:
    key = "multipart-object-123"
    path, host = (f"/{bucket}/{key}", None) if style == "path" else (f"/{key}", raw.vhost(bucket))
    resp = raw.send("POST", path, query, host=host)
    assert resp.status_code == 200, resp.text
    assert resp.headers["Content-Type"] == "application/xml"
    assert b'<InitiateMultipartUploadResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' \
        in resp.content
    root = xml_root(resp.content)
    assert root.tag == "InitiateMultipartUploadResult"
    assert root.findtext("Bucket") == bucket and root.findtext("Key") == key
    upload_id = root.findtext("UploadId") or ""
    assert upload_id and upload_id.isascii() and upload_id.replace("-", "").isalnum()
    assert _listed(s3, bucket) == [(key, upload_id)]


@pytest.mark.parametrize("style", ["path", "vhost"])
def test_ncloud_seed_request_exactly(raw: Raw, s3: Any, bucket: str, style: str) -> None:
    """The seed sends only Authorization, x-amz-date and Host (no x-amz-content-sha256)."""
    key = "multipart-object-123"
    path, host = (f"/{bucket}/{key}", None) if style == "path" else (f"/{key}", raw.vhost(bucket))
    resp = raw.send("POST", path, "uploads=", host=host, content_sha256=False)
    assert resp.status_code == 200, resp.text
    assert xml_root(resp.content).findtext("Key") == key


def test_whole_family_virtual_host(server: LiveServer, bucket: str) -> None:
    vs3 = vhost_client(server)
    key = "dir/obj ect"
    upload_id, etags = upload_parts(vs3, bucket, key, [data(MIN_PART, 1), b"end"])
    assert [p["PartNumber"] for p in vs3.list_parts(Bucket=bucket, Key=key,
                                                     UploadId=upload_id)["Parts"]] == [1, 2]
    assert _listed(vs3, bucket) == [(key, upload_id)]
    done = complete(vs3, bucket, key, upload_id, dict(enumerate(etags, 1)))
    assert done["Location"] == f"http://{bucket}.localhost:{server.port}/dir/obj%20ect"
    assert done["Bucket"] == bucket and done["Key"] == key
    body = vs3.get_object(Bucket=bucket, Key=key)["Body"].read()
    assert body == data(MIN_PART, 1) + b"end"
    upload_id = vs3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    vs3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
    assert _listed(vs3, bucket) == []


# -- the COS seed's five examples, in S3 form ---------------------------------------------------


def test_cos_example_1_content_type(raw: Raw, s3: Any, bucket: str) -> None:
    resp = raw.send("POST", f"/{bucket}/exampleobject", "uploads",
                    headers={"Content-Type": "video/mp4", "Content-Length": "0"})
    assert resp.status_code == 200, resp.text
    upload_id = xml_root(resp.content).findtext("UploadId") or ""
    _finish(s3, bucket, "exampleobject", upload_id)
    assert s3.head_object(Bucket=bucket, Key="exampleobject")["ContentType"] == "video/mp4"


def test_cos_example_2_metadata_and_acl(raw: Raw, s3: Any, bucket: str) -> None:
    headers = {"Content-Type": "video/mp4", "Cache-Control": "max-age=86400",
               "Content-Disposition": "attachment; filename=example.jpg",
               "x-amz-meta-example-field": "example-value", "x-amz-acl": "public-read",
               "Content-Length": "0"}
    resp = raw.send("POST", f"/{bucket}/exampleobject", "uploads", headers=headers)
    assert resp.status_code == 200, resp.text
    _finish(s3, bucket, "exampleobject", xml_root(resp.content).findtext("UploadId") or "")
    head = s3.head_object(Bucket=bucket, Key="exampleobject")
    assert head["ContentType"] == "video/mp4"
    assert head["CacheControl"] == "max-age=86400"
    assert head["ContentDisposition"] == "attachment; filename=example.jpg"
    assert head["Metadata"] == {"example-field": "example-value"}
    grants = s3.get_object_acl(Bucket=bucket, Key="exampleobject")["Grants"]
    assert {"Grantee": {"Type": "Group", "URI": "http://acs.amazonaws.com/groups/global/AllUsers"},
            "Permission": "READ"} in grants


def test_cos_example_3_sse_aes256(raw: Raw, s3: Any, bucket: str) -> None:
    resp = raw.send("POST", f"/{bucket}/exampleobject", "uploads",
                    headers={"Content-Type": "video/mp4",
                             "x-amz-server-side-encryption": "AES256"})
    assert resp.status_code == 200, resp.text
    assert resp.headers["x-amz-server-side-encryption"] == "AES256"
    upload_id = xml_root(resp.content).findtext("UploadId") or ""
    part = s3.upload_part(Bucket=bucket, Key="exampleobject", UploadId=upload_id,
                          PartNumber=1, Body=b"x")
    assert part["ServerSideEncryption"] == "AES256"
    done = complete(s3, bucket, "exampleobject", upload_id, {1: part["ETag"]})
    assert done["ServerSideEncryption"] == "AES256"
    head = s3.head_object(Bucket=bucket, Key="exampleobject")
    assert head["ServerSideEncryption"] == "AES256"
    assert s3.get_object(Bucket=bucket, Key="exampleobject")["Body"].read() == b"x"


def test_cos_example_4_sse_kms(raw: Raw, s3: Any, bucket: str) -> None:
    headers = {"Content-Type": "video/mp4", "x-amz-server-side-encryption": "aws:kms",
               "x-amz-server-side-encryption-aws-kms-key-id": KMS_KEY_ID,
               "x-amz-server-side-encryption-context": KMS_CONTEXT}
    resp = raw.send("POST", f"/{bucket}/exampleobject", "uploads", headers=headers)
    assert resp.status_code == 200, resp.text
    assert resp.headers["x-amz-server-side-encryption"] == "aws:kms"
    assert resp.headers["x-amz-server-side-encryption-aws-kms-key-id"] == KMS_KEY_ID
    assert resp.headers["x-amz-server-side-encryption-context"] == KMS_CONTEXT
    upload_id = xml_root(resp.content).findtext("UploadId") or ""
    part = s3.upload_part(Bucket=bucket, Key="exampleobject", UploadId=upload_id,
                          PartNumber=1, Body=b"kms")
    assert (part["ServerSideEncryption"], part["SSEKMSKeyId"]) == ("aws:kms", KMS_KEY_ID)
    done = complete(s3, bucket, "exampleobject", upload_id, {1: part["ETag"]})
    assert (done["ServerSideEncryption"], done["SSEKMSKeyId"]) == ("aws:kms", KMS_KEY_ID)
    head = s3.head_object(Bucket=bucket, Key="exampleobject")
    assert (head["ServerSideEncryption"], head["SSEKMSKeyId"]) == ("aws:kms", KMS_KEY_ID)


def test_cos_example_5_sse_c(raw: Raw, s3: Any, bucket: str) -> None:
    headers = {"Content-Type": "video/mp4",
               "x-amz-server-side-encryption-customer-algorithm": "AES256",
               "x-amz-server-side-encryption-customer-key": SEED_KEY,
               "x-amz-server-side-encryption-customer-key-MD5": SEED_KEY_MD5}
    resp = raw.send("POST", f"/{bucket}/exampleobject", "uploads", headers=headers)
    assert resp.status_code == 200, resp.text
    assert resp.headers["x-amz-server-side-encryption-customer-algorithm"] == "AES256"
    assert resp.headers["x-amz-server-side-encryption-customer-key-MD5"] == SEED_KEY_MD5
    assert "x-amz-server-side-encryption-customer-key" not in resp.headers
    upload_id = xml_root(resp.content).findtext("UploadId") or ""
    part = s3.upload_part(Bucket=bucket, Key="exampleobject", UploadId=upload_id,
                          PartNumber=1, Body=b"secret", **SSEC)
    assert part["SSECustomerKeyMD5"] == SEED_KEY_MD5
    done = complete(s3, bucket, "exampleobject", upload_id, {1: part["ETag"]}, **SSEC)
    assert done["ResponseMetadata"]["HTTPHeaders"][
        "x-amz-server-side-encryption-customer-key-md5"] == SEED_KEY_MD5
    assert code_of(client_error(lambda: s3.head_object(Bucket=bucket, Key="exampleobject")))[0] \
        == 400
    got = s3.get_object(Bucket=bucket, Key="exampleobject", **SSEC)
    assert got["SSECustomerKeyMD5"] == SEED_KEY_MD5 and got["Body"].read() == b"secret"


def test_sse_c_parts_must_repeat_the_key(server: LiveServer, s3: Any, bucket: str) -> None:
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="k", **SSEC)["UploadId"]
    err = client_error(lambda: lone_client(server).upload_part(
        Bucket=bucket, Key="k", UploadId=upload_id, PartNumber=1, Body=b"x"))
    assert code_of(err) == (400, "InvalidRequest")
    other = {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": b"k" * 32}
    err = client_error(lambda: lone_client(server).upload_part(
        Bucket=bucket, Key="k", UploadId=upload_id, PartNumber=1, Body=b"x", **other))
    assert code_of(err)[0] in (400, 403)


def test_sse_c_wrong_key_md5(s3: Any, bucket: str) -> None:
    err = client_error(lambda: s3.create_multipart_upload(
        Bucket=bucket, Key="k", SSECustomerAlgorithm="AES256", SSECustomerKey=SEED_KEY,
        SSECustomerKeyMD5="AAAAAAAAAAAAAAAAAAAAAA=="))
    assert code_of(err) == (400, "InvalidArgument")
    assert _listed(s3, bucket) == []


# -- every Initiate header, through boto3, visible on the finished object ---------------------


def test_all_metadata_headers_reach_the_object(s3: Any, bucket: str) -> None:
    expires = dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    upload = s3.create_multipart_upload(
        Bucket=bucket, Key="obj", CacheControl="no-cache",
        ContentDisposition='attachment; filename="a b.txt"', ContentEncoding="gzip",
        ContentType="text/csv", ContentLanguage="de-DE", Expires=expires,
        Metadata={"Color": "blue", "x-y": "1 2"}, StorageClass="STANDARD_IA",
        Tagging="k1=v1&k%202=v%262", ACL="authenticated-read")
    upload_id = upload["UploadId"]
    parts = s3.list_parts(Bucket=bucket, Key="obj", UploadId=upload_id)
    assert parts["StorageClass"] == "STANDARD_IA"
    listed = s3.list_multipart_uploads(Bucket=bucket)["Uploads"]
    assert [u["StorageClass"] for u in listed] == ["STANDARD_IA"]
    _finish(s3, bucket, "obj", upload_id)
    head = s3.head_object(Bucket=bucket, Key="obj")
    wire = head["ResponseMetadata"]["HTTPHeaders"]
    assert head["CacheControl"] == "no-cache"
    assert head["ContentDisposition"] == 'attachment; filename="a b.txt"'
    assert head["ContentEncoding"] == "gzip"
    assert head["ContentType"] == "text/csv"
    assert head["ContentLanguage"] == "de-DE"
    assert wire["expires"] == "Wed, 02 Jan 2030 03:04:05 GMT"
    assert head["Metadata"] == {"color": "blue", "x-y": "1 2"}
    assert head["StorageClass"] == "STANDARD_IA"
    assert wire["x-amz-tagging-count"] == "2"
    tags = s3.get_object_tagging(Bucket=bucket, Key="obj")["TagSet"]
    assert sorted((t["Key"], t["Value"]) for t in tags) == [("k 2", "v&2"), ("k1", "v1")]
    grants = s3.get_object_acl(Bucket=bucket, Key="obj")["Grants"]
    uris = {g["Grantee"].get("URI"): g["Permission"] for g in grants}
    assert uris.get("http://acs.amazonaws.com/groups/global/AuthenticatedUsers") == "READ"


def test_grant_headers_reach_the_object(s3: Any, bucket: str) -> None:
    upload_id = s3.create_multipart_upload(
        Bucket=bucket, Key="obj", GrantRead='id="100000000001",id="100000000002"',
        GrantReadACP='id="100000000003"', GrantWriteACP='id="100000000004"',
        GrantFullControl='id="100000000005"')["UploadId"]
    _finish(s3, bucket, "obj", upload_id)
    grants = s3.get_object_acl(Bucket=bucket, Key="obj")["Grants"]
    got = sorted((g["Grantee"]["ID"], g["Permission"]) for g in grants)
    assert got == [("100000000001", "READ"), ("100000000002", "READ"),
                   ("100000000003", "READ_ACP"), ("100000000004", "WRITE_ACP"),
                   ("100000000005", "FULL_CONTROL")]


def test_bad_initiate_headers(s3: Any, bucket: str, raw: Raw) -> None:
    err = client_error(lambda: s3.create_multipart_upload(Bucket=bucket, Key="k",
                                                          StorageClass="SUPER_FAST"))
    assert code_of(err) == (400, "InvalidStorageClass")
    eleven = "&".join(f"k{i}=v{i}" for i in range(11))
    err = client_error(lambda: s3.create_multipart_upload(Bucket=bucket, Key="k",
                                                          Tagging=eleven))
    assert code_of(err) == (400, "InvalidTag")
    ten = "&".join(f"k{i}=v{i}" for i in range(10))
    assert s3.create_multipart_upload(Bucket=bucket, Key="ten", Tagging=ten)["UploadId"]
    err = client_error(lambda: s3.create_multipart_upload(Bucket=bucket, Key="k",
                                                          ACL="bogus-acl"))
    assert code_of(err)[0] == 400
    err = client_error(lambda: s3.create_multipart_upload(Bucket=bucket, Key="k",
                                                          ServerSideEncryption="ROT13"))
    assert code_of(err) == (400, "InvalidArgument")
    resp = raw.send("POST", f"/{bucket}/k", "uploads",
                    headers={"x-amz-acl": "private", "x-amz-grant-read": 'id="1"'})
    assert (resp.status_code, error_code(resp)) == (400, "InvalidRequest")
    assert [k for k, _ in _listed(s3, bucket)] == ["ten"]


def test_initiate_in_missing_bucket(s3: Any) -> None:
    err = client_error(lambda: s3.create_multipart_upload(Bucket="no-such-bucket-mp", Key="k"))
    assert code_of(err) == (404, "NoSuchBucket")


def test_complete_if_none_match_with_the_current_etag(s3: Any, bucket: str) -> None:
    """If-None-Match on Complete takes ETags too: the current object's ETag refuses it."""
    etag = s3.put_object(Bucket=bucket, Key="cond", Body=b"abc")["ETag"]
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="cond")["UploadId"]
    part = s3.upload_part(Bucket=bucket, Key="cond", UploadId=upload_id, PartNumber=1, Body=b"x")
    err = client_error(lambda: complete(s3, bucket, "cond", upload_id, {1: part["ETag"]},
                                        IfNoneMatch=etag))
    assert code_of(err) == (412, "PreconditionFailed")
    done = complete(s3, bucket, "cond", upload_id, {1: part["ETag"]}, IfNoneMatch='"other"')
    assert done["ETag"].endswith('-1"')
