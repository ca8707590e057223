"""COS dialect end to end with cos-python-sdk-v5: buckets, objects, copy, listing, tags, ACL."""

from __future__ import annotations

import hashlib

import crcmod
import pytest
import requests
from qcloud_cos import CosConfig, CosS3Client
from qcloud_cos.cos_exception import CosServiceError

from ..server import ACCESS_KEY, SECRET_KEY, LiveServer
from .conftest import make_cos, new_bucket_name
from .wire import REGION, Wire, ci, cos_host, xml

crc64 = crcmod.mkCrcFun(0x142F0E1EBA9EA3693, initCrc=0, xorOut=0xFFFFFFFFFFFFFFFF, rev=True)


def service_error(call, *args: object, **kwargs: object) -> CosServiceError:  # noqa: ANN001
    with pytest.raises(CosServiceError) as info:
        call(*args, **kwargs)
    return info.value


def body_of(resp: dict) -> bytes:
    return resp["Body"].get_raw_stream().read()


def test_bucket_lifecycle(cos: CosS3Client, boto) -> None:  # noqa: ANN001
    name = new_bucket_name()
    cos.create_bucket(Bucket=name)
    names = [b["Name"] for b in cos.list_buckets()["Buckets"]["Bucket"]]
    assert name in names
    assert cos.head_bucket(Bucket=name)["x-cos-bucket-region"]
    err = service_error(cos.create_bucket, Bucket=name)
    assert (err.get_status_code(), err.get_error_code()) == (409, "BucketAlreadyExists")
    assert err.get_resource_location() == f"{cos_host(name)}/"
    cos.put_object(Bucket=name, Key="k", Body=b"x")
    err = service_error(cos.delete_bucket, Bucket=name)
    assert (err.get_status_code(), err.get_error_code()) == (409, "BucketNotEmpty")
    cos.delete_object(Bucket=name, Key="k")
    cos.delete_bucket(Bucket=name)
    assert name not in boto.list_buckets()["Buckets"]


@pytest.mark.parametrize("key", ["dir/hello world.txt", "a+b (1)/中文.txt", "./a/../b", "%41"])
def test_put_get_head_delete(cos: CosS3Client, boto, cos_bucket: str, key: str) -> None:  # noqa: ANN001
    data = b"hello cos " + key.encode()
    put = ci(cos.put_object(Bucket=cos_bucket, Key=key, Body=data, ContentType="text/plain",
                            Metadata={"x-cos-meta-foo": "bar"}))
    assert put["etag"] == boto.head_object(Bucket=cos_bucket, Key=key)["ETag"]
    assert put["x-cos-hash-crc64ecma"] == str(crc64(data))
    got = cos.get_object(Bucket=cos_bucket, Key=key)
    assert body_of(got) == data
    got = ci(got)
    assert got["content-type"] == "text/plain"
    assert got["x-cos-meta-foo"] == "bar"
    assert got["x-cos-hash-crc64ecma"] == str(crc64(data))
    head = ci(cos.head_object(Bucket=cos_bucket, Key=key))
    assert head["content-length"] == str(len(data))
    assert head["etag"] == put["etag"]
    assert head["server"] == "tencent-cos"
    assert [o["Key"] for o in boto.list_objects_v2(Bucket=cos_bucket)["Contents"]] == [key]
    cos.delete_object(Bucket=cos_bucket, Key=key)
    err = service_error(cos.get_object, Bucket=cos_bucket, Key=key)
    assert (err.get_status_code(), err.get_error_code()) == (404, "NoSuchKey")
    assert service_error(cos.head_object, Bucket=cos_bucket, Key=key).get_status_code() == 404


def test_get_range_and_default_content_type(cos: CosS3Client, cos_bucket: str) -> None:
    data = bytes(range(256)) * 4
    cos.put_object(Bucket=cos_bucket, Key="r.bin", Body=data)
    got = cos.get_object(Bucket=cos_bucket, Key="r.bin", Range="bytes=10-19")
    assert body_of(got) == data[10:20]
    got = ci(got)
    assert got["content-range"] == f"bytes 10-19/{len(data)}"
    assert got["x-cos-hash-crc64ecma"] == str(crc64(data))  # whole object even on a range
    assert ci(cos.head_object(Bucket=cos_bucket, Key="r.bin"))["content-type"] == \
        "application/octet-stream"


def test_storage_class(cos: CosS3Client, cos_bucket: str) -> None:
    cos.put_object(Bucket=cos_bucket, Key="ia", Body=b"x", StorageClass="STANDARD_IA")
    assert cos.head_object(Bucket=cos_bucket, Key="ia")["x-cos-storage-class"] == "STANDARD_IA"
    cos.put_object(Bucket=cos_bucket, Key="std", Body=b"x", StorageClass="STANDARD")
    assert "x-cos-storage-class" not in cos.head_object(Bucket=cos_bucket, Key="std")
    err = service_error(cos.put_object, Bucket=cos_bucket, Key="g", Body=b"x",
                        StorageClass="GLACIER")
    assert (err.get_status_code(), err.get_error_code()) == (400, "NotSupportedStorageClass")


