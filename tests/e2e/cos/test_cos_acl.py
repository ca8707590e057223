"""Access control through the COS SDK (cos-python-sdk-v5): two real accounts and anonymous
requests; COS canned ACLs on buckets and objects (with ``default``, which follows the bucket),
grants by header (``id=``, ``uin=``, ``qcs::cam::`` ids) and by document, COS-spelled errors,
and tagging."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from qcloud_cos import CosS3Client
from qcloud_cos.cos_exception import CosServiceError

from ..conftest import add_user, empty_and_delete
from ..server import LiveServer
from .conftest import make_cos, new_bucket_name
from .wire import Wire, ci

ALL_USERS = "http://cam.qcloud.com/groups/global/AllUsers"


@dataclass
class CosAccount:
    user_id: str
    display_name: str
    cos: CosS3Client


def add_account(srv: LiveServer, label: str) -> CosAccount:
    out = add_user(srv, label)
    return CosAccount(out["user"]["canonical_id"], out["user"]["display_name"],
                      make_cos(srv.port, out["secret_key"], access_key=out["access_key"]))


@pytest.fixture(scope="module")
def alice(cos_server: LiveServer) -> CosAccount:
    return add_account(cos_server, "cos-alice")


@pytest.fixture(scope="module")
def bob(cos_server: LiveServer) -> CosAccount:
    return add_account(cos_server, "cos-bob")


@pytest.fixture
def buckets(boto: Any) -> Iterator[list[str]]:
    """Buckets appended here are emptied and deleted (by root) after the test."""
    names: list[str] = []
    yield names
    for name in names:
        empty_and_delete(boto, name)


def new_bucket(who: CosAccount, buckets: list[str], **kwargs: Any) -> str:
    name = new_bucket_name()
    who.cos.create_bucket(Bucket=name, **kwargs)
    buckets.append(name)
    return name


def allowed(call: Callable[..., object], *args: Any, **kwargs: Any) -> bool:
    """True if the call succeeds, False if COS answers AccessDenied (403)."""
    try:
        call(*args, **kwargs)
    except CosServiceError as exc:
        assert (exc.get_status_code(), exc.get_error_code()) == (403, "AccessDenied"), \
            exc.get_digest_msg()
        return False
    return True


def anon_status(wire: Wire, method: str, bucket: str, key: str = "") -> int:
    """Status of an unsigned request (no Authorization) to the bucket's COS host."""
    return wire.request(method, bucket, key, sign=False).status_code


def error_of(call: Callable[..., object], *args: Any, **kwargs: Any) -> tuple[int, str]:
    with pytest.raises(CosServiceError) as info:
        call(*args, **kwargs)
    return info.value.get_status_code(), info.value.get_error_code()


# -- buckets ----------------------------------------------------------------------------------

# canned -> (anonymous and other-account list, anonymous and other-account write)
BUCKET_CANNED = {"private": (False, False), "public-read": (True, False),
                 "public-read-write": (True, True)}


@pytest.mark.parametrize("canned", list(BUCKET_CANNED))
def test_canned_bucket_acl(canned: str, alice: CosAccount, bob: CosAccount, wire: Wire,
                           buckets: list[str]) -> None:
    reads, writes = BUCKET_CANNED[canned]
    name = new_bucket(alice, buckets, ACL=canned)
    acl = alice.cos.get_bucket_acl(Bucket=name)
    assert acl["CannedACL"] == canned
    assert acl["Owner"]["ID"] == alice.user_id
    assert acl["Owner"]["DisplayName"] == alice.display_name
    assert allowed(bob.cos.list_objects, Bucket=name) is reads
    assert (anon_status(wire, "GET", name) == 200) is reads
    assert allowed(bob.cos.put_object, Bucket=name, Key="b", Body=b"b") is writes
    put = wire.request("PUT", name, "anon", body=b"a", sign=False)
    assert (put.status_code == 200) is writes
    assert not allowed(bob.cos.get_bucket_acl, Bucket=name)
    assert not allowed(bob.cos.put_bucket_acl, Bucket=name, ACL="public-read-write")
    assert not allowed(bob.cos.delete_bucket, Bucket=name)
    # The same through PutBucketAcl afterwards.
    other = new_bucket(alice, buckets)
    alice.cos.put_bucket_acl(Bucket=other, ACL=canned)
    assert alice.cos.get_bucket_acl(Bucket=other)["CannedACL"] == canned


