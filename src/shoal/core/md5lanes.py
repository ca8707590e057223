"""MD5 of many concurrent uploads on SIMD lanes.

S3 wants the MD5 of every part and object as its ETag. One MD5 stream cannot go faster than a
core's scalar speed, but independent streams can share a core: the ``shoal._md5x`` extension
compresses one 64-byte block of up to eight messages at once with AVX2. This module feeds it:
every large body being received hands its batches to one hashing thread per process, which
takes whatever batches are waiting (one per upload in flight) and hashes them together in one
call that releases the GIL.

Without the extension (no compiler at install time) ``available()`` is False and callers use
hashlib. Each ``LaneMd5`` is fed from one thread at a time, like hashlib's objects.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from typing import Any

from .hashing import Buffer, Hasher

try:
    from shoal import _md5x  # type: ignore[attr-defined]
except ImportError:  # built without a C compiler: hashlib does the work
    _md5x = None

Job = tuple[bytearray, Sequence[Buffer], "Ticket"]


def available() -> bool:
    return _md5x is not None and os.environ.get("SHOAL_MD5_LANES", "1") != "0"


def backend() -> str:
    return str(_md5x.BACKEND) if _md5x is not None else "hashlib"


class Ticket:
    """One batch handed to the hashing thread; ``wait`` returns once it is hashed."""

    __slots__ = ("done", "error")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.error: BaseException | None = None

    def wait(self) -> None:
        self.done.wait()
        if self.error is not None:
            raise self.error


GATHER_S = 0.004  # how long a batch may wait for the other hashers' next batches
RECENT_S = 0.05  # a hasher that submitted this recently is streaming: wait for its batch


class _Lanes:
    """The hashing thread of one process and its queue.

    Bodies arrive at their own pace, so batches seldom line up by themselves: hashed as they
    come, most calls would have one job and run at scalar speed. The thread waits (at most
    ``GATHER_S``) until every hasher that is streaming (submitted within ``RECENT_S``) has a
    batch queued; a stalled upload stops counting. The hashers do not wait for it:
    ``submit`` returns at once, and only the next ``submit`` or ``digest`` of the same hasher
    waits for its previous batch, which by then has long been hashed."""

    def __init__(self) -> None:
        self._cv = threading.Condition()
        self._queue: list[Job] = []
        self._recent: dict[int, float] = {}  # hasher (its state's id) -> last submit time
        self._thread = threading.Thread(target=self._run, name="shoal-md5", daemon=True)
        self._thread.start()

    def _streaming(self, now: float) -> int:
        """How many hashers submitted within RECENT_S: the batches worth waiting for."""
        self._recent = {k: t for k, t in self._recent.items() if now - t < RECENT_S}
        return len(self._recent)

    def submit(self, state: bytearray, bufs: Sequence[Buffer]) -> Ticket:
        ticket = Ticket()
        with self._cv:
            self._queue.append((state, bufs, ticket))
            self._recent[id(state)] = time.monotonic()
            self._cv.notify()
        return ticket

    def _run(self) -> None:
        assert _md5x is not None
        while True:
            with self._cv:
                while not self._queue:
                    self._cv.wait()
                now = time.monotonic()
                deadline, expected = now + GATHER_S, self._streaming(now)
                while len(self._queue) < expected:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._cv.wait(left)
                batch, self._queue = self._queue, []
            try:
                _md5x.update([(state, bufs) for state, bufs, _ in batch])
            except Exception:
                # A failed call changes no state: hash the jobs one by one, so that only the
                # bad one fails.
                for state, bufs, ticket in batch:
                    try:
                        _md5x.update([(state, bufs)])
                    except Exception as exc:
                        ticket.error = exc
            for _, _, ticket in batch:
                ticket.done.set()


_lanes: dict[int, _Lanes] = {}  # pid -> lanes: a forked child starts its own thread
_lanes_lock = threading.Lock()


def _get_lanes() -> _Lanes:
    pid = os.getpid()
    lanes = _lanes.get(pid)
    if lanes is None:
        with _lanes_lock:
            lanes = _lanes.get(pid)
            if lanes is None:
                lanes = _lanes[pid] = _Lanes()
    return lanes


class LaneMd5(Hasher):
    """An MD5 whose blocks are compressed on the shared hashing thread's SIMD lanes.

    ``submit`` hands a batch over and returns at once (the caller may write the same buffers
    meanwhile, but must not change them); ``wait`` (or the next ``submit``/``digest``) blocks
    until it is hashed."""

    algo = "md5"
    digest_size = 16

    def __init__(self) -> None:
        if _md5x is None:
            raise RuntimeError("shoal._md5x is not built")
        self._state: Any = _md5x.new()
        self._pending: Ticket | None = None

    def submit(self, bufs: Sequence[Buffer]) -> None:
        self.wait()
        self._pending = _get_lanes().submit(self._state, bufs if type(bufs) is list else list(bufs))

    def wait(self) -> None:
        if self._pending is not None:
            ticket, self._pending = self._pending, None
            ticket.wait()

    def update(self, data: Buffer) -> None:
        self.submit([data])
        self.wait()

    def digest(self) -> bytes:
        self.wait()
        assert _md5x is not None
        return bytes(_md5x.digest(self._state))