def test_key_too_long(cos: CosS3Client, cos_bucket: str) -> None:
    cos.put_object(Bucket=cos_bucket, Key="k" * 850, Body=b"x")
    err = service_error(cos.put_object, Bucket=cos_bucket, Key="k" * 851, Body=b"x")
    assert (err.get_status_code(), err.get_error_code()) == (400, "KeyTooLong")


def test_copy_object(cos: CosS3Client, cos_bucket: str) -> None:
    cos.put_object(Bucket=cos_bucket, Key="src dir/a b.txt", Body=b"payload",
                   ContentType="text/x-src", Metadata={"x-cos-meta-m": "1"})
    source = {"Bucket": cos_bucket, "Key": "src dir/a b.txt", "Region": REGION}
    res = cos.copy_object(Bucket=cos_bucket, Key="copy1", CopySource=source)
    assert res["ETag"] == '"' + hashlib.md5(b"payload").hexdigest() + '"'
    head = ci(cos.head_object(Bucket=cos_bucket, Key="copy1"))
    assert (head["content-type"], head["x-cos-meta-m"]) == ("text/x-src", "1")
    cos.copy_object(Bucket=cos_bucket, Key="copy2", CopySource=source, CopyStatus="Replaced",
                    ContentType="text/x-new", Metadata={"x-cos-meta-n": "2"})
    head = ci(cos.head_object(Bucket=cos_bucket, Key="copy2"))
    assert head["content-type"] == "text/x-new" and "x-cos-meta-m" not in head
    assert head["x-cos-meta-n"] == "2"
    assert body_of(cos.get_object(Bucket=cos_bucket, Key="copy2")) == b"payload"
    err = service_error(cos.copy_object, Bucket=cos_bucket, Key="src dir/a b.txt",
                        CopySource=source)
    assert (err.get_status_code(), err.get_error_code()) == (400, "InvalidRequest")


def test_copy_object_across_buckets(cos: CosS3Client, boto, cos_bucket: str) -> None:  # noqa: ANN001
    other = new_bucket_name()
    cos.create_bucket(Bucket=other)
    try:
        cos.put_object(Bucket=other, Key="x/y", Body=b"far away")
        cos.copy_object(Bucket=cos_bucket, Key="here",
                        CopySource={"Bucket": other, "Key": "x/y", "Region": REGION})
        assert body_of(cos.get_object(Bucket=cos_bucket, Key="here")) == b"far away"
    finally:
        boto.delete_object(Bucket=other, Key="x/y")
        boto.delete_bucket(Bucket=other)


def test_list_prefix_delimiter_paging(cos: CosS3Client, cos_bucket: str) -> None:
    keys = ["a/1", "a/2", "b/1", "c", "d e/f", "d+e", "z"]
    for k in keys:
        cos.put_object(Bucket=cos_bucket, Key=k, Body=b"x")
    res = cos.list_objects(Bucket=cos_bucket, Prefix="a/")
    assert [c["Key"] for c in res["Contents"]] == ["a/1", "a/2"]
    res = cos.list_objects(Bucket=cos_bucket, Delimiter="/")
    assert [p["Prefix"] for p in res["CommonPrefixes"]] == ["a/", "b/", "d e/"]
    assert [c["Key"] for c in res["Contents"]] == ["c", "d+e", "z"]
    seen, marker = [], ""
    while True:
        page = cos.list_objects(Bucket=cos_bucket, MaxKeys=2, Marker=marker)
        seen += [c["Key"] for c in page.get("Contents", [])]
        if page["IsTruncated"] == "false":
            break
        marker = page["NextMarker"]
    assert seen == sorted(keys)


def test_delete_objects(cos: CosS3Client, cos_bucket: str) -> None:
    for k in ("d1", "d2"):
        cos.put_object(Bucket=cos_bucket, Key=k, Body=b"x")
    res = cos.delete_objects(Bucket=cos_bucket, Delete={
        "Object": [{"Key": "d1"}, {"Key": "d2"}, {"Key": "missing"}], "Quiet": "false"})
    assert sorted(d["Key"] for d in res["Deleted"]) == ["d1", "d2", "missing"]
    assert "Contents" not in cos.list_objects(Bucket=cos_bucket)


def test_object_tagging(cos: CosS3Client, cos_bucket: str) -> None:
    cos.put_object(Bucket=cos_bucket, Key="t", Body=b"x")
    tags = {"TagSet": {"Tag": [{"Key": "t1", "Value": "v1"}, {"Key": "t2", "Value": "v 2"}]}}
    cos.put_object_tagging(Bucket=cos_bucket, Key="t", Tagging=tags)
    got = cos.get_object_tagging(Bucket=cos_bucket, Key="t")["TagSet"]["Tag"]
    assert [(t["Key"], t["Value"]) for t in got] == [("t1", "v1"), ("t2", "v 2")]
    assert cos.head_object(Bucket=cos_bucket, Key="t")["x-cos-tagging-count"] == "2"
    cos.delete_object_tagging(Bucket=cos_bucket, Key="t")
    assert "x-cos-tagging-count" not in cos.head_object(Bucket=cos_bucket, Key="t")


