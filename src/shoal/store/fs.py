"""Filesystem implementation of the ``BlobStore`` port.

Layout under ``root``::

    blobs/ab/cd/abcd...   committed blobs (fan-out from the first four hex digits of the id)
    tmp/abcd...           unfinished writes

A write goes to ``tmp/<id>``; commit renames it into ``blobs/``, fdatasyncs the file and fsyncs
the directories whose entries changed, so the blob survives a crash once ``commit`` returns.
"""

from __future__ import annotations

import errno
import io
import os
import re
import secrets
import threading
from collections.abc import Iterator
from typing import Any, BinaryIO

from ..core import process

_BLOB_ID = re.compile(r"[0-9a-f]{32}")
_FANOUT = re.compile(r"[0-9a-f]{2}")
# Free space kept for the metadata store (SQLite on the same disk needs room even to delete):
# blob writes fail with ENOSPC rather than eat into it. SHOAL_FREE_SPACE_RESERVE, in bytes.
DEFAULT_RESERVE = 32 << 20


SLOT_BLOBS = 4096  # new blobs of one process that share a fan-out directory in a row
_slot: list[Any] = [0, "", 0]  # pid, the current 4-digit prefix (blobs/ab/cd), blobs left


def new_blob_id() -> str:
    """32 hex digits: 112 random bits after a 16-bit prefix that names the fan-out directory
    (``blobs/ab/cd``). A process keeps one prefix for ``SLOT_BLOBS`` blobs before drawing
    another, so that a run of small writes finds its directory made (and durable) already
    instead of creating one, and fsyncing its parent, for nearly every blob."""
    pid = process.pid()
    if _slot[0] != pid or _slot[2] <= 0:
        _slot[:] = [pid, secrets.token_hex(2), SLOT_BLOBS]
    _slot[2] -= 1
    return str(_slot[1]) + secrets.token_hex(14)


def check_blob_id(blob_id: object) -> str:
    """Return ``blob_id`` if it is exactly 32 lowercase hex digits, else raise ValueError."""
    if not isinstance(blob_id, str) or not _BLOB_ID.fullmatch(blob_id):
        raise ValueError(f"invalid blob id: {blob_id!r}")
    return blob_id


def as_bytes_view(data: bytes | bytearray | memoryview) -> memoryview:
    """A flat unsigned-byte view of any C-contiguous buffer."""
    view = memoryview(data)
    return view if view.format == "B" and view.ndim == 1 else view.cast("B")


def fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _unlink(path: str) -> bool:
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    return True


class FsBlobWriter:
    """Writes one blob to ``tmp/<id>``; ``commit`` makes it durable under ``blobs/``.

    ``write``/``commit`` after ``abort`` raise ValueError; ``commit`` twice returns the id;
    ``abort`` after a successful commit does nothing (the blob then belongs to the caller).
    """

    def __init__(self, store: FsBlobStore, blob_id: str) -> None:
        self.blob_id = check_blob_id(blob_id)
        self._store = store
        self._tmp = os.path.join(store.tmp_dir, blob_id)
        self._final: str | None = None  # set once renamed into blobs/
        self._file: io.FileIO | None = io.FileIO(self._tmp, "xb")  # O_CREAT|O_EXCL|O_CLOEXEC
        self._state = "open"  # -> committed | failed | aborted

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._state != "open" or self._file is None:
            raise ValueError(f"blob writer is {self._state}")
        view = as_bytes_view(data)
        self._store.check_space(len(view))
        while view:
            n = self._file.write(view)  # raw file: may write less than asked
            if not n:
                raise OSError(f"no progress writing {self._tmp}")
            view = view[n:]

    def commit(self) -> str:
        if self._state == "committed":
            return self.blob_id
        if self._state != "open" or self._file is None:
            raise ValueError(f"blob writer is {self._state}")
        self._state = "failed"  # until the end; abort() then cleans up whatever exists
        file, self._file = self._file, None
        try:
            # Rename first, then sync the data and the new entry: the filesystem can then
            # commit both in one journal transaction. Until commit returns no metadata refers
            # to the blob, so a crash in between leaves an unreferenced blob that fsck removes.
            directory = self._store._fanout_dir(self.blob_id)
            final = os.path.join(directory, self.blob_id)
            os.rename(self._tmp, final)
            self._final = final
            os.fdatasync(file.fileno())  # the data, and the size needed to read it back
        finally:
            file.close()
        fsync_dir(directory)  # the new entry itself
        self._state = "committed"
        return self.blob_id

    def abort(self) -> None:
        if self._state in ("committed", "aborted"):
            return
        self._state = "aborted"
        if self._file is not None:
            self._file.close()
            self._file = None
        _unlink(self._tmp)
        if self._final is not None:
            _unlink(self._final)


