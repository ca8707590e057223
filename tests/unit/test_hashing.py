"""Tests for shoal.core.hashing: check values, streaming, CRC combine, ETags, header parsing."""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import os
import random
import sys
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shoal.core import hashing
from shoal.core.errors import ShoalError
from shoal.core.hashing import (
    ALGORITHMS,
    CRC_ALGORITHMS,
    CRC_SPECS,
    DIGEST_SIZES,
    CrcHasher,
    MultiHasher,
    b64,
    composite_checksum,
    crc,
    crc_combine,
    crc_combine_parts,
    make_crc_hasher,
    make_hasher,
    multipart_etag,
    parse_checksum_header,
    parse_content_md5,
)

CHECK = b"123456789"
# Catalogue (reveng) check values for b"123456789".
CRC_CHECKS = {
    "crc32": 0xCBF43926,
    "crc32c": 0xE3069283,
    "crc64nvme": 0xAE8B14860A799888,
    "crc64ecma": 0x995DC9BBDF1939FA,
}
CRCS = sorted(CRC_ALGORITHMS)
ALL = sorted(ALGORITHMS)
SMALL = settings(max_examples=60, deadline=None)


def one_shot(algo: str, data: bytes) -> bytes:
    h = make_hasher(algo)
    h.update(data)
    return h.digest()


# --------------------------------------------------------------------------- check values


@pytest.mark.parametrize("algo", CRCS)
def test_crc_check_values(algo: str) -> None:
    h = make_crc_hasher(algo)
    h.update(CHECK)
    assert h.value() == CRC_CHECKS[algo]
    assert h.digest() == CRC_CHECKS[algo].to_bytes(DIGEST_SIZES[algo], "big")
    assert crc(algo, CHECK) == CRC_CHECKS[algo]
    assert make_crc_hasher(algo).value() == 0 == crc(algo, b"")


@pytest.mark.parametrize("algo", CRCS)
def test_pure_python_fallback_matches(algo: str) -> None:
    data = os.urandom(3000)
    py = hashing._py_crc_func(CRC_SPECS[algo])
    assert py(CHECK, 0) == CRC_CHECKS[algo]
    assert py(data, 0) == crc(algo, data)
    assert py(data[1000:], py(data[:1000], 0)) == crc(algo, data)


def test_cos_crc64ecma_values() -> None:
    for data, expected in [
        (CHECK, 11051210869376104954),
        (b"hello", 11177612005948864433),
        (b"", 0),
    ]:
        h = make_crc_hasher("crc64ecma")
        h.update(data)
        assert str(h.value()) == str(expected)


def test_crc64ecma_matches_cos_sdk_crcmod() -> None:
    crcmod = pytest.importorskip("crcmod")
    fn = crcmod.mkCrcFun(0x142F0E1EBA9EA3693, initCrc=0, xorOut=0xFFFFFFFFFFFFFFFF, rev=True)
    data = os.urandom(10_000)
    assert crc("crc64ecma", data) == fn(data)


@pytest.mark.parametrize("algo", ["md5", "sha1", "sha256"])
def test_hashlib_algorithms(algo: str) -> None:
    h = make_hasher(algo)
    h.update(CHECK)
    assert h.digest() == hashlib.new(algo, CHECK).digest()
    assert h.hexdigest() == hashlib.new(algo, CHECK).hexdigest()
    assert h.digest_size == DIGEST_SIZES[algo] == len(h.digest())
    assert not isinstance(h, CrcHasher)


def test_make_hasher_names() -> None:
    assert make_hasher("CRC32").algo == "crc32"
    assert make_hasher("CRC64NVME").digest_size == 8
    with pytest.raises(ValueError):
        make_hasher("crc16")
    with pytest.raises(ValueError):
        make_crc_hasher("md5")


def test_backends_cover_every_crc() -> None:
    assert set(hashing.BACKENDS) == CRC_ALGORITHMS


@pytest.mark.parametrize(
    "missing", [("fastcrc",), ("fastcrc", "awscrt", "awscrt.checksums", "crc32c", "crcmod")]
)
def test_fallback_backends(monkeypatch: pytest.MonkeyPatch, missing: tuple[str, ...]) -> None:
    for mod in missing:
        monkeypatch.setitem(sys.modules, mod, None)  # makes `import mod` raise ImportError
    funcs, names = hashing._load_backends()
    assert names["crc32"] == "zlib"
    if len(missing) > 1:
        assert set(names.values()) == {"zlib", "python"}
    elif importlib.util.find_spec("crcmod") is not None:
        assert names["crc64ecma"] == "crcmod"
    for algo in CRCS:
        assert funcs[algo](CHECK, 0) == CRC_CHECKS[algo]
        assert funcs[algo](CHECK[4:], funcs[algo](CHECK[:4], 0)) == CRC_CHECKS[algo]


