"""Read an object's bytes (or a range of them) from its segments, streaming.

Reads run in worker threads, ``CHUNK`` bytes at a time, one read ahead: while the server sends
one chunk the next is already being read. The open blob file is opened, read and closed in the
threads, never on the event loop, and a body of one chunk costs one thread hop in all.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from .errors import ShoalError
from .model import ByteRange, ObjectRecord, is_inline
from .ports import BlobStore, MetaStore

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


def pieces(parts: list[Extent], chunk: int = CHUNK) -> Iterator[tuple[Extent, bool]]:
    """The extents cut into reads of at most ``chunk`` bytes, in order, each with whether it
    is the last one."""
    prev: Extent | None = None
    for ext in parts:
        for done in range(0, ext.length, chunk):
            if prev is not None:
                yield prev, False
            prev = Extent(ext.blob, ext.offset + done, min(chunk, ext.length - done))
    if prev is not None:
        yield prev, True


class _Blobs:
    """The blob file being read (one at a time); every method runs in a worker thread."""

    def __init__(self, blobs: BlobStore) -> None:
        self.blobs = blobs
        self.blob: str | None = None
        self.file: BinaryIO | None = None
        self.opened: dict[str, BinaryIO] = {}  # files opened ahead by BlobStream.prime()

    def read(self, piece: Extent, last: bool) -> bytes:
        """The bytes of ``piece``; closes the file after the ``last`` read."""
        try:
            if piece.blob != self.blob:
                self.close()
                early = self.opened.pop(piece.blob, None)
                try:
                    self.file = early if early is not None else self.blobs.open(piece.blob)
                except FileNotFoundError as exc:
                    raise ShoalError("InternalError", "Object data is missing") from exc
                self.blob = piece.blob
            assert self.file is not None
            self.file.seek(piece.offset)
            data = self.file.read(piece.length)
        finally:
            if last:
                self.close()
        if len(data) != piece.length:
            raise ShoalError("InternalError", "Object data is truncated")
        return data

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
        self.file, self.blob = None, None

    def close_all(self) -> None:
        self.close()
        for f in self.opened.values():
            f.close()
        self.opened.clear()

    def open_ahead(self, blob_ids: list[str]) -> None:
        """Open these blobs now: a file open before the response starts stays readable even
        if a later write of the key frees the blob (an unlinked file keeps its data)."""
        try:
            for blob in blob_ids:
                if blob not in self.opened:
                    self.opened[blob] = self.blobs.open(blob)
        except FileNotFoundError as exc:
            self.close_all()
            raise BlobGone(blob) from exc


def read_whole(blobs: BlobStore, ext: Extent) -> bytes:
    """Open, read and close at once (runs in a worker thread); BlobGone if the blob is gone."""
    try:
        f = blobs.open(ext.blob)
    except FileNotFoundError as exc:
        raise BlobGone(ext.blob) from exc
    with f:
        f.seek(ext.offset)
        data = f.read(ext.length)
    if len(data) != ext.length:
        raise ShoalError("InternalError", "Object data is truncated")
    return data


class BlobGone(Exception):
    """A blob of the object was freed between reading its metadata and opening it: the object
    was replaced or deleted meanwhile, so the reader should look it up again."""


# Opening every file of an object with more parts than this would spend descriptors for
# nothing: those further files are opened when the stream reaches them.
OPEN_AHEAD_MAX = 64


class BlobStream:
    """An object's bytes as an async iterator of chunks (read in threads, one ahead).

    A server that can send files without copying them uses ``files()`` instead: the blob
    files of the extents, opened and checked in threads, with the offset and count to send.
    """

    def __init__(self, blobs: BlobStore, parts: list[Extent]) -> None:
        self.blobs = blobs
        self.parts = parts
        self._files = _Blobs(blobs)
        self._chunks = _chunks(self._files, parts)
        self._whole: bytes | None = None  # a one-read body, read by prime()
        self._read_whole = False

    async def prime(self) -> None:
        """Open the object's blob files before the response starts (see _Blobs.open_ahead);
        raises BlobGone if the object changed since its metadata was read. A body of one read
        (an extent of at most CHUNK bytes) is read whole right away, in the same thread hop."""
        if len(self.parts) == 1 and self.parts[0].length <= CHUNK:
            self._whole = await asyncio.to_thread(read_whole, self.blobs, self.parts[0])
            self._read_whole = True
            return
        blob_ids = list(dict.fromkeys(ext.blob for ext in self.parts))[:OPEN_AHEAD_MAX]
        await asyncio.to_thread(self._files.open_ahead, blob_ids)

    def __aiter__(self) -> BlobStream:
        return self

    async def __anext__(self) -> bytes:
        if self._read_whole:
            if self._whole is None:
                raise StopAsyncIteration
            data, self._whole = self._whole, None
            return data
        return await self._chunks.__anext__()

    async def aclose(self) -> None:
        await self._chunks.aclose()
        if self._files.opened or self._files.file is not None:  # never iterated
            await asyncio.to_thread(self._files.close_all)

    @property
    def on_files(self) -> bool:
        """Every extent is in a file of its own (the store has paths, not just streams), and
        the body has not been read already."""
        return not self._read_whole and \
            all(self.blobs.path(ext.blob) is not None for ext in self.parts)

    async def files(self) -> AsyncIterator[tuple[BinaryIO, int, int]]:
        """(open file, offset, count) per extent; the caller closes each file."""
        for ext in self.parts:
            early = self._files.opened.get(ext.blob)
            yield await asyncio.to_thread(_open_extent, self.blobs, ext, early), ext.offset, \
                ext.length


def _open_extent(blobs: BlobStore, ext: Extent, early: BinaryIO | None = None) -> BinaryIO:
    """The blob's file, after checking that it holds the whole extent. A file opened ahead
    (``early``, see BlobStream.prime) is duplicated rather than reopened: the blob may have
    been freed since, and the caller closes what it gets."""
    try:
        f = os.fdopen(os.dup(early.fileno()), "rb") if early is not None else blobs.open(ext.blob)
    except FileNotFoundError as exc:
        raise ShoalError("InternalError", "Object data is missing") from exc
    if os.fstat(f.fileno()).st_size < ext.offset + ext.length:
        f.close()
        raise ShoalError("InternalError", "Object data is truncated")
    return f


def object_bytes(
    meta: MetaStore, blobs: BlobStore, record: ObjectRecord, rng: ByteRange | None
) -> AsyncIterator[bytes]:
    """The bytes of ``rng`` of the object (all of it when None), as stored: from ``blobs``,
    or for an object kept inline (never sealed) from the record itself, or from ``meta`` when
    the record was read without them (``get_object(with_inline=False)``)."""
    if record.inline is not None:
        return _inline_body(record.inline, rng)
    if record.segments and is_inline(record.segments[0].blob):
        return _fetched_inline_body(meta, record.segments[0].blob, rng)
    return stream(blobs, extents(record, rng))


async def _inline_body(data: bytes, rng: ByteRange | None) -> AsyncIterator[bytes]:
    yield data if rng is None else data[rng.first:rng.last + 1]


async def _fetched_inline_body(
    meta: MetaStore, blob: str, rng: ByteRange | None
) -> AsyncIterator[bytes]:
    """An inline body read when first iterated; BlobGone when it went with its object (which
    was replaced or deleted since its record was read)."""
    data = await asyncio.to_thread(meta.get_inline_blob, blob)
    if data is None:
        raise BlobGone(blob)
    yield data if rng is None else data[rng.first:rng.last + 1]


def stream(blobs: BlobStore, parts: list[Extent]) -> BlobStream:
    """The bytes of the extents in order (see BlobStream)."""
    return BlobStream(blobs, parts)


async def _chunks(files: _Blobs, parts: list[Extent]) -> AsyncIterator[bytes]:
    """Yield the bytes of the extents in order, CHUNK at a time, reading one chunk ahead."""
    todo = pieces(parts)
    ahead = _read(files, next(todo, None))
    try:
        while ahead is not None:
            data = await ahead
            ahead = _read(files, next(todo, None))
            yield data
    finally:
        if ahead is not None:  # a read still under way uses the file: let it finish first
            await asyncio.gather(ahead, return_exceptions=True)
        if files.file is not None or files.opened:
            await asyncio.to_thread(files.close_all)


def _read(files: _Blobs, item: tuple[Extent, bool] | None) -> asyncio.Future[bytes] | None:
    if item is None:
        return None
    return asyncio.ensure_future(asyncio.to_thread(files.read, *item))