def test_bucket_values_and_ownership(alice: CosAccount, bob: CosAccount,
                                     buckets: list[str]) -> None:
    name = new_bucket(alice, buckets)
    for bad in ("default", "authenticated-read", "nonsense"):
        assert error_of(alice.cos.put_bucket_acl, Bucket=name, ACL=bad) == (
            400, "InvalidArgument")
    assert error_of(bob.cos.create_bucket, Bucket=name) == (409, "BucketAlreadyExists")
    listed = bob.cos.list_buckets()["Buckets"]
    names = [b["Name"] for b in (listed or {}).get("Bucket", [])] if listed else []
    assert name not in names
    mine = alice.cos.list_buckets()
    assert name in [b["Name"] for b in mine["Buckets"]["Bucket"]]
    assert mine["Owner"]["ID"] == alice.user_id


# -- objects ----------------------------------------------------------------------------------

# (bucket ACL, object ACL or None for none sent) -> anonymous and other-account read
OBJECT_CASES = {
    ("private", None): False,
    ("public-read", None): True,  # no ACL: "default", the bucket's
    ("private", "default"): False,
    ("public-read", "default"): True,
    ("public-read", "private"): False,
    ("private", "public-read"): True,
}


@pytest.mark.parametrize(("bucket_acl", "object_acl"), list(OBJECT_CASES))
def test_canned_object_acl(bucket_acl: str, object_acl: str | None, alice: CosAccount,
                           bob: CosAccount, wire: Wire, buckets: list[str]) -> None:
    reads = OBJECT_CASES[(bucket_acl, object_acl)]
    name = new_bucket(alice, buckets, ACL=bucket_acl)
    extra = {"ACL": object_acl} if object_acl else {}
    alice.cos.put_object(Bucket=name, Key="o", Body=b"data", **extra)
    acl = alice.cos.get_object_acl(Bucket=name, Key="o")
    assert acl["CannedACL"] == (object_acl or "default")
    assert acl["Owner"]["ID"] == alice.user_id
    assert (anon_status(wire, "GET", name, "o") == 200) is reads
    assert (anon_status(wire, "HEAD", name, "o") == 200) is reads
    assert allowed(bob.cos.get_object, Bucket=name, Key="o") is reads
    assert not allowed(bob.cos.get_object_acl, Bucket=name, Key="o")
    assert not allowed(bob.cos.put_object_acl, Bucket=name, Key="o", ACL="public-read")


def test_default_follows_later_bucket_changes(alice: CosAccount, wire: Wire,
                                              buckets: list[str]) -> None:
    name = new_bucket(alice, buckets)
    alice.cos.put_object(Bucket=name, Key="d", Body=b"d")
    alice.cos.put_object(Bucket=name, Key="p", Body=b"p", ACL="private")
    assert anon_status(wire, "GET", name, "d") == 403
    alice.cos.put_bucket_acl(Bucket=name, ACL="public-read")
    assert anon_status(wire, "GET", name, "d") == 200
    assert anon_status(wire, "GET", name, "p") == 403
    alice.cos.put_object_acl(Bucket=name, Key="p", ACL="default")
    assert anon_status(wire, "GET", name, "p") == 200
    for bad in ("public-read-write", "authenticated-read"):
        assert error_of(alice.cos.put_object_acl, Bucket=name, Key="p", ACL=bad) == (
            400, "InvalidArgument")


def test_initiate_acl_applies_to_completed_object(alice: CosAccount, wire: Wire,
                                                  buckets: list[str]) -> None:
    name = new_bucket(alice, buckets)
    up = alice.cos.create_multipart_upload(Bucket=name, Key="mp", ACL="public-read",
                                           Tagging="a=1")["UploadId"]
    etag = alice.cos.upload_part(Bucket=name, Key="mp", Body=b"m" * 5, PartNumber=1,
                                 UploadId=up)["ETag"]
    alice.cos.complete_multipart_upload(Bucket=name, Key="mp", UploadId=up, MultipartUpload={
        "Part": [{"PartNumber": 1, "ETag": etag}]})
    assert anon_status(wire, "GET", name, "mp") == 200
    assert alice.cos.get_object_acl(Bucket=name, Key="mp")["CannedACL"] == "public-read"


# -- grants -----------------------------------------------------------------------------------


@pytest.mark.parametrize("form", ['id="{id}"', 'uin="{id}"', 'id="qcs::cam::uin/{id}:uin/{id}"'])
def test_grant_read_header_forms(form: str, alice: CosAccount, bob: CosAccount,
                                 buckets: list[str]) -> None:
    name = new_bucket(alice, buckets)
    alice.cos.put_object(Bucket=name, Key="o", Body=b"for bob",
                         GrantRead=form.format(id=bob.user_id))
    grants = alice.cos.get_object_acl(Bucket=name, Key="o")["AccessControlList"]["Grant"]
    assert [(g["Grantee"]["ID"], g["Grantee"]["DisplayName"], g["Permission"])
            for g in grants] == [(bob.user_id, bob.display_name, "READ")]
    body = bob.cos.get_object(Bucket=name, Key="o")["Body"].get_raw_stream().read()
    assert body == b"for bob"
    assert not allowed(bob.cos.list_objects, Bucket=name)
    alice.cos.put_bucket_acl(Bucket=name, GrantRead=form.format(id=bob.user_id))
    assert allowed(bob.cos.list_objects, Bucket=name)


