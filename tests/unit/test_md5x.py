"""Tests for shoal._md5x (multi-buffer MD5) against hashlib.md5.

The module is an optional C extension; without it these tests are skipped. Setting
SHOAL_MD5X_SCALAR=1 forces its scalar backend: test_scalar_backend reruns this file that way in a
subprocess, so both backends are covered in one run.
"""

from __future__ import annotations

import hashlib
import os
import random
import struct
import subprocess
import sys
import threading
from collections.abc import Callable
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

md5x = pytest.importorskip(
    "shoal._md5x", reason="shoal._md5x is not built (no C compiler when Shoal was installed)"
)

SMALL = settings(max_examples=int(os.environ.get("SHOAL_MD5X_EXAMPLES", "60")), deadline=None)
MIB = 1 << 20
POOL = random.Random(1321).randbytes(3 * MIB)
EDGES = [0, 1, 55, 56, 57, 63, 64, 65, 119, 120, 127, 128, 129, 191, 192, 193]

# (pool offset, length, kind) describes one buffer; kind picks its Python type.
Chunk = tuple[int, int, str]
KINDS = ("bytes", "bytearray", "memoryview", "slice")


def make_buffer(chunk: Chunk) -> bytes | bytearray | memoryview:
    off, n, kind = chunk
    if kind == "bytes":
        return POOL[off : off + n]
    if kind == "bytearray":
        return bytearray(POOL[off : off + n])
    if kind == "memoryview":
        return memoryview(bytearray(POOL[off : off + n]))
    return memoryview(POOL)[off : off + n]  # a view at an arbitrary (unaligned) address


def chunk_bytes(chunk: Chunk) -> bytes:
    off, n, _ = chunk
    return POOL[off : off + n]


def md5_of(chunks: list[Chunk]) -> bytes:
    h = hashlib.md5()
    for c in chunks:
        h.update(chunk_bytes(c))
    return h.digest()


def lengths() -> st.SearchStrategy[int]:
    return st.one_of(
        st.integers(0, 300),
        st.sampled_from(EDGES),
        st.integers(0, 300).map(lambda n: 64 * n),
        st.sampled_from([4096, 65536 + 7, MIB - 1, MIB]),
    )


@st.composite
def chunk_st(draw: st.DrawFn) -> Chunk:
    n = draw(lengths())
    off = draw(st.integers(0, len(POOL) - n))
    return (off, n, draw(st.sampled_from(KINDS)))


# A plan: for each state, its update calls, each a list of buffers (an empty list of calls
# means the state is never fed; an empty call means the state appears with no buffers).
Plan = list[list[list[Chunk]]]
plans = st.lists(
    st.lists(st.lists(chunk_st(), max_size=5), max_size=4),
    min_size=1,
    max_size=20,
)


def run_plan(plan: Plan, check_between: bool = True) -> None:
    """Feeds every state its calls, all states of a round in one update(), and checks digests."""
    states = [md5x.new() for _ in plan]
    fed: list[list[Chunk]] = [[] for _ in plan]
    for rnd in range(max(len(calls) for calls in plan)):
        jobs = []
        for i, calls in enumerate(plan):
            if rnd < len(calls):
                jobs.append((states[i], [make_buffer(c) for c in calls[rnd]]))
                fed[i] += calls[rnd]
        md5x.update(jobs)
        if check_between:
            for i, state in enumerate(states):
                assert md5x.digest(state) == md5_of(fed[i])
    for i, state in enumerate(states):
        assert md5x.digest(state) == md5_of(fed[i])


# --------------------------------------------------------------------------- basics


def test_constants() -> None:
    assert md5x.STATE_SIZE == 96
    assert (md5x.BACKEND, md5x.LANES) in {("avx2", 8), ("scalar", 1)}
    if os.environ.get("SHOAL_MD5X_SCALAR") == "1":
        assert md5x.BACKEND == "scalar"


def test_new_is_fresh_state() -> None:
    s = md5x.new()
    assert type(s) is bytearray
    assert len(s) == md5x.STATE_SIZE
    assert md5x.digest(s) == hashlib.md5(b"").digest()
    assert md5x.new() == s and md5x.new() is not s


def test_state_layout() -> None:
    s = md5x.new()
    data = POOL[:70]
    md5x.update([(s, [data])])
    a, b, c, d, total = struct.unpack_from("=4IQ", s, 0)
    assert total == 70
    assert s[88] == 6
    assert bytes(s[24:30]) == data[64:70]
    assert bytes(s[89:96]) == bytes(7)
    # A, B, C, D after the first block: a fresh state differs.
    assert (a, b, c, d) != struct.unpack_from("=4I", md5x.new(), 0)


