"""ListObjects paging: prefix, delimiter roll-up into common prefixes, markers.

One pass over the store's ordered scan. When a key rolls up into a common prefix the scan jumps
past every key under that prefix, so a directory of a million keys costs one row, not a million.
"""

from __future__ import annotations

import asyncio

from .model import ListPage
from .ports import MetaStore

# Largest code point: a key "p" + this sorts after every key starting with "p" in practice.
_MAX = "\U0010ffff"


async def list_page(
    meta: MetaStore, bucket: str, prefix: str, delimiter: str, start_after: str, max_keys: int
) -> ListPage:
    page = ListPage([], [], False, None)
    if max_keys <= 0:
        return page
    if not delimiter:  # no roll-up: the page is the scan's first max_keys rows
        rows = await asyncio.to_thread(meta.list_objects, bucket, prefix, start_after,
                                       max_keys + 1)
        page.truncated = len(rows) > max_keys
        page.objects = rows[:max_keys] if page.truncated else rows
        if page.objects:
            page.next_marker = page.objects[-1].key
        return page
    cursor = start_after
    count = 0
    while True:
        rows = await asyncio.to_thread(meta.list_objects, bucket, prefix, cursor, max_keys + 1)
        if not rows:
            return page
        for row in rows:
            cp = _rollup(row.key, prefix, delimiter)
            if cp is not None and cp <= start_after:
                cursor = cp + _MAX
                break  # re-scan past the whole prefix
            if count == max_keys:
                page.truncated = True
                return page
            count += 1
            if cp is not None:
                page.prefixes.append(cp)
                page.next_marker = cp
                cursor = cp + _MAX
                break
            page.objects.append(row)
            page.next_marker = row.key
            cursor = row.key
        else:
            if len(rows) <= max_keys:
                return page


def _rollup(key: str, prefix: str, delimiter: str) -> str | None:
    if not delimiter:
        return None
    i = key.find(delimiter, len(prefix))
    return None if i < 0 else key[: i + len(delimiter)]
