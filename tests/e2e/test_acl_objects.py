"""Object ACLs and tagging end to end with boto3: canned object ACLs seen by the bucket owner,
another account and anonymous callers; grants; copy sources; multipart; tags at put, copy and
initiate, their limits and who may read or change them."""
# The account fixtures come from test_acl.py; tests naming them "redefine" the imports.
# ruff: noqa: F811

from __future__ import annotations

from typing import Any

import pytest
import requests

from .test_acl import (  # noqa: F401 - fixtures
    ALL_USERS,
    AUTH_USERS,
    Account,
    alice,
    allowed,
    anon,
    bob,
    buckets,
    carol,
    code_of,
    grants_of,
    new_bucket,
)

# canned -> (grants other than the writer's FULL_CONTROL, with "BUCKET_OWNER" for the bucket
#            owner's id; bucket owner reads, third account reads, anonymous reads,
#            bucket owner reads the ACL)
OBJECT_CANNED: dict[str, tuple[list[tuple[str, str]], bool, bool, bool, bool]] = {
    "private": ([], False, False, False, False),
    "public-read": ([(ALL_USERS, "READ")], True, True, True, False),
    "public-read-write": ([(ALL_USERS, "READ"), (ALL_USERS, "WRITE")], True, True, True, False),
    "authenticated-read": ([(AUTH_USERS, "READ")], True, True, False, False),
    "bucket-owner-read": ([("BUCKET_OWNER", "READ")], True, False, False, False),
    "bucket-owner-full-control": ([("BUCKET_OWNER", "FULL_CONTROL")], True, False, False, True),
}


@pytest.mark.parametrize("canned", list(OBJECT_CANNED))
def test_canned_object_acl(canned: str, alice: Account, bob: Account, carol: Account,
                           anon: Any, buckets: list[str]) -> None:
    """Bob writes into Alice's public-read-write bucket with a canned ACL."""
    extra, owner_reads, carol_reads, anon_reads, owner_reads_acl = OBJECT_CANNED[canned]
    name = new_bucket(alice, ACL="public-read-write")
    buckets.append(name)
    bob.s3.put_object(Bucket=name, Key="o", Body=b"bob's", ACL=canned)
    acl = bob.s3.get_object_acl(Bucket=name, Key="o")
    assert acl["Owner"] == {"ID": bob.user_id, "DisplayName": bob.display_name}
    want = [(alice.user_id if who == "BUCKET_OWNER" else who, perm) for who, perm in extra]
    groups = [g for g in want if g[0].startswith("http")]
    users = [g for g in want if not g[0].startswith("http")]
    assert grants_of(acl) == [*groups, (bob.user_id, "FULL_CONTROL"), *users]
    names = {g["Grantee"].get("ID"): g["Grantee"].get("DisplayName") for g in acl["Grants"]}
    assert names.get(alice.user_id, alice.display_name) == alice.display_name
    assert allowed(bob.s3.get_object, Bucket=name, Key="o")
    assert allowed(alice.s3.get_object, Bucket=name, Key="o") is owner_reads
    assert allowed(alice.s3.head_object, Bucket=name, Key="o") is owner_reads
    assert allowed(carol.s3.get_object, Bucket=name, Key="o") is carol_reads
    assert allowed(anon.get_object, Bucket=name, Key="o") is anon_reads
    assert allowed(alice.s3.get_object_acl, Bucket=name, Key="o") is owner_reads_acl
    assert not allowed(carol.s3.put_object_acl, Bucket=name, Key="o", ACL="public-read")
    # Bucket WRITE still lets anyone replace or delete the object (it is the bucket's).
    assert allowed(carol.s3.delete_object, Bucket=name, Key="o")


def test_object_acl_by_put_object_acl(alice: Account, bob: Account, buckets: list[str]) -> None:
    name = new_bucket(alice)
    buckets.append(name)
    alice.s3.put_object(Bucket=name, Key="o", Body=b"x")
    assert grants_of(alice.s3.get_object_acl(Bucket=name, Key="o")) == [
        (alice.user_id, "FULL_CONTROL")]
    for canned, (extra, *_rest) in OBJECT_CANNED.items():
        alice.s3.put_object_acl(Bucket=name, Key="o", ACL=canned)
        got = grants_of(alice.s3.get_object_acl(Bucket=name, Key="o"))
        # Written by the bucket's owner: the bucket-owner grants name the same account.
        assert got == [*[g for g in extra if g[0] != "BUCKET_OWNER"],
                       (alice.user_id, "FULL_CONTROL"),
                       *[(alice.user_id, p) for w, p in extra if w == "BUCKET_OWNER"]], canned
    assert code_of(alice.s3.put_object_acl, Bucket=name, Key="o",
                   ACL="default") == "InvalidArgument"
    assert code_of(alice.s3.put_object_acl, Bucket=name, Key="missing",
                   ACL="private") == "NoSuchKey"
    assert not allowed(bob.s3.put_object_acl, Bucket=name, Key="missing", ACL="private")


