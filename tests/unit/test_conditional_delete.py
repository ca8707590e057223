"""A conditional DELETE (If-Match, match last-modified / size; the lifecycle sweep's too)
deletes the object its conditions were checked against and never one written in between."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from shoal.core import objects as objects_module
from shoal.core.conditions import WriteConditions
from shoal.core.errors import ShoalError
from shoal.core.ingest import Expect
from shoal.core.model import ObjectMeta, ObjectRecord
from shoal.core.services import Core
from shoal.store.memory import MemoryBlobStore, MemoryMetaStore


class _RacingStore(MemoryMetaStore):
    """Runs ``between`` (a concurrent write) right after the next ``races`` lookups."""

    def __init__(self) -> None:
        super().__init__()
        self.between: list[ObjectRecord] = []
        self.races = 0

    def get_object(self, bucket: str, key: str, with_inline: bool = True) -> ObjectRecord | None:
        got = super().get_object(bucket, key, with_inline)
        if self.races > 0 and self.between:
            self.races -= 1
            self.put_object(self.between.pop(0))
        return got


async def _body(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def _core() -> tuple[Core, _RacingStore]:
    meta = _RacingStore()
    core = Core.build(meta, MemoryBlobStore())
    await core.buckets.create("bkt", "me", "us-east-1")
    return core, meta


async def _put(core: Core, data: bytes) -> ObjectRecord:
    return await core.objects.put("bkt", "k", ObjectMeta(), _body(data), Expect(), "me")


def test_a_replacement_that_fails_the_condition_is_kept() -> None:
    async def run() -> None:
        core, meta = await _core()
        old = await _put(core, b"old")
        new = await _put(core, b"new")  # the write that lands between check and delete
        await _put(core, b"old")
        meta.between, meta.races = [new], 1
        with pytest.raises(ShoalError) as err:
            await core.objects.delete("bkt", "k", when=WriteConditions(if_match=old.etag))
        assert err.value.code == "PreconditionFailed"
        got = meta.get_object("bkt", "k")
        assert got is not None and got.etag == new.etag and got.segments == new.segments

    asyncio.run(run())


def test_a_replacement_that_meets_the_condition_is_deleted() -> None:
    async def run() -> None:
        core, meta = await _core()
        await _put(core, b"same")
        again = await _put(core, b"same")  # same bytes, same ETag, other blob
        await _put(core, b"same")
        meta.between, meta.races = [again], 1
        assert await core.objects.delete("bkt", "k", when=WriteConditions(if_match=again.etag))
        assert meta.get_object("bkt", "k") is None

    asyncio.run(run())


def test_an_object_replaced_on_every_attempt_is_a_conflict() -> None:
    async def run() -> None:
        core, meta = await _core()
        first = await _put(core, b"same")
        versions = [await _put(core, b"same")
                    for _ in range(objects_module.DELETE_ATTEMPTS + 1)]
        await _put(core, b"same")
        meta.between, meta.races = versions, len(versions)
        with pytest.raises(ShoalError) as err:
            await core.objects.delete("bkt", "k", when=WriteConditions(if_match=first.etag))
        assert err.value.code == "ConditionalRequestConflict" and err.value.status == 409
        assert meta.get_object("bkt", "k") is not None

    asyncio.run(run())
