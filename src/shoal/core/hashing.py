"""Streaming digests and CRCs, CRC combination, multipart ETags and checksum header parsing.

Pure logic, no HTTP. Algorithms (case-insensitive names):

* ``md5``, ``sha1``, ``sha256`` -- :mod:`hashlib`.
* ``crc32`` (CRC-32/ISO-HDLC, zlib's), ``crc32c`` (CRC-32/ISCSI), ``crc64nvme`` (CRC-64/NVME),
  ``crc64ecma`` (CRC-64/XZ, COS ``x-cos-hash-crc64ecma``).

CRC digests are the big-endian fixed-width value (4 or 8 bytes). S3 ``x-amz-checksum-<algo>``
header values are ``b64(digest)``; the COS ``x-cos-hash-crc64ecma`` header is ``str(value())``.

Each CRC is backed by the fastest library found at import time (``BACKENDS`` says which):
fastcrc (crc32, crc64ecma) and awscrt (crc32c, crc64nvme), which release the GIL on large buffers;
then zlib, crc32c, crcmod and finally a slow pure-Python table so this module always imports.
Hashers are not thread-safe: feed one from one thread at a time.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import importlib
import importlib.util
import threading
import zlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeAlias

from shoal.core.errors import ShoalError

Buffer: TypeAlias = bytes | bytearray | memoryview
CrcFunc: TypeAlias = Callable[[Buffer, int], int]

HASH_ALGORITHMS: frozenset[str] = frozenset({"md5", "sha1", "sha256"})
CRC_ALGORITHMS: frozenset[str] = frozenset({"crc32", "crc32c", "crc64nvme", "crc64ecma"})
ALGORITHMS: frozenset[str] = HASH_ALGORITHMS | CRC_ALGORITHMS
DIGEST_SIZES: dict[str, int] = {
    "md5": 16,
    "sha1": 20,
    "sha256": 32,
    "crc32": 4,
    "crc32c": 4,
    "crc64nvme": 8,
    "crc64ecma": 8,
}


# --------------------------------------------------------------------------- CRC parameters


def _reflect(value: int, width: int) -> int:
    """Bit-reverse ``value`` over ``width`` bits."""
    return int(f"{value:0{width}b}"[::-1], 2)


@dataclass(frozen=True)
class CrcSpec:
    """A reflected CRC with init == xorout == all ones (true of all four supported CRCs)."""

    name: str
    width: int
    poly: int  # normal (MSB-first) polynomial, without the x^width term

    @property
    def rpoly(self) -> int:
        """The reflected polynomial used by LSB-first tables."""
        return _reflect(self.poly, self.width)

    @property
    def mask(self) -> int:
        return (1 << self.width) - 1


CRC_SPECS: dict[str, CrcSpec] = {
    "crc32": CrcSpec("crc32", 32, 0x04C11DB7),
    "crc32c": CrcSpec("crc32c", 32, 0x1EDC6F41),
    "crc64nvme": CrcSpec("crc64nvme", 64, 0xAD93D23594C93659),
    "crc64ecma": CrcSpec("crc64ecma", 64, 0x42F0E1EBA9EA3693),
}


# --------------------------------------------------------------------------- CRC backends


def _py_crc_func(spec: CrcSpec) -> CrcFunc:
    """Slow, dependency-free table-driven CRC (fallback and test oracle)."""
    rpoly, mask = spec.rpoly, spec.mask
    table = []
    for byte in range(256):
        v = byte
        for _ in range(8):
            v = (v >> 1) ^ rpoly if v & 1 else v >> 1
        table.append(v)

    def crc(data: Buffer, prev: int = 0) -> int:
        v = prev ^ mask
        for byte in memoryview(data).cast("B"):
            v = table[(v ^ byte) & 0xFF] ^ (v >> 8)
        return v ^ mask

    return crc


def _import(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def _lazy_crt(name: str) -> CrcFunc | None:
    """awscrt's ``checksums.<name>``, imported at its first call: the library brings ~5 MiB of
    its own (a TLS stack) into every server process, and most clients never ask for CRC32C or
    CRC64NVME. None when awscrt is not installed."""
    if importlib.util.find_spec("awscrt") is None:
        return None
    loaded: list[CrcFunc] = []

    def first(data: Buffer, prev: int = 0) -> int:
        if not loaded:
            loaded.append(getattr(importlib.import_module("awscrt.checksums"), name))
        return loaded[0](data, prev)

    return first


def _load_backends() -> tuple[dict[str, CrcFunc], dict[str, str]]:
    """Pick the fastest importable implementation of each CRC (first offer wins)."""
    funcs: dict[str, CrcFunc] = {}
    names: dict[str, str] = {}

    def offer(algo: str, name: str, func: CrcFunc) -> None:
        if algo not in funcs:
            funcs[algo] = func
            names[algo] = name

    # fastcrc: Rust, SIMD (PCLMULQDQ), releases the GIL; awscrt: aws-c-checksums, likewise.
    fastcrc = _import("fastcrc")
    if fastcrc is not None:
        offer("crc32", "fastcrc", fastcrc.crc32.iso_hdlc)
        offer("crc64ecma", "fastcrc", fastcrc.crc64.xz)
    for algo in ("crc32c", "crc64nvme"):  # crc64nvme needs awscrt >= 0.23.4 (a dependency)
        if (func := _lazy_crt(algo)) is not None:
            offer(algo, "awscrt", func)
    offer("crc32", "zlib", zlib.crc32)
    crc32c_pkg = _import("crc32c")
    if crc32c_pkg is not None:
        offer("crc32c", "crc32c", crc32c_pkg.crc32c)
    if fastcrc is not None:
        offer("crc32c", "fastcrc", fastcrc.crc32.iscsi)
    if "crc64ecma" not in funcs and (crcmod := _import("crcmod")) is not None:
        # The COS SDK's own definition (C extension: ~330 MB/s, holds the GIL).
        xz = crcmod.mkCrcFun(0x142F0E1EBA9EA3693, initCrc=0, xorOut=(1 << 64) - 1, rev=True)
        offer("crc64ecma", "crcmod", xz)
    for algo, spec in CRC_SPECS.items():
        offer(algo, "python", _py_crc_func(spec))
    return funcs, names


# BACKENDS maps each CRC algorithm to the name of the library computing it.
_CRC_FUNCS, BACKENDS = _load_backends()


def crc(algo: str, data: Buffer, prev: int = 0) -> int:
    """One-shot CRC of ``data``, continuing from the CRC ``prev`` of the preceding bytes."""
    return _CRC_FUNCS[_crc_algo(algo)](data, prev)


# --------------------------------------------------------------------------- hashers


class Hasher(ABC):
    """Streaming digest with a hashlib-like interface."""

    algo: str
    digest_size: int

    @abstractmethod
    def update(self, data: Buffer) -> None:
        """Feed more bytes."""

    @abstractmethod
    def digest(self) -> bytes:
        """Digest of everything fed so far (CRCs: big-endian, fixed width)."""

    def hexdigest(self) -> str:
        return self.digest().hex()

    def b64digest(self) -> str:
        """The value of an S3 ``x-amz-checksum-<algo>`` header."""
        return b64(self.digest())


class HashlibHasher(Hasher):
    """md5 / sha1 / sha256 via hashlib (releases the GIL for buffers over 2 KiB)."""

    def __init__(self, algo: str) -> None:
        self.algo = algo
        self.digest_size = DIGEST_SIZES[algo]
        self._h = hashlib.new(algo, usedforsecurity=False)

    def update(self, data: Buffer) -> None:
        self._h.update(data)

    def digest(self) -> bytes:
        return self._h.digest()


class CrcHasher(Hasher):
    """A running CRC."""

    def __init__(self, algo: str) -> None:
        self.algo = algo
        self.digest_size = DIGEST_SIZES[algo]
        self._func = _CRC_FUNCS[algo]
        self._value = 0

    def update(self, data: Buffer) -> None:
        self._value = self._func(data, self._value)

    def value(self) -> int:
        """The CRC as an unsigned integer (COS header: its decimal string)."""
        return self._value

    def digest(self) -> bytes:
        return self._value.to_bytes(self.digest_size, "big")


def _algo(algo: str) -> str:
    name = algo.lower()
    if name not in ALGORITHMS:
        raise ValueError(f"unsupported checksum algorithm: {algo!r}")
    return name


def _crc_algo(algo: str) -> str:
    name = algo.lower()
    if name not in CRC_ALGORITHMS:
        raise ValueError(f"not a CRC algorithm: {algo!r}")
    return name


def make_hasher(algo: str) -> Hasher:
    """A fresh hasher for ``algo`` (one of ``ALGORITHMS``, any case); ValueError otherwise."""
    name = _algo(algo)
    return CrcHasher(name) if name in CRC_ALGORITHMS else HashlibHasher(name)


def make_crc_hasher(algo: str) -> CrcHasher:
    """Like :func:`make_hasher`, typed for CRCs (has ``value()``)."""
    return CrcHasher(_crc_algo(algo))


class MultiHasher:
    """Feeds one chunk to several hashers (duplicates collapsed, order kept)."""

    def __init__(self, algos: Iterable[str]) -> None:
        self._hashers: dict[str, Hasher] = {}
        for algo in algos:
            name = _algo(algo)
            if name not in self._hashers:
                self._hashers[name] = make_hasher(name)
        self._all = tuple(self._hashers.values())
        self.size = 0

    @property
    def algos(self) -> tuple[str, ...]:
        return tuple(self._hashers)

    def update(self, data: Buffer) -> None:
        for h in self._all:
            h.update(data)
        self.size += data.nbytes if isinstance(data, memoryview) else len(data)

    def __getitem__(self, algo: str) -> Hasher:
        return self._hashers[algo.lower()]

    def __contains__(self, algo: object) -> bool:
        return isinstance(algo, str) and algo.lower() in self._hashers

    def digests(self) -> dict[str, bytes]:
        """``{algo: digest}`` for every algorithm."""
        return {name: h.digest() for name, h in self._hashers.items()}


def b64(digest: bytes) -> str:
    """Standard base64 (with padding) as str."""
    return base64.b64encode(digest).decode("ascii")


# --------------------------------------------------------------------------- CRC combine


class _Combiner:
    """zlib-style CRC combination over GF(2), for one reflected polynomial.

    ``ops[k]`` is the linear operator "append 2**k zero bytes" on a raw CRC register, stored as
    ``width // 8`` tables of 256 entries (a GF(2) matrix split by input byte). They are built
    lazily by squaring and cached, so a combine costs popcount(len2) * width/8 lookups.
    """

    def __init__(self, spec: CrcSpec) -> None:
        self.spec = spec
        self._ops: list[tuple[tuple[int, ...], ...]] = []
        self._lock = threading.Lock()

    @staticmethod
    def _apply(op: tuple[tuple[int, ...], ...], v: int) -> int:
        r = 0
        for table in op:
            r ^= table[v & 0xFF]
            v >>= 8
        return r

    def _tables(self, images: list[int]) -> tuple[tuple[int, ...], ...]:
        """Turn the images of the ``width`` basis vectors into per-byte lookup tables."""
        out = []
        for j in range(self.spec.width // 8):
            t = [0] * 256
            for b in range(1, 256):
                low = b & -b
                t[b] = t[b ^ low] ^ images[8 * j + low.bit_length() - 1]
            out.append(tuple(t))
        return tuple(out)

    def _op(self, k: int) -> tuple[tuple[int, ...], ...]:
        ops = self._ops
        if k < len(ops):
            return ops[k]
        with self._lock:
            width, rpoly = self.spec.width, self.spec.rpoly
            while len(ops) <= k:
                if not ops:  # one zero byte = eight steps of "multiply by x"
                    images = []
                    for i in range(width):
                        v = 1 << i
                        for _ in range(8):
                            v = (v >> 1) ^ rpoly if v & 1 else v >> 1
                        images.append(v)
                else:  # square the previous operator
                    prev = ops[-1]
                    images = [self._apply(prev, self._apply(prev, 1 << i)) for i in range(width)]
                ops.append(self._tables(images))
        return ops[k]

    def shift(self, v: int, nbytes: int) -> int:
        """Raw register ``v`` after ``nbytes`` zero bytes."""
        k = 0
        while nbytes:
            if nbytes & 1:
                v = self._apply(self._op(k), v)
            nbytes >>= 1
            k += 1
        return v


_COMBINERS: dict[str, _Combiner] = {algo: _Combiner(spec) for algo, spec in CRC_SPECS.items()}


def crc_combine(algo: str, crc1: int, crc2: int, len2: int) -> int:
    """CRC of A||B from ``crc1`` = CRC(A), ``crc2`` = CRC(B) and ``len2`` = len(B)."""
    comb = _COMBINERS[_crc_algo(algo)]
    mask = comb.spec.mask
    if not (0 <= crc1 <= mask and 0 <= crc2 <= mask):
        raise ValueError(f"CRC value out of range for {algo}")
    if len2 < 0:
        raise ValueError("negative length")
    # init == xorout, so the init/xorout terms cancel: crc(AB) = shift(crc(A), len B) ^ crc(B).
    return comb.shift(crc1, len2) ^ crc2


def crc_combine_parts(algo: str, parts: Iterable[tuple[int, int]]) -> int:
    """Whole-object CRC from ``(part_crc, part_length)`` pairs in object order."""
    total = 0
    for part_crc, length in parts:
        total = crc_combine(algo, total, part_crc, length)
    return total


# --------------------------------------------------------------------------- multipart


def multipart_etag(part_md5s: Iterable[bytes]) -> str:
    """S3/COS multipart ETag (unquoted): hex md5 of the concatenated binary part MD5s + ``-N``."""
    h = hashlib.md5(usedforsecurity=False)
    n = 0
    for digest in part_md5s:
        if len(digest) != 16:
            raise ValueError("part MD5 must be 16 raw bytes")
        h.update(digest)
        n += 1
    if n == 0:
        raise ValueError("multipart ETag needs at least one part")
    return f"{h.hexdigest()}-{n}"


def composite_checksum(algo: str, part_digests: list[bytes]) -> str:
    """S3 COMPOSITE checksum: base64(algo(concat of part digests)) + ``-N``.

    S3 offers it for crc32, crc32c, sha1 and sha256; policy is left to the caller.
    """
    h = make_hasher(algo)
    if not part_digests:
        raise ValueError("composite checksum needs at least one part")
    for digest in part_digests:
        if len(digest) != h.digest_size:
            raise ValueError(f"part digest must be {h.digest_size} bytes for {h.algo}")
        h.update(digest)
    return f"{b64(h.digest())}-{len(part_digests)}"


# --------------------------------------------------------------------------- header parsing


def _b64decode(value: str) -> bytes | None:
    try:
        return base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None


def parse_content_md5(value: str) -> bytes:
    """Decode a ``Content-MD5`` header; ShoalError("InvalidDigest") unless base64 of 16 bytes."""
    raw = _b64decode(value)
    if raw is None or len(raw) != 16:
        raise ShoalError("InvalidDigest")
    return raw


def parse_checksum_header(algo: str, value: str) -> bytes:
    """Decode an ``x-amz-checksum-<algo>`` header value to the raw digest.

    Raises ShoalError("InvalidRequest") unless it is base64 of exactly the digest size.
    """
    name = _algo(algo)
    raw = _b64decode(value)
    if raw is None or len(raw) != DIGEST_SIZES[name]:
        raise ShoalError("InvalidRequest", f"Value for x-amz-checksum-{name} header is invalid.")
    return raw
