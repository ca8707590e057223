"""The shared SIMD MD5 lanes: many hashers fed from many threads give hashlib's digests."""

from __future__ import annotations

import hashlib
import random
import threading

import pytest

from shoal.core import md5lanes
from shoal.core.md5lanes import LaneMd5

pytestmark = pytest.mark.skipif(md5lanes._md5x is None, reason="shoal._md5x is not built")


def _chunks(rng: random.Random, total: int) -> list[bytes]:
    out, left = [], total
    while left:
        n = min(left, rng.choice([0, 1, 63, 64, 65, 1000, 65536, 200003]))
        out.append(rng.randbytes(n))
        left -= n
    return out


def test_one_hasher_many_batches() -> None:
    rng = random.Random(1)
    h, ref = LaneMd5(), hashlib.md5()
    for _ in range(20):
        batch = _chunks(rng, rng.randrange(0, 300000))
        h.submit(batch)
        for c in batch:
            ref.update(c)
    assert h.digest() == ref.digest()
    assert LaneMd5().digest() == hashlib.md5(b"").digest()


def test_update_and_submit_mix() -> None:
    h = LaneMd5()
    h.update(b"abc")
    h.submit([b"d" * 100, memoryview(b"e" * 27), bytearray(b"f")])
    h.update(b"")
    assert h.hexdigest() == hashlib.md5(b"abc" + b"d" * 100 + b"e" * 27 + b"f").hexdigest()


def test_threads_share_the_lanes() -> None:
    """Twelve uploads at once (more than the lanes): each digest is its own message's."""
    results: dict[int, tuple[bytes, bytes]] = {}

    def upload(n: int) -> None:
        rng = random.Random(n)
        h, ref = LaneMd5(), hashlib.md5()
        for _ in range(rng.randrange(1, 30)):
            batch = _chunks(rng, rng.randrange(0, 1 << 20))
            h.submit(batch)
            for c in batch:
                ref.update(c)
        results[n] = (h.digest(), ref.digest())

    threads = [threading.Thread(target=upload, args=(n,)) for n in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(results) == 12
    for got, want in results.values():
        assert got == want


def test_errors_reach_the_caller() -> None:
    h = LaneMd5()
    h.submit([12345])  # type: ignore[list-item]  # not a buffer
    with pytest.raises(TypeError):
        h.wait()
    # The lanes keep working for everyone else.
    assert LaneMd5().digest() == hashlib.md5(b"").digest()
    ok = LaneMd5()
    ok.update(b"still fine")
    assert ok.digest() == hashlib.md5(b"still fine").digest()
