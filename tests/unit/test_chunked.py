"""aws-chunked decoding: AWS/aws-c-auth vectors, botocore bodies, awkward splits, hostile input."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import random
import zlib
from collections.abc import AsyncIterator, Iterable

import pytest
from botocore.httpchecksum import AwsChunkedWrapper, Crc32Checksum

from shoal.core.errors import ShoalError
from shoal.dialects.s3.chunked import (
    MAX_LINE,
    AwsChunkedReader,
    ChunkSigning,
    canonical_trailers,
    chunk_string_to_sign,
    trailer_string_to_sign,
)
from shoal.dialects.s3.sigv4 import SigV4Params, sign, signing_key

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
SCOPE = "20130524/us-east-1/s3/aws4_request"
SEED = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
# AWS "Example: PUT Object" (sigv4-streaming) and aws-c-auth tests/test_chunked_signing.c
AWS_CHUNK_SIGS = [
    "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
    "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
    "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
]
AWS_TRAILER_SIG = "df5735bd9f3295cd9386572292562fefc93ba94e80a0a1ddcbd652c4e0a75e6c"
AWS_TRAILERS = {"first": "1st", "second": "2nd", "third": "3rd"}


def signing() -> ChunkSigning:
    key = signing_key(SECRET, "20130524", "us-east-1", "s3")
    return ChunkSigning(
        signing_key=key, amz_date="20130524T000000Z", scope=SCOPE, seed_signature=SEED
    )


def build(
    chunks: Iterable[bytes],
    *,
    signed: ChunkSigning | None = None,
    trailers: dict[str, str] | None = None,
    sigs: list[str] | None = None,
    ext: str = "",
) -> bytes:
    """Encode an aws-chunked body (signatures computed here from the documented algorithm)."""
    out = bytearray()
    previous = signed.seed_signature if signed else ""
    for index, chunk in enumerate([*chunks, b""]):
        header = f"{len(chunk):x}{ext}"
        if signed is not None:
            sts = chunk_string_to_sign(signed, previous, hashlib.sha256(chunk).hexdigest())
            previous = sigs[index] if sigs else sign(signed.signing_key, sts)
            header += f";chunk-signature={previous}"
        out += header.encode() + b"\r\n" + chunk
        if chunk:
            out += b"\r\n"
    for name, value in (trailers or {}).items():
        out += f"{name}:{value}\r\n".encode()
    if trailers is not None and signed is not None:
        trailer_sig = sign(signed.signing_key, trailer_string_to_sign(signed, previous, trailers))
        out += f"x-amz-trailer-signature:{trailer_sig}\r\n".encode()
    out += b"\r\n"
    return bytes(out)


async def _feed(pieces: Iterable[bytes]) -> AsyncIterator[bytes]:
    for piece in pieces:
        yield piece


def pieces_of(body: bytes, size: int) -> list[bytes]:
    return [body[i : i + size] for i in range(0, len(body), size)]


def decode(
    pieces: Iterable[bytes],
    *,
    signed: ChunkSigning | None = None,
    trailer: bool = False,
    length: int | None = None,
) -> tuple[bytes, dict[str, str], list[bytes]]:
    async def run() -> tuple[bytes, dict[str, str], list[bytes]]:
        reader = AwsChunkedReader(
            _feed(pieces), signing=signed, expect_trailer=trailer, decoded_length=length
        )
        out = [piece async for piece in reader]
        return b"".join(out), reader.trailers, out

    return asyncio.run(run())


def error_code(pieces: Iterable[bytes], **kwargs: object) -> str:
    with pytest.raises(ShoalError) as err:
        decode(pieces, **kwargs)  # type: ignore[arg-type]
    return err.value.code


def crc32_b64(data: bytes) -> str:
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


AWS_DATA = [b"a" * 65536, b"a" * 1024]


# --------------------------------------------------------------------------- vectors


def test_aws_example_signatures_match_the_documented_ones() -> None:
    body = build(AWS_DATA, signed=signing())
    assert body == build(AWS_DATA, signed=signing(), sigs=AWS_CHUNK_SIGS)
    assert body.startswith(b"10000;chunk-signature=" + AWS_CHUNK_SIGS[0].encode() + b"\r\n")
    assert body.endswith(b"0;chunk-signature=" + AWS_CHUNK_SIGS[2].encode() + b"\r\n\r\n")
    assert len(body) == 66824  # the example's Content-Length


def test_aws_example_decodes() -> None:
    body = build(AWS_DATA, signed=signing(), sigs=AWS_CHUNK_SIGS)
    data, trailers, _ = decode([body], signed=signing(), length=66560)
    assert data == b"a" * 66560 and trailers == {}


def test_aws_trailer_vector() -> None:
    sts = trailer_string_to_sign(signing(), AWS_CHUNK_SIGS[2], AWS_TRAILERS)
    assert sts.endswith("83d8f190334fb741bc8daf73c891689d320bd8017756bc730c540021ed48001f")
    assert sign(signing().signing_key, sts) == AWS_TRAILER_SIG
    body = build(AWS_DATA, signed=signing(), trailers=AWS_TRAILERS)
    assert AWS_TRAILER_SIG.encode() in body
    data, trailers, _ = decode(pieces_of(body, 1000), signed=signing(), trailer=True, length=66560)
    assert data == b"a" * 66560 and trailers == AWS_TRAILERS


def test_canonical_trailers_sorted() -> None:
    assert canonical_trailers({"b": " x  y ", "a": "1"}) == "a:1\nb:x y\n"


def test_chunk_signing_for_request() -> None:
    params = SigV4Params(
        "AK", "20130524", "us-east-1", "s3", ["host"], SEED, "20130524T000000Z", False, None
    )
    assert ChunkSigning.for_request(params, SECRET) == signing()


# --------------------------------------------------------------------------- formats


def test_botocore_unsigned_trailer_body() -> None:
    payload = bytes(range(256)) * 1000
    wrapper = AwsChunkedWrapper(
        io.BytesIO(payload),
        checksum_cls=Crc32Checksum,
        checksum_name="x-amz-checksum-crc32",
        chunk_size=65536,
    )
    body = wrapper.read()
    data, trailers, _ = decode(pieces_of(body, 8192), trailer=True, length=len(payload))
    assert data == payload
    assert trailers == {"x-amz-checksum-crc32": crc32_b64(payload)}


def test_botocore_body_without_checksum() -> None:
    body = AwsChunkedWrapper(io.BytesIO(b"hello world"), chunk_size=4).read()
    assert decode([body], length=11)[0] == b"hello world"


def test_unsigned_ignores_extensions_and_signatures() -> None:
    body = build([b"abc", b"de"], ext=";foo=bar;baz")
    assert decode([body], length=5)[0] == b"abcde"
    signed_body = build([b"abc"], signed=signing())
    assert decode([signed_body])[0] == b"abc"


def test_signed_trailer_with_crc32() -> None:
    payload = b"x" * 10000
    trailers = {"x-amz-checksum-crc32": crc32_b64(payload)}
    body = build(pieces_of(payload, 4096), signed=signing(), trailers=trailers)
    data, got, _ = decode([body], signed=signing(), trailer=True, length=len(payload))
    assert data == payload and got == trailers


def test_empty_body() -> None:
    assert decode([build([], signed=signing())], signed=signing(), length=0)[0] == b""
    assert decode([b"0\r\n\r\n"], length=0)[0] == b""


def test_uppercase_hex_and_mixed_case_extension() -> None:
    sts = chunk_string_to_sign(signing(), SEED, hashlib.sha256(b"z" * 26).hexdigest())
    sig = sign(signing().signing_key, sts)
    final = sign(
        signing().signing_key,
        chunk_string_to_sign(signing(), sig, hashlib.sha256(b"").hexdigest()),
    )
    body = f"1A;Chunk-Signature={sig.upper()}\r\n{'z' * 26}\r\n0;chunk-signature={final}\r\n\r\n"
    assert decode([body.encode()], signed=signing())[0] == b"z" * 26


# --------------------------------------------------------------------------- awkward pieces


def test_one_byte_at_a_time() -> None:
    chunks = [b"0123456789" * 3, b"x", b"yz" * 50]
    trailers = {"x-amz-checksum-crc32": crc32_b64(b"".join(chunks))}
    body = build(chunks, signed=signing(), trailers=trailers)
    data, got, _ = decode(pieces_of(body, 1), signed=signing(), trailer=True, length=131)
    assert data == b"".join(chunks) and got == trailers


def test_random_splits() -> None:
    rng = random.Random(7)
    payload = rng.randbytes(50000)
    chunks = pieces_of(payload, 8192)
    body = build(chunks, signed=signing(), trailers={"x-amz-checksum-crc32": crc32_b64(payload)})
    for _ in range(20):
        cuts = sorted(rng.sample(range(1, len(body)), 40))
        parts = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True)]
        parts.insert(rng.randrange(len(parts)), b"")  # empty pieces are harmless
        assert decode(parts, signed=signing(), trailer=True, length=50000)[0] == payload


def test_splits_inside_header_line_and_crlf() -> None:
    body = build([b"hello", b"world"], signed=signing())
    first_crlf = body.index(b"\r\n")
    for cut in (3, 10, first_crlf, first_crlf + 1, first_crlf + 2 + 5 + 1):
        assert decode([body[:cut], body[cut:]], signed=signing())[0] == b"helloworld"


def test_data_is_streamed_not_buffered() -> None:
    payload = b"q" * (5 * 1024 * 1024)
    body = build([payload], signed=signing())
    parts = pieces_of(body, 65536)
    pulled = 0

    async def source() -> AsyncIterator[bytes]:
        nonlocal pulled
        for part in parts:
            pulled += 1
            yield part

    async def run() -> int:
        reader = AwsChunkedReader(
            source(), signing=signing(), expect_trailer=False, decoded_length=None
        )
        total = 0
        async for piece in reader:
            assert len(piece) <= 65536
            if total == 0:
                assert pulled == 1  # first data before the rest of the chunk was read
            total += len(piece)
        return total

    assert asyncio.run(run()) == len(payload)


def test_whole_source_pieces_pass_through_uncopied() -> None:
    header = b"8;chunk-signature=x\r\n"
    middle = b"abcdefgh"
    _, _, out = decode([header, middle, b"\r\n0\r\n\r\n"])
    assert out[0] is middle


# --------------------------------------------------------------------------- failures


def test_truncated_everywhere() -> None:
    body = build([b"abc", b"defg"], signed=signing(), trailers={"x-amz-checksum-crc32": "AAAAAA=="})
    for cut in range(len(body)):
        code = error_code([body[:cut]], signed=signing(), trailer=True)
        assert code in ("IncompleteBody", "SignatureDoesNotMatch"), cut
    unsigned = build([b"abc", b"defg"], trailers={"x-amz-checksum-crc32": "AAAAAA=="})
    for cut in range(len(unsigned)):
        assert error_code([unsigned[:cut]], trailer=True) == "IncompleteBody", cut


def test_bad_chunk_signature() -> None:
    body = build(AWS_DATA, signed=signing(), sigs=AWS_CHUNK_SIGS)
    assert error_code([body.replace(b"0055627c", b"0055627d")], signed=signing()) == (
        "SignatureDoesNotMatch"
    )
    tampered = bytearray(body)
    tampered[len(body) - 200] ^= 1  # a data byte of the second (1 KiB) chunk
    assert error_code([bytes(tampered)], signed=signing()) == "SignatureDoesNotMatch"
    other_seed = ChunkSigning(signing().signing_key, "20130524T000000Z", SCOPE, "0" * 64)
    assert error_code([body], signed=other_seed) == "SignatureDoesNotMatch"


def test_missing_chunk_signature_in_signed_mode() -> None:
    assert error_code([build([b"abc"])], signed=signing()) == "SignatureDoesNotMatch"


def test_bad_or_missing_trailer_signature() -> None:
    trailers = {"x-amz-checksum-crc32": "AAAAAA=="}
    body = build([b"abc"], signed=signing(), trailers=trailers)
    forged = body.replace(b"AAAAAA==", b"AAAAAB==")
    assert error_code([forged], signed=signing(), trailer=True) == "SignatureDoesNotMatch"
    without = build([b"abc"], signed=signing(), trailers=None)
    assert error_code([without], signed=signing(), trailer=True) == "SignatureDoesNotMatch"
    appended = without[:-2] + b"x-amz-checksum-crc32:AAAAAA==\r\n\r\n"
    assert error_code([appended], signed=signing(), trailer=False) == "IncompleteBody"


def test_unsigned_drops_trailer_signature_line() -> None:
    body = b"3\r\nabc\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\nx-amz-trailer-signature:00\r\n\r\n"
    assert decode([body], trailer=True)[1] == {"x-amz-checksum-crc32": "AAAAAA=="}


def test_decoded_length_mismatch() -> None:
    body = build([b"abc", b"def"])
    assert decode([body], length=6)[0] == b"abcdef"
    assert error_code([body], length=5) == "IncompleteBody"
    assert error_code([body], length=7) == "IncompleteBody"


@pytest.mark.parametrize(
    "body",
    [
        b"zz\r\nabc\r\n0\r\n\r\n",
        b"0x3\r\nabc\r\n0\r\n\r\n",
        b"+3\r\nabc\r\n0\r\n\r\n",
        b"1_0\r\n" + b"a" * 16 + b"\r\n0\r\n\r\n",
        b"\r\n3\r\nabc\r\n0\r\n\r\n",
        b"-1\r\n",
        b"11111111111111111\r\n",
        b"3\r\nabcXY0\r\n\r\n",
        b"3\r\nabc\r\n0\r\n\r\nextra",
        b"3\r\nabc\r\n0\r\nno-colon-line\r\n\r\n",
        b"3\r\nabc\r\n0\r\n:value\r\n\r\n",
        b"3\nabc\n0\n\n",
    ],
)
def test_malformed_framing(body: bytes) -> None:
    assert error_code([body]) == "IncompleteBody"


def test_chunk_size_cap() -> None:
    assert error_code([b"4000001\r\n"]) == "InvalidChunkSizeError"
    assert error_code([b"ffffffffffffffff\r\n"]) == "InvalidChunkSizeError"


def test_endless_header_line_does_not_hang() -> None:
    pulled = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal pulled
        while True:
            pulled += 1
            yield b"1" * 1000

    async def run() -> None:
        reader = AwsChunkedReader(
            endless(), signing=None, expect_trailer=False, decoded_length=None
        )
        async for _ in reader:
            pass

    with pytest.raises(ShoalError, match="IncompleteBody"):
        asyncio.run(run())
    assert pulled <= MAX_LINE // 1000 + 2


def test_endless_chunks_stop_at_decoded_length() -> None:
    async def endless() -> AsyncIterator[bytes]:
        while True:
            yield b"1\r\nx\r\n" * 100

    async def run() -> int:
        reader = AwsChunkedReader(
            endless(), signing=None, expect_trailer=False, decoded_length=1000
        )
        return sum([len(piece) async for piece in reader])

    with pytest.raises(ShoalError, match="IncompleteBody"):
        asyncio.run(run())


def test_endless_trailers_are_capped() -> None:
    pulled = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal pulled
        yield b"0\r\n"
        while True:
            pulled += 1
            yield b"x-amz-meta-a:" + b"b" * 100 + b"\r\n"

    async def run() -> None:
        reader = AwsChunkedReader(endless(), signing=None, expect_trailer=True, decoded_length=None)
        async for _ in reader:
            pass

    with pytest.raises(ShoalError, match="IncompleteBody"):
        asyncio.run(run())
    assert pulled < 200


def test_iterating_twice_is_an_error() -> None:
    reader = AwsChunkedReader(_feed([]), signing=None, expect_trailer=False, decoded_length=None)
    reader.__aiter__()
    with pytest.raises(RuntimeError):
        reader.__aiter__()
