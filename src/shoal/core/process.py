"""The current process id, kept in memory: glibc makes ``os.getpid()`` a system call, and the
per-process state of the stores and thread pools (a forked worker must not use its parent's)
checks it on every request."""

from __future__ import annotations

import os

_pid = os.getpid()


def _forked() -> None:
    global _pid
    _pid = os.getpid()


os.register_at_fork(after_in_child=_forked)


def pid() -> int:
    """``os.getpid()`` without the system call."""
    return _pid
