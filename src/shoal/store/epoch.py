"""A bucket epoch shared by the processes that use one metadata file (see
``MetaStore.bucket_epoch``).

Eight bytes in a small file next to the SQLite database, mapped into every process that opens
it. A process that changed a bucket (and committed) writes a new random value; readers compare
it with the value their cache was filled under, a memory read with no system call. The file
holds no data worth keeping: it is not fsynced, and a new process starts with an empty cache.
"""

from __future__ import annotations

import mmap
import os
import secrets

SIZE = 8


class SharedEpoch:
    def __init__(self, path: str) -> None:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            if os.fstat(fd).st_size < SIZE:
                os.ftruncate(fd, SIZE)
            # MAP_SHARED: a forked worker keeps seeing (and making) the changes of the others.
            self._map = mmap.mmap(fd, SIZE, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        finally:
            os.close(fd)

    def read(self) -> int:
        return int.from_bytes(self._map[:SIZE], "little")

    def bump(self) -> None:
        """Mark every cached bucket stale (call after the change is committed). A fresh random
        value rather than an increment: two processes bumping at once need no lock, since
        either value differs from what every reader cached under."""
        self._map[:SIZE] = secrets.token_bytes(SIZE)
