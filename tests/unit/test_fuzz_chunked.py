"""Fuzzing the aws-chunked decoder and its chunk-signature checks with hypothesis.

A valid encoding (signed, unsigned with trailers) of drawn chunks, cut into drawn network
reads, decodes to exactly the data; any corruption of it (or plain garbage) ends in a
ShoalError, never another exception, never a hang, and never more bytes than declared.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shoal.core.errors import ShoalError
from shoal.dialects.s3.chunked import AwsChunkedReader, ChunkSigning
from shoal.dialects.s3.sigv4 import signing_key

from .test_chunked import build

FUZZ = settings(max_examples=int(os.environ.get("SHOAL_FUZZ_EXAMPLES", "200")),
                deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
SIGNING = ChunkSigning(signing_key=signing_key("secret", "20240101", "us-east-1", "s3"),
                       amz_date="20240101T000000Z", scope="20240101/us-east-1/s3/aws4_request",
                       seed_signature="a" * 64)

chunks_st = st.lists(st.binary(min_size=1, max_size=300), max_size=5)
trailers_st = st.one_of(st.none(), st.dictionaries(
    st.sampled_from(["x-amz-checksum-crc32", "x-amz-checksum-sha256", "x-other"]),
    st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=12),
    max_size=2))


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in zip(points, points[1:], strict=False)]


async def _source(pieces: list[bytes]) -> AsyncIterator[bytes]:
    for piece in pieces:
        yield piece


def decode(pieces: list[bytes], signed: bool, trailer: bool, declared: int | None) \
        -> tuple[bytes, dict[str, str]] | None:
    reader = AwsChunkedReader(_source(pieces), signing=SIGNING if signed else None,
                              expect_trailer=trailer, decoded_length=declared)

    async def drain() -> bytes:
        out = bytearray()
        async for piece in reader:
            out += piece
            assert declared is None or len(out) <= declared
        return bytes(out)

    try:
        data = asyncio.run(asyncio.wait_for(drain(), 5))
    except ShoalError:
        return None
    return data, reader.trailers


@FUZZ
@given(chunks_st, trailers_st, st.booleans(), st.lists(st.integers(0, 5000), max_size=6))
def test_valid_encodings_decode(chunks: list[bytes], trailers: dict[str, str] | None,
                                signed: bool, cuts: list[int]) -> None:
    body = build(chunks, signed=SIGNING if signed else None, trailers=trailers)
    want = b"".join(chunks)
    got = decode(split(body, cuts), signed, trailers is not None, len(want))
    assert got is not None and got[0] == want
    assert got[1] == {k.lower(): v for k, v in (trailers or {}).items()}


@FUZZ
@given(chunks_st, trailers_st, st.booleans(), st.data())
def test_corrupted_encodings_fail_cleanly(chunks: list[bytes], trailers: dict[str, str] | None,
                                          signed: bool, data: st.DataObject) -> None:
    body = bytearray(build(chunks, signed=SIGNING if signed else None, trailers=trailers))
    at = data.draw(st.integers(0, len(body) - 1))
    how = data.draw(st.sampled_from(["flip", "cut", "insert"]))
    if how == "flip":
        body[at] ^= data.draw(st.integers(1, 255))
    elif how == "cut":
        del body[at:]
    else:
        body[at:at] = data.draw(st.binary(min_size=1, max_size=4))
    declared = data.draw(st.one_of(st.none(), st.just(sum(map(len, chunks)))))
    got = decode([bytes(body)], signed, trailers is not None, declared)
    if got is not None and signed and how == "flip":
        # a flipped byte may land in a chunk extension or in whitespace that is ignored;
        # the data itself can never change under a signature
        assert got[0] == b"".join(chunks)


@FUZZ
@given(st.binary(max_size=400), st.booleans(), st.booleans(),
       st.one_of(st.none(), st.integers(0, 1000)))
def test_garbage(body: bytes, signed: bool, trailer: bool, declared: int | None) -> None:
    decode([body], signed, trailer, declared)
