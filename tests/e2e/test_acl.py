"""Access control end to end with boto3: real accounts (made with ``shoal user add`` on the
live server's data dir), anonymous clients, ownership, ListBuckets, canned bucket ACLs and
grants by header and by document. Objects: test_acl_objects.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from botocore import UNSIGNED
from botocore.exceptions import ClientError

from .conftest import add_user, empty_and_delete, make_client, unique_name
from .server import LiveServer

ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
AUTH_USERS = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"


@dataclass
class Account:
    name: str
    user_id: str
    display_name: str
    s3: Any  # botocore S3 client signed with the account's key


def add_account(server: LiveServer, label: str) -> Account:
    """A new account on the server (``shoal user add`` beside the running server)."""
    out = add_user(server, label)
    s3 = make_client(server.endpoint, access_key=out["access_key"],
                     secret_key=out["secret_key"])
    return Account(out["user"]["name"], out["user"]["canonical_id"],
                   out["user"]["display_name"], s3)


@pytest.fixture(scope="module")
def alice(server: LiveServer) -> Account:
    return add_account(server, "alice")


@pytest.fixture(scope="module")
def bob(server: LiveServer) -> Account:
    return add_account(server, "bob")


@pytest.fixture(scope="module")
def carol(server: LiveServer) -> Account:
    return add_account(server, "carol")


@pytest.fixture(scope="module")
def anon(server: LiveServer) -> Any:
    """An unsigned (anonymous) client."""
    return make_client(server.endpoint, signature_version=UNSIGNED)


def code_of(call: Callable[..., object], *args: Any, **kwargs: Any) -> str:
    """"ok", or the error code the call failed with."""
    try:
        call(*args, **kwargs)
    except ClientError as exc:
        return str(exc.response["Error"]["Code"])
    return "ok"


def allowed(call: Callable[..., object], *args: Any, **kwargs: Any) -> bool:
    """True if the call succeeds, False if it is AccessDenied (403; a HEAD has no body, so no
    code); anything else fails."""
    try:
        call(*args, **kwargs)
    except ClientError as exc:
        err = exc.response["Error"]["Code"], exc.response["ResponseMetadata"]["HTTPStatusCode"]
        assert err in (("AccessDenied", 403), ("403", 403)), exc.response
        return False
    return True


def new_bucket(who: Account, **kwargs: Any) -> str:
    name = unique_name("acl")
    who.s3.create_bucket(Bucket=name, **kwargs)
    return name


@pytest.fixture
def buckets(s3: Any) -> Iterator[list[str]]:
    """Names appended here are emptied and deleted (by root, who may do anything) after the
    test."""
    names: list[str] = []
    yield names
    for name in names:
        empty_and_delete(s3, name)


def grants_of(acl: dict[str, Any]) -> list[tuple[str | None, str]]:
    """(group URI or canonical id, permission) of each grant, in document order."""
    return [(g["Grantee"].get("URI") or g["Grantee"].get("ID"), g["Permission"])
            for g in acl["Grants"]]


# -- ownership --------------------------------------------------------------------------------


def test_owners_list_buckets_and_names(alice: Account, bob: Account, s3: Any,
                                       buckets: list[str]) -> None:
    name = new_bucket(alice, ACL="public-read-write")
    buckets.append(name)
    assert code_of(bob.s3.create_bucket, Bucket=name) == "BucketAlreadyExists"
    assert code_of(s3.create_bucket, Bucket=name) == "BucketAlreadyExists"
    mine = alice.s3.list_buckets()
    assert name in [b["Name"] for b in mine["Buckets"]]
    assert mine["Owner"] == {"ID": alice.user_id, "DisplayName": alice.display_name}
    assert name not in [b["Name"] for b in bob.s3.list_buckets()["Buckets"]]
    # Display names of other owners come from the accounts (root reads alice's bucket ACL;
    # alice lists bob's object).
    owner = s3.get_bucket_acl(Bucket=name)["Owner"]
    assert owner == {"ID": alice.user_id, "DisplayName": alice.display_name}
    bob.s3.put_object(Bucket=name, Key="b", Body=b"bob's")
    alice.s3.put_object(Bucket=name, Key="a", Body=b"alice's")
    listed = alice.s3.list_objects(Bucket=name)["Contents"]
    assert [(o["Key"], o["Owner"]["ID"], o["Owner"]["DisplayName"]) for o in listed] == [
        ("a", alice.user_id, alice.display_name), ("b", bob.user_id, bob.display_name)]
    v2 = bob.s3.list_objects_v2(Bucket=name, FetchOwner=True)["Contents"]
    assert [o["Owner"]["DisplayName"] for o in v2] == [alice.display_name, bob.display_name]
    versions = alice.s3.list_object_versions(Bucket=name)["Versions"]
    assert [o["Owner"]["DisplayName"] for o in versions] == [alice.display_name,
                                                             bob.display_name]


def test_owner_only_operations(alice: Account, bob: Account, buckets: list[str]) -> None:
    """Even public-read-write gives others no bucket configuration and no deletion."""
    name = new_bucket(alice, ACL="public-read-write")
    buckets.append(name)
    tags = {"TagSet": [{"Key": "k", "Value": "v"}]}
    assert not allowed(bob.s3.put_bucket_tagging, Bucket=name, Tagging=tags)
    assert not allowed(bob.s3.get_bucket_tagging, Bucket=name)
    assert not allowed(bob.s3.put_public_access_block, Bucket=name,
                       PublicAccessBlockConfiguration={"BlockPublicAcls": True})
    assert not allowed(bob.s3.delete_bucket, Bucket=name)
    assert not allowed(bob.s3.get_bucket_acl, Bucket=name)
    assert not allowed(bob.s3.put_bucket_acl, Bucket=name, ACL="private")
    alice.s3.put_bucket_tagging(Bucket=name, Tagging=tags)
    assert alice.s3.get_bucket_tagging(Bucket=name)["TagSet"] == tags["TagSet"]


# -- canned bucket ACLs -----------------------------------------------------------------------

# canned -> (grants besides the owner's FULL_CONTROL, anonymous lists, another account lists,
#            anonymous writes, another account writes)
BUCKET_CANNED = {
    "private": ([], False, False, False, False),
    "public-read": ([(ALL_USERS, "READ")], True, True, False, False),
    "public-read-write": ([(ALL_USERS, "READ"), (ALL_USERS, "WRITE")], True, True, True, True),
    "authenticated-read": ([(AUTH_USERS, "READ")], False, True, False, False),
}


@pytest.mark.parametrize("canned", list(BUCKET_CANNED))
def test_canned_bucket_acl(canned: str, alice: Account, bob: Account, anon: Any,
                           buckets: list[str]) -> None:
    groups, anon_reads, bob_reads, anon_writes, bob_writes = BUCKET_CANNED[canned]
    name = new_bucket(alice, ACL=canned)
    buckets.append(name)
    alice.s3.put_object(Bucket=name, Key="k", Body=b"x")
    acl = alice.s3.get_bucket_acl(Bucket=name)
    assert grants_of(acl) == [*groups, (alice.user_id, "FULL_CONTROL")]
    assert acl["Grants"][-1]["Grantee"]["DisplayName"] == alice.display_name
    assert allowed(anon.list_objects, Bucket=name) is anon_reads
    assert allowed(bob.s3.list_objects_v2, Bucket=name) is bob_reads
    assert allowed(anon.put_object, Bucket=name, Key="anon", Body=b"a") is anon_writes
    assert allowed(bob.s3.put_object, Bucket=name, Key="bob", Body=b"b") is bob_writes
    assert allowed(bob.s3.delete_object, Bucket=name, Key="k") is bob_writes
    # The same ACL set afterwards by PutBucketAcl with the canned header.
    other = new_bucket(alice)
    buckets.append(other)
    alice.s3.put_bucket_acl(Bucket=other, ACL=canned)
    assert grants_of(alice.s3.get_bucket_acl(Bucket=other)) == grants_of(acl)
    assert allowed(bob.s3.list_objects, Bucket=other) is bob_reads


def test_head_bucket_follows_read(alice: Account, anon: Any, buckets: list[str]) -> None:
    private, public = new_bucket(alice), new_bucket(alice, ACL="public-read")
    buckets += [private, public]
    with pytest.raises(ClientError) as exc:
        anon.head_bucket(Bucket=private)
    assert exc.value.response["Error"]["Code"] == "403"
    anon.head_bucket(Bucket=public)


def test_bucket_canned_acl_values_checked(alice: Account, buckets: list[str]) -> None:
    name = new_bucket(alice)
    buckets.append(name)
    assert code_of(alice.s3.put_bucket_acl, Bucket=name, ACL="default") == "InvalidArgument"
    assert code_of(alice.s3.put_bucket_acl, Bucket=name, ACL="private",
                   GrantRead=f'id="{alice.user_id}"') == "InvalidRequest"


# -- grants -----------------------------------------------------------------------------------


def _bob_can(bob: Account, name: str) -> dict[str, bool]:
    return {
        "READ": allowed(bob.s3.list_objects, Bucket=name),
        "WRITE": allowed(bob.s3.put_object, Bucket=name, Key="by-bob", Body=b"b"),
        "READ_ACP": allowed(bob.s3.get_bucket_acl, Bucket=name),
        # Re-grants bob's own permission, so it changes nothing when allowed.
        "WRITE_ACP": allowed(bob.s3.put_bucket_acl, Bucket=name,
                             GrantWriteACP=f'id="{bob.user_id}"'),
    }


GRANT_ARGS = {"READ": "GrantRead", "WRITE": "GrantWrite", "READ_ACP": "GrantReadACP",
              "WRITE_ACP": "GrantWriteACP", "FULL_CONTROL": "GrantFullControl"}


@pytest.mark.parametrize("perm", list(GRANT_ARGS))
def test_bucket_grant_headers(perm: str, alice: Account, bob: Account, carol: Account,
                              anon: Any, buckets: list[str]) -> None:
    name = new_bucket(alice, **{GRANT_ARGS[perm]: f'id="{bob.user_id}"'})
    buckets.append(name)
    acl = alice.s3.get_bucket_acl(Bucket=name)
    assert grants_of(acl) == [(bob.user_id, perm)]
    assert acl["Grants"][0]["Grantee"]["DisplayName"] == bob.display_name
    assert acl["Owner"]["ID"] == alice.user_id
    want = {p: perm in (p, "FULL_CONTROL") for p in ("READ", "WRITE", "READ_ACP", "WRITE_ACP")}
    assert _bob_can(bob, name) == want
    assert not allowed(carol.s3.list_objects, Bucket=name)
    assert not allowed(anon.list_objects, Bucket=name)
    # The owner keeps every right whatever the grants say.
    alice.s3.put_object(Bucket=name, Key="own", Body=b"o")
    alice.s3.get_bucket_acl(Bucket=name)


def test_bucket_grant_document(alice: Account, bob: Account, carol: Account, anon: Any,
                               buckets: list[str]) -> None:
    name = new_bucket(alice)
    buckets.append(name)
    policy = {
        "Owner": {"ID": alice.user_id},
        "Grants": [
            {"Grantee": {"Type": "Group", "URI": AUTH_USERS}, "Permission": "READ"},
            {"Grantee": {"Type": "CanonicalUser", "ID": bob.user_id}, "Permission": "WRITE"},
            {"Grantee": {"Type": "CanonicalUser", "ID": alice.user_id},
             "Permission": "FULL_CONTROL"},
        ],
    }
    alice.s3.put_bucket_acl(Bucket=name, AccessControlPolicy=policy)
    got = alice.s3.get_bucket_acl(Bucket=name)
    assert grants_of(got) == [(AUTH_USERS, "READ"), (bob.user_id, "WRITE"),
                              (alice.user_id, "FULL_CONTROL")]
    assert [g["Grantee"].get("DisplayName") for g in got["Grants"]] == [
        None, bob.display_name, alice.display_name]
    assert allowed(carol.s3.list_objects, Bucket=name)
    assert not allowed(anon.list_objects, Bucket=name)
    assert allowed(bob.s3.put_object, Bucket=name, Key="w", Body=b"w")
    assert not allowed(carol.s3.put_object, Bucket=name, Key="w", Body=b"w")
    # AllUsers by a header grant: now anonymous callers may list too.
    alice.s3.put_bucket_acl(Bucket=name, GrantRead=f'uri="{ALL_USERS}"')
    assert allowed(anon.list_objects, Bucket=name)
    assert not allowed(bob.s3.put_object, Bucket=name, Key="w2", Body=b"w")


def test_bad_grants_are_refused(alice: Account, buckets: list[str]) -> None:
    name = new_bucket(alice)
    buckets.append(name)

    def doc(grantee: dict[str, str]) -> dict[str, Any]:
        return {"Owner": {"ID": alice.user_id},
                "Grants": [{"Grantee": grantee, "Permission": "READ"}]}

    unknown = {"Type": "CanonicalUser", "ID": "0" * 64}
    assert code_of(alice.s3.put_bucket_acl, Bucket=name,
                   AccessControlPolicy=doc(unknown)) == "InvalidArgument"
    email = {"Type": "AmazonCustomerByEmail", "EmailAddress": "nobody@example.invalid"}
    assert code_of(alice.s3.put_bucket_acl, Bucket=name,
                   AccessControlPolicy=doc(email)) == "UnresolvableGrantByEmailAddress"
    group = {"Type": "Group", "URI": "http://acs.amazonaws.com/groups/global/Nobody"}
    assert code_of(alice.s3.put_bucket_acl, Bucket=name,
                   AccessControlPolicy=doc(group)) == "InvalidArgument"
    assert code_of(alice.s3.put_bucket_acl, Bucket=name,
                   GrantRead='id="_foo"') == "InvalidArgument"
    assert code_of(alice.s3.create_bucket, Bucket=name + "-x",
                   GrantRead='id="_foo"') == "InvalidArgument"
    assert grants_of(alice.s3.get_bucket_acl(Bucket=name)) == [(alice.user_id, "FULL_CONTROL")]