@pytest.mark.parametrize(
    ("data", "hexdigest"),
    [  # RFC 1321 test suite
        (b"", "d41d8cd98f00b204e9800998ecf8427e"),
        (b"a", "0cc175b9c0f1b6a831c399e269772661"),
        (b"abc", "900150983cd24fb0d6963f7d28e17f72"),
        (b"message digest", "f96b697d7cb7938d525a2f31aaf161d0"),
        (b"abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b"),
        (
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
            "d174ab98d277d9f5a5611c2c9f419d9f",
        ),
        (b"1234567890" * 8, "57edf4a22be3c955ac49da2e2107b67a"),
    ],
)
def test_rfc1321_vectors(data: bytes, hexdigest: str) -> None:
    s = md5x.new()
    md5x.update([(s, [data])])
    assert md5x.digest(s).hex() == hexdigest


@pytest.mark.parametrize("n", EDGES)
def test_padding_edges(n: int) -> None:
    data = POOL[:n]
    whole, by_byte, split = md5x.new(), md5x.new(), md5x.new()
    md5x.update([(whole, [data]), (by_byte, [data[i : i + 1] for i in range(n)])])
    for i in range(n + 1):  # two calls, split at every point
        md5x.update([(split, [data[:i]])])
        md5x.update([(split, [data[i:]])])
        assert md5x.digest(split) == hashlib.md5(data).digest()
        split[:] = md5x.new()
    assert md5x.digest(whole) == md5x.digest(by_byte) == hashlib.md5(data).digest()


def test_digest_leaves_state_usable() -> None:
    s = md5x.new()
    md5x.update([(s, [POOL[:100]])])
    before = bytes(s)
    assert md5x.digest(s) == hashlib.md5(POOL[:100]).digest()
    assert bytes(s) == before
    md5x.update([(s, [POOL[100:1000]])])
    assert md5x.digest(s) == hashlib.md5(POOL[:1000]).digest()
    clone = bytearray(s)  # a copy of a state is an independent stream
    md5x.update([(s, [b"x"]), (clone, [b"y"])])
    assert md5x.digest(s) == hashlib.md5(POOL[:1000] + b"x").digest()
    assert md5x.digest(clone) == hashlib.md5(POOL[:1000] + b"y").digest()
    assert md5x.digest(bytes(clone)) == md5x.digest(clone)  # digest takes any bytes-like


def test_empty_calls() -> None:
    s = md5x.new()
    assert md5x.update([]) is None
    md5x.update(())
    md5x.update([(s, [])])
    md5x.update([(s, [b"", bytearray(), memoryview(b"")])])
    assert bytes(s) == bytes(md5x.new())


# --------------------------------------------------------------------------- many streams


@SMALL
@given(plans)
def test_random_plans_match_hashlib(plan: Plan) -> None:
    run_plan(plan)


def test_unequal_jobs_more_than_lanes() -> None:
    rng = random.Random(7)
    sizes = [MIB, 64, 0, 100_000, 3, 640, 2 * MIB + 1, 63, 65, 1, 0, 4096, 333_333, 128, 5, 56]
    sizes += [rng.randrange(0, 20_000) for _ in range(3 * max(md5x.LANES, 8) - len(sizes) + 1)]
    plan: Plan = []
    for n in sizes:
        off = rng.randrange(0, len(POOL) - n)
        calls = []
        for _ in range(rng.randrange(1, 4)):
            cut = sorted(rng.randrange(0, n + 1) for _ in range(rng.randrange(0, 4)))
            bounds = [0, *cut, n]
            calls.append([(off + lo, hi - lo, rng.choice(KINDS)) for lo, hi in pairwise(bounds)])
        plan.append(calls)
    run_plan(plan)


@pytest.mark.parametrize("blocks", [1, 2, 7, 8, 9, 1000])
def test_exact_block_multiples(blocks: int) -> None:
    n = 64 * blocks
    plan: Plan = [[[(64 * i, n, "bytes")]] for i in range(11)]
    plan += [[[(0, 64, "bytes")] * blocks]]  # 64-byte buffers only
    plan += [[[(5, 32, "bytes")] * (2 * blocks)]]  # every block spans two buffers
    run_plan(plan)


def test_one_job_per_lane_count() -> None:
    for njobs in range(1, 2 * max(md5x.LANES, 8) + 2):
        run_plan([[[(j * 1000, 5000 + 64 * j + j, "bytes")]] for j in range(njobs)], False)


