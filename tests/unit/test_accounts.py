"""Key generation, ``AccountService`` over the in-memory store, and the server's ``Keyring``."""

from __future__ import annotations

import asyncio
import os
import re
import threading

import pytest

from shoal.core.accounts import (
    AccountError,
    AccountService,
    generate_access_key,
    generate_secret_key,
)
from shoal.core.auth import Keyring, Principal, canonical_id
from shoal.core.model import Bucket
from shoal.core.secrets import SecretBox, SecretError
from shoal.store.memory import MemoryMetaStore

BOX = SecretBox(bytes(32))


@pytest.fixture
def svc() -> AccountService:
    return AccountService(MemoryMetaStore(), BOX, frozenset({"ROOTKEY"}))


def code(exc: pytest.ExceptionInfo[AccountError]) -> str:
    return exc.value.code


# -- key generation ---------------------------------------------------------------------------


def test_generated_keys_look_like_aws_keys() -> None:
    aks = {generate_access_key() for _ in range(200)}
    sks = {generate_secret_key() for _ in range(200)}
    assert len(aks) == len(sks) == 200
    assert all(re.fullmatch(r"[A-Z0-9]{20}", ak) for ak in aks)
    assert all(re.fullmatch(r"[A-Za-z0-9+/]{40}", sk) for sk in sks)
    assert set("".join(aks)) == set("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")  # all used


# -- AccountService ---------------------------------------------------------------------------


def test_add_user_generates_and_seals_a_key(svc: AccountService) -> None:
    new = svc.add_user("alice")
    assert re.fullmatch(r"[0-9a-f]{64}", new.user.user_id)
    assert new.user.display_name == "alice"
    stored = svc.store.get_key(new.access_key)
    assert stored is not None and stored.active and stored.user_id == new.user.user_id
    assert new.secret_key not in stored.secret
    assert BOX.open(stored.secret, new.access_key) == new.secret_key


def test_add_user_with_given_keys_and_display_name(svc: AccountService) -> None:
    new = svc.add_user("bob", "Bob B.", "BOBKEY", "bob-secret-1")
    assert (new.access_key, new.secret_key, new.user.display_name) == \
        ("BOBKEY", "bob-secret-1", "Bob B.")
    assert svc.resolve("BOBKEY") == ("bob-secret-1", Principal("BOBKEY", new.user.user_id,
                                                               "Bob B."))


def test_canonical_ids_are_distinct(svc: AccountService) -> None:
    ids = {svc.add_user(f"u{i}").user.user_id for i in range(5)}
    assert len(ids) == 5 and canonical_id("root") not in ids


@pytest.mark.parametrize("name", ["", "root", "ROOT", "-x", "a b", "x" * 65, "é"])
def test_bad_user_names(svc: AccountService, name: str) -> None:
    with pytest.raises(AccountError) as exc:
        svc.add_user(name)
    assert code(exc) == "InvalidName"
    assert svc.list_users() == []


@pytest.mark.parametrize(("ak", "sk"), [("AK1", None), (None, "secret-123"), ("a/b", "secret-123"),
                                        ("AK1", "short"), ("AK1", "has space 1")])
def test_bad_key_pairs(svc: AccountService, ak: str | None, sk: str | None) -> None:
    with pytest.raises(AccountError) as exc:
        svc.add_user("alice", access_key=ak, secret_key=sk)
    assert code(exc) == "InvalidKey"
    assert svc.list_users() == []


def test_duplicate_user_and_key(svc: AccountService) -> None:
    svc.add_user("alice", access_key="AK1", secret_key="secret-123")
    with pytest.raises(AccountError) as exc:
        svc.add_user("alice")
    assert code(exc) == "UserExists"
    for ak in ("AK1", "ROOTKEY"):  # an account's or the root's access key
        with pytest.raises(AccountError) as exc:
            svc.add_user("bob", access_key=ak, secret_key="secret-456")
        assert code(exc) == "KeyExists"
        with pytest.raises(AccountError) as exc:
            svc.create_key("alice", ak, "secret-456")
        assert code(exc) == "KeyExists"
    assert [u.name for u in svc.list_users()] == ["alice"]


def test_create_list_revoke_keys(svc: AccountService) -> None:
    first = svc.add_user("alice")
    second = svc.create_key("alice")
    svc.add_user("bob")
    assert [k.access_key for k, _ in svc.list_keys("alice")] == \
        [first.access_key, second.access_key]
    assert len(svc.list_keys()) == 3
    before, user = svc.revoke_key(first.access_key)
    assert before.active and user == first.user
    assert svc.resolve(first.access_key) is None
    assert svc.resolve(second.access_key) is not None
    again, _ = svc.revoke_key(first.access_key)  # idempotent
    assert not again.active
    with pytest.raises(AccountError) as exc:
        svc.revoke_key("NOPE")
    assert code(exc) == "NoSuchKey"
    with pytest.raises(AccountError) as exc:
        svc.create_key("carol")
    assert code(exc) == "NoSuchUser"


