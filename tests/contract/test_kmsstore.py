"""Contract tests every ``KmsStore`` implementation must pass (memory, SQLite, PostgreSQL).

The stores and the PostgreSQL fixtures are those of ``test_metastore`` (the "postgres" store
needs SHOAL_TEST_PG_DSN; skipped where none is reachable, failed when CI is set).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest

from shoal.core.kms import KmsKey, KmsStore

from .test_metastore import FACTORIES, SHARED, backing

K1 = KmsKey("testkey-1", 10.0, "v1:0000:sealed-1")
K2 = KmsKey("arn:aws:kms:us-east-1:1:key/ü-2", 5.5, "v1:0000:sealed-2")


@pytest.fixture(params=list(FACTORIES))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[KmsStore]:
    with backing(request.param, tmp_path):
        s = FACTORIES[request.param](tmp_path)
        yield cast(KmsStore, s)
        s.close()


def test_keys_round_trip_in_order(store: KmsStore) -> None:
    assert store.list_kms_keys() == []
    assert store.create_kms_key(K1) is True
    assert store.create_kms_key(K2) is True
    assert store.get_kms_key("testkey-1") == K1
    assert store.get_kms_key(K2.key_id) == K2
    assert store.get_kms_key("nope") is None
    assert store.list_kms_keys() == [K2, K1]  # by created


def test_key_ids_are_unique_and_keys_never_change(store: KmsStore) -> None:
    assert store.create_kms_key(K1) is True
    assert store.create_kms_key(KmsKey(K1.key_id, 99.0, "other")) is False
    assert store.get_kms_key(K1.key_id) == K1
    assert store.get_kms_key("TESTKEY-1") is None  # exact ids


def test_nul_in_an_id_matches_nothing(store: KmsStore) -> None:
    store.create_kms_key(K1)
    assert store.get_kms_key("testkey-1\x00") is None


@pytest.mark.parametrize("kind", list(SHARED))
def test_racing_creators_agree(kind: str, tmp_path: Path) -> None:
    """Several stores on the same database create the same id at once: one wins, and all
    then read the winner's key (what the default key's creation on first use relies on)."""
    with backing(kind, tmp_path):
        stores: list[Any] = [SHARED[kind](tmp_path) for _ in range(4)]
        wins: list[bool] = []
        barrier = threading.Barrier(len(stores))

        def create(i: int) -> None:
            barrier.wait()
            wins.append(stores[i].create_kms_key(
                KmsKey("default", float(i), f"v1:0000:{i}")))

        threads = [threading.Thread(target=create, args=(i,)) for i in range(len(stores))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        try:
            assert sorted(wins) == [False, False, False, True]
            seen = {s.get_kms_key("default") for s in stores}
            assert len(seen) == 1
        finally:
            for s in stores:
                s.close()
