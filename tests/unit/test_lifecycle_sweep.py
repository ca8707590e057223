"""The lifecycle sweeper over in-memory stores: what it aborts and deletes, and what it keeps."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from shoal.background import LOCK_NAME, ProcessLock
from shoal.config import Config
from shoal.core import lifecycle
from shoal.core.conditions import WriteConditions
from shoal.core.ingest import Expect
from shoal.core.lifecycle import Filter, Rule
from shoal.core.lifecycle_sweep import LifecycleSweeper
from shoal.core.model import ObjectMeta
from shoal.core.services import Core
from shoal.store.memory import MemoryBlobStore, MemoryMetaStore

LATER = 10 * lifecycle.DAY  # seconds after the writes at which the sweeps below run


async def _body(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def _put(core: Core, key: str, data: bytes = b"x", tags: Any = ()) -> None:
    await core.objects.put("bkt", key, ObjectMeta(tags=list(tags)), _body(data), Expect(), "me")


async def _setup(*rules: Rule) -> Core:
    core = Core.build(MemoryMetaStore(), MemoryBlobStore())
    await core.buckets.create("bkt", "me", "us-east-1")
    await core.buckets.set_config("bkt", "lifecycle", lifecycle.to_config(list(rules)))
    return core


async def _keys(core: Core) -> set[str]:
    rows = await asyncio.to_thread(core.meta.list_objects, "bkt", "", "", 100)
    return {r.key for r in rows}


def _now() -> float:
    return time.time() + LATER


def test_expires_matching_objects_and_aborts_matching_uploads() -> None:
    async def run() -> None:
        core = await _setup(
            Rule(id="old", enabled=True, filter=Filter("filter", "old/"), expiration_days=3),
            Rule(id="tags", enabled=True, filter=Filter("filter", tags=[("k", "v")]),
                 expiration_days=1),
            Rule(id="ups", enabled=True, filter=Filter("prefix", "tmp/"), abort_days=1),
            Rule(id="off", enabled=False, expiration_days=1, abort_days=1))
        for key in ("old/a", "new/b"):
            await _put(core, key)
        await _put(core, "t/1", tags=[("k", "v")])
        await _put(core, "t/2", tags=[("k", "w")])
        stale = await core.multipart.initiate("bkt", "tmp/u", ObjectMeta(), "me")
        other = await core.multipart.initiate("bkt", "keep/u", ObjectMeta(), "me")
        sweeper = LifecycleSweeper(core)
        assert (await sweeper.sweep(_now() - LATER)).expired == 0  # nothing due yet
        done = await sweeper.sweep(_now())
        assert (done.expired, done.aborted) == (2, 1)
        assert await _keys(core) == {"new/b", "t/2"}
        assert await asyncio.to_thread(core.meta.get_upload, stale.upload_id) is None
        assert await asyncio.to_thread(core.meta.get_upload, other.upload_id) is not None

    asyncio.run(run())


def test_an_object_replaced_after_it_was_examined_stays() -> None:
    async def run() -> None:
        core = await _setup(Rule(id="all", enabled=True, expiration_days=1))
        await _put(core, "k", b"old")
        delete = core.objects.delete

        async def replaced_first(bucket: str, key: str,
                                 when: WriteConditions | None = None) -> bool:
            await _put(core, key, b"new")  # a client overwrites it just before the delete
            return await delete(bucket, key, when=when)

        core.objects.delete = replaced_first  # type: ignore[method-assign]
        done = await LifecycleSweeper(core).sweep(_now())
        assert done.expired == 0
        record = await core.objects.head("bkt", "k")
        assert record.etag == hashlib.md5(b"new").hexdigest()

    asyncio.run(run())


def test_a_short_day_makes_objects_due_sooner() -> None:
    async def run() -> None:
        core = await _setup(Rule(id="all", enabled=True, expiration_days=1))
        await _put(core, "k")
        assert (await LifecycleSweeper(core).sweep(time.time() + 3)).expired == 0
        assert (await LifecycleSweeper(core, day=1).sweep(time.time() + 3)).expired == 1

    asyncio.run(run())


def test_one_process_holds_the_sweep_lock(tmp_path: Path) -> None:
    first, second = (ProcessLock(str(tmp_path / LOCK_NAME)) for _ in range(2))
    assert first.acquire() and first.acquire()  # held, and still held
    assert not second.acquire()  # another holder (another worker's open file) must wait
    first.release()
    assert second.acquire()
    second.release()


def test_sweep_settings_from_the_environment() -> None:
    cfg = Config.from_env({"SHOAL_LIFECYCLE_INTERVAL": "1", "SHOAL_LIFECYCLE_DAY_SECONDS": "2.5"})
    assert (cfg.lifecycle_interval, cfg.lifecycle_day) == (1.0, 2.5)
    again = Config.from_env(cfg.to_env())  # as handed to worker processes
    assert (again.lifecycle_interval, again.lifecycle_day) == (1.0, 2.5)
    assert (Config.from_env({}).lifecycle_interval, Config.from_env({}).lifecycle_day) == \
        (3600.0, 86400.0)
    with pytest.raises(ValueError, match="SHOAL_LIFECYCLE_DAY_SECONDS"):
        Config.from_env({"SHOAL_LIFECYCLE_DAY_SECONDS": "0"})