# --------------------------------------------------------------------------- streaming


@pytest.mark.parametrize("algo", ALL)
@SMALL
@given(data=st.binary(max_size=2048), cuts=st.lists(st.integers(0, 2048), max_size=6))
def test_streaming_equals_one_shot(algo: str, data: bytes, cuts: list[int]) -> None:
    bounds = sorted({0, len(data), *(c for c in cuts if c <= len(data))})
    h = make_hasher(algo)
    for lo, hi in zip(bounds, bounds[1:], strict=False):
        h.update(memoryview(data)[lo:hi])
    assert h.digest() == one_shot(algo, data)
    if algo in CRC_ALGORITHMS:
        assert h.digest() == crc(algo, data).to_bytes(DIGEST_SIZES[algo], "big")


@pytest.mark.parametrize("algo", ALL)
def test_streaming_large_buffer_random_splits(algo: str) -> None:
    rng = random.Random(algo)
    data = rng.randbytes(700_000)
    cuts = sorted(rng.sample(range(1, len(data)), 12))
    h = make_hasher(algo)
    view = memoryview(bytearray(data))
    for lo, hi in zip([0, *cuts], [*cuts, len(data)], strict=True):
        h.update(view[lo:hi])
    assert h.digest() == one_shot(algo, data)


def test_multihasher() -> None:
    data = os.urandom(5000)
    mh = MultiHasher(["md5", "CRC32", "crc64ecma", "md5", "sha256"])
    assert mh.algos == ("md5", "crc32", "crc64ecma", "sha256")
    mh.update(data[:1234])
    mh.update(memoryview(data)[1234:])
    assert mh.size == len(data)
    assert mh.digests() == {a: one_shot(a, data) for a in mh.algos}
    assert mh["CRC32"].b64digest() == b64(zlib.crc32(data).to_bytes(4, "big"))
    assert "crc32" in mh and "sha1" not in mh
    assert isinstance(mh["crc64ecma"], CrcHasher)


# --------------------------------------------------------------------------- botocore parity


def test_botocore_checksums_agree() -> None:
    httpchecksum = pytest.importorskip("botocore.httpchecksum")
    classes = {
        "crc32": [httpchecksum.Crc32Checksum],
        "sha1": [httpchecksum.Sha1Checksum],
        "sha256": [httpchecksum.Sha256Checksum],
    }
    for algo, name in [
        ("crc32", "CrtCrc32Checksum"),
        ("crc32c", "CrtCrc32cChecksum"),
        ("crc64nvme", "CrtCrc64NvmeChecksum"),
    ]:
        if hasattr(httpchecksum, name) and httpchecksum.HAS_CRT:
            classes.setdefault(algo, []).append(getattr(httpchecksum, name))
    assert {"crc32c", "crc64nvme"} <= set(classes), "awscrt-backed botocore checksums missing"
    body = os.urandom(300_001)
    for algo, clss in classes.items():
        ours = make_hasher(algo)
        for lo in range(0, len(body), 65536):
            ours.update(body[lo : lo + 65536])
        for cls in clss:
            theirs = cls()
            theirs.update(body[:77])
            theirs.update(body[77:])
            assert theirs.b64digest() == ours.b64digest() == b64(ours.digest()), (algo, cls)


# --------------------------------------------------------------------------- combine


@pytest.mark.parametrize("algo", CRCS)
@SMALL
@given(a=st.binary(max_size=1500), b=st.binary(max_size=1500))
def test_combine_equals_crc_of_concatenation(algo: str, a: bytes, b: bytes) -> None:
    assert crc_combine(algo, crc(algo, a), crc(algo, b), len(b)) == crc(algo, a + b)


@pytest.mark.parametrize("algo", CRCS)
def test_combine_long_second_part(algo: str) -> None:
    a = os.urandom(100)
    b = os.urandom((1 << 20) + 12345)
    assert crc_combine(algo, crc(algo, a), crc(algo, b), len(b)) == crc(algo, a + b)
    assert crc_combine(algo, crc(algo, a), 0, 0) == crc(algo, a)


