"""BucketService.lookup: answers from memory while the store's bucket epoch stands still."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from shoal.core.buckets import BucketService
from shoal.core.model import Bucket
from shoal.store.memory import MemoryMetaStore


class CountingStore(MemoryMetaStore):
    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def get_bucket(self, name: str) -> Bucket | None:
        self.reads += 1
        return super().get_bucket(name)


def test_lookup_reads_the_store_once_until_a_bucket_changes() -> None:
    async def run() -> None:
        store = CountingStore()
        service = BucketService(store)
        store.create_bucket(Bucket("bkt", "alice", 1.0))
        first = await service.lookup("bkt")
        assert first is not None and store.reads == 1
        assert await service.lookup("bkt") == first
        assert store.reads == 1
        # A change through the store (any process) is seen by the next lookup.
        store.update_bucket(replace(first, config={"encryption": {"algorithm": "AES256"}}))
        changed = await service.lookup("bkt")
        assert changed is not None and changed.config == {"encryption": {"algorithm": "AES256"}}
        assert store.reads == 2
        store.delete_bucket("bkt")
        assert await service.lookup("bkt") is None
        assert await service.lookup("bkt") is None  # a missing bucket is never cached
        assert store.reads == 4

    asyncio.run(run())


def test_store_without_epoch_is_read_every_time() -> None:
    async def run() -> None:
        store = CountingStore()
        store.bucket_epoch = lambda: None  # type: ignore[method-assign]
        service = BucketService(store)
        store.create_bucket(Bucket("bkt", "alice", 1.0))
        for _ in range(3):
            assert await service.lookup("bkt") is not None
        assert store.reads == 3

    asyncio.run(run())