def test_remove_user_with_buckets_needs_force(svc: AccountService) -> None:
    new = svc.add_user("alice")
    svc.store.create_bucket(Bucket("alices", new.user.user_id, 1.0))
    with pytest.raises(AccountError) as exc:
        svc.remove_user("alice")
    assert code(exc) == "UserOwnsBuckets" and "alices" in exc.value.message
    assert svc.resolve(new.access_key) is not None
    user, keys = svc.remove_user("alice", force=True)
    assert user == new.user and [k.access_key for k in keys] == [new.access_key]
    assert svc.resolve(new.access_key) is None
    assert svc.store.get_bucket("alices") is not None  # the bucket stays
    assert svc.display_name(new.user.user_id) == new.user.user_id
    with pytest.raises(AccountError) as exc:
        svc.remove_user("alice")
    assert code(exc) == "NoSuchUser"


def test_display_names(svc: AccountService) -> None:
    new = svc.add_user("alice", "Alice A.")
    assert svc.display_name(new.user.user_id) == "Alice A."
    assert svc.display_name(canonical_id("root")) == "root"


def test_master_key_mismatch_is_refused(svc: AccountService) -> None:
    svc.add_user("alice")
    other = AccountService(svc.store, SecretBox(os.urandom(32)))
    with pytest.raises(SecretError, match="master key"):
        other.add_user("bob")
    with pytest.raises(SecretError, match="master key"):
        other.create_key("alice")
    assert [u.name for u in svc.list_users()] == ["alice"]  # bob was not left behind


def test_admin_operations_without_the_master_key(svc: AccountService) -> None:
    new = svc.add_user("alice")
    plain = AccountService(svc.store)
    assert [u.name for u in plain.list_users()] == ["alice"]
    plain.revoke_key(new.access_key)
    with pytest.raises(RuntimeError):
        plain.create_key("alice")


# -- Keyring ----------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class CountingResolver:
    def __init__(self, svc: AccountService) -> None:
        self.svc, self.calls = svc, 0
        self.threads: set[int] = set()

    def __call__(self, access_key: str) -> tuple[str, Principal] | None:
        self.calls += 1
        self.threads.add(threading.get_ident())
        return self.svc.resolve(access_key)


def test_keyring_root_first_and_not_admin_accounts(svc: AccountService) -> None:
    new = svc.add_user("alice")
    ring = Keyring(svc.resolve)
    ring.add("ROOTKEY", "root-secret", "root", admin=True)
    secret, root = ring.lookup("ROOTKEY")  # type: ignore[misc]
    assert secret == "root-secret" and root.admin and root.user_id == canonical_id("root")
    secret, who = ring.lookup(new.access_key)  # type: ignore[misc]
    assert secret == new.secret_key and not who.admin and who.user_id == new.user.user_id
    assert ring.lookup("UNKNOWN") is None
    assert Keyring().lookup("UNKNOWN") is None


def test_keyring_caches_for_ttl_then_sees_revocation(svc: AccountService) -> None:
    new = svc.add_user("alice")
    clock, resolver = Clock(), CountingResolver(svc)
    ring = Keyring(resolver, ttl=2.0, clock=clock)
    assert ring.lookup(new.access_key) is not None
    svc.revoke_key(new.access_key)
    clock.now += 1.9
    assert ring.lookup(new.access_key) is not None  # still cached
    assert resolver.calls == 1
    clock.now += 0.2
    assert ring.lookup(new.access_key) is None  # expired: the store says revoked
    assert ring.lookup(new.access_key) is None
    assert resolver.calls == 3  # misses are not cached


def test_keyring_sees_new_keys_at_once(svc: AccountService) -> None:
    ring = Keyring(svc.resolve, clock=Clock())
    assert ring.lookup("NEWKEY") is None
    svc.add_user("alice", access_key="NEWKEY", secret_key="secret-123")
    assert ring.lookup("NEWKEY") is not None


def test_keyring_forget_and_bound(svc: AccountService) -> None:
    keys = [svc.add_user(f"u{i}").access_key for i in range(5)]
    clock, resolver = Clock(), CountingResolver(svc)
    ring = Keyring(resolver, clock=clock, max_cached=3)
    for ak in keys:
        assert ring.lookup(ak) is not None
    assert len(ring._cache) <= 3
    ring.forget(keys[-1])
    calls = resolver.calls
    ring.lookup(keys[-1])
    assert resolver.calls == calls + 1
    ring.forget()
    assert ring._cache == {}


def test_keyring_lookup_async_reads_in_a_thread(svc: AccountService) -> None:
    new = svc.add_user("alice")
    resolver = CountingResolver(svc)
    ring = Keyring(resolver)

    async def main() -> None:
        assert await ring.lookup_async(new.access_key) is not None
        assert await ring.lookup_async(new.access_key) is not None  # cached
        assert await ring.lookup_async("NOPE") is None

    asyncio.run(main())
    assert resolver.calls == 2
    assert threading.get_ident() not in resolver.threads
    assert asyncio.run(Keyring().lookup_async("X")) is None
