"""ListObjects paging: prefix, delimiter roll-up into common prefixes, markers.

One pass over the store's ordered scan, in one worker thread. When a key rolls up into a
common prefix the scan jumps past every key under that prefix, so a directory of a million keys
costs one row, not a million. The rows are read in batches that adapt to what the scan finds:
after a jump the next batch is small (in a bucket of many directories each batch yields one
common prefix, and the rest of a large batch would be thrown away), and a batch whose rows are
all used doubles the next one (a run of plain keys is read in a few queries).
"""

from __future__ import annotations

import asyncio

from .model import ListPage
from .ports import MetaStore

# Largest code point: a key "p" + this sorts after every key starting with "p" in practice.
_MAX = "\U0010ffff"
AFTER_JUMP = 2  # rows read after a jump past a common prefix: the next key and one more


async def list_page(
    meta: MetaStore, bucket: str, prefix: str, delimiter: str, start_after: str, max_keys: int
) -> ListPage:
    if max_keys <= 0:
        return ListPage([], [], False, None)
    return await asyncio.to_thread(page_of, meta, bucket, prefix, delimiter, start_after,
                                   max_keys)


def page_of(
    meta: MetaStore, bucket: str, prefix: str, delimiter: str, start_after: str, max_keys: int
) -> ListPage:
    """One page (``max_keys`` > 0) of the keys after ``start_after`` under ``prefix``."""
    page = ListPage([], [], False, None)
    if not delimiter:  # no roll-up: the page is the scan's first max_keys rows
        rows = meta.list_objects(bucket, prefix, start_after, max_keys + 1)
        page.truncated = len(rows) > max_keys
        page.objects = rows[:max_keys] if page.truncated else rows
        if page.objects:
            page.next_marker = page.objects[-1].key
        return page
    cursor = start_after
    count = 0
    batch = max_keys + 1
    while True:
        limit = min(batch, max_keys - count + 1)  # never more than the page can still use
        rows = meta.list_objects(bucket, prefix, cursor, limit)
        jumped = False
        for row in rows:
            cp = _rollup(row.key, prefix, delimiter)
            if cp is not None and cp <= start_after:
                cursor, jumped = cp + _MAX, True
                break  # re-scan past the whole prefix
            if count == max_keys:
                page.truncated = True
                return page
            count += 1
            if cp is not None:
                page.prefixes.append(cp)
                page.next_marker = cp
                cursor, jumped = cp + _MAX, True
                break
            page.objects.append(row)
            page.next_marker = row.key
            cursor = row.key
        if jumped:
            batch = AFTER_JUMP
        elif len(rows) < limit:
            return page  # the scan is exhausted
        else:
            batch *= 2


def _rollup(key: str, prefix: str, delimiter: str) -> str | None:
    if not delimiter:
        return None
    i = key.find(delimiter, len(prefix))
    return None if i < 0 else key[: i + len(delimiter)]
