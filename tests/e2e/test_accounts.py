"""Accounts end to end: the admin CLI (``shoal user|key``) on the data dir of a running server.

Keys created by the CLI work at once; revoked or removed ones stop within the server's key
cache lifetime (about 2 s); each account sees its own buckets under its own canonical id and
display name; the plain secrets are nowhere under the data dir.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from botocore.exceptions import ClientError

from shoal.core.auth import canonical_id
from shoal.dialects.cos.signature import make_authorization

from .conftest import make_client
from .server import LiveServer, own_server, shoal_cli

REVOKE_WITHIN = 6.0  # seconds; the server caches a key for about 2 s


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    """A server of its own (its data dir gets accounts), with no SHOAL_MASTER_KEY: the master
    key is generated into the data dir, where the CLI finds it too."""
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("SHOAL_MASTER_KEY", raising=False)  # for the server and the CLI runs
        with own_server() as srv:
            yield srv


def client(srv: LiveServer, access_key: str, secret_key: str):  # noqa: ANN201 - dynamic type
    return make_client(srv.endpoint, access_key=access_key, secret_key=secret_key)


def error_code(call: Callable[[], object]) -> str:
    with pytest.raises(ClientError) as exc:
        call()
    return str(exc.value.response["Error"]["Code"])


def wait_denied(c: Any) -> float:
    """Seconds until the client's key is refused (fails after REVOKE_WITHIN)."""
    start = time.monotonic()
    while time.monotonic() - start < REVOKE_WITHIN:
        try:
            c.list_buckets()
        except ClientError as exc:
            assert exc.response["Error"]["Code"] == "InvalidAccessKeyId"
            return time.monotonic() - start
        time.sleep(0.1)
    pytest.fail(f"the key still worked {REVOKE_WITHIN} s after it was revoked")


def owner(listing: dict[str, Any]) -> tuple[str, str]:
    return listing["Owner"]["ID"], listing["Owner"]["DisplayName"]


def test_accounts_keys_and_ownership(server: LiveServer) -> None:
    data = server.data_dir
    alice = shoal_cli(data, "user", "add", "alice")
    bob = shoal_cli(data, "user", "add", "bob", "--display-name", "Bob B.", "--access-key",
                    "BOBACCESSKEY", "--secret-key", "bob-secret-key-0123")
    assert bob["access_key"] == "BOBACCESSKEY" and bob["user"]["display_name"] == "Bob B."
    users = shoal_cli(data, "user", "list")
    assert [(u["name"], u["canonical_id"], u["active_keys"]) for u in users] == [
        ("alice", alice["user"]["canonical_id"], 1), ("bob", bob["user"]["canonical_id"], 1)]

    root = make_client(server.endpoint)
    s3a = client(server, alice["access_key"], alice["secret_key"])
    s3b = client(server, bob["access_key"], bob["secret_key"])
    s3a.create_bucket(Bucket="acct-alice")
    s3b.create_bucket(Bucket="acct-bob")
    root.create_bucket(Bucket="acct-root")

    # ListBuckets: only the caller's own buckets, under its canonical id and display name.
    mine = s3a.list_buckets()
    assert [b["Name"] for b in mine["Buckets"]] == ["acct-alice"]
    assert owner(mine) == (alice["user"]["canonical_id"], "alice")
    theirs = s3b.list_buckets()
    assert [b["Name"] for b in theirs["Buckets"]] == ["acct-bob"]
    assert owner(theirs) == (bob["user"]["canonical_id"], "Bob B.")
    roots = root.list_buckets()
    assert [b["Name"] for b in roots["Buckets"]] == ["acct-root"]
    assert owner(roots) == (canonical_id("root"), "root")

    # Another account's bucket name is taken; the owner's own repeated create is fine.
    assert error_code(lambda: s3b.create_bucket(Bucket="acct-alice")) == "BucketAlreadyExists"
    assert error_code(lambda: root.create_bucket(Bucket="acct-bob")) == "BucketAlreadyExists"
    s3a.create_bucket(Bucket="acct-alice")

    # Objects and ACLs carry the owner; private data stays private.
    s3a.put_object(Bucket="acct-alice", Key="k", Body=b"alice's")
    listed = s3a.list_objects_v2(Bucket="acct-alice", FetchOwner=True)["Contents"][0]
    assert owner(listed) == (alice["user"]["canonical_id"], "alice")
    assert owner(s3a.get_bucket_acl(Bucket="acct-alice")) == (alice["user"]["canonical_id"],
                                                              "alice")
    assert error_code(lambda: s3b.get_object(Bucket="acct-alice", Key="k")) == "AccessDenied"
    assert root.get_object(Bucket="acct-alice", Key="k")["Body"].read() == b"alice's"

    # A second key works at once; revoking the first stops it within seconds, not the second.
    second = shoal_cli(data, "key", "create", "alice")
    s3a2 = client(server, second["access_key"], second["secret_key"])
    assert s3a2.get_object(Bucket="acct-alice", Key="k")["Body"].read() == b"alice's"
    revoked = shoal_cli(data, "key", "revoke", alice["access_key"])
    assert revoked["was_active"] is True and revoked["active"] is False
    assert wait_denied(s3a) < REVOKE_WITHIN
    assert [b["Name"] for b in s3a2.list_buckets()["Buckets"]] == ["acct-alice"]
    keys = shoal_cli(data, "key", "list", "alice")
    assert [(k["access_key"], k["active"]) for k in keys] == [
        (alice["access_key"], False), (second["access_key"], True)]

    # Removing a user that owns buckets is refused; once they are gone, its keys die.
    refused = shoal_cli(data, "user", "remove", "bob", ok=False)
    assert refused["error"] == "UserOwnsBuckets"
    s3b.delete_bucket(Bucket="acct-bob")
    removed = shoal_cli(data, "user", "remove", "bob")
    assert removed["access_keys"] == ["BOBACCESSKEY"]
    wait_denied(s3b)
    assert [b["Name"] for b in root.list_buckets()["Buckets"]] == ["acct-root"]

    # At rest: the master key file is private, and no plain secret is in any file.
    key_file = os.path.join(data, "master.key")
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    secrets = [alice["secret_key"], second["secret_key"], bob["secret_key"]]
    assert_nowhere(data, secrets)


