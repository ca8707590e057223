"""Decoder for ``Content-Encoding: aws-chunked`` request bodies.

Wire format (signed / unsigned)::

    <hex size>;chunk-signature=<sig>\\r\\n<data>\\r\\n ... 0;chunk-signature=<sig>\\r\\n
    <hex size>\\r\\n<data>\\r\\n ... 0\\r\\n
    [<name>:<value>\\r\\n ...] [x-amz-trailer-signature:<sig>\\r\\n] \\r\\n

Data is yielded as it arrives (a chunk's signature is checked once its last byte has been
read), so a consumer must not commit anything before iteration ends without an error.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

from shoal.core.errors import ShoalError
from shoal.dialects.s3.sigv4 import SigV4Params, canonical_header_value, sign, signing_key

MAX_LINE = 4096
MAX_CHUNK_SIZE = 64 * 1024 * 1024
MAX_TRAILER_BYTES = 16 * 1024
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
TRAILER_SIGNATURE = "x-amz-trailer-signature"

_SIZE_RE = re.compile(rb"[0-9a-fA-F]{1,16}")
_CRLF = b"\r\n"


@dataclass(frozen=True)
class ChunkSigning:
    """What chunk signatures chain from: the request's key, date, scope and signature."""

    signing_key: bytes
    amz_date: str
    scope: str
    seed_signature: str

    @classmethod
    def for_request(cls, params: SigV4Params, secret: str) -> ChunkSigning:
        """Build from verified header-auth parameters."""
        return cls(
            signing_key=signing_key(secret, params.date, params.region, params.service),
            amz_date=params.amz_date or "",
            scope=params.scope,
            seed_signature=params.signature,
        )


def chunk_string_to_sign(signing: ChunkSigning, previous: str, chunk_sha256: str) -> str:
    """StringToSign of one data chunk."""
    return "\n".join(
        (
            "AWS4-HMAC-SHA256-PAYLOAD",
            signing.amz_date,
            signing.scope,
            previous,
            EMPTY_SHA256,
            chunk_sha256,
        )
    )


def canonical_trailers(trailers: dict[str, str]) -> str:
    """``name:value\\n`` per trailer, sorted by name (what the trailer signature covers)."""
    return "".join(
        f"{name}:{canonical_header_value(trailers[name])}\n" for name in sorted(trailers)
    )


def trailer_string_to_sign(signing: ChunkSigning, previous: str, trailers: dict[str, str]) -> str:
    """StringToSign of the trailer block; ``previous`` is the final chunk's signature."""
    digest = hashlib.sha256(canonical_trailers(trailers).encode("utf-8")).hexdigest()
    return "\n".join(
        ("AWS4-HMAC-SHA256-TRAILER", signing.amz_date, signing.scope, previous, digest)
    )


def _malformed(detail: str) -> ShoalError:
    return ShoalError("IncompleteBody", f"The aws-chunked request body is malformed: {detail}")


def _truncated() -> ShoalError:
    return ShoalError("IncompleteBody")


def _signature_mismatch() -> ShoalError:
    return ShoalError("SignatureDoesNotMatch")


class _Input:
    """Pull-based byte buffer over the source iterator; holds at most one source piece."""

    def __init__(self, source: AsyncIterator[bytes]) -> None:
        self._source = source.__aiter__()
        self._buf: bytes | bytearray = b""
        self._pos = 0
        self._eof = False

    def _available(self) -> int:
        return len(self._buf) - self._pos

    async def _fill(self) -> bool:
        """Append the next non-empty source piece; False at end of stream."""
        while not self._eof:
            try:
                piece = await anext(self._source)
            except StopAsyncIteration:
                self._eof = True
                break
            if not piece:
                continue
            if not isinstance(piece, bytes):
                piece = bytes(piece)
            if self._pos >= len(self._buf):
                self._buf = piece
            else:
                if isinstance(self._buf, bytes):
                    self._buf = bytearray(memoryview(self._buf)[self._pos :])
                else:
                    del self._buf[: self._pos]
                self._buf += piece
            self._pos = 0
            return True
        return False

    async def read_line(self) -> bytes:
        """Next CRLF-terminated line without its CRLF."""
        limit = MAX_LINE + len(_CRLF)
        while True:
            end = self._buf.find(_CRLF, self._pos, self._pos + limit)
            if end >= 0:
                line = bytes(self._buf[self._pos : end])
                self._pos = end + len(_CRLF)
                return line
            if self._available() >= limit:
                raise _malformed("line too long")
            if not await self._fill():
                raise _truncated()

    async def read_data(self, size: int) -> AsyncIterator[bytes]:
        """Yield exactly ``size`` bytes in the pieces they arrive in."""
        while size:
            if not self._available() and not await self._fill():
                raise _truncated()
            buf, start = self._buf, self._pos
            take = min(len(buf) - start, size)
            if start == 0 and take == len(buf) and isinstance(buf, bytes):
                piece = buf
            else:
                piece = bytes(memoryview(buf)[start : start + take])
            self._pos += take
            size -= take
            yield piece

    async def expect_crlf(self) -> None:
        while self._available() < len(_CRLF):
            if not await self._fill():
                raise _truncated()
        if self._buf[self._pos : self._pos + len(_CRLF)] != _CRLF:
            raise _malformed("chunk data is not followed by CRLF")
        self._pos += len(_CRLF)

    async def expect_eof(self) -> None:
        if self._available() or await self._fill():
            raise _malformed("data after the final chunk")


