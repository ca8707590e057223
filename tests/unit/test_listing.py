"""ListObjects paging (core/listing.page_of) against a brute-force reference, and the number of
rows it reads in a bucket of many directories."""

from __future__ import annotations

import random
from typing import Any

import pytest

from shoal.core.listing import page_of
from shoal.core.model import Bucket, ObjectMeta, ObjectRecord, ObjectSummary, Segment
from shoal.store.memory import MemoryMetaStore


def _store(keys: list[str]) -> MemoryMetaStore:
    meta = MemoryMetaStore()
    meta.create_bucket(Bucket("b", "o", 1.0))
    for key in keys:
        meta.put_object(ObjectRecord("b", key, 3, "e", 1.5, segments=[Segment("i" + "0" * 32, 0, 3)],
                                     meta=ObjectMeta()))
    return meta


def _reference(keys: list[str], prefix: str, delimiter: str, after: str,
               max_keys: int) -> tuple[list[str], bool, str | None]:
    """(entries, truncated, next marker): keys after ``after`` under ``prefix``, each rolled up
    to its common prefix (a common prefix at or before ``after`` is skipped), deduplicated."""
    entries: list[str] = []
    for key in sorted(keys):
        if key <= after or not key.startswith(prefix):
            continue
        i = key.find(delimiter, len(prefix)) if delimiter else -1
        entry = key if i < 0 else key[: i + len(delimiter)]
        if i >= 0 and entry <= after:
            continue
        if not entries or entries[-1] != entry:
            entries.append(entry)
    page = entries[:max_keys]
    return page, len(entries) > max_keys, page[-1] if page else None


def _entries(objects: list[ObjectSummary], prefixes: list[str]) -> list[str]:
    return sorted([o.key for o in objects] + prefixes)


def _random_keys(rng: random.Random) -> list[str]:
    parts = ["a", "b", "a/", "b/", "/", "c/d", "x", "ab/", "a/b/"]
    return list({"".join(rng.choice(parts) for _ in range(rng.randint(1, 4)))
                 for _ in range(rng.randint(0, 60))})


@pytest.mark.parametrize("seed", range(60))
def test_pages_match_the_reference(seed: int) -> None:
    rng = random.Random(seed)
    keys = _random_keys(rng)
    meta = _store(keys)
    for _ in range(20):
        prefix = rng.choice(["", "a", "a/", "b", "ab/", "x"])
        delimiter = rng.choice(["", "/", "b", "b/", "/b"])
        after = rng.choice(["", *keys, "a/", "a/\U0010ffff", "b"]) if rng.random() < 0.5 else ""
        max_keys = rng.randint(1, 8)
        page = page_of(meta, "b", prefix, delimiter, after, max_keys)
        want, truncated, marker = _reference(keys, prefix, delimiter, after, max_keys)
        got = _entries(page.objects, page.prefixes)
        assert (got, page.truncated, page.next_marker) == (want, truncated, marker), \
            (prefix, delimiter, after, max_keys)


def test_walking_every_page_lists_every_entry_once() -> None:
    keys = [f"d{d:02d}/f{f}" for d in range(30) for f in range(5)] + [f"top{i}" for i in range(7)]
    meta = _store(keys)
    seen: list[str] = []
    after = ""
    while True:
        page = page_of(meta, "b", "", "/", after, 4)
        seen += _entries(page.objects, page.prefixes)
        if not page.truncated:
            break
        assert page.next_marker is not None
        after = page.next_marker
    assert seen == [f"d{d:02d}/" for d in range(30)] + [f"top{i}" for i in range(7)]


class _Counting(MemoryMetaStore):
    def __init__(self) -> None:
        super().__init__()
        self.rows = 0

    def list_objects(self, *args: Any) -> list[ObjectSummary]:
        got = super().list_objects(*args)
        self.rows += len(got)
        return got


def test_many_directories_cost_a_few_rows_each() -> None:
    """A page of 1000 common prefixes (each a directory of 20 keys) reads a few rows per
    prefix, not a batch of a page's size per prefix."""
    meta = _Counting()
    meta.create_bucket(Bucket("b", "o", 1.0))
    for d in range(1000):
        for f in range(20):
            meta.put_object(ObjectRecord("b", f"dir{d:04d}/f{f:02d}", 3, "e", 1.5,
                                         segments=[Segment("i" + "0" * 32, 0, 3)],
                                         meta=ObjectMeta()))
    page = page_of(meta, "b", "", "/", "", 1000)
    assert len(page.prefixes) == 1000 and not page.truncated
    assert meta.rows < 1001 + 3 * 1000  # the first batch, then two rows a prefix at most