def test_anonymous_reads_a_public_object_and_nothing_else(
        alice: Account, anon: Any, buckets: list[str], server: Any) -> None:
    name = new_bucket(alice)
    buckets.append(name)
    alice.s3.put_object(Bucket=name, Key="pub", Body=b"public", ACL="public-read",
                        Tagging="t=1")
    alice.s3.put_object(Bucket=name, Key="priv", Body=b"private")
    assert anon.get_object(Bucket=name, Key="pub")["Body"].read() == b"public"
    assert anon.head_object(Bucket=name, Key="pub")["ContentLength"] == 6
    denied = [
        (anon.get_object, {"Key": "priv"}),
        (anon.get_object, {"Key": "missing"}),  # no list right: not even NoSuchKey
        (anon.list_objects, {}),
        (anon.list_objects_v2, {}),
        (anon.list_multipart_uploads, {}),
        (anon.put_object, {"Key": "new", "Body": b"x"}),
        (anon.delete_object, {"Key": "pub"}),
        (anon.get_object_acl, {"Key": "pub"}),
        (anon.put_object_acl, {"Key": "pub", "ACL": "public-read-write"}),
        (anon.get_object_tagging, {"Key": "pub"}),
        (anon.put_object_tagging, {"Key": "pub", "Tagging": {"TagSet": []}}),
        (anon.delete_object_tagging, {"Key": "pub"}),
        (anon.get_bucket_acl, {}),
        (anon.copy_object, {"Key": "copy", "CopySource": {"Bucket": name, "Key": "pub"}}),
        (anon.create_multipart_upload, {"Key": "mp"}),
    ]
    for call, kwargs in denied:
        assert not allowed(call, Bucket=name, **kwargs), (call, kwargs)
    assert not allowed(anon.list_buckets)
    assert not allowed(anon.create_bucket, Bucket=name + "-anon")
    # The denial is an S3 error document.
    raw = requests.get(f"{server.endpoint}/{name}/priv", timeout=10)
    assert raw.status_code == 403 and b"<Code>AccessDenied</Code>" in raw.content
    assert alice.s3.get_object(Bucket=name, Key="pub")["Body"].read() == b"public"


def test_object_grants(alice: Account, bob: Account, carol: Account, anon: Any,
                       buckets: list[str]) -> None:
    name = new_bucket(alice)
    buckets.append(name)
    alice.s3.put_object(Bucket=name, Key="o", Body=b"x", GrantRead=f'id="{bob.user_id}"',
                        GrantReadACP=f"id={carol.user_id}")
    acl = alice.s3.get_object_acl(Bucket=name, Key="o")
    assert grants_of(acl) == [(bob.user_id, "READ"), (carol.user_id, "READ_ACP")]
    assert [g["Grantee"]["DisplayName"] for g in acl["Grants"]] == [bob.display_name,
                                                                    carol.display_name]
    assert allowed(bob.s3.get_object, Bucket=name, Key="o")
    assert not allowed(bob.s3.get_object_acl, Bucket=name, Key="o")
    assert not allowed(carol.s3.get_object, Bucket=name, Key="o")
    assert allowed(carol.s3.get_object_acl, Bucket=name, Key="o")
    assert not allowed(bob.s3.put_object, Bucket=name, Key="o", Body=b"y")  # bucket WRITE
    # A document: bob FULL_CONTROL, AllUsers READ; carol's grant is gone.
    alice.s3.put_object_acl(Bucket=name, Key="o", AccessControlPolicy={
        "Owner": {"ID": alice.user_id},
        "Grants": [{"Grantee": {"Type": "CanonicalUser", "ID": bob.user_id},
                    "Permission": "FULL_CONTROL"},
                   {"Grantee": {"Type": "Group", "URI": ALL_USERS}, "Permission": "READ"}]})
    assert allowed(anon.get_object, Bucket=name, Key="o")
    assert not allowed(carol.s3.get_object_acl, Bucket=name, Key="o")
    bob.s3.put_object_acl(Bucket=name, Key="o", GrantWriteACP=f'id="{bob.user_id}"')
    assert not allowed(bob.s3.get_object, Bucket=name, Key="o")  # his READ went with it
    assert not allowed(anon.get_object, Bucket=name, Key="o")