def test_object_acl(cos: CosS3Client, cos_bucket: str, wire: Wire) -> None:
    cos.put_object(Bucket=cos_bucket, Key="pub", Body=b"public bytes")
    assert wire.request("GET", cos_bucket, "pub", sign=False).status_code == 403
    cos.put_object_acl(Bucket=cos_bucket, Key="pub", ACL="public-read")
    acl = cos.get_object_acl(Bucket=cos_bucket, Key="pub")
    assert acl["CannedACL"] == "public-read"
    uris = [g["Grantee"].get("URI") for g in acl["AccessControlList"]["Grant"]]
    assert "http://cam.qcloud.com/groups/global/AllUsers" in uris
    anon = wire.request("GET", cos_bucket, "pub", sign=False, headers={"Authorization": ""})
    assert (anon.status_code, anon.content) == (200, b"public bytes")
    cos.put_object_acl(Bucket=cos_bucket, Key="pub", GrantRead='id="100000000001"')
    grants = cos.get_object_acl(Bucket=cos_bucket, Key="pub")["AccessControlList"]["Grant"]
    grants = grants if isinstance(grants, list) else [grants]
    assert [(g["Grantee"]["ID"], g["Permission"]) for g in grants] == [("100000000001", "READ")]
    err = service_error(cos.put_object_acl, Bucket=cos_bucket, Key="pub", ACL="authenticated-read")
    assert err.get_status_code() == 400


def test_bucket_acl(cos: CosS3Client, cos_bucket: str) -> None:
    cos.put_bucket_acl(Bucket=cos_bucket, ACL="public-read")
    grants = cos.get_bucket_acl(Bucket=cos_bucket)["AccessControlList"]["Grant"]
    assert {"http://cam.qcloud.com/groups/global/AllUsers"} <= \
        {g["Grantee"].get("URI") for g in grants}


def presigning_client(port: int) -> CosS3Client:
    """URLs of the form http://<bucket>.cos.local:<port>/key, fetched through a proxy."""
    conf = CosConfig(Region=REGION, SecretId=ACCESS_KEY, SecretKey=SECRET_KEY, Scheme="http",
                     Endpoint=f"cos.local:{port}")
    return CosS3Client(conf, retry=0)


def test_presigned_url(cos: CosS3Client, cos_bucket: str, cos_server: LiveServer) -> None:
    cos.put_object(Bucket=cos_bucket, Key="dir/中文 file.txt", Body=b"presigned")
    signer = presigning_client(cos_server.port)
    proxies = {"http": cos_server.endpoint}
    url = signer.get_presigned_url(Bucket=cos_bucket, Key="dir/中文 file.txt", Method="GET",
                                   Expired=300, Params={"response-content-type": "text/x-p"})
    resp = requests.get(url, proxies=proxies, timeout=10)
    assert (resp.status_code, resp.content) == (200, b"presigned")
    assert resp.headers["Content-Type"] == "text/x-p"
    direct = url.replace(f"http://{cos_bucket}.cos.local:{cos_server.port}", cos_server.endpoint)
    resp = requests.get(direct, headers={"Host": f"{cos_bucket}.cos.local"}, timeout=10)
    assert (resp.status_code, resp.content) == (200, b"presigned")
    tampered = url.replace("response-content-type=text%2Fx-p", "response-content-type=text%2Fx-q")
    bad = requests.get(tampered, proxies=proxies, timeout=10)
    assert bad.status_code == 403
    assert xml(bad).findtext("Code") == "SignatureDoesNotMatch"
    put_url = signer.get_presigned_url(Bucket=cos_bucket, Key="up.txt", Method="PUT")
    assert requests.put(put_url, data=b"via url", proxies=proxies, timeout=10).status_code == 200
    assert body_of(cos.get_object(Bucket=cos_bucket, Key="up.txt")) == b"via url"


def test_tampered_signature(cos_server: LiveServer, cos_bucket: str, wire: Wire) -> None:
    bad = make_cos(cos_server.port, secret_key="wrong-secret")
    err = service_error(bad.put_object, Bucket=cos_bucket, Key="k", Body=b"x")
    assert (err.get_status_code(), err.get_error_code()) == (403, "SignatureDoesNotMatch")
    resp = wire.request("GET", cos_bucket, "k", secret="wrong-secret")
    assert resp.status_code == 403 and resp.headers["Server"] == "tencent-cos"
    root = xml(resp)
    assert root.tag == "Error"
    assert [c.tag for c in root][:5] == ["Code", "Message", "Resource", "RequestId", "TraceId"]
    assert root.findtext("RequestId") == resp.headers["x-cos-request-id"]
    assert root.findtext("TraceId") == resp.headers["x-cos-trace-id"]
