"""Background work of a serving process: the lifecycle sweep, run by one process of several.

Every worker process runs ``sweep_forever``. Each round it tries to take an exclusive ``flock``
on ``<data dir>/lifecycle.lock`` without waiting: the process that gets it keeps it for its
lifetime and sweeps, one sweep at start-up and then one every interval; the others find it
taken and try again the next round, so when the sweeping worker dies another one takes over.
The sweep's store calls run in threads (the services' own ``to_thread`` hops): requests keep
being served meanwhile. (The lock is per host, which is what workers sharing one data dir
need; servers on several hosts sharing a PostgreSQL store would each sweep, harmlessly: every
abort and delete is conditional.)
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os

from .core.lifecycle_sweep import LifecycleSweeper

log = logging.getLogger("shoal.lifecycle")
LOCK_NAME = "lifecycle.lock"


class ProcessLock:
    """An exclusive flock on a file, taken without waiting and held until ``release``."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> bool:
        """True when this process holds the lock (now or from before)."""
        if self._fd is not None:
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the only descriptor drops the flock
            self._fd = None


async def sweep_forever(sweeper: LifecycleSweeper, lock: ProcessLock, interval: float) -> None:
    """Sweep now and every ``interval`` seconds while this process holds ``lock``."""
    try:
        while True:
            try:
                done = await sweeper.sweep() if lock.acquire() else None
            except Exception:  # noqa: BLE001 - logged; the next round tries again
                log.exception("lifecycle sweep failed")
            else:
                if done is not None and (done.aborted or done.expired):
                    log.info("lifecycle: aborted %d uploads, expired %d objects",
                             done.aborted, done.expired)
            await asyncio.sleep(interval)
    finally:
        lock.release()