def test_state_read_as_input_sees_the_state_before_the_call() -> None:
    a, b = md5x.new(), md5x.new()
    md5x.update([(b, [POOL[:10]])])
    b_before = bytes(b)
    md5x.update([(a, [b]), (b, [POOL[10:5000]])])
    assert md5x.digest(a) == hashlib.md5(b_before).digest()
    assert md5x.digest(b) == hashlib.md5(POOL[:5000]).digest()


def test_threads() -> None:
    """update() releases the GIL: concurrent calls on distinct states stay correct."""
    errors: list[BaseException] = []

    def worker(seed: int) -> None:
        try:
            rng = random.Random(seed)
            for _ in range(5):
                sizes = [rng.randrange(0, 300_000) for _ in range(rng.randrange(1, 12))]
                run_plan([[[(rng.randrange(0, MIB), n, "slice")]] for n in sizes], False)
        except BaseException as exc:  # reported in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


# --------------------------------------------------------------------------- errors


def test_same_state_twice_is_rejected() -> None:
    s, other = md5x.new(), md5x.new()
    with pytest.raises(ValueError, match="twice"):
        md5x.update([(s, [b"abc"]), (other, [b"x"]), (s, [b"def"])])
    assert bytes(s) == bytes(other) == bytes(md5x.new())  # nothing was fed


@pytest.mark.parametrize(
    ("jobs", "exc"),
    [
        (None, TypeError),
        (b"abc", TypeError),
        ([1], TypeError),
        ([(md5x.new(),)], TypeError),
        ([(md5x.new(), [], [])], TypeError),
        ([[md5x.new(), []]], TypeError),
        ([(bytes(96), [])], TypeError),
        ([(memoryview(bytearray(96)), [])], TypeError),
        ([(bytearray(95), [])], ValueError),
        ([(bytearray(97), [])], ValueError),
        ([(md5x.new(), b"abc")], TypeError),
        ([(md5x.new(), None)], TypeError),
        ([(md5x.new(), ["abc"])], TypeError),
        ([(md5x.new(), [b"a", 3])], TypeError),
        ([(md5x.new(), [memoryview(b"abcd")[::2]])], BufferError),
    ],
)
def test_bad_arguments(jobs: object, exc: type[Exception]) -> None:
    with pytest.raises(exc):
        md5x.update(jobs)  # type: ignore[arg-type]


def test_failed_update_changes_nothing() -> None:
    good = md5x.new()
    with pytest.raises(TypeError):
        md5x.update([(good, [POOL[:1000]]), (md5x.new(), [b"ok", "not bytes"])])
    assert bytes(good) == bytes(md5x.new())


@pytest.mark.parametrize(
    "corrupt",
    [
        lambda s: s.__setitem__(88, 64),  # pending count out of range
        lambda s: s.__setitem__(88, 200),
        lambda s: s.__setitem__(16, 5),  # total and pending count disagree
    ],
)
def test_corrupt_state_is_rejected(corrupt: Callable[[bytearray], None]) -> None:
    s = md5x.new()
    corrupt(s)
    with pytest.raises(ValueError, match="corrupt"):
        md5x.update([(s, [b"abc"])])
    with pytest.raises(ValueError, match="corrupt"):
        md5x.digest(s)


@pytest.mark.parametrize(
    ("state", "exc"),
    [(bytearray(95), ValueError), (b"", ValueError), ("x" * 96, TypeError), (None, TypeError)],
)
def test_digest_bad_state(state: object, exc: type[Exception]) -> None:
    with pytest.raises(exc):
        md5x.digest(state)  # type: ignore[arg-type]


def test_state_cannot_be_resized_while_fed() -> None:
    """The state's buffer is held during update(); a bytearray keeps its size meanwhile."""
    s = md5x.new()
    md5x.update([(s, [POOL[:10]])])
    with pytest.raises(TypeError):
        md5x.update([(s, [b"x"]), (md5x.new(), [object()])])
    s.extend(b"!")  # buffers released after the failure: the bytearray is resizable again
    with pytest.raises(ValueError):
        md5x.update([(s, [])])


# --------------------------------------------------------------------------- scalar backend


@pytest.mark.skipif(
    os.environ.get("SHOAL_MD5X_SCALAR") == "1", reason="already running on the scalar backend"
)
def test_scalar_backend() -> None:
    """Reruns this file with SHOAL_MD5X_SCALAR=1 (the portable compression, one lane)."""
    env = {**os.environ, "SHOAL_MD5X_SCALAR": "1"}
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x", __file__],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert " passed" in out.stdout
