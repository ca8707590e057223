"""The write side of the SQLite store: group commit among a process's threads, an flock among
processes.

Writes queue; the first thread to get the process's write lock commits everything queued so
far in one ``BEGIN IMMEDIATE`` transaction, each write in its own savepoint (one that raises is
rolled back alone), so the writes in flight share one COMMIT and one WAL fsync. Processes take
turns through an flock of a file beside the database: a waiting writer sleeps in the kernel
until the lock is free, where SQLite's busy handler would poll with sleeps growing to 100 ms.
SQLite's own locking still guards the data.
"""

from __future__ import annotations

import copy
import fcntl
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from ..core import process

T = TypeVar("T")


@dataclass(slots=True)
class _Pending:
    """One write waiting for a group commit, then its outcome."""

    op: Callable[[sqlite3.Connection], Any]
    done: bool = False
    result: Any = None
    error: BaseException | None = None


def _copy_error(exc: BaseException) -> BaseException:
    """A copy of ``exc`` per waiting thread, so that their tracebacks stay apart."""
    try:
        return copy.copy(exc)
    except Exception:
        return exc


class Writer:
    """The writes of one process to one database (a forked child makes its own)."""

    def __init__(self, lock_path: str) -> None:
        self._lock_path = lock_path
        self._pid = process.pid()
        self._write_lock = threading.Lock()  # queues this process's writers without polling
        self._queue_lock = threading.Lock()  # guards _queue
        self._queue: list[_Pending] = []  # writes waiting for the next group commit
        self._lock_fd: int | None = None  # the file flocked while this process writes

    def batched(self, conn: sqlite3.Connection, op: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``op`` in a group-committed write transaction (``conn``: the calling thread's
        connection, used if this thread commits the group). Durable on return; a failed
        COMMIT fails every write of its group."""
        item = _Pending(op)
        with self._queue_lock:
            self._queue.append(item)
        with self._write_lock:
            if not item.done:  # else an earlier leader has committed it
                with self._queue_lock:
                    batch, self._queue = self._queue, []
                with self._process_lock():
                    _commit_batch(conn, batch)
        if item.error is not None:
            raise item.error
        return item.result  # type: ignore[no-any-return]

    @contextmanager
    def transaction(self, conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
        """One short write transaction of its own; the lock is taken at BEGIN, so no upgrade
        can fail."""
        with self._write_lock, self._process_lock():
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    @contextmanager
    def _process_lock(self) -> Iterator[None]:
        """The right to write among processes; call with ``_write_lock`` held."""
        if self._lock_fd is None:
            self._lock_fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def close(self) -> None:
        with self._write_lock:
            if self._lock_fd is not None and self._pid == process.pid():
                os.close(self._lock_fd)
            self._lock_fd = None


def _commit_batch(conn: sqlite3.Connection, batch: list[_Pending]) -> None:
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            for item in batch:
                conn.execute("SAVEPOINT op")
                try:
                    item.result = item.op(conn)
                except Exception as exc:
                    conn.execute("ROLLBACK TO op")
                    item.error = exc
                conn.execute("RELEASE op")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    except BaseException as exc:
        for item in batch:
            item.result, item.error = None, _copy_error(exc)
    finally:
        for item in batch:
            item.done = True