def test_grant_document(alice: CosAccount, bob: CosAccount, wire: Wire,
                        buckets: list[str]) -> None:
    name = new_bucket(alice, buckets)
    xsi = "http://www.w3.org/2001/XMLSchema-instance"
    policy = {
        "Owner": {"ID": alice.user_id},
        "AccessControlList": {"Grant": [
            {"Grantee": {"@xmlns:xsi": xsi, "@xsi:type": "CanonicalUser", "ID": bob.user_id},
             "Permission": "WRITE"},
            {"Grantee": {"@xmlns:xsi": xsi, "@xsi:type": "Group", "URI": ALL_USERS},
             "Permission": "READ"},
        ]},
    }
    alice.cos.put_bucket_acl(Bucket=name, AccessControlPolicy=policy)
    acl = alice.cos.get_bucket_acl(Bucket=name)
    assert acl["CannedACL"] == "public-read"
    grants = acl["AccessControlList"]["Grant"]
    assert [(g["Grantee"].get("URI") or g["Grantee"]["ID"], g["Permission"])
            for g in grants] == [(ALL_USERS, "READ"), (bob.user_id, "WRITE")]
    assert allowed(bob.cos.put_object, Bucket=name, Key="w", Body=b"w")
    assert anon_status(wire, "GET", name) == 200
    assert wire.request("PUT", name, "x", body=b"x", sign=False).status_code == 403


def test_access_denied_is_cos_spelled(alice: CosAccount, bob: CosAccount, wire: Wire,
                                      buckets: list[str]) -> None:
    name = new_bucket(alice, buckets)
    alice.cos.put_object(Bucket=name, Key="o", Body=b"x")
    with pytest.raises(CosServiceError) as info:
        bob.cos.get_object(Bucket=name, Key="o")
    err = info.value
    assert (err.get_status_code(), err.get_error_code()) == (403, "AccessDenied")
    assert err.get_trace_id() and err.get_request_id()
    raw = wire.request("GET", name, "o", sign=False)
    headers = ci(raw.headers)
    assert raw.status_code == 403 and "x-cos-request-id" in headers
    assert "xmlns" not in raw.text and "<Code>AccessDenied</Code>" in raw.text


# -- tagging ----------------------------------------------------------------------------------


def test_tagging(alice: CosAccount, bob: CosAccount, buckets: list[str]) -> None:
    cos = alice.cos
    name = new_bucket(alice, buckets, ACL="public-read")
    cos.put_object(Bucket=name, Key="t", Body=b"x", Tagging="b=2&a=1")
    assert ci(cos.head_object(Bucket=name, Key="t"))["x-cos-tagging-count"] == "2"
    assert ci(cos.get_object(Bucket=name, Key="t"))["x-cos-tagging-count"] == "2"
    tags = cos.get_object_tagging(Bucket=name, Key="t")["TagSet"]["Tag"]
    assert tags == [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}]
    cos.put_object_tagging(Bucket=name, Key="t", Tagging={"TagSet": {"Tag": [
        {"Key": "k", "Value": "v"}]}})
    assert cos.get_object_tagging(Bucket=name, Key="t")["TagSet"]["Tag"] == [
        {"Key": "k", "Value": "v"}]
    # bob may read the object (public-read bucket, default ACL) but not its tags.
    assert allowed(bob.cos.get_object, Bucket=name, Key="t")
    assert not allowed(bob.cos.get_object_tagging, Bucket=name, Key="t")
    assert not allowed(bob.cos.delete_object_tagging, Bucket=name, Key="t")
    eleven = [{"Key": f"k{i}", "Value": "v"} for i in range(11)]
    assert error_of(cos.put_object_tagging, Bucket=name, Key="t",
                    Tagging={"TagSet": {"Tag": eleven}}) == (400, "InvalidArgument")
    assert error_of(cos.put_object, Bucket=name, Key="u", Body=b"",
                    Tagging="k=1&k=2") == (400, "InvalidArgument")
    cos.delete_object_tagging(Bucket=name, Key="t")
    assert "x-cos-tagging-count" not in ci(cos.head_object(Bucket=name, Key="t"))
