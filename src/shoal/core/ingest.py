"""Stream a request body into a new blob while hashing it; verify, then make it durable.

The event loop gathers the body into ~1 MiB batches; each batch is hashed and written in a
worker thread (hashlib and the CRC libraries release the GIL on large buffers) while the loop
already receives the next one. Nothing is kept beyond one batch in flight plus one being filled.
The last batch, the check of the digests and the commit (fsync) go to the thread in one call,
so a small body crosses to a thread once. A large body's MD5 is computed on the process's
shared SIMD lanes (``md5lanes``), hashed together with the other uploads in flight.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar

from . import md5lanes, process
from .errors import ShoalError
from .hashing import Hasher, make_hasher
from .md5lanes import LaneMd5
from .model import new_inline_id
from .ports import BlobStore, BlobWriter

BATCH = 1 << 20
LANES_MIN_SIZE = 1 << 20  # smaller bodies hash with hashlib: one thread hop fewer
# Threads for blob writes and fsyncs. They mostly wait on the disk, and concurrent fsyncs let
# the filesystem commit its journal once for several of them, so there are more threads than
# cores; each holds at most one batch.
IO_THREADS = 16
T = TypeVar("T")
R = TypeVar("R")
_pools: dict[int, ThreadPoolExecutor] = {}  # pid -> pool: a forked child makes its own

CHECKSUM_ALGOS = ("crc32", "crc32c", "crc64nvme", "sha1", "sha256")


@dataclass(slots=True)
class Expect:
    """What the client claims about the body; checked before the blob is committed."""

    md5: bytes | None = None  # Content-MD5, decoded
    sha256_hex: str | None = None  # x-amz-content-sha256 when it is a real hash
    checksums: dict[str, str] = field(default_factory=dict)  # algo -> base64, from headers
    want: set[str] = field(default_factory=set)  # checksum algos to compute and keep
    trailers: Callable[[], dict[str, str]] | None = None  # trailing headers, after the body
    declared_trailers: set[str] = field(default_factory=set)  # names promised in x-amz-trailer
    size: int | None = None  # declared (decoded) length
    max_size: int | None = None
    seal: Callable[[BlobStore], BlobStore] | None = None  # encrypt: the store to write through


@dataclass(slots=True)
class Ingested:
    blob: str
    size: int
    md5: bytes
    checksums: dict[str, str]  # algo -> base64 of the algos in Expect.want
    crc64ecma: int
    inline: bytes | None = None  # the body itself when it was kept for the metadata store

    @property
    def etag(self) -> str:
        return self.md5.hex()


class _Sink:
    """Hashes and writes batches; every method runs in a worker thread. For a small body the
    blob writer is created with the first (and only) batch, so it costs one thread hop in all
    (create, write, hash, verify, commit) instead of one per step."""

    def __init__(self, blobs: BlobStore, algos: set[str], lanes: bool = False,
                 keep: int | None = None) -> None:
        self.blobs = blobs
        self.writer: BlobWriter | None = None
        # keep: the declared size of a small body that is kept in memory, not written
        self.kept: list[bytes] | None = [] if keep is not None else None
        self.keep_max = keep or 0
        self.hashers: dict[str, Hasher] = {a: make_hasher(a) for a in algos}
        # A large body's MD5 goes to the shared SIMD lanes, batch by batch (see md5lanes).
        self.lane_md5 = LaneMd5() if lanes and "md5" in algos else None
        if self.lane_md5 is not None:
            self.hashers["md5"] = self.lane_md5
        self.size = 0

    def open(self) -> None:
        if self.writer is None and self.kept is None:
            self.writer = self.blobs.writer()

    def feed(self, chunks: list[bytes]) -> None:
        """Hash and write a batch, chunk by chunk: the chunks are never joined (a copy)."""
        if self.kept is not None:
            self._keep(chunks)
            return
        self.open()
        assert self.writer is not None
        lane_md5 = self.lane_md5
        if lane_md5 is not None:
            lane_md5.submit(chunks)  # hashed on the lanes while this thread writes
        hashers = [h for h in self.hashers.values() if h is not lane_md5]
        for data in chunks:
            for h in hashers:
                h.update(data)
            self.writer.write(data)
            self.size += len(data)

    def _keep(self, chunks: list[bytes]) -> None:
        assert self.kept is not None
        for data in chunks:
            self.size += len(data)
            if self.size > self.keep_max:  # more than declared: never buffer it
                raise ShoalError("IncompleteBody")
            for h in self.hashers.values():
                h.update(data)
            self.kept.append(data)

    def finish(self, chunks: list[bytes], expect: Expect) -> dict[str, bytes]:
        """Feed the last batch, check the body against ``expect``, then commit the blob (a
        kept body is committed later, by the metadata write that records it)."""
        if chunks or (self.writer is None and self.kept is None):
            self.feed(chunks)
        digests = {a: h.digest() for a, h in self.hashers.items()}
        _verify(expect, self.size, digests)
        if self.kept is None:
            assert self.writer is not None
            self.writer.commit()
        else:  # it goes to the metadata store: not into the space kept free for it
            self.blobs.check_space(self.size)
        return digests

    def abort(self) -> None:
        if self.writer is not None:
            self.writer.abort()


async def ingest(
    blobs: BlobStore, body: AsyncIterator[bytes], expect: Expect,
    then: Callable[[Ingested], R] | None = None, inline_max: int = 0,
) -> tuple[Ingested, R | None]:
    """Write ``body`` to a new committed blob; raises ShoalError (and leaves nothing) on failure.

    ``then`` (when given) runs in the same worker thread right after the blob is committed,
    with what was ingested, and its result is returned beside it: a caller that records the
    blob (a metadata write) saves a thread hop. If ``then`` raises, the blob is deleted.

    A body declared at most ``inline_max`` bytes long and not sealed is not written to the blob
    store at all: it comes back as ``Ingested.inline`` under an inline blob id, for the
    metadata store to keep (the caller's commit of the record makes it durable)."""
    kept = set(expect.want) | set(expect.checksums)
    algos = {"md5", "crc64ecma"} | kept
    if expect.sha256_hex:
        algos.add("sha256")
    large = expect.size is None or expect.size >= LANES_MIN_SIZE
    small = expect.seal is None and expect.size is not None and inline_max > 0 and \
        expect.size <= inline_max
    sink = _Sink(blobs if expect.seal is None else expect.seal(blobs), algos,
                 lanes=large and md5lanes.available(), keep=expect.size if small else None)
    try:
        if expect.size is None or expect.size >= BATCH:  # a large body: open the blob now
            await _in_thread(sink.open)
        rest = await _pump(body, sink, expect.max_size)
        return await _in_thread(_finish, sink, blobs, rest, expect, kept, then)
    except BaseException:
        if sink.writer is not None:
            await _in_thread(sink.abort)
        raise


def _finish(sink: _Sink, blobs: BlobStore, rest: list[bytes], expect: Expect, kept: set[str],
            then: Callable[[Ingested], R] | None) -> tuple[Ingested, R | None]:
    digests = sink.finish(rest, expect)
    crc = sink.hashers["crc64ecma"]
    got = Ingested(
        blob=sink.writer.blob_id if sink.writer is not None else new_inline_id(),
        size=sink.size,
        md5=digests["md5"],
        checksums={a: _b64(digests[a]) for a in sorted(kept) if a in CHECKSUM_ALGOS},
        crc64ecma=crc.value(),  # type: ignore[attr-defined]
        inline=b"".join(sink.kept) if sink.kept is not None else None,
    )
    if then is None:
        return got, None
    try:
        return got, then(got)
    except BaseException:
        if got.inline is None:
            blobs.delete([got.blob])
        raise


async def _pump(body: AsyncIterator[bytes], sink: _Sink, max_size: int | None) -> list[bytes]:
    """Feed full batches to ``sink`` (one in a thread while the loop fills the next); return
    the last, partial batch unfed. A batch is a list of the chunks as received: the event
    loop, which holds the GIL, copies nothing."""
    batch: list[bytes] = []
    size = total = 0
    pending: asyncio.Future[None] | None = None
    try:
        async for chunk in body:
            total += len(chunk)
            if max_size is not None and total > max_size:
                raise ShoalError("EntityTooLarge")
            if chunk:
                # Kept until its batch is written: it must not change meanwhile.
                batch.append(chunk if type(chunk) is bytes else bytes(chunk))
                size += len(chunk)
            if size >= BATCH:
                if pending is not None:
                    await pending
                pending = asyncio.ensure_future(_in_thread(sink.feed, batch))
                batch, size = [], 0
    finally:
        if pending is not None:
            await pending
    return batch


def _verify(expect: Expect, size: int, digests: dict[str, bytes]) -> None:
    if expect.size is not None and size != expect.size:
        raise ShoalError("IncompleteBody")
    if expect.md5 is not None and expect.md5 != digests["md5"]:
        raise ShoalError("BadDigest")
    if expect.sha256_hex and expect.sha256_hex.lower() != digests["sha256"].hex():
        raise ShoalError(
            "XAmzContentSHA256Mismatch",
            ClientComputedContentSHA256=expect.sha256_hex,
            S3ComputedContentSHA256=digests["sha256"].hex(),
        )
    for algo, value in claimed_checksums(expect).items():
        if algo in digests and value != _b64(digests[algo]):
            raise ShoalError(
                "BadDigest",
                f"The {algo.upper()} you specified did not match the calculated checksum.",
            )


def claimed_checksums(expect: Expect) -> dict[str, str]:
    """algo -> base64 the client claimed, from headers and from aws-chunked trailers.

    Call after the body has been read; a trailer promised in ``x-amz-trailer`` but never sent
    is MalformedTrailerError.
    """
    claimed = dict(expect.checksums)
    if expect.trailers is None:
        return claimed
    received = expect.trailers()
    if not expect.declared_trailers <= set(received):
        raise ShoalError("MalformedTrailerError", "The request contained trailing data that "
                         "was not well-formed or did not conform to our published schema.")
    for name, value in received.items():
        algo = name.removeprefix("x-amz-checksum-")
        if algo != name and algo in CHECKSUM_ALGOS:
            claimed[algo] = value
    return claimed


def _b64(d: bytes) -> str:
    return base64.b64encode(d).decode()


def _in_thread(fn: Callable[..., T], *args: object) -> asyncio.Future[T]:
    """Run blocking blob I/O (writes, fsyncs) in this process's ingest pool."""
    pool = _pools.get(process.pid())
    if pool is None:
        pool = _pools[process.pid()] = ThreadPoolExecutor(IO_THREADS, "shoal-ingest")
    return asyncio.get_running_loop().run_in_executor(pool, fn, *args)
