"""Read an object's bytes (or a range of them) from its segments, streaming."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

from .errors import ShoalError
from .model import ByteRange, ObjectRecord
from .ports import BlobStore

CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class Extent:
    """``length`` bytes of blob ``blob`` starting at ``offset``."""

    blob: str
    offset: int
    length: int


def extents(record: ObjectRecord, rng: ByteRange | None) -> list[Extent]:
    """The blob extents that make up ``rng`` of the object (whole object when None)."""
    first, last = (0, record.size - 1) if rng is None else (rng.first, rng.last)
    out: list[Extent] = []
    pos = 0
    for seg in record.segments:
        seg_first, seg_last = pos, pos + seg.length - 1
        pos += seg.length
        if seg_last < first or seg.length == 0:
            continue
        if seg_first > last:
            break
        lo = max(first, seg_first) - seg_first
        hi = min(last, seg_last) - seg_first
        out.append(Extent(seg.blob, seg.offset + lo, hi - lo + 1))
    return out


def _read(blobs: BlobStore, ext: Extent, handle: dict[str, object]) -> bytes:
    f = handle.get(ext.blob)
    if f is None:
        try:
            f = blobs.open(ext.blob)
        except FileNotFoundError as exc:
            raise ShoalError("InternalError", "Object data is missing") from exc
        for old in handle.values():
            old.close()  # type: ignore[attr-defined]
        handle.clear()
        handle[ext.blob] = f
    f.seek(ext.offset)  # type: ignore[attr-defined]
    return f.read(ext.length)  # type: ignore[attr-defined]


async def stream(blobs: BlobStore, parts: list[Extent]) -> AsyncIterator[bytes]:
    """Yield the bytes of the extents in order, CHUNK at a time, reading in worker threads."""
    handles: dict[str, object] = {}
    try:
        for ext in parts:
            done = 0
            while done < ext.length:
                n = min(CHUNK, ext.length - done)
                piece = Extent(ext.blob, ext.offset + done, n)
                data = await asyncio.to_thread(_read, blobs, piece, handles)
                if len(data) != n:
                    raise ShoalError("InternalError", "Object data is truncated")
                done += n
                yield data
    finally:
        for f in handles.values():
            f.close()  # type: ignore[attr-defined]