def test_copy_needs_read_on_the_source(alice: Account, bob: Account, anon: Any,
                                       buckets: list[str]) -> None:
    src, dst = new_bucket(alice), new_bucket(bob)
    buckets += [src, dst]
    alice.s3.put_object(Bucket=src, Key="s", Body=b"secret", Tagging="a=1")
    source = {"Bucket": src, "Key": "s"}
    assert not allowed(bob.s3.copy_object, Bucket=dst, Key="c", CopySource=source)
    up = bob.s3.create_multipart_upload(Bucket=dst, Key="m")["UploadId"]
    assert not allowed(bob.s3.upload_part_copy, Bucket=dst, Key="m", UploadId=up,
                       PartNumber=1, CopySource=source)
    assert not allowed(bob.s3.copy_object, Bucket=dst, Key="c",
                       CopySource={"Bucket": src, "Key": "missing"})
    alice.s3.put_object_acl(Bucket=src, Key="s", GrantRead=f'id="{bob.user_id}"')
    bob.s3.copy_object(Bucket=dst, Key="c", CopySource=source, ACL="public-read")
    acl = bob.s3.get_object_acl(Bucket=dst, Key="c")
    assert acl["Owner"]["ID"] == bob.user_id
    assert grants_of(acl) == [(ALL_USERS, "READ"), (bob.user_id, "FULL_CONTROL")]
    assert anon.get_object(Bucket=dst, Key="c")["Body"].read() == b"secret"
    assert bob.s3.get_object_tagging(Bucket=dst, Key="c")["TagSet"] == [
        {"Key": "a", "Value": "1"}]
    part = bob.s3.upload_part_copy(Bucket=dst, Key="m", UploadId=up, PartNumber=1,
                                   CopySource=source)
    assert part["CopyPartResult"]["ETag"]
    bob.s3.abort_multipart_upload(Bucket=dst, Key="m", UploadId=up)
    # Bob may not write into alice's private bucket, whatever he may read.
    assert not allowed(bob.s3.copy_object, Bucket=src, Key="c", CopySource=source)


