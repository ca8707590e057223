"""The sealed-blob layout (``shoal.core.crypto``), the KMS keys (``shoal.core.kms``) and fsck on
encrypted objects, over the in-memory stores."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shoal.core.crypto import CHUNK, HEADER, TAG, Kek, plain_size, read_object, sealed_size
from shoal.core.errors import ShoalError
from shoal.core.fsck import FsckOptions, Kind, check
from shoal.core.ingest import Expect, ingest
from shoal.core.kms import DEFAULT_KEY_ID, KeyService, KmsError
from shoal.core.model import Bucket, ByteRange, ObjectMeta, ObjectRecord, Segment
from shoal.store.memory import MemoryBlobStore, MemoryMetaStore

KEK = Kek(b"k" * 32, b"sse-s3")
OTHER = Kek(b"o" * 32, b"sse-s3")
SIZES = [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 3 * CHUNK + 5]


def seal(blobs: MemoryBlobStore, data: bytes, kek: Kek = KEK, pieces: list[int] | None = None
         ) -> str:
    """Write ``data`` sealed (in writes of ``pieces`` bytes, cycling) and commit; the blob id."""
    writer = kek.seal(blobs).writer()
    pos, cuts = 0, pieces or [len(data) or 1]
    for i in range(len(data) + 1):
        step = cuts[i % len(cuts)] or 1
        if pos >= len(data):
            break
        writer.write(data[pos:pos + step])
        pos += step
    return writer.commit()


def raw(blobs: MemoryBlobStore, blob: str) -> bytes:
    with blobs.open(blob) as f:
        return f.read()


def put_raw(blobs: MemoryBlobStore, blob: str, data: bytes) -> None:
    blobs._blobs[blob] = (data, time.time())


def unseal(blobs: MemoryBlobStore, blob: str, kek: Kek = KEK, first: int = 0,
           length: int | None = None) -> bytes:
    with kek.seal(blobs).open(blob) as f:
        f.seek(first)
        return f.read(-1 if length is None else length)


@pytest.mark.parametrize("size", SIZES)
def test_round_trip_and_sizes(size: int) -> None:
    blobs = MemoryBlobStore()
    data = os.urandom(size)
    blob = seal(blobs, data, pieces=[1000, 70000, 5])
    assert len(raw(blobs, blob)) == sealed_size(size)
    assert plain_size(sealed_size(size)) == size
    assert KEK.seal(blobs).size(blob) == size
    assert unseal(blobs, blob) == data


def test_the_plaintext_is_not_in_the_blob() -> None:
    blobs = MemoryBlobStore()
    data = b"RECOGNISABLE-PLAINTEXT " * 10000
    blob = seal(blobs, data)
    stored = raw(blobs, blob)
    assert b"RECOGNISABLE" not in stored and KEK.key not in stored
    assert seal(blobs, data) != blob and raw(blobs, seal(blobs, data)) != stored  # fresh keys


@pytest.mark.parametrize("physical", [0, HEADER, HEADER + TAG - 1, HEADER + CHUNK + TAG + 5])
def test_impossible_sizes(physical: int) -> None:
    with pytest.raises(ValueError):
        plain_size(physical)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), size=st.integers(0, 4 * CHUNK + 100),
       pieces=st.lists(st.integers(1, 2 * CHUNK), min_size=1, max_size=4))
def test_any_range_reads_right(data: st.DataObject, size: int, pieces: list[int]) -> None:
    blobs = MemoryBlobStore()
    plain = os.urandom(size)
    blob = seal(blobs, plain, pieces=pieces)
    with KEK.seal(blobs).open(blob) as f:
        for _ in range(3):
            first = data.draw(st.integers(0, size))
            length = data.draw(st.integers(0, size - first + 10))
            f.seek(first)
            assert f.read(length) == plain[first:first + length]


def test_wrong_key_is_refused() -> None:
    blobs = MemoryBlobStore()
    blob = seal(blobs, b"secret")
    with pytest.raises(ShoalError, match="cannot be unwrapped"):
        unseal(blobs, blob, OTHER)
    with pytest.raises(ShoalError, match="cannot be unwrapped"):  # same key, other binding
        unseal(blobs, blob, Kek(KEK.key, b"kms\0x\0"))


def test_tampering_is_detected() -> None:
    blobs = MemoryBlobStore()
    data = os.urandom(3 * CHUNK)
    blob = seal(blobs, data)
    stored = bytearray(raw(blobs, blob))
    flipped = bytearray(stored)
    flipped[HEADER + CHUNK + TAG + 7] ^= 1  # a byte of chunk 1
    put_raw(blobs, blob, bytes(flipped))
    assert unseal(blobs, blob, length=100) == data[:100]  # chunk 0 still reads
    with pytest.raises(ShoalError, match="integrity"):
        unseal(blobs, blob, first=CHUNK, length=10)
    step = CHUNK + TAG
    swapped = stored[:HEADER] + stored[HEADER + step:HEADER + 2 * step] + \
        stored[HEADER:HEADER + step] + stored[HEADER + 2 * step:]
    put_raw(blobs, blob, bytes(swapped))
    with pytest.raises(ShoalError, match="integrity"):
        unseal(blobs, blob, length=10)
    put_raw(blobs, blob, bytes(stored[:HEADER + 2 * step]))  # cut at a chunk boundary
    with pytest.raises(ShoalError, match="integrity"):
        unseal(blobs, blob, first=CHUNK, length=10)


def test_a_blob_cannot_pass_for_another() -> None:
    blobs = MemoryBlobStore()
    a, b = seal(blobs, b"aaaa"), seal(blobs, b"bbbb")
    put_raw(blobs, b, raw(blobs, a))
    with pytest.raises(ShoalError, match="cannot be unwrapped"):
        unseal(blobs, b)


def test_ingest_seals_and_hashes_the_plaintext() -> None:
    blobs = MemoryBlobStore()
    data = os.urandom(2 * CHUNK + 3)

    async def body():  # noqa: ANN202
        for i in range(0, len(data), 5000):
            yield data[i:i + 5000]

    got, _ = asyncio.run(ingest(blobs, body(), Expect(seal=KEK.seal)))
    assert got.size == len(data) and got.etag == hashlib.md5(data).hexdigest()
    assert len(raw(blobs, got.blob)) == sealed_size(len(data))
    record = ObjectRecord("b", "k", got.size, got.etag, 0.0, ObjectMeta(),
                          [Segment(got.blob, 0, got.size)])

    async def read(rng: ByteRange | None) -> bytes:
        return b"".join([c async for c in read_object(MemoryMetaStore(), blobs, record, rng, KEK)])

    assert asyncio.run(read(None)) == data
    assert asyncio.run(read(ByteRange(CHUNK - 2, CHUNK + 2))) == data[CHUNK - 2:CHUNK + 3]


# -- keys ------------------------------------------------------------------------------------
@pytest.fixture
def keys() -> KeyService:
    return KeyService(os.urandom(32), MemoryMetaStore())


def test_customer_key_check(keys: KeyService) -> None:
    key = os.urandom(32)
    check = keys.key_check(key)
    assert keys.key_matches(key, check) and not keys.key_matches(os.urandom(32), check)
    assert keys.key_check(key) != check  # salted
    assert base64.b64encode(key).decode() not in str(check)
    assert not keys.key_matches(key, {"customer_key_md5": "x"})


def test_kms_keys(keys: KeyService) -> None:
    with pytest.raises(ShoalError) as err:
        keys.kms("missing")
    assert err.value.code == "KMS.NotFoundException" and err.value.status == 400
    key_id, kek = keys.kms(None, "ctx")  # the default key, made on first use
    assert key_id == DEFAULT_KEY_ID and keys.kms(DEFAULT_KEY_ID, "ctx")[1] == kek
    made = keys.create("mine")
    assert keys.kms("mine")[1].key != kek.key
    assert keys.kms("mine", "a")[1] != keys.kms("mine", "b")[1]  # the context is bound
    with pytest.raises(KmsError):
        keys.create("mine")
    with pytest.raises(KmsError):
        keys.create("no spaces")
    assert [k.key_id for k in keys.list_keys()] == [DEFAULT_KEY_ID, "mine"]
    assert made.material.startswith("v1:")  # stored sealed by the master key
    assert base64.b64encode(keys.kms("mine")[1].key).decode() not in made.material
    other = KeyService(os.urandom(32), keys._store)  # type: ignore[arg-type]
    with pytest.raises(ShoalError, match="cannot be opened"):
        other.kms("mine")


# -- fsck --------------------------------------------------------------------------------------
def test_fsck_checks_sealed_objects(keys: KeyService) -> None:
    meta, blobs = MemoryMetaStore(), MemoryBlobStore()
    meta.create_bucket(Bucket("bkt", "owner", time.time()))
    data = os.urandom(CHUNK + 10)
    records = {}
    for name, sse, kek in (("s3", {"algorithm": "AES256"}, keys.sse_s3()),
                           ("kms", {"algorithm": "aws:kms", "kms_key_id": "default"},
                            keys.kms(None)[1]),
                           ("c", {"algorithm": "SSE-C"}, keys.customer(os.urandom(32)))):
        blob = seal(blobs, data, kek)
        records[name] = ObjectRecord("bkt", name, len(data), hashlib.md5(data).hexdigest(),
                                     time.time(), ObjectMeta(sse=sse),
                                     [Segment(blob, 0, len(data))])
        meta.put_object(records[name])
    report = check(meta, blobs, FsckOptions(keys=keys))
    assert report.clean, report.findings
    assert report.stats.unverified_encrypted == 1  # SSE-C: no key to read it with
    assert report.stats.bytes_verified == 2 * len(data)
    assert check(meta, blobs, FsckOptions()).stats.unverified_encrypted == 3
    blob = records["s3"].segments[0].blob
    stored = bytearray(raw(blobs, blob))
    stored[-1] ^= 1
    put_raw(blobs, blob, bytes(stored))
    put_raw(blobs, records["kms"].segments[0].blob, bytes(stored[:-5]))
    found = {f.owner.key: f for f in check(meta, blobs, FsckOptions(keys=keys)).findings
             if f.owner}
    assert found["s3"].kind is Kind.HASH_MISMATCH and "decrypt" in found["s3"].detail
    assert found["kms"].kind is Kind.SIZE_MISMATCH
