"""Encryption at rest: the sealed-blob layout, and ``BlobStore`` adapters that seal and unseal.

Every blob of an encrypted object gets its own random 256-bit data key, wrapped (AES-256-GCM)
by a key-encryption key (``Kek``): the server's SSE-S3 key, a named KMS key, or the customer's
SSE-C key. A sealed blob is self-contained::

    header   magic "SHS1" | log2(chunk size) (1) | nonce prefix (7) | wrap nonce (12)
             | wrapped data key (32 + 16-byte tag)                           = 72 bytes
    chunks   the plaintext in fixed chunks of 64 KiB (the last one 0..64 KiB), each sealed
             with AES-256-GCM under the data key: ciphertext | 16-byte tag

A chunk's nonce is ``prefix | final flag | chunk index (4 bytes, big-endian)``: chunks cannot be
reordered, and cutting a blob short at a chunk boundary is detected (the new last chunk was not
sealed as final). The wrapping binds the layout parameters, the blob id and what the KEK is
(kind, KMS key id, encryption context): a sealed blob cannot be passed off as another blob.

Object metadata keeps plaintext coordinates (sizes, segment offsets); ``SealedBlobs`` maps them
to chunks, so a ranged read decrypts only the chunks it touches. ETags and checksums are those
of the plaintext (ingest hashes before sealing).
"""

from __future__ import annotations

import io
import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .errors import ShoalError
from .model import ByteRange, ObjectRecord
from .ports import BlobStore, BlobWriter, MetaStore
from .reader import object_bytes

MAGIC = b"SHS1"
CHUNK_LOG2 = 16
CHUNK = 1 << CHUNK_LOG2  # plaintext bytes per sealed chunk
TAG = 16
KEY_BYTES = 32
PREFIX_BYTES = 7
NONCE_BYTES = 12
PARAMS = len(MAGIC) + 1 + PREFIX_BYTES
HEADER = PARAMS + NONCE_BYTES + KEY_BYTES + TAG  # 72
MAX_CHUNKS = 1 << 32
FLUSH = 1 << 20  # sealed bytes gathered before a write to the inner writer


@dataclass(frozen=True, slots=True)
class Kek:
    """A key-encryption key and what it is (bound into every data-key wrapping)."""

    key: bytes = field(repr=False)
    binding: bytes  # b"sse-s3", b"sse-c", b"kms\0<key id>\0<context>"

    def seal(self, blobs: BlobStore) -> SealedBlobs:
        """``blobs`` seen through this key: writes are sealed, reads unsealed."""
        return SealedBlobs(blobs, self)


