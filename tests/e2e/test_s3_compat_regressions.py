"""End to end: regressions found by the Ceph s3-tests suite (scripts/s3-tests.sh), one test
per class of bug: bucket lifecycle, ACL documents, listing, conditional writes and deletes,
header parsing, SSE validation, browser POST uploads and the bucket sub-resources."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import itertools
import json
import os
from typing import Any

import pytest
import requests
from botocore.exceptions import ClientError

from .conftest import make_client
from .server import ACCESS_KEY, SECRET_KEY

ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
_names = itertools.count()


def code_of(exc: pytest.ExceptionInfo[ClientError]) -> tuple[int, str]:
    err = exc.value.response
    return err["ResponseMetadata"]["HTTPStatusCode"], err["Error"]["Code"]


def raises(status: int, code: str, fn: Any, **kw: Any) -> None:
    with pytest.raises(ClientError) as exc:
        fn(**kw)
    assert code_of(exc) == (status, code)


def fresh_name(tag: str) -> str:
    return f"compat-{tag}-{os.getpid()}-{next(_names)}"


# --------------------------------------------------------------------------- buckets


def test_delete_bucket_discards_unfinished_uploads(s3) -> None:  # noqa: ANN001
    name = fresh_name("mpu")
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="obj", Body=b"x")
    upload = s3.create_multipart_upload(Bucket=name, Key="pending")["UploadId"]
    raises(409, "BucketNotEmpty", s3.delete_bucket, Bucket=name)
    uploads = s3.list_multipart_uploads(Bucket=name).get("Uploads", [])
    assert [u["UploadId"] for u in uploads] == [upload]  # untouched while objects remain
    s3.delete_object(Bucket=name, Key="obj")
    s3.delete_bucket(Bucket=name)
    raises(404, "404", s3.head_bucket, Bucket=name)  # HEAD: no error body


def test_recreate_own_bucket(s3) -> None:  # noqa: ANN001
    name = fresh_name("again")
    s3.create_bucket(Bucket=name)
    try:
        s3.put_object(Bucket=name, Key="kept", Body=b"1")
        s3.create_bucket(Bucket=name)  # us-east-1: a no-op success
        assert [o["Key"] for o in s3.list_objects(Bucket=name)["Contents"]] == ["kept"]
        raises(409, "BucketAlreadyExists", s3.create_bucket, Bucket=name, ACL="public-read")
    finally:
        s3.delete_object(Bucket=name, Key="kept")
        s3.delete_bucket(Bucket=name)


def test_list_buckets_pages(s3) -> None:  # noqa: ANN001
    prefix = fresh_name("page")
    names = [f"{prefix}-{i}" for i in range(3)]
    for n in names:
        s3.create_bucket(Bucket=n)
    try:
        seen, token = [], None
        while True:
            kw: dict[str, Any] = {"Prefix": prefix, "MaxBuckets": 2}
            if token:
                kw["ContinuationToken"] = token
            page = s3.list_buckets(**kw)
            seen += [b["Name"] for b in page["Buckets"]]
            token = page.get("ContinuationToken")
            if not token:
                break
        assert seen == names
    finally:
        for n in names:
            s3.delete_bucket(Bucket=n)


def test_expected_bucket_owner(s3, bucket: str) -> None:  # noqa: ANN001
    owner = s3.get_bucket_acl(Bucket=bucket)["Owner"]["ID"]
    s3.list_objects(Bucket=bucket, ExpectedBucketOwner=owner)
    raises(403, "AccessDenied", s3.list_objects, Bucket=bucket,
           ExpectedBucketOwner=owner + "x")
    raises(403, "AccessDenied", s3.put_object, Bucket=bucket, Key="k", Body=b"",
           ExpectedBucketOwner="0" * 64)


# --------------------------------------------------------------------------- ACL documents


def test_canned_acl_lists_group_grants_before_owner(s3, bucket: str) -> None:  # noqa: ANN001
    s3.put_bucket_acl(Bucket=bucket, ACL="public-read-write")
    grants = s3.get_bucket_acl(Bucket=bucket)["Grants"]
    assert [(g["Grantee"].get("URI"), g["Permission"]) for g in grants] == [
        (ALL_USERS, "READ"), (ALL_USERS, "WRITE"), (None, "FULL_CONTROL")]
    s3.put_object(Bucket=bucket, Key="o", Body=b"", ACL="bucket-owner-full-control")
    obj = s3.get_object_acl(Bucket=bucket, Key="o")["Grants"]
    assert [g["Permission"] for g in obj] == ["FULL_CONTROL", "FULL_CONTROL"]
    assert all(g["Grantee"]["Type"] == "CanonicalUser" for g in obj)


# --------------------------------------------------------------------------- listing


def test_list_v1_prefix_is_not_url_encoded(s3, bucket: str) -> None:  # noqa: ANN001
    s3.put_object(Bucket=bucket, Key="a\nb", Body=b"")
    got = s3.list_objects(Bucket=bucket, Prefix="a\n")  # boto3 asks for encoding-type=url
    assert got["Prefix"] == "a\n"
    assert [o["Key"] for o in got["Contents"]] == ["a\nb"]


# --------------------------------------------------------------------------- conditional writes


def test_conditional_put(s3, bucket: str) -> None:  # noqa: ANN001
    etag = s3.put_object(Bucket=bucket, Key="c", Body=b"one", IfNoneMatch="*")["ETag"]
    raises(412, "PreconditionFailed", s3.put_object, Bucket=bucket, Key="c", Body=b"x",
           IfNoneMatch="*")
    raises(412, "PreconditionFailed", s3.put_object, Bucket=bucket, Key="c", Body=b"x",
           IfMatch='"0123"')
    s3.put_object(Bucket=bucket, Key="c", Body=b"two", IfMatch=etag)
    assert s3.get_object(Bucket=bucket, Key="c")["Body"].read() == b"two"
    raises(404, "NoSuchKey", s3.put_object, Bucket=bucket, Key="absent", Body=b"x",
           IfMatch="*")


def test_conditional_delete(s3, bucket: str) -> None:  # noqa: ANN001
    etag = s3.put_object(Bucket=bucket, Key="d", Body=b"abc")["ETag"]
    raises(412, "PreconditionFailed", s3.delete_object, Bucket=bucket, Key="d", IfMatch='"bad"')
    raises(412, "PreconditionFailed", s3.delete_object, Bucket=bucket, Key="d", IfMatchSize=9)
    s3.delete_object(Bucket=bucket, Key="d", IfMatch=etag, IfMatchSize=3)
    s3.delete_object(Bucket=bucket, Key="d", IfMatch='"bad"')  # gone: not an error
    s3.put_object(Bucket=bucket, Key="e", Body=b"")
    mtime = s3.head_object(Bucket=bucket, Key="e")["LastModified"]
    old = dt.datetime(2015, 1, 1, tzinfo=dt.UTC)
    res = s3.delete_objects(Bucket=bucket, Delete={"Objects": [
        {"Key": "e", "LastModifiedTime": old}, {"Key": "e", "ETag": '"bad"'}]})
    assert [e["Code"] for e in res["Errors"]] == ["PreconditionFailed"] * 2
    res = s3.delete_objects(Bucket=bucket, Delete={"Objects": [
        {"Key": "e", "LastModifiedTime": mtime, "Size": 0}]})
    assert [d["Key"] for d in res["Deleted"]] == ["e"]


# --------------------------------------------------------------------------- headers


def test_content_encoding_kept_verbatim(s3, bucket: str) -> None:  # noqa: ANN001
    s3.put_object(Bucket=bucket, Key="k", Body=b"", ContentEncoding="deflate, gzip")
    assert s3.head_object(Bucket=bucket, Key="k")["ContentEncoding"] == "deflate, gzip"
    s3.put_object(Bucket=bucket, Key="k", Body=b"", ContentEncoding="aws-chunked, gzip")
    assert s3.head_object(Bucket=bucket, Key="k")["ContentEncoding"] == "gzip"


def test_tagging_header_bare_name_and_sorted_tags(s3, bucket: str) -> None:  # noqa: ANN001
    s3.put_object(Bucket=bucket, Key="t", Body=b"", Tagging="zed=1&bare")
    tags = s3.get_object_tagging(Bucket=bucket, Key="t")["TagSet"]
    assert tags == [{"Key": "bare", "Value": ""}, {"Key": "zed", "Value": "1"}]


def _with_headers(client: Any, event: str, headers: dict[str, str]) -> None:
    """Add raw headers to every ``event`` call of this (private) client."""
    def add(params: dict[str, Any], **_: Any) -> None:
        params["headers"].update(headers)
    client.meta.events.register(f"before-call.s3.{event}", add)


def test_sse_header_validation(server, bucket: str) -> None:  # noqa: ANN001
    kms, ssec, head = (make_client(server.endpoint) for _ in range(3))
    raises(400, "InvalidArgument", kms.put_object, Bucket=bucket, Key="kms", Body=b"",
           SSEKMSKeyId="some-key")  # a key id without x-amz-server-side-encryption
    key = base64.b64encode(b"k" * 32).decode()
    _with_headers(ssec, "PutObject", {"x-amz-server-side-encryption-customer-algorithm":
                                      "AES256", "x-amz-server-side-encryption-customer-key": key})
    raises(400, "InvalidArgument", ssec.put_object, Bucket=bucket, Key="ssec", Body=b"")
    head.put_object(Bucket=bucket, Key="plain", Body=b"x")
    _with_headers(head, "HeadObject", {"x-amz-server-side-encryption": "AES256"})
    raises(400, "400", head.head_object, Bucket=bucket, Key="plain")


def test_range_with_part_number_is_invalid(s3, bucket: str) -> None:  # noqa: ANN001
    s3.put_object(Bucket=bucket, Key="r", Body=b"0123456789")
    raises(400, "InvalidRequest", s3.get_object, Bucket=bucket, Key="r", PartNumber=1,
           Range="bytes=0-1")


# --------------------------------------------------------------------------- POST Object


def _post(server, bucket: str, fields: list[tuple[str, Any]]) -> requests.Response:  # noqa: ANN001
    return requests.post(f"{server.endpoint}/{bucket}", files=fields, timeout=10)


def _policy(bucket: str, *conditions: Any, seconds: int = 600) -> str:
    expires = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds)
    doc = {"expiration": expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
           "conditions": [{"bucket": bucket}, *conditions]}
    return base64.b64encode(json.dumps(doc).encode()).decode()


def _v2(policy: str) -> str:
    return base64.b64encode(hmac.new(SECRET_KEY.encode(), policy.encode(),
                                     hashlib.sha1).digest()).decode()


def test_post_object_anonymous_needs_public_write(s3, server, bucket: str) -> None:  # noqa: ANN001
    fields = [("key", "anon.txt"), ("file", ("a.txt", b"hello"))]
    assert _post(server, bucket, fields).status_code == 403
    s3.put_bucket_acl(Bucket=bucket, ACL="public-read-write")
    r = _post(server, bucket, [("success_action_status", "201"), *fields])
    assert r.status_code == 201 and b"<Key>anon.txt</Key>" in r.content
    assert s3.get_object(Bucket=bucket, Key="anon.txt")["Body"].read() == b"hello"


def test_post_object_signed_policy(s3, server, bucket: str) -> None:  # noqa: ANN001
    policy = _policy(bucket, ["starts-with", "$key", "up/"], {"acl": "private"},
                     ["starts-with", "$Content-Type", "text/"], ["content-length-range", 0, 10])
    base = [("AWSAccessKeyId", ACCESS_KEY), ("policy", policy), ("signature", _v2(policy)),
            ("acl", "private"), ("Content-Type", "text/plain")]
    r = _post(server, bucket, [("key", "up/${filename}"), *base, ("file", ("f.txt", b"data"))])
    assert r.status_code == 204, r.text
    got = s3.get_object(Bucket=bucket, Key="up/f.txt")
    assert got["Body"].read() == b"data" and got["ContentType"] == "text/plain"
    # each violation: a key outside the policy, an unlisted field, a body over the range
    assert _post(server, bucket, [("key", "other"), *base, ("file", b"x")]).status_code == 403
    extra = [("key", "up/x"), *base, ("x-amz-meta-a", "1"), ("file", b"x")]
    assert _post(server, bucket, extra).status_code == 403
    big = _post(server, bucket, [("key", "up/big"), *base, ("file", b"x" * 11)])
    assert big.status_code == 400 and b"EntityTooLarge" in big.content
    forged = [("key", "up/y"), *base[:2], ("signature", _v2(policy + "x")), *base[3:],
              ("file", b"x")]
    assert _post(server, bucket, forged).status_code == 403


def test_post_object_sigv4_policy(s3, server, bucket: str) -> None:  # noqa: ANN001
    post = s3.generate_presigned_post(Bucket=bucket, Key="v4.bin")
    r = requests.post(post["url"], data=post["fields"], files={"file": b"v4"}, timeout=10)
    assert r.status_code == 204, r.text
    assert s3.get_object(Bucket=bucket, Key="v4.bin")["Body"].read() == b"v4"


def test_post_object_ignores_cos_forbid_overwrite(s3, server, bucket: str) -> None:  # noqa: ANN001
    """x-cos-forbid-overwrite means nothing to S3: the object is replaced. Like any other field
    of a signed form the policy must cover it (S3 rule: else 403, Extra input fields)."""
    s3.put_object(Bucket=bucket, Key="keep", Body=b"old")
    policy = _policy(bucket, {"key": "keep"}, ["starts-with", "$x-cos-forbid-overwrite", ""])
    fields = [("key", "keep"), ("AWSAccessKeyId", ACCESS_KEY), ("policy", policy),
              ("signature", _v2(policy)), ("x-cos-forbid-overwrite", "true")]
    r = _post(server, bucket, [*fields, ("file", b"new")])
    assert r.status_code == 204, r.text
    assert s3.get_object(Bucket=bucket, Key="keep")["Body"].read() == b"new"
    bare = _policy(bucket, {"key": "keep"})
    uncovered = [*fields[:2], ("policy", bare), ("signature", _v2(bare)), *fields[4:]]
    r = _post(server, bucket, [*uncovered, ("file", b"newer")])
    assert r.status_code == 403 and b"Extra input fields: x-cos-forbid-overwrite" in r.content
    assert s3.get_object(Bucket=bucket, Key="keep")["Body"].read() == b"new"


def test_post_object_s3_does_not_take_cos_form_signatures(s3, server, bucket: str) -> None:  # noqa: ANN001
    """COS's q-signature form signing is the COS dialect's: an S3 POST carrying one is a policy
    without AWSAccessKeyId/signature, refused as before, and nothing is stored."""
    now = int(dt.datetime.now(dt.UTC).timestamp())
    key_time = f"{now - 60};{now + 600}"
    policy = _policy(bucket, {"q-sign-algorithm": "sha1"}, {"q-ak": ACCESS_KEY},
                     {"q-sign-time": key_time})
    sign_key = hmac.new(SECRET_KEY.encode(), key_time.encode(), hashlib.sha1).hexdigest()
    digest = hashlib.sha1(base64.b64decode(policy)).hexdigest()
    signature = hmac.new(sign_key.encode(), digest.encode(), hashlib.sha1).hexdigest()
    fields = [("key", "cos-form"), ("policy", policy), ("q-sign-algorithm", "sha1"),
              ("q-ak", ACCESS_KEY), ("q-key-time", key_time), ("q-signature", signature),
              ("file", b"x")]
    r = _post(server, bucket, fields)
    assert r.status_code == 400 and b"<Code>InvalidArgument</Code>" in r.content
    raises(404, "NoSuchKey", s3.get_object, Bucket=bucket, Key="cos-form")


# --------------------------------------------------------------------------- sub-resources


def test_bucket_tagging(s3, bucket: str) -> None:  # noqa: ANN001
    raises(404, "NoSuchTagSet", s3.get_bucket_tagging, Bucket=bucket)
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": "a", "Value": "1"}]})
    assert s3.get_bucket_tagging(Bucket=bucket)["TagSet"] == [{"Key": "a", "Value": "1"}]
    s3.delete_bucket_tagging(Bucket=bucket)
    raises(404, "NoSuchTagSet", s3.get_bucket_tagging, Bucket=bucket)


def test_bucket_default_encryption(s3, bucket: str) -> None:  # noqa: ANN001
    missing = "ServerSideEncryptionConfigurationNotFoundError"
    raises(404, missing, s3.get_bucket_encryption, Bucket=bucket)
    s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": [
        {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})
    rule = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]
    assert rule["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert s3.put_object(Bucket=bucket, Key="e", Body=b"x")["ServerSideEncryption"] == "AES256"
    assert s3.head_object(Bucket=bucket, Key="e")["ServerSideEncryption"] == "AES256"
    s3.delete_bucket_encryption(Bucket=bucket)
    assert "ServerSideEncryption" not in s3.put_object(Bucket=bucket, Key="f", Body=b"x")


def test_get_object_attributes(s3, bucket: str) -> None:  # noqa: ANN001
    put = s3.put_object(Bucket=bucket, Key="a", Body=b"abc", ChecksumAlgorithm="SHA256")
    got = s3.get_object_attributes(Bucket=bucket, Key="a", ObjectAttributes=[
        "ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize"])
    assert got["ETag"] == put["ETag"].strip('"') and got["ObjectSize"] == 3
    assert got["StorageClass"] == "STANDARD" and "ObjectParts" not in got
    assert got["Checksum"]["ChecksumSHA256"] == put["ChecksumSHA256"]


def test_cors_rules_and_preflight(s3, server, bucket: str) -> None:  # noqa: ANN001
    raises(404, "NoSuchCORSConfiguration", s3.get_bucket_cors, Bucket=bucket)
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [
        {"AllowedMethods": ["GET"], "AllowedOrigins": ["*.example"]}]})
    assert s3.get_bucket_cors(Bucket=bucket)["CORSRules"][0]["AllowedOrigins"] == ["*.example"]
    url = f"{server.endpoint}/{bucket}/obj"
    ok = requests.options(url, headers={"Origin": "a.example",
                                        "Access-Control-Request-Method": "GET"}, timeout=10)
    assert ok.status_code == 200
    assert ok.headers["Access-Control-Allow-Origin"] == "a.example"
    denied = requests.options(url, headers={"Origin": "a.example",
                                            "Access-Control-Request-Method": "PUT"}, timeout=10)
    assert denied.status_code == 403 and "Access-Control-Allow-Origin" not in denied.headers
    assert requests.options(url, timeout=10).status_code == 400
    s3.put_object(Bucket=bucket, Key="obj", Body=b"x")
    client, seen = make_client(server.endpoint), {}
    _with_headers(client, "GetObject", {"Origin": "b.example"})
    client.meta.events.register("after-call.s3.GetObject",
                                lambda http_response, **_: seen.update(
                                    {k.lower(): v for k, v in http_response.headers.items()}))
    client.get_object(Bucket=bucket, Key="obj")
    assert seen.get("access-control-allow-origin") == "b.example"
    # Errors carry the headers too (a page's script could not read them otherwise); a
    # preflight's refusal and a non-matching origin do not.
    missing = requests.get(f"{server.endpoint}/{bucket}/nothing", timeout=10,
                           headers={"Origin": "c.example"})
    assert missing.status_code in (403, 404)
    assert missing.headers.get("Access-Control-Allow-Origin") == "c.example"
    other = requests.get(f"{server.endpoint}/{bucket}/nothing", timeout=10,
                         headers={"Origin": "c.elsewhere"})
    assert "Access-Control-Allow-Origin" not in other.headers
    s3.delete_bucket_cors(Bucket=bucket)
    raises(404, "NoSuchCORSConfiguration", s3.get_bucket_cors, Bucket=bucket)


def test_public_access_block(s3, bucket: str) -> None:  # noqa: ANN001
    missing = "NoSuchPublicAccessBlockConfiguration"
    raises(404, missing, s3.get_public_access_block, Bucket=bucket)
    conf = {"BlockPublicAcls": True, "IgnorePublicAcls": False, "BlockPublicPolicy": True,
            "RestrictPublicBuckets": False}
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=conf)
    assert s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"] == conf
    raises(403, "AccessDenied", s3.put_bucket_acl, Bucket=bucket, ACL="public-read")
    raises(403, "AccessDenied", s3.put_object, Bucket=bucket, Key="p", Body=b"",
           ACL="authenticated-read")
    s3.put_object(Bucket=bucket, Key="p", Body=b"", ACL="private")
    s3.delete_public_access_block(Bucket=bucket)
    raises(404, missing, s3.get_public_access_block, Bucket=bucket)
    s3.put_bucket_acl(Bucket=bucket, ACL="public-read")


def test_ignore_public_acls_hides_public_grants(s3, server, bucket: str) -> None:  # noqa: ANN001
    s3.put_object(Bucket=bucket, Key="pub", Body=b"x", ACL="public-read")
    url = f"{server.endpoint}/{bucket}/pub"
    assert requests.get(url, timeout=10).status_code == 200
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={
        "BlockPublicAcls": False, "IgnorePublicAcls": True, "BlockPublicPolicy": False,
        "RestrictPublicBuckets": False})
    assert requests.get(url, timeout=10).status_code == 403


def test_explicit_acl_lists_group_grants_first(s3, bucket: str) -> None:  # noqa: ANN001
    acl = s3.get_bucket_acl(Bucket=bucket)
    owner = acl["Owner"]
    grants = [{"Grantee": {"Type": "CanonicalUser", "ID": owner["ID"]},
               "Permission": "FULL_CONTROL"},
              {"Grantee": {"Type": "Group", "URI": ALL_USERS}, "Permission": "READ"}]
    s3.put_bucket_acl(Bucket=bucket, AccessControlPolicy={"Owner": owner, "Grants": grants})
    got = s3.get_bucket_acl(Bucket=bucket)["Grants"]
    assert [(g["Grantee"]["Type"], g["Permission"]) for g in got] == [
        ("Group", "READ"), ("CanonicalUser", "FULL_CONTROL")]


def test_cors_preflight_is_not_signature_checked(server, s3, bucket) -> None:  # noqa: ANN001
    """A browser's preflight carries no credentials of its own, even for a presigned URL: it
    is answered from the CORS rules, never with SignatureDoesNotMatch."""
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [
        {"AllowedMethods": ["PUT"], "AllowedOrigins": ["https://example.com"]}]})
    url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "k"})
    tampered = url.replace("X-Amz-Signature=", "X-Amz-Signature=0")
    resp = requests.options(tampered, headers={"Origin": "https://example.com",
                                               "Access-Control-Request-Method": "PUT"})
    assert resp.status_code == 200, resp.text
    assert resp.headers["Access-Control-Allow-Origin"] == "https://example.com"