def test_account_keys_sign_cos_requests(server: LiveServer) -> None:
    """COS signatures are HMACs of the plain secret too: the server unseals it for them."""
    carol = shoal_cli(server.data_dir, "user", "add", "carol")
    client(server, carol["access_key"], carol["secret_key"]).create_bucket(Bucket="acct-carol")
    host = f"127.0.0.1:{server.port}"
    now = int(time.time())
    auth = make_authorization(carol["access_key"], carol["secret_key"], "GET", "/", [],
                              {"host": host}, now - 60, now + 600)
    resp = requests.get(server.endpoint + "/", headers={"Host": host, "Authorization": auth},
                        timeout=30)
    assert resp.status_code == 200, resp.text
    assert b"<Name>acct-carol</Name>" in resp.content
    assert b"acct-alice" not in resp.content and b"acct-root" not in resp.content
    bad = make_authorization(carol["access_key"], "wrong-secret", "GET", "/", [],
                             {"host": host}, now - 60, now + 600)
    resp = requests.get(server.endpoint + "/", headers={"Host": host, "Authorization": bad},
                        timeout=30)
    assert resp.status_code == 403


def test_cli_misuse(server: LiveServer, tmp_path: Any) -> None:
    data = server.data_dir
    assert shoal_cli(data, "user", "add", "root", ok=False)["error"] == "InvalidName"
    assert shoal_cli(data, "key", "revoke", "NOSUCHKEY", ok=False)["error"] == "NoSuchKey"
    assert shoal_cli(data, "key", "create", "nobody", ok=False)["error"] == "NoSuchUser"
    assert shoal_cli(str(tmp_path / "none"), "user", "list", ok=False)["error"] == "NoStore"
    assert not (tmp_path / "none").exists()


def assert_nowhere(root: str, needles: list[str]) -> None:
    """No file under ``root`` (database, WAL, blobs, key file...) holds any of ``needles``."""
    scanned = 0
    for folder, _, files in os.walk(root):
        for name in files:
            path = os.path.join(folder, name)
            try:
                with open(path, "rb") as f:
                    content = f.read()
            except FileNotFoundError:
                continue  # a temporary file that went away meanwhile
            scanned += 1
            for needle in needles:
                assert needle.encode() not in content, f"plain secret found in {path}"
    assert scanned >= 3  # at least master.key, meta.db and its WAL