def test_multipart_initiate_acl_and_tags(alice: Account, bob: Account, anon: Any,
                                         buckets: list[str]) -> None:
    name = new_bucket(alice)
    buckets.append(name)
    up = alice.s3.create_multipart_upload(Bucket=name, Key="mp", ACL="public-read",
                                          Tagging="team=blue&tier=1")["UploadId"]
    etag = alice.s3.upload_part(Bucket=name, Key="mp", UploadId=up, PartNumber=1,
                                Body=b"z" * 10)["ETag"]
    assert not allowed(anon.get_object, Bucket=name, Key="mp")  # not there yet
    assert not allowed(bob.s3.upload_part, Bucket=name, Key="mp", UploadId=up, PartNumber=2,
                       Body=b"b")
    assert not allowed(bob.s3.list_parts, Bucket=name, Key="mp", UploadId=up)
    assert not allowed(bob.s3.complete_multipart_upload, Bucket=name, Key="mp", UploadId=up,
                       MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
    alice.s3.complete_multipart_upload(Bucket=name, Key="mp", UploadId=up, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": etag}]})
    got = anon.get_object(Bucket=name, Key="mp")
    assert got["Body"].read() == b"z" * 10
    assert got["TagCount"] == 2
    assert grants_of(alice.s3.get_object_acl(Bucket=name, Key="mp")) == [
        (ALL_USERS, "READ"), (alice.user_id, "FULL_CONTROL")]
    assert alice.s3.get_object_tagging(Bucket=name, Key="mp")["TagSet"] == [
        {"Key": "team", "Value": "blue"}, {"Key": "tier", "Value": "1"}]


# -- tagging ----------------------------------------------------------------------------------


def test_tagging_round_trip_and_count(alice: Account, buckets: list[str]) -> None:
    s3 = alice.s3
    name = new_bucket(alice)
    buckets.append(name)
    s3.put_object(Bucket=name, Key="t", Body=b"x", Tagging="b=2&a=1&empty=")
    assert s3.get_object(Bucket=name, Key="t")["TagCount"] == 3
    assert s3.head_object(Bucket=name, Key="t")["ResponseMetadata"]["HTTPHeaders"][
        "x-amz-tagging-count"] == "3"
    assert s3.get_object_tagging(Bucket=name, Key="t")["TagSet"] == [
        {"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}, {"Key": "empty", "Value": ""}]
    s3.put_object_tagging(Bucket=name, Key="t", Tagging={"TagSet": [{"Key": "k",
                                                                     "Value": "v w"}]})
    assert s3.get_object_tagging(Bucket=name, Key="t")["TagSet"] == [{"Key": "k",
                                                                      "Value": "v w"}]
    s3.delete_object_tagging(Bucket=name, Key="t")
    assert s3.get_object_tagging(Bucket=name, Key="t")["TagSet"] == []
    assert "TagCount" not in s3.get_object(Bucket=name, Key="t")
    assert code_of(s3.get_object_tagging, Bucket=name, Key="missing") == "NoSuchKey"


def test_tagging_limits(alice: Account, buckets: list[str]) -> None:
    s3 = alice.s3
    name = new_bucket(alice)
    buckets.append(name)
    s3.put_object(Bucket=name, Key="t", Body=b"x")

    def put(tags: list[tuple[str, str]]) -> str:
        return code_of(s3.put_object_tagging, Bucket=name, Key="t", Tagging={
            "TagSet": [{"Key": k, "Value": v} for k, v in tags]})

    ten = [(f"k{i}", "v") for i in range(10)]
    assert put(ten) == "ok"
    assert put([*ten, ("k10", "v")]) == "InvalidTag"
    assert put([("k" * 128, "v" * 256)]) == "ok"
    assert put([("k" * 129, "v")]) == "InvalidTag"
    assert put([("k", "v" * 257)]) == "InvalidTag"
    assert put([("k", "1"), ("k", "2")]) == "InvalidTag"
    eleven = "&".join(f"k{i}=v" for i in range(11))
    assert code_of(s3.put_object, Bucket=name, Key="u", Body=b"", Tagging=eleven) == "InvalidTag"
    assert code_of(s3.create_multipart_upload, Bucket=name, Key="u",
                   Tagging=eleven) == "InvalidTag"
    assert code_of(s3.copy_object, Bucket=name, Key="u", CopySource={"Bucket": name, "Key": "t"},
                   TaggingDirective="REPLACE", Tagging=eleven) == "InvalidTag"
    assert len(s3.get_object_tagging(Bucket=name, Key="t")["TagSet"]) == 1


def test_tagging_copy_directives(alice: Account, buckets: list[str]) -> None:
    s3 = alice.s3
    name = new_bucket(alice)
    buckets.append(name)
    s3.put_object(Bucket=name, Key="src", Body=b"x", Tagging="from=src")
    source = {"Bucket": name, "Key": "src"}
    s3.copy_object(Bucket=name, Key="kept", CopySource=source)
    assert s3.get_object_tagging(Bucket=name, Key="kept")["TagSet"] == [
        {"Key": "from", "Value": "src"}]
    s3.copy_object(Bucket=name, Key="new", CopySource=source, TaggingDirective="REPLACE",
                   Tagging="from=copy&x=y")
    assert s3.get_object_tagging(Bucket=name, Key="new")["TagSet"] == [
        {"Key": "from", "Value": "copy"}, {"Key": "x", "Value": "y"}]
    s3.copy_object(Bucket=name, Key="none", CopySource=source, TaggingDirective="REPLACE")
    assert s3.get_object_tagging(Bucket=name, Key="none")["TagSet"] == []


def test_tagging_permissions(alice: Account, bob: Account, buckets: list[str]) -> None:
    """READ is the data only; tags need the object's owner or FULL_CONTROL."""
    name = new_bucket(alice, ACL="public-read-write")
    buckets.append(name)
    alice.s3.put_object(Bucket=name, Key="o", Body=b"x", Tagging="a=1",
                        GrantRead=f'id="{bob.user_id}"')
    tags = {"TagSet": [{"Key": "b", "Value": "2"}]}
    assert allowed(bob.s3.get_object, Bucket=name, Key="o")
    assert not allowed(bob.s3.get_object_tagging, Bucket=name, Key="o")
    assert not allowed(bob.s3.put_object_tagging, Bucket=name, Key="o", Tagging=tags)
    assert not allowed(bob.s3.delete_object_tagging, Bucket=name, Key="o")
    alice.s3.put_object_acl(Bucket=name, Key="o", GrantFullControl=f'id="{bob.user_id}"')
    bob.s3.put_object_tagging(Bucket=name, Key="o", Tagging=tags)
    assert alice.s3.get_object_tagging(Bucket=name, Key="o")["TagSet"] == tags["TagSet"]
    bob.s3.delete_object_tagging(Bucket=name, Key="o")
    assert bob.s3.get_object_tagging(Bucket=name, Key="o")["TagSet"] == []
    # Bob's own object in alice's bucket: his to tag.
    bob.s3.put_object(Bucket=name, Key="bobs", Body=b"b")
    bob.s3.put_object_tagging(Bucket=name, Key="bobs", Tagging=tags)
    assert not allowed(alice.s3.get_object_tagging, Bucket=name, Key="bobs")