def sealed_size(plain: int) -> int:
    """Physical size of a sealed blob holding ``plain`` bytes."""
    chunks = max(1, -(-plain // CHUNK))
    return HEADER + plain + chunks * TAG


def plain_size(physical: int, chunk: int = CHUNK) -> int:
    """Plaintext size of a sealed blob of ``physical`` bytes; ValueError if no blob has it."""
    body = physical - HEADER
    if body < TAG:
        raise ValueError(f"{physical} bytes is too short for a sealed blob")
    chunks = -(-body // (chunk + TAG))
    if body - (chunks - 1) * (chunk + TAG) < TAG:
        raise ValueError(f"{physical} bytes is not the size of a sealed blob")
    return body - chunks * TAG


def _wrap_aad(params: bytes, blob_id: str, kek: Kek) -> bytes:
    return params + blob_id.encode() + b"\0" + kek.binding


def _nonce(prefix: bytes, index: int, final: bool) -> bytes:
    return prefix + (b"\1" if final else b"\0") + index.to_bytes(4, "big")


class SealingWriter:
    """A ``BlobWriter`` that seals what it is given into ``inner``: the header first, then a
    chunk each time more than a chunk's worth is buffered; ``commit`` seals the rest as the
    final chunk (kept back until then, as only commit knows which chunk is last)."""

    def __init__(self, inner: BlobWriter, kek: Kek) -> None:
        self.blob_id = inner.blob_id
        self._inner = inner
        data_key = AESGCM.generate_key(bit_length=256)
        self._prefix = os.urandom(PREFIX_BYTES)
        params = MAGIC + bytes([CHUNK_LOG2]) + self._prefix
        wrap_nonce = os.urandom(NONCE_BYTES)
        wrapped = AESGCM(kek.key).encrypt(wrap_nonce, data_key,
                                          _wrap_aad(params, self.blob_id, kek))
        self._aead = AESGCM(data_key)
        self._out: list[bytes] = [params + wrap_nonce + wrapped]
        self._out_size = HEADER
        self._buf = bytearray()
        self._index = 0
        self._sealed = False

    def _chunk(self, data: bytes | bytearray | memoryview, final: bool) -> None:
        if self._index >= MAX_CHUNKS:
            raise ShoalError("EntityTooLarge")
        sealed = self._aead.encrypt(_nonce(self._prefix, self._index, final), data, None)
        self._out.append(sealed)
        self._out_size += len(sealed)
        self._index += 1

    def _flush(self) -> None:
        if self._out:
            out, self._out, self._out_size = self._out, [], 0
            self._inner.write(out[0] if len(out) == 1 else b"".join(out))

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._sealed:
            raise ValueError("sealed blob writer is already committed")
        view = memoryview(data).cast("B")
        if self._buf:
            take = CHUNK - len(self._buf)
            self._buf += view[:take]
            view = view[take:]
            if not view:
                return  # a full buffer may still be the final chunk: keep it
            self._chunk(self._buf, final=False)
            self._buf = bytearray()
        while len(view) > CHUNK:
            self._chunk(view[:CHUNK], final=False)
            view = view[CHUNK:]
        self._buf += view
        if self._out_size >= FLUSH:
            self._flush()

    def commit(self) -> str:
        if not self._sealed:
            self._chunk(self._buf, final=True)
            self._buf = bytearray()
            self._sealed = True
            self._flush()
        return self._inner.commit()

    def abort(self) -> None:
        self._inner.abort()


class SealedReader(io.RawIOBase):
    """A sealed blob read as its plaintext: ``seek``/``read`` in plaintext offsets decrypt the
    chunks they touch (the contiguous ones in one read of the file), keeping the last one."""

    def __init__(self, file: BinaryIO, kek: Kek, blob_id: str) -> None:
        super().__init__()
        self._file = file
        header = file.read(HEADER)
        if len(header) != HEADER or header[:len(MAGIC)] != MAGIC:
            raise ShoalError("InternalError", "Object data is not sealed as its metadata says")
        self._chunk_size = 1 << header[len(MAGIC)]
        params = header[:PARAMS]
        self._prefix = params[len(MAGIC) + 1:]
        nonce, wrapped = header[PARAMS:PARAMS + NONCE_BYTES], header[PARAMS + NONCE_BYTES:]
        try:
            data_key = AESGCM(kek.key).decrypt(nonce, wrapped, _wrap_aad(params, blob_id, kek))
        except InvalidTag as exc:
            raise ShoalError("InternalError", "Object data key cannot be unwrapped: wrong key "
                             "or damaged data") from exc
        self._aead = AESGCM(data_key)
        self._physical = file.seek(0, io.SEEK_END)
        try:
            self._size = plain_size(self._physical, self._chunk_size)
        except ValueError as exc:
            raise ShoalError("InternalError", "Object data is truncated") from exc
        self._chunks = max(1, -(-self._size // self._chunk_size))
        self._pos = 0
        self._cached: tuple[int, bytes] | None = None

    @property
    def size(self) -> int:
        """The plaintext size."""
        return self._size

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        if base + offset < 0:
            raise ValueError("negative seek position")
        self._pos = base + offset
        return self._pos

    def _decrypt(self, first: int, last: int) -> Iterator[bytes]:
        """The plaintext of chunks ``first..last`` (read from the file in one go)."""
        if self._cached is not None and self._cached[0] == first:
            yield self._cached[1]
            first += 1
        if first > last:
            return
        step = self._chunk_size + TAG
        self._file.seek(HEADER + first * step)
        raw = memoryview(self._file.read(min((last - first + 1) * step,
                                             self._physical - HEADER - first * step)))
        for i, index in enumerate(range(first, last + 1)):
            sealed = raw[i * step:(i + 1) * step]
            nonce = _nonce(self._prefix, index, index == self._chunks - 1)
            try:
                plain = self._aead.decrypt(nonce, sealed, None)
            except InvalidTag as exc:
                raise ShoalError("InternalError", "Object data failed its integrity "
                                 "check") from exc
            self._cached = (index, plain)
            yield plain

    def read(self, size: int | None = -1) -> bytes:
        end = self._size if size is None or size < 0 else min(self._size, self._pos + size)
        if end <= self._pos:
            return b""
        cs = self._chunk_size
        first, last = self._pos // cs, (end - 1) // cs
        out: list[bytes] = []
        for index, plain in enumerate(self._decrypt(first, last), first):
            lo = max(self._pos - index * cs, 0)
            hi = min(end - index * cs, len(plain))
            out.append(plain if lo == 0 and hi == len(plain) else plain[lo:hi])
        self._pos = end
        return out[0] if len(out) == 1 else b"".join(out)

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        memoryview(buffer).cast("B")[:len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._file.close()
        super().close()


class SealedBlobs:
    """``BlobStore`` over another one whose blobs are sealed with ``kek``: writers seal, opened
    blobs read as plaintext, sizes are plaintext sizes. No zero-copy path (``path`` is None)."""

    def __init__(self, blobs: BlobStore, kek: Kek) -> None:
        self.blobs = blobs
        self.kek = kek

    def writer(self) -> SealingWriter:
        return SealingWriter(self.blobs.writer(), self.kek)

    def open(self, blob_id: str) -> BinaryIO:
        file = self.blobs.open(blob_id)
        try:
            return SealedReader(file, self.kek, blob_id)  # type: ignore[return-value]
        except BaseException:
            file.close()
            raise

    def path(self, blob_id: str) -> str | None:
        return None

    def size(self, blob_id: str) -> int | None:
        """The plaintext size; -1 for a blob whose size no sealed blob can have."""
        physical = self.blobs.size(blob_id)
        if physical is None:
            return None
        try:
            return plain_size(physical)
        except ValueError:
            return -1

    def delete(self, blob_ids: list[str]) -> None:
        self.blobs.delete(blob_ids)

    def iter_blobs(self) -> Iterator[tuple[str, float]]:
        return self.blobs.iter_blobs()

    def sweep_temp(self, older_than: float) -> int:
        return self.blobs.sweep_temp(older_than)

    def check_space(self, incoming: int) -> None:
        self.blobs.check_space(incoming)


def read_object(
    meta: MetaStore, blobs: BlobStore, record: ObjectRecord, rng: ByteRange | None,
    kek: Kek | None,
) -> AsyncIterator[bytes]:
    """The plaintext of ``rng`` of the object (all of it when None), unsealed with ``kek``."""
    return object_bytes(meta, kek.seal(blobs) if kek is not None else blobs, record, rng)