class FsBlobStore:
    """``BlobStore`` keeping each blob in its own file under ``root``."""

    def __init__(self, root: str, reserve: int | None = None) -> None:
        self.root = os.path.abspath(root)
        if reserve is None:
            reserve = int(os.environ.get("SHOAL_FREE_SPACE_RESERVE", DEFAULT_RESERVE))
        self.reserve = reserve
        self.blobs_dir = os.path.join(self.root, "blobs")
        self.tmp_dir = os.path.join(self.root, "tmp")
        self._lock = threading.Lock()
        self._durable: set[str] = set()  # fan-out dirs whose entry this process has fsynced
        created = not os.path.isdir(self.root)
        os.makedirs(self.blobs_dir, exist_ok=True)
        os.makedirs(self.tmp_dir, exist_ok=True)
        fsync_dir(self.root)
        if created:
            fsync_dir(os.path.dirname(self.root))

    def check_space(self, incoming: int) -> None:
        """ENOSPC when writing ``incoming`` more bytes would leave less than the reserve."""
        if self.reserve > 0:
            st = os.statvfs(self.tmp_dir)
            if st.f_bavail * st.f_frsize - incoming < self.reserve:
                raise OSError(errno.ENOSPC, "free space is down to the reserve kept for "
                              "metadata", self.tmp_dir)

    def _fanout_dir(self, blob_id: str) -> str:
        """``blobs/ab/cd`` for ``abcd...``, created on demand; its entry and its parent's are
        durable before this returns."""
        top = os.path.join(self.blobs_dir, blob_id[:2])
        leaf = os.path.join(top, blob_id[2:4])
        for parent, directory in ((self.blobs_dir, top), (top, leaf)):
            if directory in self._durable:
                continue
            os.makedirs(directory, exist_ok=True)
            # Also when another writer made it: it may not have fsynced the parent yet.
            fsync_dir(parent)
            with self._lock:
                self._durable.add(directory)
        return leaf

    def _path(self, blob_id: str) -> str:
        check_blob_id(blob_id)
        return os.path.join(self.blobs_dir, blob_id[:2], blob_id[2:4], blob_id)

    def writer(self) -> FsBlobWriter:
        return FsBlobWriter(self, new_blob_id())

    def open(self, blob_id: str) -> BinaryIO:
        return open(self._path(blob_id), "rb")  # noqa: SIM115 - the caller closes it

    def path(self, blob_id: str) -> str | None:
        return self._path(blob_id)

    def size(self, blob_id: str) -> int | None:
        try:
            return os.stat(self._path(blob_id)).st_size
        except FileNotFoundError:
            return None

    def delete(self, blob_ids: list[str]) -> None:
        paths = [self._path(b) for b in blob_ids]  # validate all before removing any
        for path in paths:
            _unlink(path)

    def iter_blobs(self) -> Iterator[tuple[str, float]]:
        for top in _subdirs(self.blobs_dir):
            for leaf in _subdirs(top.path):
                prefix = top.name + leaf.name
                for entry in _scan(leaf.path):
                    name = entry.name
                    if not (_BLOB_ID.fullmatch(name) and name.startswith(prefix)):
                        continue
                    try:
                        yield name, entry.stat(follow_symlinks=False).st_mtime
                    except FileNotFoundError:  # deleted meanwhile
                        continue

    def sweep_temp(self, older_than: float) -> int:
        removed = 0
        for entry in _scan(self.tmp_dir):
            if not _BLOB_ID.fullmatch(entry.name):
                continue
            try:
                if entry.stat(follow_symlinks=False).st_mtime < older_than:
                    removed += _unlink(entry.path)
            except FileNotFoundError:
                continue
        return removed


def _scan(path: str) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(path) as it:
            return list(it)
    except FileNotFoundError:
        return []


def _subdirs(path: str) -> Iterator[os.DirEntry[str]]:
    for entry in sorted(_scan(path), key=lambda e: e.name):
        if _FANOUT.fullmatch(entry.name) and entry.is_dir(follow_symlinks=False):
            yield entry
