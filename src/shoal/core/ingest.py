"""Stream a request body into a new blob while hashing it; verify, then make it durable.

The event loop gathers the body into ~1 MiB batches; each batch is hashed and written in a
worker thread (hashlib and the CRC libraries release the GIL on large buffers) while the loop
already receives the next one. Nothing is kept beyond one batch in flight plus one being filled.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from .errors import ShoalError
from .hashing import make_hasher
from .ports import BlobStore, BlobWriter

BATCH = 1 << 20

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


@dataclass(slots=True)
class Ingested:
    blob: str
    size: int
    md5: bytes
    checksums: dict[str, str]  # algo -> base64 of the algos in Expect.want
    crc64ecma: int

    @property
    def etag(self) -> str:
        return self.md5.hex()


class _Sink:
    """Hashes and writes batches; runs in a worker thread."""

    def __init__(self, writer: BlobWriter, algos: set[str]) -> None:
        self.writer = writer
        self.hashers = {a: make_hasher(a) for a in algos}
        self.size = 0

    def feed(self, data: bytes) -> None:
        for h in self.hashers.values():
            h.update(data)
        self.writer.write(data)
        self.size += len(data)


async def ingest(blobs: BlobStore, body: AsyncIterator[bytes], expect: Expect) -> Ingested:
    """Write ``body`` to a new committed blob; raises ShoalError (and leaves nothing) on failure."""
    kept = set(expect.want) | set(expect.checksums)
    algos = {"md5", "crc64ecma"} | kept
    if expect.sha256_hex:
        algos.add("sha256")
    writer = await asyncio.to_thread(blobs.writer)
    sink = _Sink(writer, algos)
    try:
        await _pump(body, sink, expect.max_size)
        digests = {a: h.digest() for a, h in sink.hashers.items()}
        _verify(expect, sink.size, digests)
        await asyncio.to_thread(writer.commit)
    except BaseException:
        await asyncio.to_thread(writer.abort)
        raise
    crc = sink.hashers["crc64ecma"]
    return Ingested(
        blob=writer.blob_id,
        size=sink.size,
        md5=digests["md5"],
        checksums={a: _b64(digests[a]) for a in sorted(kept) if a in CHECKSUM_ALGOS},
        crc64ecma=crc.value(),  # type: ignore[attr-defined]
    )


async def _pump(body: AsyncIterator[bytes], sink: _Sink, max_size: int | None) -> None:
    buf = bytearray()
    pending: asyncio.Future[None] | None = None
    total = 0
    async for chunk in body:
        total += len(chunk)
        if max_size is not None and total > max_size:
            raise ShoalError("EntityTooLarge")
        buf += chunk
        if len(buf) >= BATCH:
            if pending is not None:
                await pending
            pending = asyncio.ensure_future(asyncio.to_thread(sink.feed, bytes(buf)))
            buf = bytearray()
    if pending is not None:
        await pending
    if buf:
        await asyncio.to_thread(sink.feed, bytes(buf))


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
