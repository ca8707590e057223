"""Contract tests every ``AccountStore`` implementation must pass (memory, SQLite, PostgreSQL).

The stores and the PostgreSQL fixtures are those of ``test_metastore``: the "postgres" store
needs SHOAL_TEST_PG_DSN (default postgresql://postgres@127.0.0.1:5432/test); where none is
reachable its tests are skipped, unless CI is set: then they fail.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import psycopg
import pytest

import shoal.store.postgres as postgres_store
import shoal.store.sqlite as sqlite_store
from shoal.core.accounts import AccessKey, AccountError, User
from shoal.core.model import Bucket
from shoal.core.ports import Store
from shoal.store.postgres import PostgresMetaStore
from shoal.store.sqlite import SqliteMetaStore

from .test_metastore import FACTORIES, SHARED, backing, pg_schema

ALICE = User("alice", "a" * 64, "Alice A.", 1.25)
BOB = User("bob", "b" * 64, "Bøb 😀", 2.5)


def key(ak: str, user: User = ALICE, created: float = 10.0, active: bool = True) -> AccessKey:
    return AccessKey(ak, user.user_id, f"v1:0000:sealed-{ak}", created, active)


@pytest.fixture(params=list(FACTORIES))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    with backing(request.param, tmp_path):
        s = FACTORIES[request.param](tmp_path)
        yield s  # type: ignore[misc]
        s.close()


def test_users_round_trip(store: Store) -> None:
    assert store.create_user(BOB) is True
    assert store.create_user(ALICE) is True
    assert store.get_user("alice") == ALICE
    assert store.get_user_by_id(BOB.user_id) == BOB  # non-ASCII display name kept exactly
    assert store.get_user("carol") is None and store.get_user_by_id("c" * 64) is None
    assert store.list_users() == [ALICE, BOB]


def test_user_name_and_canonical_id_are_unique(store: Store) -> None:
    assert store.create_user(ALICE) is True
    assert store.create_user(User("alice", "c" * 64, "other", 3.0)) is False
    assert store.create_user(User("carol", ALICE.user_id, "other", 3.0)) is False
    assert store.list_users() == [ALICE]


def test_keys_round_trip_and_order(store: Store) -> None:
    store.create_user(ALICE)
    store.create_user(BOB)
    k1, k2, k3 = key("AK2", created=5.0), key("AK1", BOB, 5.0), key("AK0", created=7.5)
    for k in (k3, k1, k2):
        assert store.add_key(k) is True
    assert store.get_key("AK2") == k1
    assert store.get_key("nope") is None
    assert store.list_keys() == [k2, k1, k3]  # by (created, access key)
    assert store.list_keys(ALICE.user_id) == [k1, k3]
    assert store.list_keys("c" * 64) == []


def test_access_keys_are_unique_across_users(store: Store) -> None:
    store.create_user(ALICE)
    store.create_user(BOB)
    assert store.add_key(key("AK")) is True
    assert store.add_key(key("AK", BOB, 99.0)) is False
    assert store.get_key("AK") == key("AK")


def test_add_key_needs_the_user(store: Store) -> None:
    with pytest.raises(AccountError) as exc:
        store.add_key(key("AK"))
    assert exc.value.code == "NoSuchUser"
    assert store.get_key("AK") is None


def test_lookup_key_joins_the_user(store: Store) -> None:
    store.create_user(ALICE)
    store.add_key(key("AK"))
    assert store.lookup_key("AK") == (key("AK"), ALICE)
    assert store.lookup_key("ak") is None  # access keys are case-sensitive
    assert store.lookup_key("nope") is None


def test_revoke_and_reactivate(store: Store) -> None:
    store.create_user(ALICE)
    store.add_key(key("AK"))
    store.add_key(key("AK9"))
    assert store.set_key_active("AK", False) is True
    assert store.get_key("AK") == key("AK", active=False)
    assert store.lookup_key("AK") == (key("AK", active=False), ALICE)
    assert store.get_key("AK9") == key("AK9")  # the other key is untouched
    assert store.set_key_active("AK", False) is True  # idempotent
    assert store.set_key_active("AK", True) is True
    assert store.get_key("AK") == key("AK")
    assert store.set_key_active("nope", False) is False


def test_delete_user_takes_its_keys(store: Store) -> None:
    store.create_user(ALICE)
    store.create_user(BOB)
    mine = [key("AK1", created=1.0), key("AK2", created=2.0, active=False)]
    for k in (*mine, key("BK", BOB)):
        store.add_key(k)
    assert store.delete_user("alice") == mine
    assert store.get_user("alice") is None and store.get_user_by_id(ALICE.user_id) is None
    assert store.get_key("AK1") is None and store.lookup_key("AK2") is None
    assert store.list_keys() == [key("BK", BOB)]
    assert store.delete_user("alice") is None
    with pytest.raises(AccountError):
        store.add_key(key("AK3"))
    assert store.create_user(ALICE) is True  # the name is free again
    assert store.list_keys(ALICE.user_id) == []


def test_accounts_do_not_touch_buckets(store: Store) -> None:
    store.create_bucket(Bucket("bkt", ALICE.user_id, 1.0))
    store.create_user(ALICE)
    store.delete_user("alice")
    assert [b.name for b in store.list_buckets(ALICE.user_id)] == ["bkt"]


@pytest.mark.parametrize("kind", list(SHARED))
def test_changes_are_seen_by_another_instance(kind: str, tmp_path: Path) -> None:
    """A server and the admin CLI each open the store: one's writes are the other's reads."""
    with backing(kind, tmp_path):
        server, cli = SHARED[kind](tmp_path), SHARED[kind](tmp_path)
        try:
            assert server.lookup_key("AK") is None
            cli.create_user(ALICE)
            cli.add_key(key("AK"))
            assert server.lookup_key("AK") == (key("AK"), ALICE)
            cli.set_key_active("AK", False)
            found = server.lookup_key("AK")
            assert found is not None and found[0].active is False
        finally:
            server.close()
            cli.close()


@pytest.mark.parametrize("kind", list(SHARED))
def test_concurrent_adds_of_one_access_key(kind: str, tmp_path: Path) -> None:
    """Exactly one of several racing inserts of the same access key wins."""
    with backing(kind, tmp_path):
        stores = [SHARED[kind](tmp_path) for _ in range(4)]
        try:
            stores[0].create_user(ALICE)
            stores[0].create_user(BOB)
            results: list[bool] = []
            barrier = threading.Barrier(len(stores))

            def add(i: int) -> None:
                barrier.wait()
                results.append(stores[i].add_key(key("RACE", (ALICE, BOB)[i % 2], float(i))))

            threads = [threading.Thread(target=add, args=(i,)) for i in range(len(stores))]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert sorted(results) == [False, False, False, True]
            assert len(stores[0].list_keys()) == 1
        finally:
            for s in stores:
                s.close()


# -- schema migration v1 -> v2 ------------------------------------------------------------------


def _schema(name: str) -> str:
    return resources.files("shoal.store").joinpath(f"schema/{name}").read_text()


def test_sqlite_v1_database_is_upgraded(tmp_path: Path) -> None:
    """A data dir written by the v1 code keeps its data and gains the account tables."""
    path = str(tmp_path / "meta.db")
    conn = sqlite3.connect(path)
    conn.executescript(_schema("sqlite_v1.sql"))
    conn.execute("INSERT INTO buckets VALUES ('old', 'owner', 1.0, 'us-east-1', NULL, '{}')")
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    store = SqliteMetaStore(path)
    try:
        assert store.get_bucket("old") == Bucket("old", "owner", 1.0, "us-east-1", None, {})
        assert store.create_user(ALICE) and store.add_key(key("AK"))
        assert store.lookup_key("AK") == (key("AK"), ALICE)
        version = store._conn().execute("PRAGMA user_version").fetchall()
        assert version == [(sqlite_store.SCHEMA_VERSION,)] == [(6,)]
    finally:
        store.close()
    again = SqliteMetaStore(path)  # reopening an upgraded file changes nothing
    assert again.get_user("alice") == ALICE
    again.close()


def test_sqlite_refuses_a_newer_schema(tmp_path: Path) -> None:
    path = str(tmp_path / "meta.db")
    SqliteMetaStore(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {sqlite_store.SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(RuntimeError, match="newer than this code"):
        SqliteMetaStore(path)


def test_postgres_v1_schema_is_upgraded() -> None:
    with pg_schema() as dsn:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(_schema("postgres_v1.sql"))  # type: ignore[arg-type]
            conn.execute("INSERT INTO buckets VALUES ('old', 'owner', 1.0, 'us-east-1', NULL, "
                         "'{}')")
        store = PostgresMetaStore(dsn)
        try:
            assert store.get_bucket("old") == Bucket("old", "owner", 1.0, "us-east-1", None, {})
            assert store.create_user(ALICE) and store.add_key(key("AK"))
            assert store.lookup_key("AK") == (key("AK"), ALICE)
            rows = store._conn().execute("SELECT version FROM shoal_schema").fetchall()
            assert rows == [(postgres_store.SCHEMA_VERSION,)] == [(6,)]
        finally:
            store.close()
        again = PostgresMetaStore(dsn)
        assert again.get_user("alice") == ALICE
        again.close()


def test_postgres_names_with_nul_match_nothing() -> None:
    with pg_schema() as dsn:
        store = PostgresMetaStore(dsn)
        try:
            store.create_user(ALICE)
            assert store.get_user("alice\x00") is None
            assert store.lookup_key("AK\x00") is None and store.get_key("AK\x00") is None
            assert store.delete_user("a\x00") is None
            assert store.set_key_active("AK\x00", False) is False
            with pytest.raises(ValueError):
                store.create_user(User("x\x00", "d" * 64, "x", 1.0))
        finally:
            store.close()
