"""Bandwidth limits a request asks for: COS ``x-cos-traffic-limit`` (bit/s) on uploads (PUT
Object, Upload Part, POST Object) and downloads (GET Object).

A paced stream hands bytes on no faster than the limit, in slices of about a tenth of a
second's worth: an upload is read from the socket that slowly (the server stops reading once
its buffer is full, so the client's sends slow down too), a download is written that slowly.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

MIN_SLICE = 4096


async def paced(source: AsyncIterator[bytes] | bytes, bits_per_s: int) -> AsyncIterator[bytes]:
    """``source``'s bytes at most ``bits_per_s`` bits a second (averaged from the start)."""
    loop = asyncio.get_running_loop()
    rate = bits_per_s / 8  # bytes a second
    step = max(MIN_SLICE, int(rate / 10))
    start, done = loop.time(), 0
    try:
        async for chunk in _chunks(source):
            for at in range(0, len(chunk), step):
                piece = chunk[at:at + step]
                yield piece
                done += len(piece)
                ahead = done / rate - (loop.time() - start)
                if ahead > 0:
                    await asyncio.sleep(ahead)
    finally:
        aclose = getattr(source, "aclose", None)
        if aclose is not None:
            await aclose()


async def _chunks(source: AsyncIterator[bytes] | bytes) -> AsyncIterator[bytes]:
    if isinstance(source, bytes):
        yield source
        return
    async for chunk in source:
        yield chunk