@pytest.mark.parametrize(
    ("algo", "fn"),
    [("crc32", "combine_crc32"), ("crc32c", "combine_crc32c"), ("crc64nvme", "combine_crc64nvme")],
)
def test_combine_matches_awscrt(algo: str, fn: str) -> None:
    checksums = pytest.importorskip("awscrt.checksums")
    if not hasattr(checksums, fn):
        pytest.skip("awscrt too old for combine")
    rng = random.Random(fn)
    width = CRC_SPECS[algo].width
    for _ in range(200):
        c1, c2 = rng.getrandbits(width), rng.getrandbits(width)
        # len2 == 0 only makes sense with crc2 == 0 (awscrt then ignores crc2, zlib xors it).
        n = rng.choice([1, rng.randrange(1, 1 << 12), rng.randrange(1, 1 << 40)])
        assert crc_combine(algo, c1, c2, n) == getattr(checksums, fn)(c1, c2, n)


@pytest.mark.parametrize("algo", CRCS)
def test_combine_10000_parts_fast_and_right(algo: str) -> None:
    rng = random.Random(algo)
    zeros = memoryview(bytes(3000))
    lengths = [rng.randrange(0, 2000) for _ in range(10_000)]
    zero_crc = {n: crc(algo, zeros[:n]) for n in set(lengths)}
    whole = crc_combine_parts(algo, ((zero_crc[n], n) for n in lengths))
    assert whole == crc(algo, bytes(sum(lengths)))


def test_combine_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        crc_combine("crc32", 1 << 32, 0, 1)
    with pytest.raises(ValueError):
        crc_combine("crc32", 0, 0, -1)
    with pytest.raises(ValueError):
        crc_combine("md5", 0, 0, 1)


# --------------------------------------------------------------------------- multipart


def test_multipart_etag_known_example() -> None:
    parts = [b"a" * (5 << 20), b"b" * 1024, b"c"]
    md5s = [hashlib.md5(p).digest() for p in parts]
    expected = hashlib.md5(b"".join(md5s)).hexdigest() + "-3"
    assert multipart_etag(md5s) == expected
    assert multipart_etag(iter(md5s[:1])) == hashlib.md5(md5s[0]).hexdigest() + "-1"
    with pytest.raises(ValueError):
        multipart_etag([])
    with pytest.raises(ValueError):
        multipart_etag([md5s[0].hex().encode()])


def test_composite_checksum() -> None:
    parts = [os.urandom(1000), os.urandom(10), b""]
    crcs = [zlib.crc32(p).to_bytes(4, "big") for p in parts]
    expected = base64.b64encode(zlib.crc32(b"".join(crcs)).to_bytes(4, "big")).decode() + "-3"
    assert composite_checksum("crc32", crcs) == expected
    shas = [hashlib.sha256(p).digest() for p in parts]
    expected = base64.b64encode(hashlib.sha256(b"".join(shas)).digest()).decode() + "-3"
    assert composite_checksum("sha256", shas) == expected
    with pytest.raises(ValueError):
        composite_checksum("crc32c", [b"\0" * 8])


# --------------------------------------------------------------------------- header parsing


def test_parse_content_md5() -> None:
    digest = hashlib.md5(b"x").digest()
    assert parse_content_md5(base64.b64encode(digest).decode()) == digest
    assert parse_content_md5(" " + base64.b64encode(digest).decode() + " ") == digest
    for bad in [
        digest.hex(),
        "",
        "!!!!",
        base64.b64encode(digest[:15]).decode(),
        "é" * 24,
        base64.b64encode(digest).decode().rstrip("="),
    ]:
        with pytest.raises(ShoalError) as exc:
            parse_content_md5(bad)
        assert exc.value.code == "InvalidDigest"


@pytest.mark.parametrize("algo", ALL)
def test_parse_checksum_header(algo: str) -> None:
    digest = one_shot(algo, CHECK)
    assert parse_checksum_header(algo, b64(digest)) == digest
    for bad in ["not base64!", b64(digest + b"\0"), b64(digest[:-1]), ""]:
        with pytest.raises(ShoalError) as exc:
            parse_checksum_header(algo, bad)
        assert exc.value.code == "InvalidRequest"
        assert exc.value.message == f"Value for x-amz-checksum-{algo} header is invalid."