def _parse_chunk_header(line: bytes) -> tuple[int, bytes | None]:
    """``<hex>[;ext[=v]]...`` -> (size, chunk-signature or None)."""
    size_text, _, extensions = line.partition(b";")
    size_text = size_text.strip(b" \t")
    if not _SIZE_RE.fullmatch(size_text):
        raise _malformed("bad chunk size")
    size = int(size_text, 16)
    if size > MAX_CHUNK_SIZE:
        raise ShoalError("InvalidChunkSizeError", "Chunk size exceeds the maximum allowed")
    signature = None
    if extensions:
        for item in extensions.split(b";"):
            name, _, value = item.partition(b"=")
            if name.strip(b" \t").lower() == b"chunk-signature":
                signature = value.strip(b" \t")
    return size, signature


def _parse_trailer(line: bytes) -> tuple[str, str]:
    name, sep, value = line.partition(b":")
    name = name.strip(b" \t")
    if not sep or not name or not name.isascii():
        raise _malformed("bad trailer line")
    return name.decode("ascii").lower(), value.strip(b" \t").decode("latin-1")


def _signatures_equal(expected: str, provided: bytes | str | None) -> bool:
    if provided is None:
        return False
    if isinstance(provided, str):
        provided = provided.encode("utf-8", "replace")
    return hmac.compare_digest(expected.encode("ascii"), provided.lower())


class AwsChunkedReader:
    """Async iterator over the decoded data of an aws-chunked body.

    ``signing`` set: every chunk signature is verified, and with ``expect_trailer`` the
    trailer signature too (STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]). ``signing`` None:
    signatures are ignored (STREAMING-UNSIGNED-PAYLOAD-TRAILER). After exhaustion
    ``trailers`` holds the trailing headers (lower-case names, signature line removed).
    """

    def __init__(
        self,
        source: AsyncIterator[bytes],
        *,
        signing: ChunkSigning | None,
        expect_trailer: bool,
        decoded_length: int | None,
    ) -> None:
        self._input = _Input(source)
        self._signing = signing
        self._expect_trailer = expect_trailer
        self._decoded_length = decoded_length
        self._previous = signing.seed_signature.strip().lower() if signing else ""
        self._started = False
        self.trailers: dict[str, str] = {}
        self.decoded_bytes = 0

    def __aiter__(self) -> AsyncIterator[bytes]:
        if self._started:
            raise RuntimeError("an AwsChunkedReader can be iterated only once")
        self._started = True
        return self._decode()

    async def _decode(self) -> AsyncIterator[bytes]:
        while True:
            line = await self._input.read_line()
            size, signature = _parse_chunk_header(line)
            if size == 0:
                self._check_chunk(signature, EMPTY_SHA256)
                break
            self._reserve(size)
            digest = hashlib.sha256() if self._signing else None
            async for piece in self._input.read_data(size):
                if digest is not None:
                    digest.update(piece)
                yield piece
            await self._input.expect_crlf()
            if digest is not None:
                self._check_chunk(signature, digest.hexdigest())
        await self._read_trailers()
        await self._input.expect_eof()
        if self._decoded_length is not None and self.decoded_bytes != self._decoded_length:
            raise _truncated()

    def _reserve(self, size: int) -> None:
        self.decoded_bytes += size
        if self._decoded_length is not None and self.decoded_bytes > self._decoded_length:
            raise _malformed("more data than x-amz-decoded-content-length")

    def _check_chunk(self, provided: bytes | None, chunk_sha256: str) -> None:
        if self._signing is None:
            return
        sts = chunk_string_to_sign(self._signing, self._previous, chunk_sha256)
        expected = sign(self._signing.signing_key, sts)
        if not _signatures_equal(expected, provided):
            raise _signature_mismatch()
        self._previous = expected

    async def _read_trailers(self) -> None:
        trailers: dict[str, str] = {}
        signature: str | None = None
        total = 0
        while True:
            line = await self._input.read_line()
            if not line:
                break
            total += len(line)
            if total > MAX_TRAILER_BYTES:
                raise _malformed("trailers too large")
            name, value = _parse_trailer(line)
            if name == TRAILER_SIGNATURE:
                signature = value
            elif name in trailers:
                trailers[name] += "," + value
            else:
                trailers[name] = value
        self._check_trailers(trailers, signature)
        self.trailers = trailers

    def _check_trailers(self, trailers: dict[str, str], provided: str | None) -> None:
        if self._signing is None:
            return
        if not self._expect_trailer:
            if trailers or provided is not None:
                raise _malformed("unexpected trailer in a signed payload without trailer")
            return
        sts = trailer_string_to_sign(self._signing, self._previous, trailers)
        expected = sign(self._signing.signing_key, sts)
        if not _signatures_equal(expected, provided):
            raise _signature_mismatch()
