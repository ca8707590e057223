"""Request bodies: length checks, small documents read whole, digest expectations for the core."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import AsyncIterator, Callable

from ..core.errors import ShoalError
from ..core.hashing import make_hasher, parse_checksum_header, parse_content_md5
from ..core.ingest import CHECKSUM_ALGOS, Expect, claimed_checksums
from ..core.numbers import is_decimal
from .request import Request

MAX_DOC = 8 << 20  # the largest XML document accepted (Complete with 10,000 parts fits)


def declared_length(req: Request) -> int | None:
    value = req.headers.get("content-length")
    if value is None:
        return None
    if not is_decimal(value.strip()):
        raise ShoalError("InvalidArgument", "Content-Length is not a number",
                         ArgumentName="Content-Length", ArgumentValue=value)
    return int(value)


async def counted(source: AsyncIterator[bytes], expected: int | None) -> AsyncIterator[bytes]:
    """Pass bytes through; fewer (or more) than ``expected`` is IncompleteBody."""
    total = 0
    async for chunk in source:
        total += len(chunk)
        if expected is not None and total > expected:
            raise ShoalError("IncompleteBody")
        yield chunk
    if expected is not None and total != expected:
        raise ShoalError("IncompleteBody")


def expect_for(req: Request, prefix: str = "x-amz-") -> Expect:
    """Digests the client declared for the body (Content-MD5, payload hash, checksums)."""
    exp = Expect()
    md5 = req.headers.get("content-md5")
    if md5 is not None:
        exp.md5 = parse_content_md5(md5)
    sha = req.state.get("payload_sha256")
    if sha:
        exp.sha256_hex = sha
    for algo in CHECKSUM_ALGOS:
        value = req.headers.get(f"{prefix}checksum-{algo}")
        if value is not None:
            parse_checksum_header(algo, value)
            exp.checksums[algo] = value
            exp.want.add(algo)
    sdk_algo = req.headers.get(f"{prefix}sdk-checksum-algorithm")
    if sdk_algo:
        algo = sdk_algo.lower()
        if algo not in CHECKSUM_ALGOS:
            raise ShoalError("InvalidRequest", "Checksum algorithm provided is unsupported.")
        exp.want.add(algo)
    trailer = req.headers.get(f"{prefix}trailer", "")
    trailers: Callable[[], dict[str, str]] | None = req.state.get("trailers")
    exp.trailers = trailers
    for name in trailer.split(","):
        name = name.strip().lower()
        if name.startswith(f"{prefix}checksum-"):
            exp.want.add(name[len(f"{prefix}checksum-"):])
            if trailers is not None:
                exp.declared_trailers.add(name)
    exp.size = req.state.get("decoded_length")
    if len(exp.checksums) > 1:
        raise ShoalError("InvalidRequest", "Expecting a single x-amz-checksum- header. "
                         "Multiple checksum Types are not allowed.")
    return exp


async def read_document(req: Request, limit: int = MAX_DOC, *, require_md5: bool = False) -> bytes:
    """Read a small request body whole, checking the digests the client declared."""
    assert req.body is not None
    buf = bytearray()
    async for chunk in req.body:
        buf += chunk
        if len(buf) > limit:
            raise ShoalError("MalformedXML", "The XML you provided was too large.")
    data = bytes(buf)
    exp = expect_for(req)
    claimed = claimed_checksums(exp)
    if require_md5 and exp.md5 is None and not claimed:
        raise ShoalError("InvalidRequest", "Missing required header for this request: Content-MD5")
    if exp.md5 is not None and hashlib.md5(data).digest() != exp.md5:
        raise ShoalError("BadDigest")
    if exp.sha256_hex and hashlib.sha256(data).hexdigest() != exp.sha256_hex.lower():
        raise ShoalError("XAmzContentSHA256Mismatch")
    for algo, value in claimed.items():
        hasher = make_hasher(algo)
        hasher.update(data)
        if base64.b64encode(hasher.digest()).decode() != value:
            raise ShoalError("BadDigest", f"The {algo.upper()} you specified did not match the "
                             "calculated checksum.")
    return data

